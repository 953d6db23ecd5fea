"""The SLE Responder Index, in one place.

A subject is an SRI-k responder at an analysis visit (k = `sledai_reduction`, 4 for SRI-4) when all hold,
each compared with the subject's baseline (ABLFL='Y' record of ADQS):

1. SLEDAI-2K:  BASE - AVAL >= k                       (SLEDAI-2K total, PARAMCD SLEDTOT)
2. BILAG-2004: new_A == 0 and new_B <= max_new_bilag_b (1)
               new_A = number of organ domains graded A at the visit whose baseline grade is not A
               new_B = number of organ domains graded B at the visit whose baseline grade is C, D or E
3. PGA:        AVAL - BASE < pga_worsening_limit (0.3)  (computed on values rounded to 6 decimals,
               so a change of exactly 0.3 is a worsening and 0.29 is not)

Missing data, discontinuation and rescue (non-responder imputation): the analysis set is every treated
subject (analysis.yaml `sri.analysis_set`, MITTFL). A component that cannot be assessed at the visit (no
SLEDAI-2K total, which by default needs all 24 descriptors; no PGA; with `bilag_missing_domain:
not_assessable`, fewer than nine BILAG domains graded at the visit or at baseline) is not met, and the
reason is kept (ADRS NRIREAS); a subject-visit with no assessment, or on or after rescue therapy
(RESCREAS), gets AVALC 'N' and DTYPE 'WC'. The overall SRI is 'Y' only when every component is met. With
`bilag_required: false` criterion 2 is dropped (a modified SRI, reported as such in PARAM). The configured
rules in words for Define-XML are config.sri_method_text (export reads them without importing derive).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

COMPONENTS = {
    "SRI4SLED": "SRI-4 SLEDAI-2K Reduction >= 4",
    "SRI4BILG": "SRI-4 No New BILAG A, <= 1 New BILAG B",
    "SRI4PGA": "SRI-4 PGA Worsening < 0.3",
}


def sri_components(visits: pd.DataFrame, cfg: dict) -> pd.DataFrame:
    """Per subject and visit: the three criteria (True/False/NA) and the overall response.

    `visits` has one row per USUBJID and AVISIT with columns SLED_AVAL, SLED_BASE, PGA_AVAL, PGA_BASE,
    NEW_A, NEW_B and BILAG_N (domains graded at the visit).
    """
    k = cfg["sledai_reduction"]
    out = visits.copy()
    sled_ok = (out["SLED_BASE"] - out["SLED_AVAL"]) >= k
    out["SRI4SLED"] = sled_ok.where(out["SLED_AVAL"].notna() & out["SLED_BASE"].notna())
    change = (out["PGA_AVAL"] - out["PGA_BASE"]).round(6)
    out["SRI4PGA"] = (change < cfg["pga_worsening_limit"]).where(change.notna())
    bilag_ok = (out["NEW_A"] == 0) & (out["NEW_B"] <= cfg["max_new_bilag_b"])
    out["SRI4BILG"] = bilag_ok.where(out["BILAG_N"] > 0)
    needed = ["SRI4SLED", "SRI4PGA"] + (["SRI4BILG"] if cfg["bilag_required"] else [])
    met = pd.concat([out[c].astype("boolean").fillna(False) for c in needed], axis=1).all(axis=1)
    out["SRI4"] = met
    return out


def yes_no(values: pd.Series) -> pd.Series:
    """True/False/NA to 'Y'/'N' (NA, a component that could not be assessed, is 'N')."""
    return pd.Series(np.where(values.astype("boolean").fillna(False), "Y", "N"), index=values.index, dtype="string")
