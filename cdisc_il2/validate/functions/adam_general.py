"""Generic Pinnacle 21 ADaM rule functions, parameterised from schemas/rules/adam/*.yaml by variable-name patterns.

ADaM rules come in families over variable names (*FL, *FN, TRTxxP/TRTxxPN, CRITy/CRITyFL, *SDT/*EDT...). A rule
names the family with `vars`, a regular expression matched in full against the dataset's variable names, whose
named groups fill the templates of the partner variables (`pair: "{root}FL"`). `skip` (a regex) leaves names
out; `kinds` limits the rule to some ADaM structures (ADSL, BDS, ADAM = other ADaM datasets such as OCCDS).
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ...frames import as_text, filled, to_number
from ...metadata import adam_pattern, adam_standard_variable
from ...resources import load_json
from ..checks import _dataset_finding
from ..engine import NotApplicable, Rule, Study, findings_frame, register

# ------------------------------------------------------------------ helpers

def _kinds(p: dict, study: Study, name: str) -> None:
    if "kinds" in p and study.kind(name) not in p["kinds"]:
        raise NotApplicable(name)


def family(df_columns, p: dict, key: str = "vars") -> list[tuple[str, dict]]:
    """Variables of the dataset in the family `p[key]` (full regex match), with their named groups."""
    rx = re.compile(p[key])
    ex = re.compile(p["skip"]) if p.get("skip") else None
    out = []
    for c in df_columns:
        m = rx.fullmatch(c)
        if m and not (ex and ex.fullmatch(c)):
            out.append((c, m.groupdict()))
    return out


def _family(df: pd.DataFrame, p: dict, study: Study, name: str) -> list[tuple[str, dict]]:
    """The rule's variable family in this dataset; NotApplicable when the structure or the family is absent."""
    _kinds(p, study, name)
    fam = family(df.columns, p)
    if not fam:
        raise NotApplicable(p["vars"])
    return fam


def _partners(df: pd.DataFrame, p: dict, study: Study, name: str) -> list[tuple[str, str]]:
    """(family variable, its partner from the `pair` template) where the dataset has both; NotApplicable if none."""
    out = [(var, fill(p["pair"], g)) for var, g in _family(df, p, study, name)]
    out = [(var, other) for var, other in out if other in df.columns and other != var]
    if not out:
        raise NotApplicable(p["pair"])
    return out


def fill(template: str, groups: dict) -> str:
    """A partner variable name from a template and the named groups of the matched variable."""
    return template.format(**groups)


def _concat(parts: list[pd.DataFrame]) -> pd.DataFrame:
    parts = [x for x in parts if x is not None and len(x)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _msg(rule: Rule, variable: str, **more: str) -> str:
    text = rule.message.replace("{variable}", variable)
    for k, v in more.items():
        text = text.replace("{" + k + "}", v)
    return text


def _rows(rule: Rule, name: str, df: pd.DataFrame, mask: pd.Series, variable: str, **more: str) -> pd.DataFrame | None:
    mask = mask.reindex(df.index, fill_value=False).fillna(False).astype(bool)
    return findings_frame(rule, name, df, mask, variable, _msg(rule, variable, **more)) if mask.any() else None


def _is_num(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s)


def _values_equal(a: pd.Series, b: pd.Series) -> pd.Series:
    """Equal as numbers when both are numbers, else as trimmed text."""
    na, nb = to_number(a), to_number(b)
    both = na.notna() & nb.notna()
    num_eq = ((na - nb).abs() <= 1e-9 * np.maximum(np.maximum(na.abs(), nb.abs()), 1.0)).fillna(False)
    text_eq = (as_text(a).str.strip() == as_text(b).str.strip()).fillna(False)
    return (both & num_eq) | (~both & text_eq)


# ------------------------------------------------------------------ values

@register("adam_values")
def adam_values(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.DataFrame:
    """Rows where a family variable has a value outside `values` (nulls allowed unless `nulls: error`;
    `numeric: true` compares as numbers; `integer_min: n` asks for integers >= n instead of a list)."""
    fam = _family(df, p, study, name)
    parts = []
    for var, _ in fam:
        s = df[var]
        present = filled(s)
        if "forbid" in p:
            ok = ~to_number(s).isin([float(v) for v in p["forbid"]])
        elif "integer_min" in p:
            n = to_number(s)
            ok = n.notna() & (n >= p["integer_min"]) & (n == n.round())
        elif p.get("numeric"):
            ok = to_number(s).isin([float(v) for v in p["values"]])
        else:
            ok = as_text(s).str.strip().isin([str(v) for v in p["values"]]).fillna(False)
        bad = present & ~ok
        if p.get("nulls") == "error":
            bad |= ~present
        parts.append(_rows(rule, name, df, bad, var))
    return _concat(parts)


@register("adam_null")
def adam_null(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.DataFrame:
    """Rows where a family variable is null."""
    fam = _family(df, p, study, name)
    return _concat([_rows(rule, name, df, ~filled(df[v]), v) for v, _ in fam])


# ------------------------------------------------------------------ presence of variables

@register("adam_present_without")
def adam_present_without(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.DataFrame:
    """A family variable is present, but its partner variables (`needs` templates; "A+B" is a pair present
    together) are not: `mode: all` (default)
    each missing partner is a finding; `mode: any` a finding when none of them is present. `unless` templates:
    no finding when one of those is present."""
    _kinds(p, study, name)
    if p.get("if_dataset") and p["if_dataset"] not in study.datasets:
        raise NotApplicable(p["if_dataset"])
    fam = family(df.columns, p)
    if not fam:
        raise NotApplicable(p["vars"])
    cols = set(df.columns)
    parts, seen = [], set()
    if len(fam) < p.get("min_family", 1):
        return pd.DataFrame()
    for var, g in fam:
        if any(fill(t, g) in cols for t in p.get("unless", [])):
            continue
        if any(fill(t, g) not in cols for t in p.get("if_present", [])):
            continue
        needs = [fill(t, g) for t in p["needs"]]
        missing = [n for n in needs if not all(part in cols for part in n.split("+"))]   # A+B: both
        if p.get("mode", "all") == "any":
            missing = [" or ".join(needs)] if len(missing) == len(needs) else []
        for m in missing:
            if (var, m) in seen:
                continue
            seen.add((var, m))
            parts.append(_dataset_finding(rule, name, var, m, _msg(rule, var, missing=m)))
    return _concat(parts)


@register("adam_absent")
def adam_absent(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.DataFrame:
    """None of the family variables is in the dataset (e.g. no treatment variable, no population flag);
    `if_dataset`: only when that dataset is in the package."""
    _kinds(p, study, name)
    if p.get("if_dataset") and p["if_dataset"] not in study.datasets:
        raise NotApplicable(p["if_dataset"])
    if family(df.columns, p):
        return pd.DataFrame()
    return _dataset_finding(rule, name, None, None, _msg(rule, ""))


@register("adam_prohibited")
def adam_prohibited(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.DataFrame:
    """Family variables present that the dataset's structure does not allow."""
    _kinds(p, study, name)
    return _concat([_dataset_finding(rule, name, v, None, _msg(rule, v)) for v, _ in family(df.columns, p)])


@register("adam_bad_name")
def adam_bad_name(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.DataFrame:
    """Variables of a family (`vars`) whose name does not have the valid form (`valid`), e.g. an index
    outside 01-99."""
    fam = _family(df, p, study, name)
    valid = re.compile(p["valid"])
    return _concat([_dataset_finding(rule, name, v, v, _msg(rule, v)) for v, _ in fam if not valid.fullmatch(v)])


# ------------------------------------------------------------------ populated together

@register("adam_populated_without")
def adam_populated_without(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.DataFrame:
    """Rows where a family variable is populated (or meets `value`) and its partners (`needs` templates) are not
    populated: `mode: all` (default) any partner empty is a finding, `mode: any` all partners empty.
    A partner missing from the dataset counts as not populated with `absent: empty`, else the variable is
    skipped."""
    fam = _family(df, p, study, name)
    parts, usable = [], 0
    skip_pair = re.compile(p["skip_pair"]) if p.get("skip_pair") else None
    specs = []
    for var, g in fam:
        needs = [fill(t, g) for t in p["needs"]]
        if skip_pair:
            needs = [n for n in needs if not skip_pair.fullmatch(n)]
        if p.get("each_need"):        # each partner on its own, where present
            specs += [(var, [n]) for n in needs if n in df.columns and n != var]
        elif needs:
            specs.append((var, needs))
    for var, needs in specs:
        if p.get("absent") != "empty" and any(n not in df.columns for n in needs):
            continue
        usable += 1
        cond = filled(df[var])
        if "value" in p:
            cond &= (as_text(df[var]).str.strip() == str(p["value"])).fillna(False)
        empties = [~filled(df[n]) if n in df.columns else pd.Series(True, index=df.index) for n in needs]
        if p.get("mode", "all") == "any":
            bad = cond & np.logical_and.reduce(empties)
        else:
            bad = cond & np.logical_or.reduce(empties)
        parts.append(_rows(rule, name, df, pd.Series(bad, index=df.index), var))
    if not usable:
        raise NotApplicable(p["vars"])
    return _concat(parts)


# ------------------------------------------------------------------ one-to-one maps

@register("adam_one_to_one")
def adam_one_to_one(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.DataFrame:
    """Within `by` (plus `optional_by` where present), each value of the family variable (the key) maps to one
    value of its partner (`pair` template), considering rows where both are populated (`nulls: value`: a null
    partner counts as one more value, e.g. PARAMTYP DERIVED on some records of a parameter only). The rows of key groups
    with more than one partner value are flagged, on the partner variable (`flag: key` flags the key)."""
    _kinds(p, study, name)
    fam = family(df.columns, p)
    by = [fill(b, {}) for b in p.get("by", [])]
    if not fam or any(b not in df.columns for b in by):
        raise NotApplicable(p["vars"])
    by += [b for b in p.get("optional_by", []) if b in df.columns]
    parts, usable = [], 0
    templates = p["pair"] if isinstance(p["pair"], list) else [p["pair"]]
    for var, g, other in [(v, g, fill(t, g)) for v, g in fam for t in templates]:
        if other not in df.columns or other in by or var in by:
            continue
        if p.get("reverse"):          # the partner is the key, the family variable the value
            var, other = other, var
        usable += 1
        sel = filled(df[var]) & (filled(df[other]) | (p.get("nulls") == "value"))
        for b in by:
            sel &= filled(df[b])
        if not sel.any():
            continue
        sub = df.loc[sel, by + [var, other]]
        keys = [sub[b].astype("string") if not _is_num(sub[b]) else sub[b] for b in by]
        kv = sub[var] if _is_num(sub[var]) else as_text(sub[var]).str.strip()
        vv = to_number(sub[other]) if _is_num(sub[other]) else as_text(sub[other]).str.strip()
        n = vv.groupby(keys + [kv], dropna=False).transform("nunique", dropna=p.get("nulls") != "value")
        bad = (n > 1).reindex(df.index, fill_value=False)
        flag = var if p.get("flag") == "key" else other
        parts.append(_rows(rule, name, df, bad, flag, key=var, partner=other))
    if not usable:
        raise NotApplicable(p["pair"])
    return _concat(parts)


# ------------------------------------------------------------------ comparisons on a record

def _transform(s: pd.Series, how: str | None) -> pd.Series:
    n = to_number(s)
    if how == "date_of_dtm":
        return np.floor(n / 86400.0)
    if how == "time_of_dtm":
        return n % 86400.0
    return n


@register("adam_compare")
def adam_compare(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.DataFrame:
    """Rows where a family variable and its partner (`pair` template), both populated numbers (SAS dates, times,
    study days), stand in the violating relation `op` (gt, lt, ne, eq), after optional `transform` of each side
    (date_of_dtm, time_of_dtm)."""
    parts = []
    for var, other in _partners(df, p, study, name):
        a, b = _transform(df[var], p.get("transform")), _transform(df[other], p.get("pair_transform"))
        both = a.notna() & b.notna()
        close = (a - b).abs() <= 1e-6
        res = {"gt": (a > b) & ~close, "lt": (a < b) & ~close, "ne": ~close, "eq": close}[p["op"]]
        parts.append(_rows(rule, name, df, both & res, var, partner=other))
    return _concat(parts)


@register("adam_calc")
def adam_calc(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.DataFrame:
    """Rows where a derived family variable differs from its formula over `args` (templates): ratio a/b,
    diff a-b, pct (a-b)/b*100, pctof (a-b)/a*100; records with an operand missing or a zero divisor are
    not checked here. Values are compared to the precision the derived value is given in (rounded results
    are accepted) with a small relative tolerance."""
    fam = _family(df, p, study, name)
    parts, usable = [], 0
    for var, g in fam:
        args = [fill(t, g) for t in p["args"]]
        if any(a not in df.columns for a in args):
            continue
        usable += 1
        a, b = to_number(df[args[0]]), to_number(df[args[1]])
        got = to_number(df[var])
        how = p["formula"]
        with np.errstate(all="ignore"):
            want = {"ratio": a / b, "diff": a - b, "pct": (a - b) / b * 100, "pctof": (a - b) / a * 100}[how]
        if how in ("ratio", "pct"):
            want = want.where(b != 0)
        if how == "pctof":
            want = want.where(a != 0)
        diff = (got - want).abs()
        # accept a value rounded to the decimals it is given with (at least 1e-9 relative)
        text = as_text(df[var]) if not _is_num(df[var]) else None
        decimals = 12 if text is None else text.str.extract(r"\.(\d+)$")[0].str.len().fillna(0).astype(float)
        tol = np.maximum(1e-6 * np.maximum(want.abs(), 1.0), 0.5 * 10.0 ** (-np.asarray(decimals, dtype=float)))
        bad = got.notna() & want.notna() & (diff > tol)
        parts.append(_rows(rule, name, df, bad, var))
    if not usable:
        raise NotApplicable(p["args"])
    return _concat(parts)


# ------------------------------------------------------------------ metadata: labels and formats

@register("adam_label_mismatch")
def adam_label_mismatch(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.DataFrame:
    """AD0018: variable labels in the file that differ from the ADaMIG label of the variable (placeholders
    such as xx in 'Planned Treatment for Period xx' take the variable's own index); case and spacing ignored.
    BDS datasets take the BDS, TTE and then ADSL labels; other ADaM datasets (OCCDS, whose IG tables we do not
    ship) the BDS and ADSL labels of the variables they share."""
    kind = study.kind(name)
    if kind not in ("ADSL", "BDS", "ADAM"):
        raise NotApplicable(name)
    parts = []
    norm = lambda t: re.sub(r"\s+", " ", t).strip().casefold()
    for c in study.datasets[name].columns:
        if not c.label or c.name not in df.columns:
            continue
        entry = adam_standard_variable(c.name, kind)
        std = entry["label"] if entry else None
        if std and norm(std) != norm(c.label):
            parts.append(_dataset_finding(rule, name, c.name, c.label,
                                          _msg(rule, c.name) + f" (dataset: '{c.label}', ADaMIG: '{std}')"))
    return _concat(parts)


@register("adam_label_contains")
def adam_label_contains(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.DataFrame:
    """Family variables not defined by name in ADaMIG whose label (as the file carries it) does not contain
    `text` (case-insensitive): the bracketed word of the generic label, e.g. {Start Date} for *SDT."""
    fam = _family(df, p, study, name)
    parts = []
    for var, _ in fam:
        c = study.datasets[name].column(var)
        if c is None or not c.label or adam_standard_variable(var, "ALL") is not None:
            continue        # ADaMIG variables keep their own labels (TRTSDT: 'Date of First Exposure to Treatment')
        if p["text"].casefold() not in c.label.casefold():
            parts.append(_dataset_finding(rule, name, var, c.label, _msg(rule, var)))
    return _concat(parts)


@register("adam_format")
def adam_format(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.DataFrame:
    """Family variables without a SAS display format (`missing: true`), or whose format's name is not one of
    `formats` (the width and decimals are ignored). Files that carry no formats (CSV, Dataset-JSON without
    displayFormat) are not checked."""
    _kinds(p, study, name)
    fam = family(df.columns, p)
    ds = study.datasets[name]
    if not fam or not any(c.display_format for c in ds.columns):
        raise NotApplicable(p["vars"])
    allowed = {f.upper() for f in p.get("formats", [])}
    parts = []
    for var, _ in fam:
        c = ds.column(var)
        fmt = (c.display_format or "").strip() if c else ""
        base = re.sub(r"[\d.]+$", "", fmt.upper())
        if p.get("missing"):
            bad = not fmt
        else:
            bad = bool(fmt) and base not in allowed
        if bad:
            parts.append(_dataset_finding(rule, name, var, fmt or None, _msg(rule, var)))
    return _concat(parts)


@register("adam_dataset_label")
def adam_dataset_label(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.DataFrame:
    """The dataset label differs from the standard one (`label`), case-insensitively."""
    got = study.datasets[name].label
    if got is None:
        raise NotApplicable(name)
    if got.strip().casefold() == p["label"].casefold():
        return pd.DataFrame()
    return _dataset_finding(rule, name, None, got, _msg(rule, ""))


@register("adam_implies")
def adam_implies(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.DataFrame:
    """Rows where a family variable has `if_value` (or, without it, is populated) and its partner (`pair`
    template) is not `then_value` (numbers compare as numbers; an empty partner is a violation)."""
    parts = []
    for var, other in _partners(df, p, study, name):
        s = df[var]
        cond = filled(s)
        if "if_value" in p:
            cond &= _values_equal(s, pd.Series(str(p["if_value"]), index=df.index))
        then = pd.Series(str(p["then_value"]), index=df.index)
        bad = cond & ~(_values_equal(df[other], then) & filled(df[other]))
        parts.append(_rows(rule, name, df, bad, p.get("flag_var", var).replace("{pair}", other), partner=other))
    return _concat(parts)


@register("adam_numeric")
def adam_numeric(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.DataFrame:
    """Family variables that are not numeric: declared Char in the file, or holding text."""
    fam = _family(df, p, study, name)
    ds = study.datasets[name]
    parts = []
    for var, _ in fam:
        c = ds.column(var)
        declared = c.type if c is not None and ds.source is not None and ds.source.suffix.lower() != ".csv" else None
        bad = declared == "Char" if declared in ("Char", "Num") else not _is_num(df[var]) and bool(
            (filled(df[var]) & to_number(df[var]).isna()).any())
        if bad:
            parts.append(_dataset_finding(rule, name, var, None, _msg(rule, var)))
    return _concat(parts)


@register("adam_standard_pairs")
def adam_standard_pairs(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.DataFrame:
    """AD1012A: a secondary variable of an ADaMIG pair (XN or XC beside X in the ADaMIG tables, with their
    placeholders) is present while its primary is not."""
    structures = load_json("adam-metadata.json")["structures"]
    names = {v["name"] for s in structures.values() for v in s["variables"]}
    pairs = [(n, n[:-1]) for n in names if n[-1] in "NC" and n[:-1] in names and "*" not in n]
    skip = re.compile(p["skip"]) if p.get("skip") else None
    parts = []
    for sec, prim in pairs:
        rx = adam_pattern(sec) or re.compile(re.escape(sec))
        for c in df.columns:
            m = rx.fullmatch(c)
            if not m or (skip and skip.fullmatch(c)):
                continue
            primary = c[:-1]
            if primary not in df.columns:
                parts.append(_dataset_finding(rule, name, c, primary, _msg(rule, c, missing=primary)))
    return _concat(parts)


@register("adam_max_of")
def adam_max_of(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.DataFrame:
    """Rows where `target` is not the maximum (`op: max`) or minimum (`op: min`) of the family variables on
    the record (e.g. TRTEDT against TR01EDT, TR02EDT...), where both are populated."""
    _kinds(p, study, name)
    fam = family(df.columns, p)
    target = p["target"]
    if not fam or target not in df.columns:
        raise NotApplicable(p["vars"])
    vals = pd.concat([to_number(df[v]) for v, _ in fam], axis=1)
    agg = vals.max(axis=1) if p.get("op", "max") == "max" else vals.min(axis=1)
    t = to_number(df[target])
    bad = t.notna() & agg.notna() & ((t - agg).abs() > 1e-6)
    return _concat([_rows(rule, name, df, bad, target)])


@register("adam_zero_divisor")
def adam_zero_divisor(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.DataFrame:
    """Rows where a family variable (a ratio or percentage) is populated although its divisor (`pair`
    template) is 0."""
    fam = _family(df, p, study, name)
    parts, usable = [], 0
    for var, g in fam:
        other = fill(p["pair"], g)
        if other not in df.columns:
            continue
        usable += 1
        parts.append(_rows(rule, name, df, filled(df[var]) & (to_number(df[other]) == 0), var))
    if not usable:
        raise NotApplicable(p["pair"])
    return _concat(parts)


@register("adam_differs")
def adam_differs(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.DataFrame:
    """Rows (meeting `when_var` = `when_value` if given) where a family variable and its partner (`pair`
    template) differ (as numbers when both are numbers, else as text; one of them null counts as different
    unless `nulls: ignore`)."""
    _kinds(p, study, name)
    fam = family(df.columns, p)
    if not fam or (p.get("when_var") and p["when_var"] not in df.columns):
        raise NotApplicable(p["vars"])
    rows = pd.Series(True, index=df.index)
    if p.get("when_var"):
        rows = (as_text(df[p["when_var"]]).str.strip() == str(p["when_value"])).fillna(False)
    parts, usable = [], 0
    for var, g in fam:
        other = fill(p["pair"], g)
        if other not in df.columns or other == var:
            continue
        usable += 1
        a, b = df[var], df[other]
        fa, fb = filled(a), filled(b)
        same = (fa & fb & _values_equal(a, b)) | (~fa & ~fb)
        bad = rows & ~same
        if p.get("nulls") == "ignore":
            bad &= fa & fb
        parts.append(_rows(rule, name, df, bad, var, partner=other))
    if not usable:
        raise NotApplicable(p["pair"])
    return _concat(parts)
