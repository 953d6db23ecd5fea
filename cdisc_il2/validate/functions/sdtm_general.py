"""Pinnacle 21 SDTM rule functions (schemas/rules/sdtm/*.yaml): variable presence and order, all-null variables,
unexpected characters, CT code pairs, trial summary parameters, partial-date and ISO 8601 comparisons, disposition
and SUPP-- look-ups.

Every function works column-wise; loops run over variables or datasets only.
"""
from __future__ import annotations

import pandas as pd

from ...frames import as_text, filled
from ...metadata import GENERAL_CLASSES, codelist
from ..checks import _dataset_finding, model_names, variable_metadata
from ..engine import (
    _on_distinct,
    NotApplicable,
    Rule,
    Study,
    findings_frame,
    need,
    operator,
    present,
    register,
    resolve_message,
)


def _concat(parts: list) -> pd.DataFrame:
    parts = [x for x in parts if x is not None and len(x)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _msg(rule: Rule, variable: str, name: str) -> str:
    """The rule's message for a whole-dataset or per-variable finding: {variable}, {dataset} and -- filled in."""
    return resolve_message(rule.message, name, None, variable)


# ------------------------------------------------------------------ variables present / missing

@register("variable_needs_variable")
def variable_needs_variable(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.DataFrame:
    """One whole-dataset finding when every variable of `present` is in the dataset and none of `missing` is
    (e.g. --DTC without --DY: SD1083; --TPTREF without --ELTM, --TPTNUM and --TPT: SD1282). The finding
    names the first `missing` variable (`report: present` names the first present one instead)."""
    present, missing = p["present"], p["missing"]
    if not all(v in df.columns for v in present) or any(v in df.columns for v in missing):
        return pd.DataFrame()
    var = present[0] if p.get("report") == "present" else missing[0]
    return _dataset_finding(rule, name, var, None, _msg(rule, var, name))


@register("variable_absent")
def variable_absent(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.DataFrame:
    """A variable regulators expect (EPOCH: FDA Technical Conformance Guide) is not in the dataset."""
    var = p["name"]
    if var in df.columns:
        return pd.DataFrame()
    return _dataset_finding(rule, name, var, None, _msg(rule, var, name))


@register("model_variable_added")
def model_variable_added(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.DataFrame:
    """Variables of the SDTM model for the domain's class that the SDTMIG domain table does not list (SD1076):
    allowed, but reported so a reviewer sees the addition."""
    dom = study.domain(name)
    if study.kind(name) != "SDTM" or dom is None or study.sdtm_class(name) not in GENERAL_CLASSES:
        raise NotApplicable(name)
    domain_vars = set(variable_metadata(study, name)["name"])
    model = model_names(study, name) - domain_vars
    parts = [_dataset_finding(rule, name, v, None, _msg(rule, v, name)) for v in df.columns if v in model]
    return _concat(parts)


@register("all_null_core")
def all_null_core(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.DataFrame:
    """Variables of a given core (Perm: SD1078, Exp: SD1149) present but null in every record of the domain: a
    split domain's variable (SDTMIG 4.1.7) is reported once, on the first of its datasets that has it, and only
    when no other of them populates it."""
    if df.empty:
        raise NotApplicable(name)
    meta = variable_metadata(study, name)
    want = set(meta.loc[meta["core"].isin(p["level"]), "name"])
    others = [n for n in study.siblings(name) if n != name]
    parts = []
    for v in df.columns:
        if v not in want or study.cached(name, df, v, "notna", present).any():
            continue
        holders = [n for n in study.siblings(name) if v in study.frame(n).columns and len(study.frame(n))]
        if holders[0] != name or any(study.cached(n, study.frame(n), v, "notna", present).any()
                                     for n in others if n in holders):
            continue
        parts.append(_dataset_finding(rule, name, v, None, _msg(rule, v, name)))
    return _concat(parts)


# ------------------------------------------------------------------ values

def _unexpected(text: pd.Series) -> pd.Series:
    """Per value: a leading space, a CR/LF, or '.' as the whole value."""
    return (text.str.startswith(" ").fillna(False) | text.str.contains("[\r\n]", regex=True).fillna(False)
            | (text == ".").fillna(False))


@register("unexpected_characters")
def unexpected_characters(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.DataFrame:
    """Character values with a leading space, a carriage return / line feed, or '.' as the entire value (SD1021);
    COVALn and TSVALn are excepted (continuations of long text may start with a space)."""
    parts = []
    for var in df.columns:
        s = df[var]
        if pd.api.types.is_numeric_dtype(s) or var.startswith(("COVAL", "TSVAL")):
            continue
        bad = _on_distinct(as_text(s), _unexpected, missing=False).to_numpy(dtype=bool)
        if bad.any():
            parts.append(findings_frame(rule, name, df, pd.Series(bad, index=df.index), var, _msg(rule, var, name)))
    return _concat(parts)


@register("ct_pair_code")
def ct_pair_code(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.Series:
    """CT2003: a code/decode pair (--TESTCD/--TEST, --PARMCD/--PARM), both populated, where at least one value
    is a CDISC term of its variable's codelist and the other is not the same term (another NCI code, or no
    CDISC term at all: PLAT with 'Platelet' instead of 'Platelets'). Two sponsor terms are not checked."""
    code_var, decode_var = p["code"], p["decode"]
    need(df, code_var, decode_var)
    meta = variable_metadata(study, name).set_index("name")["codelist"]
    lists = []
    for v in (code_var, decode_var):
        cl = meta.get(v)
        if not isinstance(cl, str) or not cl:
            raise NotApplicable(v)
        try:
            lists.append(codelist(cl))
        except KeyError:
            raise NotApplicable(v) from None
    a = as_text(df[code_var]).map(lists[0].nci_codes)
    b = as_text(df[decode_var]).map(lists[1].nci_codes)
    both = filled(df[code_var]) & filled(df[decode_var])
    differ = (a.fillna("") != b.fillna("")).to_numpy(dtype=bool)
    return pd.Series(both.to_numpy(dtype=bool) & (a.notna() | b.notna()).to_numpy(dtype=bool) & differ, index=df.index)


# ------------------------------------------------------------------ trial summary (TS)

def _ts(df: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    need(df, "TSPARMCD")
    code = as_text(df["TSPARMCD"]).str.strip().str.upper()
    val = as_text(df["TSVAL"]) if "TSVAL" in df.columns else pd.Series(pd.NA, index=df.index, dtype="string")
    return code, val


@register("ts_parameter_missing")
def ts_parameter_missing(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.DataFrame:
    """TS has no record for parameter `parameter` (SD2201...); `if: {parameter: X, value: V}` limits the rule
    to trials whose TS has X = V (e.g. TRT only for INTERVENTIONAL studies)."""
    code, val = _ts(df)
    cond = p.get("if")
    if cond and not ((code == cond["parameter"]) & (val.str.upper() == str(cond["value"]).upper())).fillna(False).any():
        return pd.DataFrame()
    if (code == p["parameter"]).any():
        return pd.DataFrame()
    return _dataset_finding(rule, name, "TSPARMCD", p["parameter"], resolve_message(rule.message, name, None, "TSPARMCD"))


@register("ts_value_when")
def ts_value_when(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.DataFrame:
    """When TS has parameter `if.parameter` = `if.value`, parameter `parameter` must be present with TSVAL
    populated (`expect: populated`, SD1307-SD1312) or present with TSVAL null (`expect: null`, SD1306)."""
    code, val = _ts(df)
    cond = p["if"]
    if not ((code == cond["parameter"]) & (val.str.upper() == str(cond["value"]).upper())).fillna(False).any():
        return pd.DataFrame()
    rows = code == p["parameter"]
    if p["expect"] == "populated":
        ok = (rows & filled(val)).any()
    else:
        ok = rows.any() and not (rows & filled(val)).any()
    if ok:
        return pd.DataFrame()
    return _dataset_finding(rule, name, "TSPARMCD", p["parameter"], resolve_message(rule.message, name, None, "TSPARMCD"))


# ------------------------------------------------------------------ dates

def _iso_text(s: pd.Series) -> pd.Series:
    t = as_text(s).str.strip()
    return t.where(t.str.match(r"^\d{4}(-\d{2}(-\d{2}(T\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?)?)?)?$").fillna(False))


@operator("partial_date_gt")
def partial_date_gt(df: pd.DataFrame, cond: dict, study: Study, name: str) -> pd.Series:
    """{var: A, op: partial_date_gt, ref: B}: A is certainly after B, comparing ISO 8601 values (complete or
    partial) at the precision both have: '2013-07' is after '2013-06-22'; '2013-06' is not after '2013-06-22'."""
    need(df, cond["var"], cond["ref"])
    a, b = _iso_text(df[cond["var"]]), _iso_text(df[cond["ref"]])
    n = pd.concat([a.str.len(), b.str.len()], axis=1).min(axis=1)
    both = a.notna() & b.notna()
    out = pd.Series(False, index=df.index)
    if both.any():
        for width in n[both].unique():
            rows = both & (n == width)
            w = int(width)
            out[rows] = a[rows].str.slice(0, w) > b[rows].str.slice(0, w)
    return out.fillna(False).astype(bool)




# ------------------------------------------------------------------ disposition

@register("after_latest_disposition")
def after_latest_disposition(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.Series:
    """A date (`dtc`) after the subject's latest disposition event start (max DSSTDTC), comparing complete
    dates (SD0080 AE start, SD0082 exposure end, SD1446 exposure start); subjects without a DS date are
    not checked."""
    from ...dates import full_date
    need(df, "USUBJID", p["dtc"])
    return (full_date(df[p["dtc"]]) > _latest_disposition(study, df)).fillna(False).astype(bool)


def _latest_disposition(study: Study, df: pd.DataFrame) -> pd.Series:
    """Each record's subject's latest disposition event start (max complete DSSTDTC), aligned to `df`."""
    from ...dates import full_date
    if "DS" not in study.datasets:
        raise NotApplicable("DS")
    ds = study.frame("DS")
    need(ds, "USUBJID", "DSSTDTC")
    latest = full_date(ds["DSSTDTC"]).groupby(as_text(ds["USUBJID"])).max()
    # a lookup by reindexing (Series.map fails on empty frames with datetime values)
    return pd.Series(latest.reindex(as_text(df["USUBJID"])).to_numpy(), index=df.index)


# ------------------------------------------------------------------ dataset structure

@register("dataset_class_unknown")
def dataset_class_unknown(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.DataFrame:
    """SD9999: a dataset that is neither an SDTMIG domain nor shaped like a general observation class
    (no --TRT, --TERM or --TESTCD topic variable), nor SUPPQUAL or ADaM."""
    if name.startswith("AD") or study.kind(name) != "OTHER" or "SPDEVID" in df.columns:
        return pd.DataFrame()       # SDTMIG-MD device domains (DI, DO, ...) are identified by SPDEVID
    return _dataset_finding(rule, name, None, None, resolve_message(rule.message, name, None, None))


@register("variable_order")
def variable_order(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.DataFrame:
    """SD1079: standard variables out of the order of the SDTMIG domain table (the model's for its class);
    each variable that comes after one the standard places later is reported. Sponsor variables are ignored."""
    if study.kind(name) != "SDTM":
        raise NotApplicable(name)
    meta = variable_metadata(study, name)
    order = dict(zip(meta["name"], range(len(meta))))
    pos = [(v, order[v]) for v in df.columns if v in order]
    parts, highest = [], -1
    for v, o in pos:
        if o < highest:
            parts.append(_dataset_finding(rule, name, v, None, _msg(rule, v, name)))
        highest = max(highest, o)
    return _concat(parts)


@register("supp_parent_class")
def supp_parent_class(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.Series:
    """SD0095: SUPPQUAL records whose RDOMAIN is a domain of another class than Events, Findings,
    Interventions (or Findings About) and not DM (SV too before SDTMIG 3.2)."""
    from ..engine import sdtm_class_of
    need(df, "RDOMAIN")
    allowed = {"Events", "Findings", "Interventions", "Findings About"}
    ok_domains = {"DM"} | ({"SV"} if study.standard in ("3.1.1", "3.1.2", "3.1.3") else set())
    rd = as_text(df["RDOMAIN"]).str.strip().str.upper()
    classes = {d: sdtm_class_of(d) for d in rd.dropna().unique()}
    cls = rd.map(classes)
    bad = rd.notna() & cls.notna() & ~cls.isin(allowed) & ~rd.isin(ok_domains)
    return bad.fillna(False).astype(bool)


# ------------------------------------------------------------------ supplemental qualifiers of parent records

def _supp_of(study: Study, name: str) -> str | None:
    dom = study.domain(name) or name
    for cand in (f"SUPP{name}", f"SUPP{dom}"):
        if cand in study.datasets:
            return cand
    return None


@register("supp_qualifier_missing")
def supp_qualifier_missing(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.Series | pd.DataFrame:
    """Parent records (optionally those meeting `when`) without a SUPP-- record of QNAM `qnam` (SD1143 AESOSP
    for AESMIE='Y', SD1097 AETRTEM for every AE). Records are matched on USUBJID and IDVAR/IDVARVAL (--SEQ or
    another identifying variable); `no_supp: dataset` reports one whole-dataset finding when the parent has no
    SUPP-- dataset at all (SD1321), otherwise that case is not applicable."""
    from ..engine import evaluate
    supp_name = _supp_of(study, name)
    if p.get("no_supp") == "dataset":
        if supp_name is None and len(df):
            return _dataset_finding(rule, name, None, None, resolve_message(rule.message, name, None, None))
        return pd.DataFrame()
    if supp_name is None:
        raise NotApplicable(f"SUPP{name}")
    need(df, "USUBJID")
    rows = evaluate(df, p["when"], study, name) if "when" in p else pd.Series(True, index=df.index)
    supp = study.frame(supp_name)
    need(supp, "USUBJID", "QNAM", "IDVAR", "IDVARVAL")
    supp = supp[as_text(supp["QNAM"]).str.strip() == p["qnam"]]
    have = pd.Series(False, index=df.index)
    subj = as_text(df["USUBJID"])
    for idvar, grp in supp.groupby(as_text(supp["IDVAR"]).str.strip(), sort=False):
        if idvar not in df.columns:
            continue
        vals = df[idvar]
        key = (as_text(vals.astype("Float64").astype("Int64")) if pd.api.types.is_numeric_dtype(vals)
               else as_text(vals).str.strip())
        left = subj + "\x1f" + key
        right = set((as_text(grp["USUBJID"]) + "\x1f" + as_text(grp["IDVARVAL"]).str.strip()
                     .str.replace(r"\.0+$", "", regex=True)).dropna())
        have |= left.isin(right).fillna(False).astype(bool)
    return (rows & ~have).astype(bool)


@register("split_named_as_domain")
def split_named_as_domain(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.DataFrame:
    """SD1095: a dataset named as its domain (LB) beside split datasets of the same domain (LBCH, LBHE)."""
    if study.kind(name) != "SDTM" or study.domain(name) != name:
        return pd.DataFrame()
    split = [n for n in study.datasets if n != name and n.startswith(name) and study.kind(n) == "SDTM"
             and study.domain(n) == name]
    if not split:
        return pd.DataFrame()
    return _dataset_finding(rule, name, None, None, resolve_message(rule.message, name, None, None))


@register("before_latest_disposition")
def before_latest_disposition(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.Series:
    """SD1262: a date (`dtc`) on records meeting `when` before the subject's latest disposition event start
    (max DSSTDTC), comparing complete dates."""
    from ...dates import full_date
    from ..engine import evaluate
    need(df, "USUBJID", p["dtc"])
    mine = _latest_disposition(study, df)
    rows = evaluate(df, p["when"], study, name) if "when" in p else pd.Series(True, index=df.index)
    return (rows & (full_date(df[p["dtc"]]) < mine).fillna(False)).astype(bool)


@operator("not_iso8601")
def not_iso8601(df: pd.DataFrame, cond: dict, study: Study, name: str) -> pd.Series:
    """{var: X, op: not_iso8601}: a populated value that is not an ISO 8601 date/time (partial dates and
    missing components written with '-', e.g. '2003---15', are ISO 8601; '2003-11-31' is not a date)."""
    from ...dates import is_iso8601
    need(df, cond["var"])
    s = df[cond["var"]]
    return filled(s) & ~is_iso8601(as_text(s).str.strip(), missing_parts=True)


@register("value_not_in_dataset")
def value_not_in_dataset(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.Series:
    """Records whose `field` value (null included) is not among the values of that variable in `dataset`
    (SD1005: STUDYID not the STUDYID of DM)."""
    field = p["field"]
    need(df, field)
    if p["dataset"] not in study.datasets or name == p["dataset"]:
        raise NotApplicable(p["dataset"])
    other = study.frame(p["dataset"])
    need(other, field)
    known = set(as_text(other[field]).dropna().str.strip())
    return ~as_text(df[field]).str.strip().isin(known).fillna(False).astype(bool)


@register("subject_has_record")
def subject_has_record(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.Series:
    """DM records meeting `where` whose subject has a record in `dataset` meeting `target_where` (SD1254:
    DTHFL not 'Y' for a subject with a fatal AE): reported on the subject, in DM."""
    from ..engine import evaluate
    need(df, "USUBJID")
    if p["dataset"] not in study.datasets:
        raise NotApplicable(p["dataset"])
    other = study.frame(p["dataset"])
    need(other, "USUBJID")
    if "target_where" in p:
        other = other[evaluate(other, p["target_where"], study, p["dataset"])]
    rows = evaluate(df, p["where"], study, name) if "where" in p else pd.Series(True, index=df.index)
    subjects = set(as_text(other["USUBJID"]).dropna())
    return (rows & as_text(df["USUBJID"]).isin(subjects).fillna(False)).astype(bool)
