"""Trial design (TA, TE, TV, TI, TS) and subject elements and visits (SE, SV): cdisc_il2.design."""
from __future__ import annotations

import csv
import re

import pandas as pd
import pytest
from conftest import REFERENCE, needs_reference

from cdisc_il2 import design
from cdisc_il2.io import write_csv
from cdisc_il2.metadata import codelist, ct_versions, sdtm_variables
from cdisc_il2.resources import data_dir, load_study
from cdisc_il2.validate import validate_folder

STUDY = load_study()
TD = STUDY["trial_design"]
S = STUDY["studyid"] + "-01-"
EXTENDS = int(STUDY["epochs"]["treatment_extends_days"])


def etcd(start: str, course: int | None = None) -> str:
    """The element code study.yaml gives to a start rule (and course)."""
    return next(e["ETCD"] for e in TD["elements"] if e["start"] == start and e.get("course") == course)


def day_after(date: str, days: int) -> str:
    return (pd.Timestamp(date) + pd.Timedelta(days=days)).strftime("%Y-%m-%d")


@pytest.fixture()
def dm() -> pd.DataFrame:
    """Four subjects: three courses; stopped after course 1 but followed up; stopped after course 1 and left
    before follow-up; never dosed."""
    rows = [
        ("101", "2014-01-02", "2014-01-10", "2014-03-19", "2014-05-03"),
        ("102", "2014-02-01", "2014-02-10", "2014-02-22", "2014-05-20"),
        ("103", "2014-02-01", "2014-02-12", "2014-02-24", "2014-03-01"),
        ("104", "2014-03-01", None, None, "2014-03-05"),
    ]
    df = pd.DataFrame(rows, columns=["SUBJID", "RFICDTC", "RFXSTDTC", "RFXENDTC", "RFPENDTC"], dtype="string")
    df.insert(0, "USUBJID", S + df["SUBJID"])
    df["RFSTDTC"] = df["RFXSTDTC"]
    df["STUDYID"], df["DOMAIN"] = STUDY["studyid"], "DM"
    return df


@pytest.fixture()
def ex() -> pd.DataFrame:
    """QOD records, one per course (first to last dose), with the course of each (as SUPPEX carries it)."""
    rows = [("101", 1, "2014-01-10", "2014-01-22", 1), ("101", 2, "2014-02-07", "2014-02-19", 2),
            ("101", 3, "2014-03-07", "2014-03-19", 3), ("102", 1, "2014-02-10", "2014-02-22", 1),
            ("103", 1, "2014-02-12", "2014-02-24", 1)]
    df = pd.DataFrame(rows, columns=["SUBJID", "EXSEQ", "EXSTDTC", "EXENDTC", "EXCOURSE"])
    df.insert(0, "USUBJID", S + df.pop("SUBJID"))
    return df


def expected_se() -> pd.DataFrame:
    scrn, c1, c2, c3, fu = (etcd("informed_consent"), etcd("course", 1), etcd("course", 2), etcd("course", 3),
                            etcd("after_treatment"))
    rows = [
        ("101", scrn, "2014-01-02", "2014-01-10", -8, 1),
        ("101", c1, "2014-01-10", "2014-02-07", 1, 29),
        ("101", c2, "2014-02-07", "2014-03-07", 29, 57),
        ("101", c3, "2014-03-07", day_after("2014-03-19", EXTENDS + 1), 57, 69 + EXTENDS + 1),
        ("101", fu, day_after("2014-03-19", EXTENDS + 1), "2014-05-03", 69 + EXTENDS + 1, 114),
        ("102", scrn, "2014-02-01", "2014-02-10", -9, 1),
        ("102", c1, "2014-02-10", day_after("2014-02-22", EXTENDS + 1), 1, 13 + EXTENDS + 1),
        ("102", fu, day_after("2014-02-22", EXTENDS + 1), "2014-05-20", 13 + EXTENDS + 1, 100),
        ("103", scrn, "2014-02-01", "2014-02-12", -11, 1),
        ("103", c1, "2014-02-12", "2014-03-01", 1, 18),
        ("104", scrn, "2014-03-01", "2014-03-05", None, None),
    ]
    df = pd.DataFrame(rows, columns=["SUBJID", "ETCD", "SESTDTC", "SEENDTC", "SESTDY", "SEENDY"])
    df.insert(0, "USUBJID", S + df.pop("SUBJID"))
    return df


def _compare_se(se: pd.DataFrame) -> None:
    exp = expected_se()
    got = se[exp.columns].astype(object).where(se[exp.columns].notna(), None).reset_index(drop=True)
    exp = exp.astype(object).where(exp.notna(), None)
    assert got.to_dict("records") == exp.to_dict("records")


# ------------------------------------------------------------------ SE

def test_se_elements_and_dates_exact(dm, ex):
    se = design.build_se(dm, ex)
    _compare_se(se)
    assert se.groupby("USUBJID")["SESEQ"].apply(list).to_dict() == {
        S + "101": [1, 2, 3, 4, 5], S + "102": [1, 2, 3], S + "103": [1, 2], S + "104": [1]}
    order = {e["ETCD"]: (i + 1, e["EPOCH"], e["ELEMENT"]) for i, e in enumerate(TD["elements"])}
    assert (se["TAETORD"] == se["ETCD"].map(lambda c: order[c][0])).all()
    assert (se["EPOCH"] == se["ETCD"].map(lambda c: order[c][1])).all()
    assert (se["ELEMENT"] == se["ETCD"].map(lambda c: order[c][2])).all()
    assert list(se.columns) == [v for v in sdtm_variables("SE")["name"] if v in se.columns]
    assert set(se["STUDYID"]) == {STUDY["studyid"]} and set(se["DOMAIN"]) == {"SE"}


def test_se_courses_from_days_when_no_excourse(dm, ex):
    """Without EXCOURSE the course of a dose comes from the days since the first dose (course_days)."""
    _compare_se(design.build_se(dm, ex.drop(columns="EXCOURSE")))


def test_se_courses_from_suppex(dm, ex):
    """A delayed second course (day 60) is course 2 by SUPPEX, which the day rule would call course 3."""
    ex = ex[ex["USUBJID"].eq(S + "102")].drop(columns="EXCOURSE")
    ex = pd.concat([ex, pd.DataFrame([{"USUBJID": S + "102", "EXSEQ": 2, "EXSTDTC": "2014-04-10",
                                       "EXENDTC": "2014-04-22"}])], ignore_index=True)
    supp = pd.DataFrame({"STUDYID": STUDY["studyid"], "RDOMAIN": "EX", "USUBJID": S + "102", "IDVAR": "EXSEQ",
                         "IDVARVAL": ["1", "2"], "QNAM": "EXCOURSE", "QLABEL": "IL-2 Treatment Course",
                         "QVAL": ["1", "2"]})
    dm = dm[dm["USUBJID"].eq(S + "102")].assign(RFXENDTC="2014-04-22")
    out = design.add_design_domains({"DM": dm, "EX": ex, "SUPPEX": supp})
    scrn, fu = etcd("informed_consent"), etcd("after_treatment")
    assert out["SE"]["ETCD"].tolist() == [scrn, etcd("course", 1), etcd("course", 2), fu]
    assert out["SE"]["SESTDTC"].tolist()[2] == "2014-04-10"
    by_days = design.build_se(dm, ex)
    assert by_days["ETCD"].tolist() == [scrn, etcd("course", 1), etcd("course", 3), fu]


# ------------------------------------------------------------------ TA, TE, TV, TI

def test_ta_te_follow_study_yaml():
    ta, te = design.build_ta(), design.build_te()
    elements = TD["elements"]
    assert ta["ETCD"].tolist() == te["ETCD"].tolist() == [e["ETCD"] for e in elements]
    assert ta["TAETORD"].tolist() == list(range(1, len(elements) + 1))
    arm = STUDY["arms"][TD["arm"]]
    assert set(ta["ARMCD"]) == {arm["ARMCD"]} and set(ta["ARM"]) == {arm["ARM"]}
    assert set(ta["EPOCH"]) == {v for v in STUDY["epochs"].values() if isinstance(v, str)}
    assert ta["TABRANCH"].isna().all() and ta["TATRANS"].isna().all()
    courses = [e for e in elements if e["start"] == "course"]
    assert len(courses) == STUDY["treatment"]["courses"]
    assert set(te.loc[te["ETCD"].isin([e["ETCD"] for e in courses]), "TEDUR"]) == {
        f"P{STUDY['treatment']['course_days']}D"}
    assert (te["TEENRL"].notna() | te["TEDUR"].notna()).all()
    follow = te.loc[te["ETCD"].eq(etcd("after_treatment")), "TESTRL"].iloc[0]
    assert str(EXTENDS + 1) in follow
    for name, df in (("TA", ta), ("TE", te)):
        assert list(df.columns) == [v for v in sdtm_variables(name)["name"] if v in df.columns]


def test_tv_is_the_visit_schedule():
    tv = design.build_tv()
    visits = STUDY["visits"]
    assert tv[["VISITNUM", "VISIT", "VISITDY"]].to_dict("records") == [
        {"VISITNUM": v["VISITNUM"], "VISIT": v["VISIT"], "VISITDY": v["VISITDY"]} for v in visits]
    assert tv["TVSTRL"].notna().all() and tv["ARMCD"].isna().all()
    own = TD["visit_rules"]["by_visit"]
    for v in visits:
        rule = tv.loc[tv["VISIT"].eq(v["VISIT"]), "TVSTRL"].iloc[0]
        assert rule == own.get(v["VISIT"], {}).get("TVSTRL", TD["visit_rules"]["TVSTRL"].format(**v))


def test_ti_criteria():
    ti = design.build_ti()
    n = sum(len(v) for v in TD["criteria"].values())
    assert len(ti) == n and ti["IETESTCD"].is_unique
    assert set(ti["IECAT"]) <= codelist("IECAT").values
    assert ti["IETEST"].str.len().max() <= 200
    assert ti["IETESTCD"].str.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,7}").all()
    assert ti.loc[ti["IETESTCD"].eq("INCL06"), "IETEST"].str.contains(">= 8").all()   # SLEDAI-2K >= 8


# ------------------------------------------------------------------ TS

def _p21_ts_parameters() -> set[str]:
    with open(REFERENCE / "p21-rules" / "sdtm-rules.csv", newline="", encoding="utf-8") as fh:
        return {m.group(1) for r in csv.DictReader(fh)
                for m in [re.fullmatch(r"Missing (\w+) Trial Summary Parameter", r["Message"])] if m}


@needs_reference
def test_ts_has_every_parameter_p21_checks(dm):
    wanted = _p21_ts_parameters()
    assert len(wanted) >= 40
    ts = design.build_ts(dm)
    assert wanted - set(ts["TSPARMCD"]) == set()
    assert ts.loc[ts["TSPARMCD"].isin(wanted)].groupby("TSPARMCD").apply(
        lambda g: g["TSVAL"].notna().any() or g["TSVALNF"].notna().any()).all()


def test_ts_has_every_parameter_our_rules_check(dm):
    """The shipped rule catalogue's TS presence rules (SD2201...) find nothing missing."""
    import yaml
    rules = yaml.safe_load((data_dir("schemas") / "rules" / "sdtm" / "trial-design.yaml").read_text("utf-8"))["rules"]
    wanted = {r["parameter"] for r in rules if r.get("function") == "ts_parameter_missing"}
    assert wanted and wanted <= set(design.build_ts(dm)["TSPARMCD"])


def test_ts_names_codes_and_derived_values(dm):
    ts = design.build_ts(dm)
    cd, parm = codelist("TSPARMCD"), codelist("TSPARM")
    name_of = {code: name for name, code in parm.nci_codes.items()}
    assert (ts["TSPARM"] == ts["TSPARMCD"].map(lambda c: name_of[cd.nci_codes[c]])).all()
    assert not ts.duplicated(["TSPARMCD", "TSSEQ"]).any()
    assert (ts.groupby("TSPARMCD")["TSSEQ"].apply(lambda s: list(s) == list(range(1, len(s) + 1)))).all()
    version = ct_versions()[0].removeprefix("SDTM CT ")
    cdisc = ts[ts["TSVCDREF"].eq("CDISC CT")]
    assert len(cdisc) >= 20 and set(cdisc["TSVCDVER"]) == {version}
    shipped = ts[ts["TSVCDREF"].eq("CDISC CT")]
    for row in shipped.itertuples():      # codes of shipped codelists are the codelist's own
        p = next(p for p in TD["ts_parameters"] if p["TSPARMCD"] == row.TSPARMCD and
                 str(p.get("TSVAL", row.TSVAL)) == row.TSVAL)
        assert codelist(p["codelist"]).nci_codes[row.TSVAL] == row.TSVALCD
    val = ts.set_index("TSPARMCD")["TSVAL"]
    assert val["SSTDTC"] == "2014-01-02"            # earliest informed consent
    assert val["SENDTC"] == val["DCUTDTC"] == "2014-05-20"   # latest end of participation
    assert val["ACTSUB"] == "3"                     # subjects with a first dose
    assert val["REGID"] == STUDY["registry"] and val["FCNTRY"] == STUDY["country"]
    assert val["TRT"] == STUDY["treatment"]["EXTRT"]
    for p in ("AGEMIN", "AGEMAX", "LENGTH"):
        assert re.fullmatch(r"P\d+[YMWD]", val[p])
    assert val["INDIC"] == val["TDIGRP"] and ts.loc[ts["TSPARMCD"].eq("INDIC"), "TSVCDREF"].iloc[0] == "SNOMED"
    assert ts.loc[ts["TSVAL"].isna(), "TSVALNF"].notna().all()
    assert list(ts.columns) == [v for v in sdtm_variables("TS")["name"] if v in ts.columns]


@needs_reference
def test_ts_codes_are_official_ct():
    """Every CDISC CT code in TS (looked up in schemas/ct.json) is the official code of the value in the value's
    codelist, and every TSPARM the official name."""
    terms = {}
    with open(REFERENCE / "ct" / "sdtm-terminology-2025-03.txt", newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh, delimiter="\t"):
            if r["Codelist Code"]:
                terms[(r["Codelist Code"], r["CDISC Submission Value"])] = r["Code"]
    ts = design.build_ts(pd.DataFrame(columns=["USUBJID", "RFICDTC", "RFPENDTC", "RFXSTDTC"]))
    for p in TD["ts_parameters"]:
        if "codelist" not in p:
            continue
        code = p["codelist"] if re.fullmatch(r"C\d+", p["codelist"]) else codelist(p["codelist"]).code
        if p.get("from") == "data":                   # derived from the data: the value it took
            value = ts.loc[ts["TSPARMCD"].eq(p["TSPARMCD"]), "TSVAL"].iloc[0]
        else:
            value = str(p.get("TSVAL") or design._lookup(p["from"]))
        row = ts[ts["TSPARMCD"].eq(p["TSPARMCD"]) & ts["TSVAL"].eq(value)].iloc[0]
        assert terms[(code, value)] == row["TSVALCD"], (p["TSPARMCD"], value)
    for row in ts.itertuples():
        assert terms[("C66738", row.TSPARMCD)] == terms[("C67152", row.TSPARM)]


def test_ts_says_the_study_is_ongoing_while_a_subject_has_no_end_of_participation():
    dm = pd.DataFrame({"USUBJID": ["S-1", "S-2"], "RFICDTC": ["2014-03-01", "2014-04-01"],
                       "RFPENDTC": ["2014-06-01", pd.NA], "RFXSTDTC": ["2014-03-02", "2014-04-02"]})
    ongoing = design.build_ts(dm).set_index("TSPARMCD").loc["ONGOSIND"]
    done = design.build_ts(dm.fillna({"RFPENDTC": "2014-07-01"})).set_index("TSPARMCD").loc["ONGOSIND"]
    assert (ongoing["TSVAL"], done["TSVAL"]) == ("Y", "N")
    assert ongoing["TSVALCD"] == codelist("NY").nci_codes["Y"] and done["TSVALCD"] == codelist("NY").nci_codes["N"]


# ------------------------------------------------------------------ SV

@pytest.fixture()
def visit_domains(dm) -> dict[str, pd.DataFrame]:
    """LB and QS records of subject 101: baseline over two days, week 2, an unscheduled lab and an invalid date."""
    lb = pd.DataFrame({
        "USUBJID": S + "101", "LBSEQ": [1, 2, 3, 4, 5],
        "VISITNUM": [2, 2, 3, None, 4], "VISIT": ["BASELINE", "BASELINE", "WEEK 2", "Unsched", "WEEK 4"],
        "VISITDY": [1, 1, 15, None, 29],
        "LBDTC": ["2014-01-10", "2014-01-11", "2014-01-24", "2014-01-30", "2014/02/30"]})
    qs = pd.DataFrame({"USUBJID": S + "101", "QSSEQ": [1, 2], "VISITNUM": [2, 3], "VISIT": ["BASELINE", "WEEK 2"],
                       "VISITDY": [1, 15], "QSDTC": ["2014-01-09", "2014-01-24"]})
    return {"DM": dm, "LB": lb, "QS": qs}


def test_sv_planned_and_unplanned(visit_domains, dm):
    sv = design.build_sv(visit_domains, dm)
    got = sv[["VISITNUM", "VISIT", "SVSTDTC", "SVENDTC", "SVSTDY", "SVPRESP"]]
    got = got.astype(object).where(got.notna(), None).to_dict("records")
    unsched = "UNSCHEDULED 3.01"
    assert got == [
        {"VISITNUM": 2.0, "VISIT": "BASELINE", "SVSTDTC": "2014-01-09", "SVENDTC": "2014-01-11", "SVSTDY": -1,
         "SVPRESP": "Y"},
        {"VISITNUM": 3.0, "VISIT": "WEEK 2", "SVSTDTC": "2014-01-24", "SVENDTC": "2014-01-24", "SVSTDY": 15,
         "SVPRESP": "Y"},
        {"VISITNUM": 3.01, "VISIT": unsched, "SVSTDTC": "2014-01-30", "SVENDTC": "2014-01-30", "SVSTDY": 21,
         "SVPRESP": None},
        {"VISITNUM": 4.0, "VISIT": "WEEK 4", "SVSTDTC": None, "SVENDTC": None, "SVSTDY": None, "SVPRESP": "Y"},
    ]
    un = sv[sv["VISITNUM"].eq(3.01)].iloc[0]
    assert pd.isna(un["VISITDY"]) and "LB" in un["SVUPDES"] and "'Unsched'" in un["SVUPDES"]
    assert sv.loc[sv["SVPRESP"].eq("Y"), "VISITDY"].tolist() == [1, 15, 29]


def test_unplanned_records_get_the_sv_visit(visit_domains):
    out = design.add_design_domains(visit_domains)
    lb = out["LB"]
    assert lb.loc[3, "VISITNUM"] == 3.01 and lb.loc[3, "VISIT"] == "UNSCHEDULED 3.01" and pd.isna(lb.loc[3, "VISITDY"])
    assert lb.drop(index=3)["VISITNUM"].tolist() == [2, 2, 3, 4]
    assert out["QS"] is visit_domains["QS"]               # no unplanned record: untouched
    sv = out["SV"]
    keys = set(zip(sv["USUBJID"], sv["VISITNUM"], sv["VISIT"]))
    assert set(zip(lb["USUBJID"], lb["VISITNUM"], lb["VISIT"])) <= keys


def test_second_unplanned_visit_and_before_any_visit(dm):
    lb = pd.DataFrame({"USUBJID": S + "101", "VISITNUM": [None, None, 2, None], "VISIT": [None, "U", "BASELINE", "U"],
                       "LBDTC": ["2014-01-05", "2014-01-12", "2014-01-10", "2014-01-15"]})
    sv = design.build_sv({"DM": dm, "LB": lb}, dm)
    assert sv["VISITNUM"].tolist() == [1.01, 2.0, 2.01, 2.02]      # day -5: after the scheduled screening day -7


# ------------------------------------------------------------------ all together, validated

def test_add_design_domains_on_the_sample_validates(converted, tmp_path):
    """The design datasets built from the converted sample transfer raise no error in our validator; the only
    warnings are the TSVCDREF names outside the (extensible) CDISC codelist DICTNAM that SDTMIG and
    Pinnacle 21 ask for (ISO 8601, ISO 3166-1 alpha-3, ClinicalTrials.gov)."""
    out = design.add_design_domains(converted.domains)
    assert set(design.DESIGN_DOMAINS) <= set(out)
    for name, df in out.items():
        write_csv(tmp_path / f"{name.lower()}.csv", df)
    res = validate_folder(tmp_path, prefer=("csv",))
    mine = res.findings[res.findings["dataset"].isin(design.DESIGN_DOMAINS)]
    assert mine[mine["severity"].eq("Error")].empty, mine.to_string()
    warn = mine[mine["severity"].eq("Warning")]
    assert set(warn["rule_id"]) <= {"CT2002"}, warn.to_string()
    assert set(warn["value"]) <= {"ISO 8601", "ISO 3166-1 alpha-3", "ClinicalTrials.gov"}
    dm = out["DM"]
    assert set(out["SE"]["USUBJID"]) == set(dm["USUBJID"]) and set(out["SV"]["USUBJID"]) <= set(dm["USUBJID"])


def test_define_yaml_has_keys_and_methods_of_the_design_datasets():
    import yaml
    cfg = yaml.safe_load((data_dir("mappings") / "define.yaml").read_text("utf-8"))
    for name in design.DESIGN_DOMAINS:
        assert set(cfg["keys"][name]) <= set(sdtm_variables(name)["name"]), name
    start = cfg["methods"]["SE.SESTDTC"]        # the numbers in the text are those of study.yaml
    assert f"+ {EXTENDS + 1} days" in start and f"{STUDY['treatment']['course_days']}-day" in start
    assert {"SE.SEENDTC", "SV.VISITNUM", "SV.SVSTDTC", "TS.TSPARM", "TS.TSVAL"} <= set(cfg["methods"])
