"""Pinnacle 21 ADaM rules that tie analysis datasets to ADSL's period variables (AD0102-AD0104)."""
from __future__ import annotations

import pandas as pd

from ...frames import to_number
from ..engine import NotApplicable, Rule, Study, findings_frame, need, register


@register("adam_period_in_adsl")
def adam_period_in_adsl(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.DataFrame:
    """Rows whose APERIOD xx has no ADSL variable of the period (`template`, e.g. TRT{xx}P for TRT01P)."""
    need(df, "APERIOD")
    if "ADSL" not in study.datasets or name == "ADSL":
        raise NotApplicable("ADSL")
    adsl = set(study.frame("ADSL").columns)
    period = to_number(df["APERIOD"])
    parts = []
    for value in sorted(period.dropna().unique()):
        if value != int(value) or value < 1:
            continue
        var = p["template"].format(xx=f"{int(value):02d}")
        if var in adsl:
            continue
        mask = period == value
        parts.append(findings_frame(rule, name, df, mask, "APERIOD", rule.message.replace("{variable}", var)))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


@register("adam_sdtm_records_in")
def adam_sdtm_records_in(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.Series:
    """AD0253: SDTM records (e.g. AE) of subjects in ADSL whose keys have no record in the analysis dataset
    (`target`, e.g. ADAE); subjects not analysed (absent from ADSL) need none."""
    keys = p["keys"]
    need(df, *keys)
    target = p["target"]
    if target not in study.datasets or "ADSL" not in study.datasets:
        raise NotApplicable(target)
    other = study.frame(target)
    need(other, *keys)
    adsl = study.frame("ADSL")
    need(adsl, "USUBJID")
    analysed = df["USUBJID"].astype("string").isin(adsl["USUBJID"].astype("string").dropna().unique())

    def key_frame(frame: pd.DataFrame) -> pd.MultiIndex:
        cols = {k: (to_number(frame[k]).astype("string") if k.endswith("SEQ") else frame[k].astype("string")) for k in keys}
        return pd.MultiIndex.from_frame(pd.DataFrame(cols))
    missing = ~key_frame(df).isin(key_frame(other))
    return (analysed & pd.Series(missing, index=df.index) & df[keys].notna().all(axis=1)).fillna(False).astype(bool)
