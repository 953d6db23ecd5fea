"""SDTM content of the bundled transfer, checked against the raw workbooks read independently."""
import json

import pandas as pd
import pytest

from conftest import REFERENCE, SAMPLES, raw_sheet, needs_reference

S1 = "site01_IL2-SLE-01_transfer.xlsx"
S2 = "site02_export.xlsx"


def test_all_domains_and_subjects(converted):
    d = converted.domains
    assert {"DM", "EX", "AE", "LB", "QS", "SUPPDM", "SUPPAE", "SUPPEX"} <= set(d)
    assert len(d["DM"]) == 40 and d["DM"]["USUBJID"].is_unique
    for name in ("EX", "LB", "QS"):
        assert d[name]["USUBJID"].nunique() == 40


def test_usubjid_is_study_site_subject(converted):
    dm = converted.domains["DM"].set_index("USUBJID")
    assert dm.at["IL2-SLE-01-01-001", "SITEID"] == "01"
    assert dm.at["IL2-SLE-01-01-001", "SUBJID"] == "001"
    assert dm.at["IL2-SLE-01-02-2001", "SITEID"] == "02"
    for name in ("EX", "AE", "LB", "QS"):
        dom = converted.domains[name]
        known = dom["USUBJID"].isin(dm.index)
        # the only subject outside DM is the deliberate AE for patient 2999 (problem P8)
        assert set(dom.loc[~known, "USUBJID"]) <= {"IL2-SLE-01-02-2999"}


@pytest.mark.parametrize("name", ["EX", "AE", "LB", "QS"])
def test_seq_unique_and_dense_within_subject(converted, name):
    dom = converted.domains[name]
    seq = dom[f"{name}SEQ"]
    assert not dom.duplicated(["USUBJID", f"{name}SEQ"]).any()
    per = dom.groupby("USUBJID")[f"{name}SEQ"].agg(["min", "max", "count"])
    assert (per["min"] == 1).all() and (per["max"] == per["count"]).all()
    assert seq.notna().all()


def test_outputs_are_byte_identical_for_the_same_input(tmp_path, written):
    from cdisc_il2.convert import map_transfer, write_outputs

    write_outputs(map_transfer(SAMPLES), tmp_path)
    for p in sorted(written.rglob("*.csv")):
        assert (tmp_path / p.relative_to(written)).read_bytes() == p.read_bytes(), p.name


def test_study_days_from_first_dose(converted):
    dm = converted.domains["DM"].set_index("USUBJID")
    ex = converted.domains["EX"]
    s1 = ex[ex["USUBJID"] == "IL2-SLE-01-01-001"]
    raw = raw_sheet(S1, "Dosing log")
    raw = raw[raw["Subject ID"] == "001"]
    first = min(raw["Injection date"]).date().isoformat()
    assert dm.at["IL2-SLE-01-01-001", "RFSTDTC"] == first == dm.at["IL2-SLE-01-01-001", "RFXSTDTC"]
    assert s1.loc[s1["EXSTDTC"] == first, "EXSTDY"].tolist() == [1]
    # injections every second day: day 3 is the second injection
    assert s1.sort_values("EXSEQ")["EXSTDY"].tolist()[:3] == [1, 3, 5]
    for name, dys in (("LB", ["LBDY"]), ("QS", ["QSDY"]), ("AE", ["AESTDY", "AEENDY"]), ("EX", ["EXSTDY", "EXENDY"])):
        for dy in dys:
            assert not (converted.domains[name][dy] == 0).any(), f"{dy} has a day 0"
    lb = converted.domains["LB"]
    scr = lb[(lb["USUBJID"] == "IL2-SLE-01-01-001") & (lb["VISIT"] == "SCREENING")]
    assert (scr["LBDY"] < 0).all() and (scr["EPOCH"] == "SCREENING").all()


def test_partial_dates_stay_partial(converted):
    raw = raw_sheet(S2, "AE log")
    assert raw.at[2, "Onset"].startswith("UNK-")
    mon, year = raw.at[2, "Onset"].split("-")[1:]
    months = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
    expected = f"{year}-{months.index(mon) + 1:02d}"
    ae = converted.domains["AE"]
    trace = converted.trace
    t = trace[(trace["DOMAIN"] == "AE") & (trace["file"] == S2) & (trace["row"] == 2)].iloc[0]
    rec = ae[(ae["USUBJID"] == t["USUBJID"]) & (ae["AESEQ"] == t["SEQ"])].iloc[0]
    assert rec["AESTDTC"] == expected
    assert pd.isna(rec["AESTDY"])


def test_excel_serial_and_text_dates(converted):
    raw = raw_sheet(S2, "Lab results")
    serial_rows = raw[raw["Date"].map(lambda v: isinstance(v, int))]
    row = serial_rows.index[0]
    expected = (pd.Timestamp("1899-12-30") + pd.Timedelta(days=int(raw.at[row, "Date"]))).strftime("%Y-%m-%d")
    tr = converted.trace
    t = tr[(tr["DOMAIN"] == "LB") & (tr["file"] == S2) & (tr["row"] == row)].iloc[0]
    lb = converted.domains["LB"]
    assert lb.loc[(lb["USUBJID"] == t["USUBJID"]) & (lb["LBSEQ"] == t["SEQ"]), "LBDTC"].iloc[0] == expected


@pytest.mark.parametrize("heading,test,factor,unit", [
    ("C3 (mg/dL)", "C3", 0.01, "g/L"), ("C4 (mg/dL)", "C4", 0.01, "g/L"), ("Hb (g/dL)", "HGB", 10, "g/L"),
    ("Cr (mg/dL)", "CREAT", 88.42, "umol/L"), ("Urine protein (mg/24h)", "PROTEXR", 0.001, "g/day"),
    ("WBC (10^3/uL)", "WBC", 1, "10^9/L"),
])
def test_unit_conversion_to_standard_units(converted, heading, test, factor, unit):
    raw = raw_sheet(S2, "Lab results")
    lb = converted.domains["LB"]
    row = raw.iloc[6]
    subj = f"IL2-SLE-01-02-{row['Pt ID']}"
    visit = ["SCREENING", "BASELINE", "WEEK 2", "WEEK 4", "WEEK 6", "WEEK 8", "WEEK 10", "WEEK 12",
             "FOLLOW-UP"][int(row["Visit"][1:])]
    rec = lb[(lb["USUBJID"] == subj) & (lb["LBTESTCD"] == test) & (lb["VISIT"] == visit)].iloc[0]
    assert float(rec["LBORRES"]) == pytest.approx(float(row[heading]))
    assert rec["LBSTRESN"] == pytest.approx(float(row[heading]) * factor, rel=1e-6)
    assert rec["LBSTRESU"] == unit


def test_site01_c3_already_in_standard_unit_and_range_indicator(converted):
    lb = converted.domains["LB"]
    c3 = lb[(lb["LBTESTCD"] == "C3") & lb["USUBJID"].str.startswith("IL2-SLE-01-01-")]
    assert (c3["LBORRESU"] == "g/L").all()
    assert (c3["LBSTRESN"] == pd.to_numeric(c3["LBORRES"])).all()
    low = c3["LBSTRESN"] < c3["LBSTNRLO"]
    assert (c3.loc[low, "LBNRIND"] == "LOW").all() and low.any()
    assert (c3.loc[~low & (c3["LBSTRESN"] <= c3["LBSTNRHI"]), "LBNRIND"] == "NORMAL").all()


def test_text_result_kept_without_number(converted):
    lb = converted.domains["LB"]
    rec = lb[lb["LBORRES"] == "<0.05"]
    assert len(rec) == 1
    assert rec["LBSTRESC"].iloc[0] == "<0.05" and pd.isna(rec["LBSTRESN"].iloc[0])


def test_ct_recoding_of_site_spellings(converted):
    raw = raw_sheet(S2, "Patients").set_index("Pt ID")
    dm = converted.domains["DM"].set_index("USUBJID")
    spellings = {"男": "M", "Male": "M", "M": "M", "女": "F", "Female": "F", "F": "F"}
    for pid, gender in raw["Gender"].items():
        assert dm.at[f"IL2-SLE-01-02-{pid}", "SEX"] == spellings[gender]
    assert set(raw["Gender"]) - {"M", "F"}, "sample should carry non-CDISC spellings"
    ae = converted.domains["AE"]
    assert set(ae["AESEV"]) - {"MILD", "MODERATE", "SEVERE"} == {"Moderate-severe"}   # P3 carried
    assert set(ae["AEOUT"].dropna()) <= {"RECOVERED/RESOLVED", "NOT RECOVERED/NOT RESOLVED"}
    ex = converted.domains["EX"]
    s2 = ex[ex["USUBJID"].str.startswith("IL2-SLE-01-02-")]
    assert set(s2["EXDOSFRQ"]) == {"QOD"} and set(s2["EXROUTE"]) == {"SUBCUTANEOUS"}
    assert set(ex["EXDOSE"]) == {1000000} and set(ex["EXDOSU"]) == {"IU"}


def test_suppqual_records_link_to_parents(converted):
    supp = converted.domains["SUPPAE"]
    ae = converted.domains["AE"]
    merged = supp.merge(ae, left_on=["USUBJID", supp["IDVARVAL"].astype(int)], right_on=["USUBJID", "AESEQ"])
    assert len(merged) == len(supp) and (supp["IDVAR"] == "AESEQ").all()
    raw = raw_sheet(S1, "Demography").set_index("Subject ID")
    sdm = converted.domains["SUPPDM"].set_index("USUBJID")
    assert sdm.at["IL2-SLE-01-01-001", "QNAM"] == "SLEDUR"
    assert float(sdm.at["IL2-SLE-01-01-001", "QVAL"]) == pytest.approx(raw.at["001", "SLE duration (years)"])
    assert sdm.at["IL2-SLE-01-01-001", "QLABEL"] == "SLE Disease Duration (years)"


def test_sledai_total_derived_where_not_collected(converted):
    qs = converted.domains["QS"]
    sled = qs[qs["QSCAT"] == "SLEDAI-2K"]
    tot = sled[sled["QSTESTCD"] == "SLEDTOT"]
    items = sled[sled["QSTESTCD"] != "SLEDTOT"]
    sums = items.groupby(["USUBJID", "VISITNUM"])["QSSTRESN"].sum()
    got = tot.set_index(["USUBJID", "VISITNUM"])["QSSTRESN"]
    assert (got.reindex(sums.index) == sums).all()
    assert (tot.loc[tot["USUBJID"].str.startswith("IL2-SLE-01-02-"), "QSDRVFL"] == "Y").all()
    assert tot.loc[tot["USUBJID"].str.startswith("IL2-SLE-01-01-"), "QSDRVFL"].isna().all()
    raw = raw_sheet(S2, "Disease activity")
    r = raw.iloc[0]
    weights = [8] * 8 + [4] * 6 + [2] * 7 + [1] * 3
    expected = sum(w for w, v in zip(weights, r.iloc[3:27]) if v == "Y")
    subj = f"IL2-SLE-01-02-{r['Pt ID']}"
    assert got[(subj, 1)] == expected
    bilag = qs[qs["QSCAT"] == "BILAG-2004"]
    assert set(bilag["QSSTRESC"]) <= set("ABCDE")
    pga = qs[qs["QSTESTCD"] == "PGA01"]
    assert pga["QSSTRESN"].between(0, 3).all()


def test_last_observation_before_exposure_flag(converted):
    for name, by in (("LB", ["USUBJID", "LBTESTCD"]), ("QS", ["USUBJID", "QSTESTCD"])):
        dom = converted.domains[name]
        flagged = dom[dom[f"{name}LOBXFL"] == "Y"]
        assert not flagged.duplicated(by).any()
        assert (flagged["VISIT"] == "BASELINE").mean() > 0.9
    dm = converted.domains["DM"].set_index("USUBJID")
    lb = converted.domains["LB"]
    f = lb[lb["LBLOBXFL"] == "Y"]
    assert (f["LBDTC"].str[:10] <= f["USUBJID"].map(dm["RFXSTDTC"])).all()


def test_visits_from_schedule(converted):
    lb = converted.domains["LB"]
    s2 = lb[lb["USUBJID"].str.startswith("IL2-SLE-01-02-")]
    assert set(s2["VISIT"]) <= {"SCREENING", "BASELINE", "WEEK 2", "WEEK 4", "WEEK 6", "WEEK 8", "WEEK 10", "WEEK 12",
                                "FOLLOW-UP"}
    pairs = lb[["VISITNUM", "VISIT"]].drop_duplicates()
    assert pairs["VISITNUM"].is_unique and pairs["VISIT"].is_unique


def test_accountability_balances(converted):
    acc = converted.accountability
    read = acc[acc["rows_read"] > 0]
    assert read["balanced"].all()
    assert (read["rows_read"] == read["rows_mapped"] + read["rows_rejected"]).all()
    rej = converted.rejects
    row_rejects = rej[rej["disposition"] == "row rejected"].drop_duplicates(["file", "sheet", "row"])
    assert len(row_rejects) == int(read["rows_rejected"].sum())


def test_every_deliberate_problem_is_rejected_or_carried(converted):
    truth = json.loads((SAMPLES / "generator-truth.json").read_text())
    rej = converted.rejects
    ids = {p["id"]: p for p in truth["problems"]}
    assert set(ids) == {f"P{i}" for i in range(1, len(ids) + 1)} and len(ids) >= 10

    def rejected(p, disposition):
        r = rej[(rej["sheet"] == p["sheet"]) & (rej["row"] == p["row"])]
        return (r["disposition"] == disposition).any()

    assert rejected(ids["P2"], "value kept as collected")
    assert rejected(ids["P3"], "value kept as collected")
    assert rejected(ids["P7"], "row rejected")
    ae, lb = converted.domains["AE"], converted.domains["LB"]
    assert ae.loc[ae["USUBJID"] == ids["P1"]["usubjid"], "AESTDTC"].isna().any()
    assert (lb["LBDTC"] == "2014-02-30").sum() == 0 and (lb["LBDTC"] == "2014/02/30").sum() == 10
    dup_cols = [c for c in lb.columns if c not in ("LBSEQ", "LBLOBXFL")]
    assert lb.duplicated(dup_cols).sum() == 1
    dm = converted.domains["DM"].set_index("USUBJID")
    p5 = ae[ae["USUBJID"] == ids["P5"]["usubjid"]]
    assert (p5["AESTDTC"] < dm.at[ids["P5"]["usubjid"], "RFICDTC"]).any()
    assert "IL2-SLE-01-02-2999" in set(ae["USUBJID"]) and "IL2-SLE-01-02-2999" not in dm.index
    qs = converted.domains["QS"]
    p10 = qs[(qs["USUBJID"] == ids["P10"]["usubjid"]) & (qs["QSTESTCD"] == "PGA01") & (qs["VISIT"] == "SCREENING")]
    assert p10[["QSSTAT", "QSREASND"]].values.tolist() == [["NOT DONE", "NOT ASSESSED BY THE PHYSICIAN"]]
    assert p10["QSORRES"].isna().all() and p10["QSSTRESC"].isna().all()


def test_trace_points_every_record_to_its_raw_row(converted):
    tr = converted.trace
    collected = {b["domain"] for s in converted.specs for b in s.doc["blocks"]}    # domains the sites send
    for name, dom in converted.domains.items():
        if name in collected or name.removeprefix("SUPP") in collected:
            assert (tr["DOMAIN"] == name).sum() == len(dom), name
        else:                                 # trial design and SE/SV come from study.yaml and DM/EX, not raw rows
            assert (tr["DOMAIN"] == name).sum() == 0, name
    assert tr["file"].notna().all() and tr["row"].notna().all()


def test_personal_data_not_in_outputs(written):
    raw = raw_sheet(S2, "Patients")
    names = set(raw["Patient name"])
    text = "".join(p.read_text(encoding="utf-8") for p in written.rglob("*.csv"))
    assert not any(n in text for n in names)


@needs_reference
def test_labels_and_order_follow_sdtmig(written):
    import csv

    ref = {}
    with open(REFERENCE / "sdtmig-3.4" / "Variables.csv", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            ref[(r["Dataset Name"], r["Variable Name"])] = (int(r["Variable Order"]), r["Variable Label"])
    var = pd.read_csv(written / "sdtm" / "variables.csv", dtype=str)
    for ds, grp in var.groupby("dataset"):
        key = "SUPPQUAL" if ds.startswith("SUPP") else ds
        orders = [ref[(key, v)][0] for v in grp["variable"]]
        assert orders == sorted(orders), ds
        assert all(ref[(key, v)][1] == lab for v, lab in zip(grp["variable"], grp["label"]))


def test_the_fast_reader_gives_openpyxls_values_on_every_sample_cell():
    """Cells are read with calamine (Rust); on every cell of every bundled workbook it must give what openpyxl
    gives (rendered as text the same way), sheets found by data."""
    from openpyxl import load_workbook

    from cdisc_il2.ingest import Workbook, _cell_text

    books = sorted(SAMPLES.parent.glob("transfer-*/*.xlsx"))
    assert len(books) >= 6
    for path in books:
        ours = Workbook(path)
        ref = load_workbook(path, read_only=True, data_only=True)
        for name in ref.sheetnames:
            expected = [[_cell_text(v) for v in row] for row in ref[name].iter_rows(values_only=True)]
            got = [[_cell_text(v) for v in row] for row in ours._rows(name, None)]
            width = max(len(r) for r in expected)
            pad = lambda rows: [r + [None] * (width - len(r)) for r in rows]  # noqa: E731
            assert pad(got) == pad(expected)[:len(got)], (path.name, name)
            assert all(all(c is None for c in r) for r in expected[len(got):]), (path.name, name)
