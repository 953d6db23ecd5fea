"""Pinnacle 21 ADaM rules that compare analysis records with ADSL's phase variables (AD0605-AD0615)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ...frames import as_text, to_number
from ..engine import NotApplicable, Rule, Study, findings_frame, need, register


@register("adam_phase_dates")
def adam_phase_dates(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.DataFrame:
    """Rows whose phase date/time (`var`, e.g. PHSDT) differs from the subject's ADSL variable of that phase
    (`template`, e.g. PH{w}SDT with w = APHASEN); records without APHASEN or without the ADSL value are not
    checked."""
    need(df, "USUBJID", "APHASEN", p["var"])
    if "ADSL" not in study.datasets or name == "ADSL":
        raise NotApplicable("ADSL")
    adsl = study.frame("ADSL")
    need(adsl, "USUBJID")
    phase = to_number(df["APHASEN"])
    got = to_number(df[p["var"]])
    want = pd.Series(np.nan, index=df.index)
    lookup = pd.Index(as_text(adsl["USUBJID"]))
    pos = lookup.get_indexer(as_text(df["USUBJID"]))
    usable = False
    for w in phase.dropna().unique():
        col = p["template"].format(w=int(w)) if w == int(w) else None
        if col is None or col not in adsl.columns:
            continue
        usable = True
        vals = to_number(adsl[col]).to_numpy()
        rows = (phase == w).to_numpy() & (pos >= 0)
        want[rows] = vals[pos[rows]]
    if not usable:
        raise NotApplicable(p["template"])
    bad = want.notna() & ((got - want).abs() > 1e-6).fillna(True) & ~(got.isna() & want.isna())
    bad &= want.notna()
    return findings_frame(rule, name, df, bad, "APHASEN", rule.message)
