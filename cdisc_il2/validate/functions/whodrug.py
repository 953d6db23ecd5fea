"""Pinnacle 21 WHODrug rules (schemas/rules/sdtm/whodrug.yaml): --DECOD a drug name, --CLAS an ATC text and
--CLASCD an ATC code of the user's release. They run only with a release (`validate --whodrug DIR`, or `run` with
one): the rules carry `dictionary: whodrug`, and study.extras['whodrug'] holds it.
"""
from __future__ import annotations

import pandas as pd

from ...dictionaries.whodrug import WhodrugRelease
from ...frames import as_text, filled
from ..engine import NotApplicable, Rule, Study, need, register


def _release(study: Study) -> WhodrugRelease:
    rel = study.extras.get("whodrug")
    if rel is None:
        raise NotApplicable("whodrug")
    return rel


def _values(rel: WhodrugRelease, kind: str) -> set[str]:
    """The release's drug names, ATC texts or ATC codes, case-folded."""
    if kind == "drug_name":
        return {n.casefold() for n in rel.names.values()}
    if kind == "atc_text":
        return {t.casefold() for _, t in rel.atc_text.values()}
    return {c.casefold() for c in rel.atc_text}


@register("whodrug_term")
def whodrug_term(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.Series:
    """A value of `variable` that is not a drug name (`kind: drug_name`), an ATC text (`atc_text`) or an ATC code
    (`atc_code`) of the release, compared without case."""
    rel = _release(study)
    var = p["variable"]
    need(df, var)
    known = _values(rel, p["kind"])
    return filled(df[var]) & ~as_text(df[var]).str.strip().str.casefold().isin(known).fillna(False)
