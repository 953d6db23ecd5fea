"""The SRI-4 where implementations go wrong, found by editing one SDTM record of the samples and deriving
again, each with the values a statistician computes by hand and the rule in mappings/analysis.yaml."""
from __future__ import annotations

import copy

import pandas as pd
import pytest

from cdisc_il2.convert import map_transfer
from cdisc_il2.derive import derive_adam
from cdisc_il2.config import analysis_config
from cdisc_il2.derive.datasets import derivation_notes
from cdisc_il2.derive.summary import sri_summary
from conftest import SAMPLES

S = "IL2-SLE-01-01-"


@pytest.fixture(scope="module")
def sdtm() -> dict[str, pd.DataFrame]:
    return map_transfer(SAMPLES).domains


def _edit(sdtm: dict, domain: str, frame: pd.DataFrame) -> dict:
    out = dict(sdtm)
    out[domain] = frame.reset_index(drop=True)
    return out


def _cfg(**sri) -> dict:
    cfg = copy.deepcopy(analysis_config())
    cfg["sri"].update(sri)
    return cfg


def _rec(adam: dict, subject: str, param: str = "SRI4", visit: str = "WEEK 6") -> pd.Series:
    r = adam["ADRS"]
    return r[(r["USUBJID"] == S + subject) & (r["PARAMCD"] == param) & (r["AVISIT"] == visit)].iloc[0]


def _qs_at(qs: pd.DataFrame, subject: str, visit: str, code: str) -> pd.Series:
    return (qs["USUBJID"] == S + subject) & (qs["VISIT"] == visit) & (qs["QSTESTCD"] == code)


def _items(qs: pd.DataFrame, subject: str, visit: str) -> float:
    sel = (qs["USUBJID"] == S + subject) & (qs["VISIT"] == visit) & qs["QSTESTCD"].str.fullmatch(r"SLED\d\d")
    return float(qs.loc[sel, "QSSTRESN"].sum())


def test_a_wrong_collected_total_does_not_decide_the_sri(sdtm):
    qs = sdtm["QS"].copy()
    base, week6 = _items(qs, "002", "BASELINE"), _items(qs, "002", "WEEK 6")
    assert (base, week6) == (13, 7)                       # descriptors: a reduction of 6
    qs.loc[_qs_at(qs, "002", "WEEK 6", "SLEDTOT"), "QSSTRESN"] = 13.0   # the site wrote 13 as the total
    edited = _edit(sdtm, "QS", qs)
    adam = derive_adam(edited)
    sled = _rec(adam, "002", "SRI4SLED")
    assert (sled["BSLEDAI"], sled["ASLEDAI"], sled["AVALC"]) == (13, 7, "Y")
    assert _rec(adam, "002")["AVALC"] == "Y"
    notes = derivation_notes(adam["ADQS"], analysis_config())
    note = notes[(notes["USUBJID"] == S + "002") & (notes["PARAMCD"] == "SLEDTOTC")]
    assert note["values"].tolist() == ["collected 13, derived 7"] and note["AVISIT"].tolist() == ["WEEK 6"]
    by_form = derive_adam(edited, _cfg(sledai_total="collected"))   # the setting: the collected total decides
    sled = _rec(by_form, "002", "SRI4SLED")
    assert (sled["BSLEDAI"], sled["ASLEDAI"], sled["AVALC"]) == (13, 13, "N")
    assert _rec(by_form, "002")["AVALC"] == "N"


def test_an_empty_collected_total_with_all_descriptors_is_assessed(sdtm):
    qs = sdtm["QS"].copy()
    qs.loc[_qs_at(qs, "011", "WEEK 6", "SLEDTOT"), ["QSORRES", "QSSTRESC", "QSSTRESN"]] = [pd.NA, pd.NA, float("nan")]
    adam = derive_adam(_edit(sdtm, "QS", qs))
    sled = _rec(adam, "011", "SRI4SLED")
    assert sled["ASLEDAI"] == _items(qs, "011", "WEEK 6") and pd.isna(sled["DTYPE"])
    assert _rec(adam, "011")["AVALC"] == "Y" and pd.isna(_rec(adam, "011")["NRIREAS"])


def test_a_missing_bilag_domain_makes_the_bilag_criterion_not_assessable(sdtm):
    qs = sdtm["QS"].copy()
    qs = qs[~_qs_at(qs, "005", "WEEK 6", "BILAG03")]
    adam = derive_adam(_edit(sdtm, "QS", qs))
    bilag = _rec(adam, "005", "SRI4BILG")
    assert (bilag["AVALC"], bilag["DTYPE"], bilag["NBILAGD"]) == ("N", "WC", 8)
    assert bilag["NRIREAS"] == "BILAG-2004 graded in 8 of 9 domains at the visit, 8 of them with a baseline grade"
    assert _rec(adam, "005")["AVALC"] == "N"
    lenient = derive_adam(_edit(sdtm, "QS", qs), _cfg(bilag_missing_domain="ignore"))
    assert _rec(lenient, "005", "SRI4BILG")["AVALC"] == "Y" and _rec(lenient, "005")["AVALC"] == "Y"


def test_a_missing_descriptor_follows_the_declared_rule(sdtm):
    qs = sdtm["QS"].copy()
    present = qs[(qs["USUBJID"] == S + "006") & (qs["VISIT"] == "WEEK 6") & qs["QSTESTCD"].str.fullmatch(r"SLED\d\d")
                 & (qs["QSSTRESN"] > 0)]
    dropped = present.iloc[0]                          # a descriptor that scored, so the two rules differ
    qs = qs.drop(index=dropped.name)
    edited = _edit(sdtm, "QS", qs)
    adam = derive_adam(edited)                          # default: not assessable
    sled = _rec(adam, "006", "SRI4SLED")
    assert (sled["AVALC"], sled["DTYPE"], sled["NRIREAS"]) == ("N", "WC", "no SLEDAI-2K total at the visit")
    assert _rec(adam, "006")["AVALC"] == "N"
    scored_zero = derive_adam(edited, _cfg(sledai_missing_descriptor="absent"))
    sled = _rec(scored_zero, "006", "SRI4SLED")
    assert sled["ASLEDAI"] == _items(sdtm["QS"], "006", "WEEK 6") - dropped["QSSTRESN"] and pd.isna(sled["DTYPE"])


def test_a_treated_subject_without_post_baseline_data_stays_in_the_denominator(sdtm):
    qs = sdtm["QS"].copy()
    gone = (qs["USUBJID"] == S + "003") & ~qs["VISIT"].isin(["SCREENING", "BASELINE"])
    adam = derive_adam(_edit(sdtm, "QS", qs[~gone]))
    adsl = adam["ADSL"].set_index("USUBJID")
    assert adsl.at[S + "003", "MITTFL"] == "Y" and adsl.at[S + "003", "FASFL"] == "N"
    r = adam["ADRS"]
    mine = r[(r["USUBJID"] == S + "003") & (r["PARAMCD"] == "SRI4")]
    assert len(mine) == 6 and (mine["AVALC"] == "N").all() and (mine["DTYPE"] == "WC").all()
    assert (mine["NRIREAS"] == "no assessment in the visit window").all()
    summary = sri_summary(r).set_index("AVISIT")
    full = sri_summary(derive_adam(sdtm)["ADRS"]).set_index("AVISIT")
    assert summary.at["WEEK 6", "N"] == full.at["WEEK 6", "N"] == 40              # nobody leaves the denominator
    assert summary.at["WEEK 6", "responders"] == full.at["WEEK 6", "responders"] - 1
    assert summary.at["WEEK 6", "imputed_nonresponders"] == full.at["WEEK 6", "imputed_nonresponders"] + 1


def test_a_coded_injection_site_term_is_an_injection_site_reaction(sdtm):
    ae = sdtm["AE"].copy()
    row = ae.index[ae["AEDECOD"].eq("Headache")][0]
    ae.loc[row, "AEDECOD"] = "Injection site erythema"
    adae = derive_adam(_edit(sdtm, "AE", ae))["ADAE"]
    assert adae.loc[(adae["AESEQ"] == ae.at[row, "AESEQ"]) & (adae["USUBJID"] == ae.at[row, "USUBJID"]),
                    "ISRFL"].tolist() == ["Y"]
    assert adae.loc[adae["AEDECOD"].eq("Headache"), "ISRFL"].isna().all()


def test_only_the_baseline_record_is_baseline(sdtm):
    adqs = derive_adam(sdtm)["ADQS"]
    base = adqs[adqs["AVISIT"] == "BASELINE"]
    assert (base["ABLFL"] == "Y").all()
    assert not base.duplicated(["USUBJID", "PARAMCD"]).any()
    scr = adqs[(adqs["VISIT"] == "SCREENING") & adqs["ABLFL"].isna()]
    assert len(scr) and (scr["AVISIT"] == "SCREENING").all() and scr["ANL01FL"].isna().all()


def test_same_day_conflicts_and_mixed_dates_are_noted(sdtm):
    qs = sdtm["QS"].copy()
    pga = qs[_qs_at(qs, "002", "WEEK 6", "PGA01")].copy()
    pga["QSSTRESN"] = pga["QSSTRESN"] + 1.0            # a second, different PGA on the same day
    pga["QSSEQ"] = qs["QSSEQ"].max() + 1
    qs = pd.concat([qs, pga])
    moved = _qs_at(qs, "004", "WEEK 6", "PGA01")
    qs.loc[moved, "QSDTC"] = (pd.to_datetime(qs.loc[moved, "QSDTC"]) + pd.Timedelta(days=2)).dt.strftime("%Y-%m-%d")
    adam = derive_adam(_edit(sdtm, "QS", qs))
    notes = derivation_notes(adam["ADQS"], analysis_config())
    same_day = notes[(notes["USUBJID"] == S + "002") & (notes["PARAMCD"] == "PGA01")]
    assert len(same_day) == 1 and "same day" in same_day["note"].iloc[0]
    mixed = notes[(notes["USUBJID"] == S + "004") & (notes["PARAMCD"] == "SRI4") & (notes["AVISIT"] == "WEEK 6")]
    assert len(mixed) == 1 and "different assessment dates" in mixed["note"].iloc[0]
