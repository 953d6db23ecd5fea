"""ADaM derivations and the SRI-4 endpoint: edge cases with hand-computed expectations, and the samples."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from cdisc_il2.derive import derive_adam
from cdisc_il2.config import analysis_config
from cdisc_il2.derive.core import SAS_EPOCH, impute_partial_date
from conftest import SAMPLES

STUDY = "T"
FIRST = "2014-03-03"
BILAG_D = ["D"] * 9


def _sas(date: str) -> float:
    return float((pd.Timestamp(date) - SAS_EPOCH).days)


def _subject(n: int) -> str:
    return f"T-01-{n:03d}"


def _weights() -> dict[str, float]:
    from cdisc_il2.metadata import qs_tests

    t = qs_tests()
    return dict(zip(t.loc[t["kind"] == "weighted", "QSTESTCD"], t.loc[t["kind"] == "weighted", "weight"]))


def _sledai_items(base: dict, total: int) -> list[dict]:
    """24 descriptor records whose scores add up to `total` (heaviest descriptors first)."""
    rows, left = [], total
    for code, w in sorted(_weights().items(), key=lambda kv: -kv[1]):
        score = w if left >= w else 0.0
        left -= score
        rows.append({**base, "QSCAT": "SLEDAI-2K", "QSTESTCD": code, "QSTEST": code, "QSSTRESC": f"{score:g}",
                     "QSSTRESN": float(score)})
    assert left == 0
    return rows


def _qs_rows(usubjid: str, visits: dict[int, tuple]) -> list[dict]:
    """visits: VISITNUM -> (date, SLEDAI total or None, PGA or None, 9 BILAG grades or None)."""
    names = {1: "SCREENING", 2: "BASELINE", 4: "WEEK 4", 8: "WEEK 12"}
    rows = []
    for vnum, (dtc, sled, pga, bilag) in visits.items():
        base = {"STUDYID": STUDY, "USUBJID": usubjid, "QSDTC": dtc, "VISITNUM": vnum, "VISIT": names[vnum]}
        if sled is not None:
            rows.append({**base, "QSCAT": "SLEDAI-2K", "QSTESTCD": "SLEDTOT", "QSTEST": "SLEDTOT-Total",
                         "QSSTRESC": str(sled), "QSSTRESN": float(sled)})
            rows += _sledai_items(base, sled)
        if pga is not None:
            rows.append({**base, "QSCAT": "PHYSICIAN GLOBAL ASSESSMENT", "QSTESTCD": "PGA01", "QSTEST": "PGA01-PGA",
                         "QSSTRESC": str(pga), "QSSTRESN": float(pga)})
        for i, g in enumerate(bilag or []):
            rows.append({**base, "QSCAT": "BILAG-2004", "QSTESTCD": f"BILAG{i + 1:02d}", "QSTEST": f"BILAG{i + 1:02d}",
                         "QSSTRESC": g, "QSSTRESN": None})
    return rows


# subject -> (baseline visits, week-12 values): (SLEDAI, PGA, BILAG) at baseline and week 12
SCENARIOS = {
    1: ("SLEDAI 10 -> 6: reduction of exactly 4", (10, 2.0, BILAG_D), (6, 2.0, BILAG_D), "Y"),
    2: ("SLEDAI 10 -> 7: reduction of 3", (10, 2.0, BILAG_D), (7, 2.0, BILAG_D), "N"),
    3: ("PGA +0.3 exactly", (10, 1.5, BILAG_D), (4, 1.8, BILAG_D), "N"),
    4: ("PGA +0.29", (10, 1.5, BILAG_D), (4, 1.79, BILAG_D), "Y"),
    5: ("one new BILAG B", (10, 2.0, ["C"] * 9), (4, 1.0, ["B"] + ["C"] * 8), "Y"),
    6: ("two new BILAG B", (10, 2.0, ["C"] * 9), (4, 1.0, ["B", "B"] + ["C"] * 7), "N"),
    7: ("a new BILAG A", (10, 2.0, ["B"] * 9), (4, 1.0, ["A"] + ["C"] * 8), "N"),
    8: ("missing PGA at the visit", (10, 2.0, BILAG_D), (4, None, BILAG_D), "N"),
}


@pytest.fixture(scope="module")
def adam():
    qs, dm, ex, lb = [], [], [], []
    for n, (_, base, wk12, _) in SCENARIOS.items():
        u = _subject(n)
        qs += _qs_rows(u, {2: (FIRST, *base), 8: ("2014-05-26", *wk12)})
    # 9: discontinues after week 4 (no week-12 assessment at all)
    qs += _qs_rows(_subject(9), {2: (FIRST, 10, 2.0, BILAG_D), 4: ("2014-03-31", 5, 1.5, BILAG_D)})
    # 10: day-1 SLEDAI missing: baseline is the last non-missing value before first dose (screening, 12)
    qs += _qs_rows(_subject(10), {1: ("2014-02-24", 12, 2.0, BILAG_D), 2: (FIRST, None, 2.0, BILAG_D),
                                  8: ("2014-05-26", 8, 1.5, BILAG_D)})
    for n in range(1, 11):
        u = _subject(n)
        dm.append({"STUDYID": STUDY, "USUBJID": u, "SUBJID": f"{n:03d}", "SITEID": "01", "AGE": 30, "AGEU": "YEARS",
                   "SEX": "F", "RACE": "ASIAN", "ETHNIC": "NOT HISPANIC OR LATINO", "ARMCD": "IL2LD", "ARM": "IL-2",
                   "ACTARMCD": "IL2LD", "ACTARM": "IL-2", "COUNTRY": "CHN", "RFICDTC": "2014-02-20",
                   "RFXSTDTC": FIRST, "RFXENDTC": "2014-05-11" if n != 9 else "2014-03-15",
                   "RFPENDTC": "2014-06-30"})
        ex.append({"STUDYID": STUDY, "USUBJID": u, "EXSEQ": 1, "EXSTDTC": FIRST, "EXENDTC": "2014-03-15",
                   "EXDOSFRQ": "QOD"})
        lb.append({"STUDYID": STUDY, "USUBJID": u, "LBSEQ": 1, "LBTESTCD": "C3", "LBTEST": "Complement C3",
                   "LBSTRESN": 0.7, "LBSTRESU": "g/L", "LBNRIND": "LOW", "LBDTC": FIRST, "VISITNUM": 2, "VISIT": "BASELINE"})
    qs = pd.DataFrame(qs)
    qs["QSSEQ"] = qs.groupby("USUBJID").cumcount() + 1
    ae = pd.DataFrame([
        {"STUDYID": STUDY, "USUBJID": _subject(1), "AESEQ": 1, "AETERM": "rash", "AEDECOD": "Rash", "AESTDTC": "2014-03",
         "AEENDTC": "2014-03", "AEREL": "POSSIBLY RELATED", "AESEV": "MILD"},
        {"STUDYID": STUDY, "USUBJID": _subject(1), "AESEQ": 2, "AETERM": "cold", "AEDECOD": "Nasopharyngitis",
         "AESTDTC": "2014-02", "AEENDTC": "2014-02-20", "AEREL": "NOT RELATED", "AESEV": "MILD"},
        {"STUDYID": STUDY, "USUBJID": _subject(2), "AESEQ": 1, "AETERM": "redness at injection site",
         "AEDECOD": "Injection site reaction", "AESTDTC": "2014", "AEENDTC": None, "AEREL": "RELATED", "AESEV": "MILD"},
        {"STUDYID": STUDY, "USUBJID": _subject(3), "AESEQ": 1, "AETERM": "headache", "AEDECOD": "Headache",
         "AESTDTC": "2014-04-10", "AEENDTC": "2014-04-12", "AEREL": "NOT RELATED", "AESEV": "MODERATE"},
    ])
    sdtm = {"DM": pd.DataFrame(dm), "EX": pd.DataFrame(ex), "AE": ae, "LB": pd.DataFrame(lb), "QS": qs}
    return derive_adam(sdtm)


def _sri(adam, n: int, param: str = "SRI4", visit: str = "WEEK 12") -> pd.Series:
    r = adam["ADRS"]
    return r[(r["USUBJID"] == _subject(n)) & (r["PARAMCD"] == param) & (r["AVISIT"] == visit)].iloc[0]


@pytest.mark.parametrize("n", sorted(SCENARIOS))
def test_sri4_edges(adam, n):
    label, _, _, expected = SCENARIOS[n]
    assert _sri(adam, n)["AVALC"] == expected, label


def test_component_values(adam):
    assert _sri(adam, 1, "SRI4SLED")["AVALC"] == "Y" and _sri(adam, 2, "SRI4SLED")["AVALC"] == "N"
    assert _sri(adam, 3, "SRI4PGA")["AVALC"] == "N" and _sri(adam, 4, "SRI4PGA")["AVALC"] == "Y"
    assert _sri(adam, 5, "SRI4BILG")["AVALC"] == "Y" and _sri(adam, 6, "SRI4BILG")["AVALC"] == "N"
    assert _sri(adam, 7, "SRI4BILG")["AVALC"] == "N" and _sri(adam, 7, "SRI4SLED")["AVALC"] == "Y"


def test_missing_component_is_imputed_non_response(adam):
    assert _sri(adam, 8, "SRI4PGA")["DTYPE"] == "WC" and _sri(adam, 8)["DTYPE"] == "WC"
    assert pd.isna(_sri(adam, 1)["DTYPE"])


def test_discontinued_subject_is_non_responder_after_leaving(adam):
    assert _sri(adam, 9, visit="WEEK 4")["AVALC"] == "Y"         # 10 -> 5 at week 4
    wk12 = _sri(adam, 9)
    assert wk12["AVALC"] == "N" and wk12["DTYPE"] == "WC"
    adsl = adam["ADSL"].set_index("USUBJID")
    assert adsl.at[_subject(9), "NDOSE"] == 7                    # days 1..13 every second day


def test_baseline_from_last_value_before_first_dose(adam):
    q = adam["ADQS"]
    s = q[(q["USUBJID"] == _subject(10)) & (q["PARAMCD"] == "SLEDTOT")].set_index("AVISIT")
    assert s.at["BASELINE", "AVAL"] == 12 and s.at["BASELINE", "ABLFL"] == "Y"
    assert s.at["BASELINE", "ADT"] == _sas("2014-02-24")
    assert s.at["WEEK 12", "BASE"] == 12 and s.at["WEEK 12", "CHG"] == -4
    assert _sri(adam, 10)["AVALC"] == "Y"
    assert adam["ADSL"].set_index("USUBJID").at[_subject(10), "BSLEDAI"] == 12


def test_partial_ae_dates_around_first_dose(adam):
    ae = adam["ADAE"].set_index(["USUBJID", "AESEQ"])
    same_month = ae.loc[(_subject(1), 1)]
    assert same_month["ASTDT"] == _sas(FIRST) and same_month["ASTDTF"] == "D"     # not moved before first dose
    assert same_month["AENDT"] == _sas("2014-03-31") and same_month["AENDTF"] == "D"
    assert same_month["TRTEMFL"] == "Y" and same_month["ASTDY"] == 1 and same_month["AREL"] == "RELATED"
    before = ae.loc[(_subject(1), 2)]
    assert before["ASTDT"] == _sas("2014-02-01") and before["ASTDTF"] == "D" and pd.isna(before["TRTEMFL"])
    year_only = ae.loc[(_subject(2), 1)]
    assert year_only["ASTDT"] == _sas(FIRST) and year_only["ASTDTF"] == "M" and year_only["ISRFL"] == "Y"
    full = ae.loc[(_subject(3), 1)]
    assert pd.isna(full["ASTDTF"]) and full["ASTDY"] == 39 and full["SRCSEQ"] == 1


def test_impute_partial_date_rules():
    dtc = pd.Series(["2014-02", "2014", "2014-02-10", None])
    first, flag = impute_partial_date(dtc, "first")
    last, _ = impute_partial_date(dtc, "last")
    assert first.dt.strftime("%Y-%m-%d").tolist()[:3] == ["2014-02-01", "2014-01-01", "2014-02-10"]
    assert last.dt.strftime("%Y-%m-%d").tolist()[:3] == ["2014-02-28", "2014-12-31", "2014-02-10"]
    assert flag.iloc[0] == "D" and flag.iloc[1] == "M" and pd.isna(flag.iloc[2]) and pd.isna(flag.iloc[3])


def test_traceability_to_sdtm(adam):
    q = adam["ADQS"]
    rec = q[(q["USUBJID"] == _subject(1)) & (q["PARAMCD"] == "PGA01") & (q["AVISIT"] == "WEEK 12")].iloc[0]
    assert rec["SRCDOM"] == "QS" and rec["SRCVAR"] == "QSSTRESN" and rec["SRCSEQ"] >= 1
    collected = q[(q["USUBJID"] == _subject(1)) & (q["PARAMCD"] == "SLEDTOTC")]
    assert (collected["SRCDOM"] == "QS").all() and collected["SRCSEQ"].notna().all()
    derived = q[q["PARAMCD"] == "SLEDTOT"]                   # summed from the descriptors in ADaM
    assert (derived["PARAMTYP"] == "DERIVED").all() and derived["SRCSEQ"].isna().all()
    r = adam["ADRS"]
    for code, param in (("SRI4SLED", "SLEDTOT"), ("SRI4PGA", "PGA01"), ("SRI4BILG", "BILAGTOT")):
        comp = r[(r["PARAMCD"] == code) & r["SRCSEQ"].notna()]
        assert len(comp) and (comp["SRCDOM"] == "ADQS").all()
        src = comp.merge(q, left_on=["USUBJID", "SRCSEQ"], right_on=["USUBJID", "ASEQ"], suffixes=("", "_q"))
        assert len(src) == len(comp) and (src["PARAMCD_q"] == param).all()
        assert (src["AVISIT_q"] == src["AVISIT"]).all()


def test_samples_sri4_matches_the_generator_intent(tmp_path):
    from cdisc_il2.convert import map_transfer

    sdtm = map_transfer(SAMPLES).domains
    adam = derive_adam(sdtm)
    truth = json.loads((SAMPLES / "generator-truth.json").read_text())["subjects"]
    sri = adam["ADRS"][adam["ADRS"]["PARAMCD"] == "SRI4"].set_index(["USUBJID", "AVISIT"])["AVALC"]
    for s in truth:
        for visit, intended in s["intended_sri4"].items():
            assert sri[(s["USUBJID"], visit)] == intended, (s["USUBJID"], visit, s["kind"])
    for visit in ("WEEK 6", "WEEK 10", "WEEK 12"):      # 36, 35 and 34 (a responder on rescue therapy at week 12)
        meant = sum(s["intended_sri4"][visit] == "Y" for s in truth)
        assert (sri.xs(visit, level="AVISIT") == "Y").sum() == meant, visit
    isr = adam["ADAE"][adam["ADAE"]["ISRFL"] == "Y"]["USUBJID"].nunique()
    assert isr == sum(s["injection_site_reaction"] for s in truth) == 5
    adsl = adam["ADSL"].set_index("USUBJID")
    for s in truth:                                   # disposition as the generator meant it, every site
        got = adsl.loc[s["USUBJID"], ["EOSSTT", "DCSREAS"]].tolist()
        want = [s["disposition"]["EOSSTT"], s["disposition"]["DCSREAS"]]
        assert [None if pd.isna(x) else x for x in got] == want, s["USUBJID"]
    assert {s["site"] for s in truth} == set(adsl["SITEID"])
    assert adsl["AGE"].notna().all()


def test_primary_endpoint_is_marked_at_the_protocol_visit():
    from cdisc_il2.convert import map_transfer
    from cdisc_il2.derive.summary import sri_summary

    cfg = analysis_config()
    adrs = derive_adam(map_transfer(SAMPLES).domains)["ADRS"]
    primary = adrs[adrs["ANL02FL"] == "Y"]
    assert set(primary["PARAMCD"]) == {"SRI4"} and set(primary["AVISIT"]) == {cfg["sri"]["primary_visit"]}
    assert primary["USUBJID"].is_unique and len(primary) == adrs.loc[adrs["PARAMCD"] == "SRI4", "USUBJID"].nunique()
    summary = sri_summary(adrs)
    assert summary.loc[summary["primary_endpoint"] == "Y", "AVISIT"].tolist() == [cfg["sri"]["primary_visit"]]


def test_our_adam_passes_the_adam_rules(sample_run):
    tmp_path = sample_run
    doc = json.loads((tmp_path / "validation" / "adam-findings.json").read_text())
    adam_rules = _adam_rule_ids()
    # `run` checks the ADaM with the SDTM it came from as reference: no finding at all, nothing left unrun
    assert doc["findings"] == [] and doc["rule_errors"] == [], (doc["findings"][:5], doc["rule_errors"][:5])
    from cdisc_il2.metadata import adam_datasets

    assert {d["dataset"] for d in doc["datasets"]} == set(adam_datasets())      # every declared ADaM dataset
    assert adam_rules and all(d["rules_checked"] > 0 for d in doc["datasets"])
    excluded = pd.read_csv(tmp_path / "adam" / "excluded.csv")      # P8's AE: its subject is not in DM
    assert excluded[["dataset", "USUBJID"]].values.tolist() == [["AE", "IL2-SLE-01-02-2999"]]
    summary = pd.read_csv(tmp_path / "adam" / "sri_summary.csv").set_index("AVISIT")
    assert summary.at["WEEK 6", "responders"] == 36 and summary.at["WEEK 6", "N"] == 40
    assert 0.76 < summary.at["WEEK 6", "ci95_low"] < 0.78
    for png in ("sri_response.png", "sledai_profiles.png"):
        assert (tmp_path / "adam" / png).read_bytes()[:4] == b"\x89PNG"


def _adam_rule_ids() -> set[str]:
    from cdisc_il2.validate.engine import load_rules

    return {r.id for r in load_rules() if r.group.startswith("adam/")}


@pytest.fixture(scope="module")
def samples_adam(converted):
    """The samples' SDTM (as mapped) and the ADaM derived from it."""
    return converted.domains, derive_adam(converted.domains)


def _validate_adam(sdtm: dict, adam: dict, with_sdtm: tuple[str, ...]):
    from cdisc_il2.formats import Dataset
    from cdisc_il2.validate import validate_datasets

    data = {name: Dataset(name, None, df) for name, df in adam.items()}
    reference = {name: Dataset(name, None, sdtm[name]) for name in with_sdtm}
    return validate_datasets(data, reference=reference)


def test_samples_adam_has_no_adam_rule_error(samples_adam):
    """As `run` validates ADaM (the derived frames, the whole SDTM as reference): no finding, no rule that
    could not run, and only the ADaM datasets reported."""
    res = _validate_adam(*samples_adam, with_sdtm=tuple(samples_adam[0]))
    assert res.findings.empty, res.findings.head(10).to_string()
    assert res.errors.empty and set(res.datasets["dataset"]) == set(samples_adam[1])


def test_samples_adam_traces_to_its_sdtm(samples_adam):
    """With AE and EX beside DM the traceability rules run too, and no ADaM rule fires at all."""
    res = _validate_adam(*samples_adam, with_sdtm=("DM", "AE", "EX"))
    f = res.findings[res.findings["rule_id"].isin(_adam_rule_ids())]
    assert f.empty, f.to_string()
    checked = res.rules.set_index("rule_id")["checked_in"]
    assert "ADAE" in checked["AD0258"] and res.errors.empty


def test_treatment_variables(adam):
    adsl = adam["ADSL"].set_index("USUBJID")
    for name in ("ADLB", "ADQS", "ADRS"):
        df = adam[name]
        assert df["TRTP"].equals(df["USUBJID"].map(adsl["TRT01P"]).rename("TRTP")), name
        assert df["TRTA"].equals(df["USUBJID"].map(adsl["TRT01A"]).rename("TRTA")), name
    for name in ("ADAE", "ADRS"):
        assert {"TRT01P", "TRT01A"} <= set(adam[name].columns), name


def test_bilag_grade_and_score_parameters(adam):
    """Grade: AVALC A-E with its code A=1..E=5 in AVAL (one-to-one); score: BILAGnnS, AVAL A=12 B=8 C=1 D=E=0,
    no AVALC; BILAGTOT the sum of the nine scores."""
    q = adam["ADQS"]
    s5 = q[(q["USUBJID"] == _subject(5)) & (q["AVISIT"] == "WEEK 12")].set_index("PARAMCD")
    assert s5.at["BILAG01", "AVALC"] == "B" and s5.at["BILAG01", "AVAL"] == 2 and s5.at["BILAG01", "BASEC"] == "C"
    assert pd.isna(s5.at["BILAG01", "CHG"])
    assert pd.isna(s5.at["BILAG01S", "AVALC"]) and s5.at["BILAG01S", "AVAL"] == 8 and s5.at["BILAG01S", "BASE"] == 1
    assert s5.at["BILAG01S", "CHG"] == 7 and s5.at["BILAG01S", "PARAMTYP"] == "DERIVED"
    assert s5.at["BILAG01S", "SRCDOM"] == "QS" and s5.at["BILAG01S", "SRCVAR"] == "QSSTRESC"
    assert s5.at["BILAG01S", "SRCSEQ"] == s5.at["BILAG01", "SRCSEQ"]
    assert s5.at["BILAGTOT", "AVAL"] == 8 + 8 * 1 and s5.at["BILAGTOT", "BASE"] == 9
    graded = q[q["AVALC"].notna()]
    assert (graded.groupby(["PARAMCD", "AVALC"])["AVAL"].nunique() == 1).all()
    assert (graded.groupby(["PARAMCD", "AVAL"])["AVALC"].nunique() == 1).all()
    assert adam["ADSL"].set_index("USUBJID").at[_subject(7), "BBILAG"] == 9 * 8


def test_samples_bilag_totals_unchanged_by_the_split(samples_adam):
    """BILAGTOT (and so ADSL BBILAG) is the sum of the score parameters, record by record."""
    q = samples_adam[1]["ADQS"]
    scores = q[q["PARAMCD"].str.fullmatch(r"BILAG0\dS")].groupby(["USUBJID", "ADT"])["AVAL"].agg(["sum", "count"])
    tot = q[q["PARAMCD"] == "BILAGTOT"].set_index(["USUBJID", "ADT"])["AVAL"]
    full = scores[scores["count"] == 9]["sum"]
    assert len(tot) == len(full) > 0 and tot.sort_index().equals(full.sort_index().rename("AVAL").astype(tot.dtype))


def test_sledai_plot_draws_each_subject_in_visit_order_whatever_the_record_order(tmp_path):
    """One grey line per subject (records without a subject drawn in none), its points in visit order, however
    the ADQS records come; then the median."""
    from unittest import mock

    import numpy as np
    from matplotlib.axes import Axes

    from cdisc_il2.derive.summary import plot_sledai

    rows = [("S2", 4.0, 3.0), ("S1", 2.0, 9.0), ("S2", 0.0, 12.0), ("S1", 0.0, 10.0), (None, 2.0, 1.0),
            ("S2", 2.0, float("nan")), ("S1", 4.0, 6.0), ("S3", 0.0, 8.0)]
    adqs = pd.DataFrame(rows, columns=["USUBJID", "AVISITN", "AVAL"]).astype({"USUBJID": "string"})
    adqs["PARAMCD"], adqs["ANL01FL"] = "SLEDTOT", "Y"
    drawn = []
    real = Axes.plot

    def record(ax, x, y, *args, **kwargs):
        drawn.append((list(np.asarray(x, dtype=float)), list(np.asarray(y, dtype=float)), kwargs.get("label")))
        return real(ax, x, y, *args, **kwargs)

    with mock.patch.object(Axes, "plot", record):
        plot_sledai(adqs, tmp_path / "sledai.png")
    lines = [(x, [None if np.isnan(v) else v for v in y]) for x, y, label in drawn if label is None]
    assert lines == [([0.0, 2.0, 4.0], [10.0, 9.0, 6.0]), ([0.0, 2.0, 4.0], [12.0, None, 3.0]), ([0.0], [8.0])]
    assert drawn[-1][2] == "median" and (tmp_path / "sledai.png").stat().st_size > 0
