"""Checks of a package's Define-XML against its datasets (Pinnacle 21 SD0054-SD0061, SD1063, SD1324, SD1325,
SD0037, SD1152, DD0101). The define is read once by validate_folder into study.extras['define']."""
from __future__ import annotations

import pandas as pd

from ...frames import as_text, filled
from ..checks import _dataset_finding
from ..engine import NotApplicable, Rule, Study, findings_frame, register

NUMERIC = {"integer", "float", "double", "decimal"}


def _define(study: Study) -> dict:
    d = study.extras.get("define")
    if d is None:
        raise NotApplicable("define.xml")
    return d


def _frame(parts: list[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


@register("define_missing")
def define_missing(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.DataFrame:
    """DD0101: the package has no define.xml (only when a folder is validated as a package)."""
    if not study.extras.get("expect_define") or "define" in study.extras or not study.first_selected(rule, name):
        raise NotApplicable("define.xml")
    return _dataset_finding(rule, name, None, None, rule.message)


@register("define_datasets")
def define_datasets(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.DataFrame:
    """SD1063 (mode data): a dataset absent from define.xml; SD0061 (mode define): a define dataset with no file."""
    d = _define(study)
    if p["mode"] == "data":
        return _dataset_finding(rule, name, None, name, rule.message) if name not in d["datasets"] else pd.DataFrame()
    if not study.first_selected(rule, name):
        return pd.DataFrame()
    missing = sorted(set(d["datasets"]) - set(study.datasets))
    return _frame([_dataset_finding(rule, m, None, m, rule.message.replace("{dataset}", m)) for m in missing])


@register("define_variables")
def define_variables(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.DataFrame:
    """Variables of a dataset against its define.xml ItemGroupDef: present in one and not the other (SD0054,
    SD0060), type (SD0059) and label (SD1324) mismatches, dataset label (SD1325)."""
    d = _define(study)
    if name not in d["datasets"]:
        raise NotApplicable(name)
    cols = d["datasets"][name]
    ds = study.datasets[name]
    mode, parts = p["mode"], []
    if mode == "in_define_not_data":
        for v in cols:
            if v and v not in df.columns:
                parts.append(_dataset_finding(rule, name, v, None, rule.message.replace("{variable}", v)))
    elif mode == "in_data_not_define":
        for v in df.columns:
            if v not in cols:
                parts.append(_dataset_finding(rule, name, v, None, rule.message.replace("{variable}", v)))
    elif mode == "type":
        if ds.source is not None and ds.source.suffix.lower() == ".csv":
            raise NotApplicable(name)       # CSV declares no types
        for c in ds.columns:
            want = cols.get(c.name, {}).get("defineType")
            if want and c.type in ("Char", "Num") and (want in NUMERIC) != (c.type == "Num"):
                msg = rule.message.replace("{variable}", c.name) + f" (define.xml: {want}, dataset: {c.type})"
                parts.append(_dataset_finding(rule, name, c.name, c.type, msg))
    elif mode == "label":
        for c in ds.columns:
            want = cols.get(c.name, {}).get("label")
            if want and c.label and c.label.strip() != want.strip():
                msg = rule.message.replace("{variable}", c.name) + f" (define.xml: '{want}', dataset: '{c.label}')"
                parts.append(_dataset_finding(rule, name, c.name, c.label, msg))
    elif mode == "dataset_label":
        want = d["labels"].get(name)
        if want and ds.label and ds.label.strip() != want.strip():
            parts.append(_dataset_finding(rule, name, None, ds.label,
                                          rule.message + f" (define.xml: '{want}', dataset: '{ds.label}')"))
    return _frame(parts)


@register("define_codelist")
def define_codelist(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.DataFrame:
    """SD0037: values not in the define.xml codelist of their variable (external dictionaries excepted)."""
    d = _define(study)
    if name not in d["datasets"]:
        raise NotApplicable(name)
    parts = []
    for var, meta in d["datasets"][name].items():
        cl = d["codelists"].get(meta.get("codelist") or "")
        if var not in df.columns or cl is None or cl["external"] or not cl["values"]:
            continue
        text = as_text(df[var]).str.strip()
        if pd.api.types.is_numeric_dtype(df[var]):      # 1.0 in the data is the coded value "1"
            text = df[var].astype("float64").astype("string").str.replace(r"\.0$", "", regex=True)
        bad = filled(df[var]) & ~text.isin([str(v) for v in cl["values"]]).fillna(False)
        if bad.any():
            msg = rule.message.replace("{variable}", var).replace("{codelist}", str(cl["name"]))
            parts.append(findings_frame(rule, name, df, bad, var, msg))
    return _frame(parts)


@register("define_keys")
def define_keys(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.Series:
    """SD1152: records that repeat another record's values of the key variables define.xml declares."""
    d = _define(study)
    keys = [k for k in d["keys"].get(name, []) if k]
    if not keys or any(k not in df.columns for k in keys):
        raise NotApplicable(name)
    return df.duplicated(keys, keep=False)
