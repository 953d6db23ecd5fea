"""Concomitant medications: the site sheets to SDTM CM, ADCM (dates, flags, prednisone equivalents) and the
rescue-therapy rules, with hand-computed values on hand-built CM records and the generator's intent on the samples."""
import copy
import json

import numpy as np
import pandas as pd
import pytest

from cdisc_il2.derive.adcm import add_rescue_flags, build_adcm, daily_dose_levels, rescue_events
from cdisc_il2.derive.core import from_sas_date, to_sas_date
from cdisc_il2.config import analysis_config
from cdisc_il2.derive.datasets import build_adsl
from conftest import SAMPLES

FIRST, LAST = "2014-03-10", "2014-05-20"
CLASSES = {"PREDNISONE": "GLUCOCORTICOID", "METHYLPREDNISOLONE": "GLUCOCORTICOID", "PREDNISOLONE": "GLUCOCORTICOID",
           "DEXAMETHASONE": "GLUCOCORTICOID", "HYDROCORTISONE": "GLUCOCORTICOID",
           "HYDROXYCHLOROQUINE": "ANTIMALARIAL", "MYCOPHENOLATE MOFETIL": "IMMUNOSUPPRESSANT",
           "AZATHIOPRINE": "IMMUNOSUPPRESSANT", "CYCLOPHOSPHAMIDE": "IMMUNOSUPPRESSANT"}


def _sas(iso: str) -> float:
    return float(to_sas_date(pd.Series(pd.to_datetime([iso])))[0])


def _iso(days: pd.Series) -> list[str]:
    return from_sas_date(days).dt.strftime("%Y-%m-%d").tolist()


def _adsl(*subjects: str, eos: str | None = "2014-07-31") -> pd.DataFrame:
    return pd.DataFrame({"STUDYID": "T", "USUBJID": list(subjects), "TRTSDT": _sas(FIRST), "TRTEDT": _sas(LAST),
                         "EOSDT": _sas(eos) if eos else np.nan, "TRT01P": "IL-2", "TRT01A": "IL-2", "SAFFL": "Y"})


def _cm(rows: list[tuple]) -> dict[str, pd.DataFrame]:
    """rows: (USUBJID, CMDECOD, dose, start, end[, frequency[, unit]]) -> SDTM with CM; CMSEQ in row order."""
    recs = []
    for seq, (subj, decod, dose, start, end, *rest) in enumerate(rows, start=1):
        freq, unit = (rest + ["QD", "mg"][len(rest):])[:2]
        recs.append({"STUDYID": "T", "DOMAIN": "CM", "USUBJID": subj, "CMSEQ": seq, "CMTRT": decod.title(),
                     "CMDECOD": decod, "CMCLAS": CLASSES[decod], "CMDOSE": dose, "CMDOSU": unit, "CMDOSFRQ": freq,
                     "CMSTDTC": start, "CMENDTC": end})
    return {"CM": pd.DataFrame(recs)}


def _events(rows: list[tuple], cfg: dict | None = None, eos: str | None = "2014-07-31") -> pd.DataFrame:
    cfg = cfg or analysis_config()
    subjects = sorted({r[0] for r in rows})
    adsl = _adsl(*subjects, eos=eos)
    return rescue_events(build_adcm(_cm(rows), adsl, cfg), adsl, cfg)


def _fired(events: pd.DataFrame) -> dict[str, tuple[str, str, int]]:
    return {u: (r, d, int(s)) for u, r, d, s in zip(events["USUBJID"], events["RESCRULE"], _iso(events["RESCDT"]),
                                                      events["SRCSEQ"])}


BASE = ("PREDNISONE", 10, "2014-01-01")           # 10 mg/day prednisone from before the first dose


def test_prednisone_equivalent_daily_dose():
    rows = [("S", "PREDNISONE", 10, "2014-01-01", None),                      # 10 x 1 x 1       = 10
            ("S", "METHYLPREDNISOLONE", 4, "2014-01-01", None, "BID"),        # 4 x 2 x 1.25     = 10
            ("S", "DEXAMETHASONE", 0.75, "2014-01-01", None),                 # 0.75 x 6.67      = 5.0025 -> 5.0
            ("S", "HYDROCORTISONE", 20, "2014-01-01", None),                  # 20 x 0.25        = 5
            ("S", "PREDNISOLONE", 2.5, "2014-01-01", None, "QID"),            # 2.5 x 4          = 10
            ("S", "METHYLPREDNISOLONE", 0.016, "2014-01-01", None, "QD", "g"),  # 16 mg x 1.25   = 20
            ("S", "PREDNISONE", 20, "2014-01-01", None, "QOD"),               # 20 x 0.5         = 10
            ("S", "PREDNISONE", 10, "2014-01-01", None, "EVERY WEEK"),        # no daily factor: missing
            ("S", "HYDROXYCHLOROQUINE", 200, "2014-01-01", None, "BID")]      # not a glucocorticoid
    adcm = build_adcm(_cm(rows), _adsl("S"), analysis_config()).sort_values("CMSEQ")
    got = adcm["PEQDOSE"].tolist()
    assert got[:7] == [10.0, 10.0, 5.0, 5.0, 10.0, 20.0, 10.0]
    assert np.isnan(got[7]) and np.isnan(got[8])


def test_analysis_dates_and_prior_and_on_treatment_flags():
    rows = [("S", "HYDROXYCHLOROQUINE", 200, "2013", None),                   # year only: 2013-01-01 (M)
            ("S", "HYDROXYCHLOROQUINE", 200, "2014-03", "2014-04"),           # month of first dose: the first dose
            ("S", "AZATHIOPRINE", 50, "2013-06-01", "2014-03-09"),            # ended the day before the first dose
            ("S", "AZATHIOPRINE", 50, "2014-04-01", "2014-04-10"),            # after the first dose
            ("S", "PREDNISONE", 5, "2014-06-19", None),                       # last dose + 30 days: on treatment
            ("S", "PREDNISONE", 5, "2014-06-20", None),                       # last dose + 31 days: not
            ("S", "PREDNISONE", 5, None, "2014-02-01"),                       # no start, ended before the first dose
            ("S", "PREDNISONE", 5, None, None)]                               # no start, no end
    a = build_adcm(_cm(rows), _adsl("S"), analysis_config()).sort_values("CMSEQ").reset_index(drop=True)
    assert _iso(a["ASTDT"])[:6] == ["2013-01-01", "2014-03-10", "2013-06-01", "2014-04-01", "2014-06-19", "2014-06-20"]
    assert a["ASTDTF"].tolist()[:2] == ["M", "D"] and a["AENDTF"].tolist()[1] == "D"
    assert _iso(a["AENDT"])[1] == "2014-04-30"
    assert a["ASTDY"].tolist()[:6] == [-433, 1, -282, 23, 102, 103]
    assert a["PREFL"].fillna("").tolist() == ["Y", "", "Y", "", "", "", "Y", "Y"]
    assert a["ONTRTFL"].fillna("").tolist() == ["Y", "Y", "", "Y", "Y", "", "", "Y"]
    assert (a["SRCDOM"] == "CM").all() and (a["SRCVAR"] == "CMSEQ").all() and a["SRCSEQ"].tolist() == list(range(1, 9))


@pytest.mark.parametrize("dose, end, fires", [
    (20, "2014-04-30", False),          # baseline + 10 exactly, for 30 days: not above
    (22.5, "2014-04-30", True),         # above baseline + 10 for 30 days
    (25, "2014-04-14", False),          # above for 14 days (1-14 April): not more than 14
    (25, "2014-04-15", True),           # above for 15 days
])
def test_glucocorticoid_increase_boundaries(dose, end, fires):
    rows = [("S", *BASE, "2014-03-31"), ("S", "PREDNISONE", dose, "2014-04-01", end),
            ("S", "PREDNISONE", 10, (pd.Timestamp(end) + pd.Timedelta(days=1)).strftime("%Y-%m-%d"), None)]
    got = _fired(_events(rows))
    assert got == ({"S": ("glucocorticoid_increase", "2014-04-01", 2)} if fires else {})


def test_glucocorticoid_increase_over_consecutive_and_overlapping_records():
    rows = [("A", *BASE, "2014-03-31"),                                       # A: 25 mg 8 days then 22.5 mg 7 days
            ("A", "PREDNISONE", 25, "2014-04-01", "2014-04-08"),
            ("A", "PREDNISONE", 22.5, "2014-04-09", "2014-04-15"),
            ("A", "PREDNISONE", 10, "2014-04-16", None),
            ("B", *BASE, None),                                               # B: + methylprednisolone 12 mg = +15
            ("B", "METHYLPREDNISOLONE", 12, "2014-04-01", "2014-04-20"),
            ("C", *BASE, None),                                               # C: + methylprednisolone 8 mg = +10
            ("C", "METHYLPREDNISOLONE", 8, "2014-04-01", "2014-04-20"),
            ("D", "PREDNISONE", 40, "2013-10-01", "2014-03-01"),              # D: high dose before the first dose only
            ("D", "PREDNISONE", 10, "2014-03-02", None),
            ("E", "PREDNISONE", 15, "2014-04-01", "2014-04-20")]              # E: none at baseline: 15 > 0 + 10
    events = _events(rows)
    assert _fired(events) == {"A": ("glucocorticoid_increase", "2014-04-01", 2),
                              "B": ("glucocorticoid_increase", "2014-04-01", 6),
                              "E": ("glucocorticoid_increase", "2014-04-01", 11)}
    reason = events.set_index("USUBJID").at["A", "RESCREAS"]
    assert reason.endswith("25 mg/day from 2014-04-01 for 15 days (baseline 10 mg/day)"), reason
    assert events.set_index("USUBJID").at["E", "RESCREAS"].endswith("(baseline 0 mg/day)")


def test_glucocorticoid_increase_open_end_runs_to_end_of_study():
    rows = [("S", *BASE, "2014-04-30"), ("S", "PREDNISONE", 25, "2014-05-01", None)]
    assert _fired(_events(rows, eos="2014-05-14")) == {}                          # 14 days to the end of study
    assert _fired(_events(rows, eos="2014-05-15")) == {"S": ("glucocorticoid_increase", "2014-05-01", 2)}
    assert "open-ended" in _events(rows, eos=None)["RESCREAS"].iloc[0]


def test_glucocorticoid_increase_date_met_is_the_day_the_limit_is_passed():
    cfg = copy.deepcopy(analysis_config())
    cfg["rescue_therapy"]["glucocorticoid_increase"]["date"] = "met"
    rows = [("S", *BASE, "2014-03-31"), ("S", "PREDNISONE", 25, "2014-04-01", "2014-04-30")]
    assert _fired(_events(rows, cfg)) == {"S": ("glucocorticoid_increase", "2014-04-15", 2)}


def test_daily_dose_levels_sum_overlapping_records():
    rows = [("S", "PREDNISONE", 10, "2014-03-01", "2014-03-31"), ("S", "METHYLPREDNISOLONE", 4, "2014-03-11", "2014-03-20")]
    adcm = build_adcm(_cm(rows), _adsl("S"), analysis_config())
    seg = daily_dose_levels(adcm)
    assert _iso(seg["day"]) == ["2014-03-01", "2014-03-11", "2014-03-21", "2014-04-01"]
    assert seg["level"].tolist() == [10.0, 15.0, 10.0, 0.0] and np.isinf(seg["until"].iloc[-1])


def test_new_immunosuppressant_after_the_first_dose():
    rows = [("A", "MYCOPHENOLATE MOFETIL", 500, "2013-06-01", "2014-04-30", "BID"),   # A: taken at the first dose,
            ("A", "MYCOPHENOLATE MOFETIL", 750, "2014-05-01", None, "BID"),           # a dose change is not new
            ("B", "AZATHIOPRINE", 50, "2014-04-01", None),                            # B: new after the first dose
            ("C", "AZATHIOPRINE", 50, FIRST, None),                                   # C: started on the first dose day
            ("D", "CYCLOPHOSPHAMIDE", 500, "2013-01-01", "2013-03-01", "EVERY 2 WEEKS"),  # D: stopped before,
            ("D", "CYCLOPHOSPHAMIDE", 500, "2014-05-01", None, "EVERY 2 WEEKS"),          # restarted: new
            ("E", "HYDROXYCHLOROQUINE", 200, "2014-04-01", None, "BID"),              # E: class not listed
            ("F", "AZATHIOPRINE", 50, None, None),                                    # F: no start date
            ("G", "AZATHIOPRINE", 50, "2014-03", None),                               # G: month of first dose
            ("H", "AZATHIOPRINE", 50, "2014-04", None)]                               # H: 2014-04 -> 1 April
    events = _events(rows)
    assert _fired(events) == {"B": ("prohibited_new", "2014-04-01", 3),
                              "D": ("prohibited_new", "2014-05-01", 6),
                              "H": ("prohibited_new", "2014-04-01", 10)}
    assert events.set_index("USUBJID").at["D", "RESCREAS"] == \
        "New immunosuppressant after the first dose: CYCLOPHOSPHAMIDE from 2014-05-01"
    assert set(events["SRCDOM"]) == {"CM"} and set(events["SRCVAR"]) == {"CMSTDTC"}


def test_one_event_per_subject_the_earliest_and_the_adsl_flags():
    rows = [("S", *BASE, "2014-04-09"), ("S", "PREDNISONE", 30, "2014-04-10", "2014-05-10"),
            ("S", "AZATHIOPRINE", 50, "2014-04-20", None),
            ("T", "AZATHIOPRINE", 50, "2014-04-10", None), ("T", "PREDNISONE", 25, "2014-04-10", "2014-05-10")]
    events = _events(rows)
    assert _fired(events) == {"S": ("glucocorticoid_increase", "2014-04-10", 2),
                              "T": ("prohibited_new", "2014-04-10", 4)}       # same day: the first rule listed
    adsl = add_rescue_flags(_adsl("S", "T", "U"), events)
    assert adsl["RESCFL"].tolist() == ["Y", "Y", "N"]
    assert _iso(adsl["RESCDT"].iloc[:2]) == ["2014-04-10", "2014-04-10"] and np.isnan(adsl["RESCDT"].iloc[2])


def test_unknown_rule_and_no_cm_data():
    cfg = copy.deepcopy(analysis_config())
    adsl = _adsl("S")
    adcm = build_adcm({}, adsl, cfg)
    assert adcm.empty and "PEQDOSE" in adcm
    assert rescue_events(adcm, adsl, cfg).empty
    cfg["rescue_therapy"]["biologic_new"] = {}
    with pytest.raises(ValueError, match="biologic_new"):
        rescue_events(adcm, adsl, cfg)


# --- the bundled samples ------------------------------------------------------------------------------------


def test_every_site_medication_sheet_reaches_cm_coded(converted):
    cm = converted.domains["CM"]
    assert cm["USUBJID"].str.split("-").str[3].nunique() == 3 and cm["USUBJID"].nunique() >= 35
    assert cm["CMDECOD"].notna().all() and cm["CMCLAS"].notna().all()
    assert cm["CMTRT"].str.fullmatch(r"[\x20-\x7e]+").all()                 # site 03 names translated
    assert set(cm["CMDOSU"]) == {"mg"} and set(cm["CMROUTE"]) <= {"ORAL", "INTRAVENOUS"}
    assert set(cm["CMDOSFRQ"]) <= {"QD", "BID", "EVERY WEEK", "EVERY 2 WEEKS"}
    assert cm["CMSTDTC"].str.fullmatch(r"\d{4}-\d{2}(-\d{2})?").all()     # partial starts stay partial
    assert (cm["CMENRTPT"].eq("ONGOING") == cm["CMENDTC"].isna()).all()
    acc = converted.accountability
    acc = acc[acc["domain"] == "CM"]
    assert len(acc) == 3 and (acc["rows_read"] == acc["rows_mapped"]).all() and (acc["rows_rejected"] == 0).all()


def test_samples_rescue_events_are_the_generator_intent(converted):
    cfg = analysis_config()
    sdtm = converted.domains
    subjects = sdtm["DM"]["USUBJID"]
    sdtm = {k: (v if k == "DM" or "USUBJID" not in v else v[v["USUBJID"].isin(subjects)]) for k, v in sdtm.items()}
    adsl = build_adsl(sdtm, cfg)
    adcm = build_adcm(sdtm, adsl, cfg)
    events = rescue_events(adcm, adsl, cfg)
    truth = json.loads((SAMPLES / "generator-truth.json").read_text())["subjects"]
    meant = {s["USUBJID"]: (s["rescue"]["rule"], s["rescue"]["date"]) for s in truth if s["rescue"]}
    assert {u: v[:2] for u, v in _fired(events).items()} == meant and len(meant) == 3
    kinds = {s["USUBJID"]: s["kind"] for s in truth}
    assert sorted(kinds[u] == "responder" for u in meant) == [False, False, True]
    # the first SRI visit assessed on or after the rescue date is the one the generator meant
    qs = sdtm["QS"][sdtm["QS"]["QSTESTCD"].eq("PGA01")]
    for s in (s for s in truth if s["rescue"]):
        mine = qs[qs["USUBJID"].eq(s["USUBJID"]) & (qs["QSDTC"] >= s["rescue"]["date"])]
        assert mine.sort_values("QSDTC")["VISIT"].iloc[0] == s["rescue"]["visit_from"], s["USUBJID"]
        assert s["intended_sri4"].get(s["rescue"]["visit_from"], "N") == "N"
    # a responder's short burst stays within the rules: methylprednisolone 8 -> 20 mg/day (10 -> 25 prednisone
    # equivalent, +15) for 10 days, 28 March to 6 April 2014
    burst = adcm[(adcm["USUBJID"] == "IL2-SLE-01-01-002") & (adcm["ASTDY"] > 1)].sort_values("ASTDT")
    assert burst[["CMDECOD", "CMDOSE", "PEQDOSE"]].values.tolist() == [["METHYLPREDNISOLONE", 20.0, 25.0],
                                                                      ["METHYLPREDNISOLONE", 8.0, 10.0]]
    assert burst["AENDT"].iloc[0] - burst["ASTDT"].iloc[0] + 1 == 10 and "IL2-SLE-01-01-002" not in meant
    flags = add_rescue_flags(adsl, events)
    assert set(flags.loc[flags["RESCFL"] == "Y", "USUBJID"]) == set(meant)
