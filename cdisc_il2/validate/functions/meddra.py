"""Pinnacle 21 MedDRA rules (schemas/rules/sdtm/meddra.yaml): terms and codes of each level found in the user's
release, in its case, current LLTs and paths of the release's hierarchy. They run only with a release
(`validate --meddra DIR`, or `run` with one): the rules carry `dictionary: meddra`, and study.extras['meddra'] holds it.
"""
from __future__ import annotations

import pandas as pd

from ...dictionaries.meddra import MeddraRelease
from ...frames import as_text, filled
from ..engine import NotApplicable, Rule, Study, need, register


def _release(study: Study) -> MeddraRelease:
    rel = study.extras.get("meddra")
    if rel is None:
        raise NotApplicable("meddra")
    return rel


def _codes(values: pd.Series) -> pd.Series:
    """Codes as text whatever the column's type (94000001.0 in a numeric column is '94000001')."""
    if pd.api.types.is_numeric_dtype(values):
        num = values.astype("float64")
        whole = num.notna() & (num % 1 == 0)
        return num.where(whole).astype("Int64").astype("string").where(whole, values.astype("string"))
    return as_text(values).str.strip()


def _level(rel: MeddraRelease, level: str) -> dict[str, str]:
    """code -> name of one level of the release."""
    if level == "llt":
        return {c: n for c, (n, _, _) in rel.llt.items()}
    return {"pt": rel.pt, "hlt": rel.hlt, "hlgt": rel.hlgt, "soc": rel.soc}[level]


@register("meddra_term")
def meddra_term(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.Series:
    """A term (`kind: name`, case-insensitive; `case: exact` flags one found only in another case) or a code
    (`kind: code`) of `variable` that is not a term of `level` (llt, pt, hlt, hlgt, soc) in the release."""
    rel = _release(study)
    var = p["variable"]
    need(df, var)
    terms = _level(rel, p["level"])
    present = filled(df[var])
    if p["kind"] == "code":
        return present & ~_codes(df[var]).isin(set(terms)).fillna(False)
    text = as_text(df[var]).str.strip()
    known = text.str.casefold().isin({n.casefold() for n in terms.values()}).fillna(False)
    if p.get("case") == "exact":
        return present & known & ~text.isin(set(terms.values())).fillna(False)
    return present & ~known


@register("meddra_llt_current")
def meddra_llt_current(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.Series:
    """An LLT code of the release that is not current there (llt_currency N)."""
    rel = _release(study)
    var = p["variable"]
    need(df, var)
    stale = {c for c, (_, _, current) in rel.llt.items() if not current}
    return filled(df[var]) & _codes(df[var]).isin(stale).fillna(False)


@register("meddra_path")
def meddra_path(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.Series:
    """Codes of known terms that are not one path of the release: the LLT not under the PT (`path_check: llt_pt`),
    the PT > HLT > HLGT > SOC codes not a path of mdhier (`path_check: path`), or the SOC not the PT's primary SOC
    (`path_check: primary`)."""
    rel = _release(study)
    pre = name[:2] if not name.startswith("SUPP") else name
    cols = {s: f"{pre}{s}" for s in ("LLTCD", "PTCD", "HLTCD", "HLGTCD", "SOCCD")}
    kind = p["path_check"]
    use = {"llt_pt": ["LLTCD", "PTCD"], "path": ["PTCD", "HLTCD", "HLGTCD", "SOCCD"], "primary": ["PTCD", "SOCCD"]}[kind]
    need(df, *(cols[u] for u in use))
    code = {u: _codes(df[cols[u]]) for u in use}
    every = pd.concat([filled(df[cols[u]]) for u in use], axis=1).all(axis=1)
    if kind == "llt_pt":
        up = code["LLTCD"].map({c: pt for c, (_, pt, _) in rel.llt.items()})
        return every & up.notna() & code["PTCD"].isin(set(rel.pt)).fillna(False) & up.ne(code["PTCD"]).fillna(False)
    if kind == "primary":
        soc = code["PTCD"].map({pt: s for pt, (_, _, s) in rel.primary_paths().items()})
        return every & soc.notna() & soc.ne(code["SOCCD"]).fillna(False)
    paths = rel.path_set()
    known = code["PTCD"].isin(set(rel.pt)).fillna(False)
    key = pd.MultiIndex.from_arrays([code[u].fillna("").to_numpy() for u in use])
    return every & known & ~pd.Series(key.isin(list(paths)) if paths else False, index=df.index)
