"""Treatment emergence is one rule: SDTM SUPPAE AETRTEM (Pinnacle 21 SD1097 asks for it) and ADaM ADAE TRTEMFL
agree on every adverse event; the rule itself on partial dates and the edges of the window."""
from __future__ import annotations

import json

import pandas as pd

from cdisc_il2.dates import treatment_emergent
from cdisc_il2.resources import load_analysis


def test_the_rule_on_dates_partial_dates_and_the_window():
    window = 30
    first, last = pd.Timestamp("2014-03-10"), pd.Timestamp("2014-05-10")
    cases = [("2014-03-10", "", True),            # on the first dose
             ("2014-03-09", "2014-03-12", False),  # the day before
             ("2014-03", "", True),                # unknown day in the month of the first dose: not moved before it
             ("2014-02", "2014-02-20", False),
             ("2014-06-09", "", True),             # last dose + 30 days
             ("2014-06-10", "", False),            # + 31
             ("", "", True),                       # unknown start and end: counts
             ("", "2014-03-01", False)]            # unknown start, ended before the first dose
    start = pd.Series([c[0] or pd.NA for c in cases], dtype="string")
    end = pd.Series([c[1] or pd.NA for c in cases], dtype="string")
    n = len(cases)
    got = treatment_emergent(start, end, pd.Series([first] * n), pd.Series([last] * n), window)
    assert got.tolist() == [c[2] for c in cases]
    none = treatment_emergent(start, end, pd.Series([pd.NaT] * n), pd.Series([pd.NaT] * n), window)
    assert not none.any()                          # never treated: nothing is treatment-emergent


def test_sdtm_and_adam_agree_on_every_adverse_event(sample_run):
    ae = pd.read_csv(sample_run / "sdtm" / "ae.csv", dtype="string")
    supp = pd.read_csv(sample_run / "sdtm" / "suppae.csv", dtype="string")
    adae = pd.read_csv(sample_run / "adam" / "adae.csv", dtype="string")
    flag = supp[supp["QNAM"] == "AETRTEM"]
    assert set(flag["QVAL"]) == {"Y", "N"} and set(flag["QORIG"]) == {"Derived"}
    seq = lambda s: pd.to_numeric(s).astype(int)  # noqa: E731
    sdtm = dict(zip(zip(flag["USUBJID"], seq(flag["IDVARVAL"])), flag["QVAL"]))
    adam = dict(zip(zip(adae["USUBJID"], seq(adae["AESEQ"])), adae["TRTEMFL"].fillna("N")))
    dm = set(pd.read_csv(sample_run / "sdtm" / "dm.csv", dtype="string")["USUBJID"])
    in_dm = ae[ae["USUBJID"].isin(dm)]
    assert set(sdtm) == set(zip(in_dm["USUBJID"], seq(in_dm["AESEQ"])))      # every AE of a subject in DM
    assert {k: v for k, v in adam.items() if k in sdtm} == sdtm
    doc = json.loads((sample_run / "validation" / "findings.json").read_text(encoding="utf-8"))
    assert not [f for f in doc["findings"] if f["rule_id"] == "SD1097" and f["usubjid"] in dm]
    assert load_analysis()["adverse_events"]["trtem_window_days"] > 0
