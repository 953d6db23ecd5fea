"""Registered rule functions: metadata conformance through pandera schemas, and checks that need code."""
from __future__ import annotations

import re
from contextvars import ContextVar
from functools import lru_cache

import numpy as np
import pandas as pd
import pandera.pandas as pa

from ..dates import is_iso8601
from ..metadata import (GENERAL_CLASSES, codelist, dataset_variables, lab_tests, model_variables, qs_tests,
                        sdtm_variables)
from ..frames import as_text, filled, printable_ascii, to_number
from ..resources import data_dir, load_study, load_yaml
from .engine import (NotApplicable, Rule, Study, _domain_of, _text, _tuple_codes, findings_frame, need, prefix,
                     isin_text, operator, present, register, text_per_distinct)

XPT_MAX_CHAR = 200


# ------------------------------------------------------------------ metadata (pandera)

def variable_metadata(study: Study, name: str) -> pd.DataFrame:
    """Standard metadata for a dataset (name, label, type, core, codelist): its SDTMIG domain (split datasets
    take their parent domain's), the SDTM model of its class for a custom domain, or ADaMIG."""
    kind = study.kind(name)
    if kind not in ("SDTM", "SUPP", "ADSL", "BDS"):
        raise NotApplicable(name)
    if kind == "SDTM":
        dom = study.domain(name)
        if dom is not None:
            return sdtm_variables(dom)
        return model_variables(prefix(name), study.sdtm_class(name))
    return dataset_variables(name)


def model_names(study: Study, name: str) -> set[str]:
    """Variables the SDTM model allows in a dataset: its domain's, and those of its class in the model
    (e.g. --LNKID, SPDEVID, --REPNUM, which a domain's IG table may omit)."""
    known = set(variable_metadata(study, name)["name"])
    cls = study.sdtm_class(name)
    if cls in GENERAL_CLASSES:
        pre = prefix(name)
        known |= {pre + v[2:] if v.startswith("--") else v for v in _class_model_names(cls)}
    return known


@lru_cache(maxsize=None)
def _class_model_names(sdtm_class: str) -> frozenset[str]:
    """The variable names of metadata.class_model(sdtm_class) (model form, --STDTC), without building the whole
    model table: every variable of the class's SDTMIG domains, and the identifiers and timing variables of the
    other general classes."""
    from ..metadata import _generic
    from ..resources import load_json

    names = set()
    for dom, d in load_json("sdtm-metadata.json")["datasets"].items():
        cls = d.get("class")
        if cls not in GENERAL_CLASSES:
            continue
        for v in d["variables"]:
            if cls == sdtm_class or v["role"] in ("Identifier", "Timing"):
                names.add(_generic(v["name"], dom))
    if not names:
        raise KeyError(sdtm_class)
    return frozenset(names)


@lru_cache(maxsize=1)
def ct_extensions() -> dict[str, frozenset[str]]:
    """Sponsor terms the study adds to extensible codelists (declared in mappings/study.yaml)."""
    study = load_study()
    ext: dict[str, set[str]] = {"LBTESTCD": set(), "LBTEST": set(), "QSCAT": set(study["questionnaires"])}
    for code, t in study["lab_tests"].items():
        if t.get("sponsor_defined"):
            ext["LBTESTCD"].add(code)
            ext["LBTEST"].add(t["LBTEST"])
    return {k: frozenset(v) for k, v in ext.items()}


@lru_cache(maxsize=None)
def _allowed(var: str, codes: tuple[str, ...]) -> tuple[frozenset[str], bool] | None:
    """The terms a variable may take: those of every codelist the IG lists for it (RSCAT: ONCRSCAT or CCCAT), and
    whether that is extensible (any of them is); None when we ship none of its codelists."""
    lists = []
    for code in codes:
        try:
            lists.append(codelist(code))
        except KeyError:
            continue
    if not lists:
        return None
    values = frozenset().union(*(cl.values for cl in lists))
    return values | ct_extensions().get(var, frozenset()), any(cl.extensible for cl in lists)


# The dataset a schema is validating, and what its checks compute once per column (distinct values) or per
# dataset (the `by` values of value-level codelists): schemas depend only on a dataset's structure and are cached,
# so what they need of the data comes from here, set by _pandera_failures for the time of one validation.
_RUN: ContextVar[dict | None] = ContextVar("pandera_run", default=None)


def _distinct(s: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """Codes (-1 for missing) and distinct values of a column, computed once for all the checks of a column."""
    run = _RUN.get()
    key = ("distinct", id(s.array))
    if run is not None and key in run and run[key][0] is s.array:
        return run[key][1], run[key][2]
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    values = pd.Series(uniques, dtype=s.dtype)
    if run is not None:
        run[key] = (s.array, codes, values)      # the array is held, so its id is not reused while cached
    return codes, values


def _na_ok(check, on_arrow=None):
    """A column check that passes missing values, run once per distinct value (codes repeat a lot in SDTM) and
    spread back over the records; pandera does not copy the column to drop missing values. `on_arrow`, the same
    check on a whole Arrow text column (a numpy bool array, True for missing values), runs instead where the
    column is Arrow text: Arrow's kernels over every record cost less than finding the distinct values."""
    def wrapped(s: pd.Series) -> pd.Series:
        if s.dtype == object:        # mixed Python values (1, 1.0, True hash alike): check every record
            return (check(s) | s.isna()).fillna(True).astype(bool)
        arrow = _arrow_text(s) if on_arrow is not None else None
        if arrow is not None:
            return pd.Series(on_arrow(arrow), index=s.index)
        codes, values = _distinct(s)
        if not len(values):
            return pd.Series(True, index=s.index)
        ok = (check(values) | values.isna()).fillna(True).astype(bool).to_numpy()
        return pd.Series(np.append(ok, True)[codes], index=s.index)      # code -1 (missing) takes the last: True
    return wrapped


def _arrow_text(values: pd.Series):
    """The Arrow string array behind Arrow-backed text (None for anything else)."""
    import pyarrow as pa

    arr = getattr(values.array, "_pa_array", None)
    if arr is None or not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        return None
    return arr


def _bools(result, values) -> np.ndarray:
    """An Arrow boolean result as numpy, True where the checked value is missing."""
    import pyarrow.compute as pc

    ok = np.asarray(pc.fill_null(result, True).to_numpy(zero_copy_only=False), dtype=bool)
    if values.null_count:
        ok |= np.asarray(values.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    return ok


def _ascii_arrow(arr) -> np.ndarray:
    """printable_ascii on Arrow text (True for missing): a value passes when every UTF-8 byte is printable
    ASCII (0x20-0x7E), which is what Arrow's string_is_ascii and utf8_is_printable together say, found on the
    data buffer with numpy (Arrow's per-character printable test is ten times slower)."""
    chunks = arr.chunks if hasattr(arr, "chunks") else [arr]
    return np.concatenate([_ascii_chunk(c) for c in chunks]) if chunks else np.ones(0, dtype=bool)


def _ascii_chunk(chunk) -> np.ndarray:
    import pyarrow as pa

    n = len(chunk)
    if n == 0:
        return np.ones(0, dtype=bool)
    validity, offsets_buf, data_buf = chunk.buffers()[:3]
    width = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
    offsets = np.frombuffer(offsets_buf, dtype=width, count=n + 1, offset=chunk.offset * np.dtype(width).itemsize)
    first, last = int(offsets[0]), int(offsets[-1])
    data = np.frombuffer(data_buf, dtype=np.uint8, count=last - first, offset=first) if last > first else \
        np.zeros(0, dtype=np.uint8)
    at = np.flatnonzero((data < 0x20) | (data > 0x7E)) + first      # the few bytes that are not printable ASCII
    ok = np.ones(n, dtype=bool)
    ok[np.searchsorted(offsets[1:], at, side="right")] = False       # the value whose bytes hold each of them
    if chunk.null_count:
        ok |= ~np.asarray(chunk.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    return ok


def _fits_xpt_arrow(arr) -> np.ndarray:
    """_fits_xpt on Arrow text: at most 200 bytes of UTF-8 (a value of 50 characters or fewer always is)."""
    import pyarrow.compute as pc

    return _bools(pc.less_equal(pc.binary_length(arr), XPT_MAX_CHAR), arr)


def _fits_xpt(s: pd.Series) -> pd.Series:
    """Character values fit SAS XPT v5 (200 bytes): only long strings are encoded to count bytes."""
    if not isinstance(s.dtype, pd.StringDtype) and s.dtype != object:
        return pd.Series(True, index=s.index)
    text = s.astype("string")
    ok = (text.str.len() <= XPT_MAX_CHAR // 4).fillna(True)
    if not ok.all():
        long = text[~ok]
        ok[~ok] = long.str.encode("utf-8").str.len() <= XPT_MAX_CHAR
    return ok


def _iso_check(s: pd.Series) -> pd.Series:
    return is_iso8601(s)


def _is_number(s: pd.Series) -> pd.Series:
    return to_number(s).notna()


def _in_codelist(values: frozenset, skip_numeric: bool):
    """Members of a codelist (for --STRESC, numeric results such as '<5' pass too)."""
    def check(s: pd.Series) -> pd.Series:
        text = as_text(s)
        member = text.isin(values)
        return member | (skip_numeric & to_number(text.str.lstrip("<>=")).notna()) if skip_numeric else member
    return check


def _in_codelist_arrow(values: frozenset, skip_numeric: bool):
    """_in_codelist on Arrow text (membership by Arrow's is_in); None (the pandas check) for --STRESC."""
    if skip_numeric:
        return None
    sets: dict = {}

    def check(arr) -> np.ndarray:
        import pyarrow as pa
        import pyarrow.compute as pc

        if arr.type not in sets:
            sets[arr.type] = pa.array(sorted(values), type=arr.type)
        return _bools(pc.is_in(arr, value_set=sets[arr.type]), arr)
    return check


@lru_cache(maxsize=None)
def value_level_ct() -> dict:
    """Codelists chosen by another variable's value (schemas/ct-value-level.yaml, from the SDTMIG notes)."""
    return load_yaml((data_dir("schemas") / "ct-value-level.yaml").read_text(encoding="utf-8")) or {}


def _by_values(by_var: str, index: pd.Index) -> pd.Series:
    """The selecting variable of a value-level codelist (stripped, upper case) in the dataset being validated."""
    run = _RUN.get()
    key = ("by", by_var)
    if key not in run:
        run[key] = as_text(run["frame"][by_var]).str.strip().str.upper()
    return run[key].reindex(index)


def value_level_selectors(levels: dict) -> list[tuple[frozenset[str], str]]:
    """Each selection of a value-level codelist as (the `by` values that select it, the codelist's C-code):
    `codelists` names the `by` value itself, `by_codelist` a codelist the `by` value is a term of."""
    out = [(frozenset({str(k).upper()}), c) for k, c in (levels.get("codelists") or {}).items()]
    out += [(frozenset(v.upper() for v in codelist(by).values), c) for by, c in (levels.get("by_codelist") or {}).items()]
    return out


def _value_level_checks(var: str, levels: dict) -> list:
    """CT2004 (non-extensible) and CT2005 (extensible) checks: each record against the codelist its `by` value
    selects; records whose `by` value selects none are not checked here."""
    out = []
    for extensible, check_name in ((False, "CT2004"), (True, "CT2005")):
        chosen = [(keys, codelist(c)) for keys, c in value_level_selectors(levels)]
        chosen = [(keys, frozenset(cl.values)) for keys, cl in chosen if cl.extensible == extensible]
        if not chosen:
            continue

        def member(s: pd.Series, chosen=chosen, by_var=levels["by"]) -> pd.Series:
            by = _by_values(by_var, s.index)
            ok = pd.Series(True, index=s.index)
            text = as_text(s)
            for keys, values in chosen:
                rows = by.isin(keys).fillna(False)
                ok &= ~rows | text.isin(values).fillna(False)
            return (ok | s.isna()).fillna(True).astype(bool)
        out.append(pa.Check(member, name=check_name, ignore_na=False))
    return out


def _metadata_key(study: Study, name: str) -> tuple:
    """What a dataset's standard metadata depends on (see variable_metadata)."""
    kind = study.kind(name)
    if kind == "SDTM":
        dom = study.domain(name)
        return ("SDTM", dom) if dom is not None else ("MODEL", prefix(name), study.sdtm_class(name))
    return (kind, name)


_SCHEMAS: dict[tuple, pa.DataFrameSchema] = {}


def _build_schema(study: Study, name: str) -> pa.DataFrameSchema:
    """The dataset's pandera schema, built once per structure (metadata, variables and which are text) and
    reused for every dataset of that structure in the process."""
    df = study.frame(name)
    key = (_metadata_key(study, name),
           tuple((var, pd.api.types.is_numeric_dtype(df[var])) for var in df.columns))
    if key not in _SCHEMAS:
        if len(_SCHEMAS) >= 256:
            _SCHEMAS.clear()
        _SCHEMAS[key] = _schema_for(variable_metadata(study, name), key[1])
    return _SCHEMAS[key]


def _schema_for(meta: pd.DataFrame, columns: tuple[tuple[str, bool], ...]) -> pa.DataFrameSchema:
    """A pandera schema from the standard metadata: nulls in Req, types, CT, ISO 8601, XPT limits, ASCII."""
    rows = {}
    for r in meta.to_dict("records"):
        rows.setdefault(r["name"], r)               # the first row of a name, as meta[meta.name == var].iloc[0]
    present = {var for var, _ in columns}
    columns_ = {}
    for var, numeric in columns:
        r = rows.get(var)
        checks = [
            pa.Check(_na_ok(_fits_xpt, _fits_xpt_arrow), name="FMT-XPT-05", ignore_na=False),
            pa.Check(_na_ok(printable_ascii, _ascii_arrow), name="FMT-ASCII-01", ignore_na=False),
        ] if not numeric else []
        nullable = True
        if r is not None:
            nullable = r["core"] != "Req"
            if r["type"] == "Num":
                checks.append(pa.Check(_na_ok(_is_number), name="GEN-NUM-01", ignore_na=False))
            if var.endswith("DTC"):
                checks.append(pa.Check(_na_ok(_iso_check), name="SD0003", ignore_na=False))
            levels = value_level_ct().get(var)
            if levels and levels["by"] in present:
                checks.extend(_value_level_checks(var, levels))
            codes = tuple(c for c in (r.get("codelists") if isinstance(r.get("codelists"), (list, tuple))
                                      else [r.get("codelist")]) if isinstance(c, str))
            allowed = _allowed(var, codes) if codes and not levels else None
            if allowed:
                values, extensible = allowed
                skip = var.endswith("STRESC")
                checks.append(pa.Check(_na_ok(_in_codelist(values, skip), _in_codelist_arrow(values, skip)),
                                       name="CT2002" if extensible else "CT2001", ignore_na=False))
        columns_[var] = pa.Column(nullable=nullable, checks=checks, required=False, coerce=False)
    return pa.DataFrameSchema(columns_, strict=False)


def _pandera_failures(study: Study, name: str) -> pd.DataFrame:
    """All failure cases of the dataset's schema, run once per dataset (lazy: every failure reported)."""
    cache = study.__dict__.setdefault("_pandera", {})
    if name not in cache:
        df = study.frame(name)
        token = _RUN.set({"frame": df})
        try:
            _build_schema(study, name).validate(df, lazy=True)
            cache[name] = pd.DataFrame(columns=["column", "check", "index"])
        except pa.errors.SchemaErrors as err:
            fc = err.failure_cases
            fc = fc[fc["index"].notna()].copy()
            fc["check"] = fc["check"].astype(str).replace({"not_nullable": "SD0002"})
            cache[name] = fc[["column", "check", "index"]]
        finally:
            _RUN.reset(token)
    return cache[name]


@register("metadata_check")
def metadata_check(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.DataFrame:
    """Rows failing one pandera check built from metadata (p.check names it: SD0002, CT2001, ...)."""
    variable_metadata(study, name)
    fc = _pandera_failures(study, name)
    fc = fc[fc["check"] == p.get("pandera_check", rule.id)]
    parts = []
    for var, grp in fc.groupby("column"):
        mask = pd.Series(False, index=df.index)
        mask.loc[grp["index"].astype(int).to_numpy()] = True
        msg = rule.message.replace("{variable}", str(var))
        parts.append(findings_frame(rule, name, df, mask, str(var), msg))
    return pd.concat(parts, ignore_index=True) if parts else findings_frame(rule, name, df, pd.Series(False, index=df.index), None, "")


def _dataset_finding(rule: Rule, name: str, variable: str | None, value: str | None, message: str) -> pd.DataFrame:
    """One finding about a dataset or a variable as a whole (no record, no subject)."""
    if (variable or "_") in ("USUBJID", f"{prefix(name)}SEQ"):
        one = pd.DataFrame({"USUBJID": [pd.NA], variable or "_": [value]})
        return findings_frame(rule, name, one, pd.Series([True]), variable or "_", message).assign(
            row=pd.NA, variable=variable or "")
    text = pd.Series([value]).astype("string").to_numpy()
    if "{value}" in message:
        head, _, tail = message.partition("{value}")
        message = head + ("(null)" if text[0] is pd.NA else text[0]) + tail
    return pd.DataFrame({
        "rule_id": rule.id, "p21_id": rule.p21 or "", "core_id": ", ".join(rule.core), "severity": rule.severity,
        "dataset": name, "variable": variable or "", "row": pd.NA, "usubjid": np.array([pd.NA], dtype=object),
        "seq": pd.NA, "value": text, "message": np.array([message], dtype=object)}, index=range(1))


def _present(var: str, columns) -> bool:
    """Whether a standard variable is in the dataset; ADaMIG names like TRTxxP match TRT01P etc."""
    if var in columns:
        return True
    if var == var.upper():
        return False
    pattern = re.sub(r"xx|zz", r"[0-9]{2}", var)
    pattern = re.sub(r"[ywz]", r"[0-9]+", pattern)
    return any(re.fullmatch(pattern, c) for c in columns)


@register("variables_missing")
def variables_missing(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.DataFrame:
    """Standard variables of a given core (Req/Exp) absent from the dataset."""
    meta = variable_metadata(study, name)
    want = meta.loc[meta["core"].isin(p["level"]), "name"]
    if study.kind(name) == "BDS":
        want = want[want.isin(["STUDYID", "USUBJID", "PARAMCD", "PARAM"])]
    missing = [v for v in want if not _present(v, df.columns)]
    parts = [_dataset_finding(rule, name, v, None, rule.message.replace("{variable}", v)) for v in missing]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


@register("variables_not_in_model")
def variables_not_in_model(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.DataFrame:
    """Dataset variables that the SDTMIG domain does not define."""
    if study.kind(name) != "SDTM":
        raise NotApplicable(name)
    known = model_names(study, name)
    extra = [v for v in df.columns if v not in known]
    parts = [_dataset_finding(rule, name, v, None, rule.message.replace("{variable}", v)) for v in extra]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


@register("declared_type")
def declared_type(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.DataFrame:
    """Variables whose type declared by the file (XPT, Dataset-JSON) differs from the IG type (the model's for
    custom domains). CSV declares no type: not applicable."""
    ds = study.datasets[name]
    if ds.source is not None and ds.source.suffix.lower() == ".csv":
        raise NotApplicable(name)
    meta = variable_metadata(study, name).set_index("name")["type"]
    parts = []
    for c in ds.columns:
        want = meta.get(c.name)
        if c.name in df.columns and want in ("Char", "Num") and c.type in ("Char", "Num") and c.type != want:
            msg = rule.message.replace("{variable}", c.name).replace("{standard}", want).replace("{value}", c.type)
            parts.append(_dataset_finding(rule, name, c.name, c.type, msg))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


@register("last_exposure")
def last_exposure(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.Series:
    """DM.RFXENDTC differs from the latest EXSTDTC/EXENDTC of the subject (subjects with EX records)."""
    need(df, "USUBJID", "RFXENDTC")
    if "EX" not in study.datasets:
        raise NotApplicable("EX")
    ex = study.frame("EX")
    need(ex, "USUBJID", "EXSTDTC")
    dates = [as_text(ex[c]) for c in ("EXSTDTC", "EXENDTC") if c in ex]
    stacked = pd.DataFrame({"USUBJID": pd.concat([ex["USUBJID"]] * len(dates), ignore_index=True).astype("string"),
                            "DTC": pd.concat(dates, ignore_index=True)}).dropna()
    # ISO 8601 text sorts chronologically within equal precision; compare on the date part
    stacked["DTC"] = stacked["DTC"].str.slice(0, 10)
    latest = stacked.groupby("USUBJID")["DTC"].max()
    mine = as_text(df["USUBJID"]).map(latest)
    rfx = as_text(df["RFXENDTC"]).str.slice(0, 10)
    return (mine.notna() & (rfx.isna() | (rfx != mine))).fillna(False).astype(bool)


@register("label_mismatch")
def label_mismatch(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.DataFrame:
    """Variable labels carried by the file that differ from the standard's labels."""
    meta = variable_metadata(study, name).set_index("name")["label"]
    parts = []
    for c in study.datasets[name].columns:
        if c.label and c.name in meta.index and c.label != meta[c.name]:
            parts.append(_dataset_finding(rule, name, c.name, c.label,
                                          rule.message.replace("{variable}", c.name) + f" (standard: '{meta[c.name]}')"))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


@register("xpt_names")
def xpt_names(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.DataFrame:
    """SAS XPT v5 limits: dataset/variable names <= 8 (letters, digits, _), labels <= 40 characters."""
    ds = study.datasets[name]
    parts = []
    pattern = r"[A-Z][A-Z0-9_]{0,7}"
    what = p["what"]
    if what == "dataset_name":
        if not pd.Series([name]).str.fullmatch(pattern).iloc[0]:
            parts.append(_dataset_finding(rule, name, None, name, rule.message))
    elif what == "dataset_label":
        if ds.label and len(ds.label) > 40:
            parts.append(_dataset_finding(rule, name, None, ds.label, rule.message))
    elif what == "variable_name":
        names = pd.Series(list(df.columns), dtype="string")
        for v in names[~names.str.fullmatch(pattern)]:
            parts.append(_dataset_finding(rule, name, v, v, rule.message.replace("{variable}", v)))
    elif what == "variable_label":
        for c in ds.columns:
            if c.label and len(c.label) > 40:
                parts.append(_dataset_finding(rule, name, c.name, c.label, rule.message.replace("{variable}", c.name)))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


@register("no_records")
def no_records(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.DataFrame:
    """A dataset without records."""
    return _dataset_finding(rule, name, None, None, rule.message) if df.empty else pd.DataFrame()


@register("dataset_missing")
def dataset_missing(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.DataFrame:
    """A dataset the others require is absent, as itself or as split datasets (ADSL beside ADaM datasets, MB
    beside MS): one finding, on the missing dataset."""
    if study.has_domain(p["dataset"]) or not study.first_selected(rule, name):
        return pd.DataFrame()
    return _dataset_finding(rule, p["dataset"], None, None, rule.message)


@register("numeric_date_variables")
def numeric_date_variables(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.DataFrame:
    """ADaM *DT variables must be numeric."""
    bad = [c for c in df.columns if c.endswith("DT") and not pd.api.types.is_numeric_dtype(df[c])]
    parts = [_dataset_finding(rule, name, v, None, rule.message.replace("{variable}", v)) for v in bad]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


# ------------------------------------------------------------------ timing

def _record_date(study: Study, name: str, df: pd.DataFrame, dtc: str) -> pd.Series:
    """full_date(df[dtc]) from the study's per-dataset cache (each date column is parsed once)."""
    if dtc in study.frame(name).columns:
        return study.date(name, dtc).reindex(df.index)
    return study.any_date(df, dtc)


@register("study_day")
def study_day_check(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.Series:
    """--DY differs from the value computed from --DTC and DM.RFSTDTC (no day 0)."""
    dtc, dy = p["dtc"], p["dy"]
    if dtc not in df or dy not in df or "DM.RFSTDTC" not in df:
        raise NotApplicable(dy)
    days = (_record_date(study, name, df, dtc) - study.any_date(df, "DM.RFSTDTC")).dt.days   # as dates.study_day
    expected = days.where(days < 0, days + 1).astype("Int64")
    got = pd.to_numeric(df[dy], errors="coerce")
    if p.get("mode") == "missing":
        return (expected.notna() & got.isna()).fillna(False).astype(bool)
    return (expected.notna() & got.notna() & (expected != got)).fillna(False).astype(bool)


@register("epoch_dates")
def epoch_dates(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.Series:
    """EPOCH contradicts the record date: a pre-treatment epoch on/after first dose, or treatment before it."""
    dtc = p["dtc"]
    if dtc not in df or "EPOCH" not in df or "DM.RFXSTDTC" not in df:
        raise NotApplicable(dtc)
    d, first = _record_date(study, name, df, dtc), study.any_date(df, "DM.RFXSTDTC")
    pre = df["EPOCH"].isin(p["pre_treatment"])
    on = df["EPOCH"].isin(p["treatment"])
    # on the day of first dose a record without a time may be before or after the dose: only times decide
    text, ref = as_text(df[dtc]), as_text(df["DM.RFXSTDTC"])
    timed = (text.str.len().gt(10) & ref.str.len().gt(10)).fillna(False).astype(bool)
    later_time = (text >= ref).fillna(False).astype(bool)
    after_dose = (d > first).to_numpy() | ((d == first).to_numpy() & timed.to_numpy() & later_time.to_numpy())
    before = (d < first).to_numpy()
    pre, on = pre.fillna(False).astype(bool).to_numpy(), on.fillna(False).astype(bool).to_numpy()
    return pd.Series((pre & after_dose) | (on & before), index=df.index)


# ------------------------------------------------------------------ SUPPQUAL

def parent_frame(study: Study, supp: str) -> pd.DataFrame:
    """The parent records of a SUPP-- dataset: its domain, or all split datasets of that domain together
    (SDTMIG 4.1.7: SUPPLB relates to LBCH, LBHE...); NotApplicable when the parent is not in this run."""
    parent = supp[4:]
    if parent in study.datasets:
        return study.frame(parent)
    parts = [study.frame(n) for n in study.datasets
             if not n.startswith("SUPP") and study.kind(n) == "SDTM" and study.domain(n) == parent]
    if not parts:
        raise NotApplicable(parent)     # the parent domain is not part of this validation run
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


@register("rdomain_valid")
def rdomain_valid(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.Series:
    """RDOMAIN names a domain present in the study (SUPP--, RELREC, CO); in SUPP-- it is the parent's domain
    (SUPPLB relates LB, which split datasets LBCH, LBHE... hold)."""
    need(df, "RDOMAIN")
    present = {study.domain(n) or n for n in study.datasets if study.kind(n) == "SDTM"}
    rdomain = as_text(df["RDOMAIN"]).str.strip()
    bad = filled(df["RDOMAIN"]) & ~rdomain.isin(sorted(present)).fillna(False)
    if name.startswith("SUPP"):
        parent = _domain_of(name[4:], pd.DataFrame()) or name[4:]
        bad |= filled(df["RDOMAIN"]) & (rdomain != parent).fillna(False)
    return bad


@register("idvar_valid")
def idvar_valid(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.Series:
    """IDVAR names a variable of the dataset its record's RDOMAIN refers to (SUPP--, RELREC, CO); RDOMAINs not
    in this run cannot be judged."""
    need(df, "IDVAR", "RDOMAIN")
    idvar = as_text(df["IDVAR"]).str.strip()
    rdomain = as_text(df["RDOMAIN"]).str.strip()
    bad = pd.Series(False, index=df.index)
    for dom in rdomain.dropna().unique():
        try:
            cols = set(parent_frame(study, "SUPP" + dom).columns)
        except NotApplicable:
            continue
        rows = (rdomain == dom).fillna(False) & idvar.notna() & (idvar != "")
        bad |= rows & ~idvar.isin(list(cols)).fillna(False)
    return bad


@register("supp_parent")
def supp_parent(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.Series:
    """SUPP--/RELREC records whose RDOMAIN/USUBJID/IDVAR/IDVARVAL do not resolve to a parent record (values as
    given: '   2' is not AESEQ 2, as Pinnacle 21 reads it; parents not in this run cannot be judged)."""
    need(df, "RDOMAIN", "USUBJID", "IDVAR", "IDVARVAL")
    idvar = as_text(df["IDVAR"]).fillna("")
    rdomain = as_text(df["RDOMAIN"]).fillna("")
    doms = [name[4:]] if name.startswith("SUPP") else sorted(d for d in rdomain.unique() if d)
    ok = pd.Series(False, index=df.index)
    judged = pd.Series(False, index=df.index)
    # RELREC's dataset-level relationships (SDTMIG 8.3.2): RELTYPE given, USUBJID and IDVARVAL null; IDVAR names a
    # variable of the domain (SD0075's check), there is no one record to resolve
    dataset_level = (pd.Series(False, index=df.index) if name.startswith("SUPP") or "RELTYPE" not in df else
                     as_text(df["RELTYPE"]).notna() & df["USUBJID"].isna() & df["IDVARVAL"].isna())
    for dom in doms:
        try:
            pf = parent_frame(study, "SUPP" + dom)
        except NotApplicable:
            continue
        mine = (pd.Series(True, index=df.index) if name.startswith("SUPP") else (rdomain == dom)) & ~dataset_level
        judged |= mine
        if p.get("mode") == "idvar":
            continue
        subject_level = mine & (idvar == "")
        if "USUBJID" in pf:
            ok |= subject_level & isin_text(df["USUBJID"], pf["USUBJID"], dropna=False)
        for var in idvar[mine & ~subject_level].unique():
            if var not in pf or "USUBJID" not in pf:
                continue
            rows = mine & (idvar == var)
            # (USUBJID, IDVARVAL) pairs among the parent's (USUBJID, var as text without a trailing '.0'), compared
            # as a MultiIndex of the pairs would (a missing value equals a missing value), through integer codes
            parent_var = text_per_distinct(_text(pf[var]).astype("string"), lambda u: u.str.replace(r"\.0$", "", regex=True))
            left, right = _tuple_codes([df.loc[rows, "USUBJID"], df.loc[rows, "IDVARVAL"]],
                                       [pf["USUBJID"], parent_var], na_equal=True)
            ok.loc[rows] = pd.Series(left).isin(right).to_numpy()
    if not judged.any():
        raise NotApplicable("parent")     # the parent domain is not part of this validation run
    return judged & ~ok


# ------------------------------------------------------------------ study-specific: SLEDAI-2K

def _sledai(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    tests = qs_tests()
    cat = tests.loc[tests["kind"] == "total", "QSCAT"].iloc[0]
    cols = [c for c in ("USUBJID", "VISITNUM", "QSTESTCD", "QSSTRESN") if c in df]
    s = df.loc[(df["QSCAT"] == cat).to_numpy(), cols]
    return s, tests


@register("sledai_total")
def sledai_total(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.Series:
    """A SLEDAI-2K total that differs from the sum of its descriptors' scores at the same assessment."""
    need(df, "QSCAT", "QSTESTCD", "QSSTRESN", "USUBJID", "VISITNUM")
    s, tests = _sledai(df)
    total_cd = tests.loc[tests["kind"] == "total", "QSTESTCD"].iloc[0]
    items = s[s["QSTESTCD"] != total_cd]
    key = ["USUBJID", "VISITNUM"]
    sums = items.groupby(key)["QSSTRESN"].sum(min_count=1).rename("_sum").reset_index()
    tot = s[s["QSTESTCD"] == total_cd]
    merged = tot.reset_index().merge(sums, on=key, how="left").set_index("index")
    bad = merged["_sum"].notna() & (pd.to_numeric(merged["QSSTRESN"], errors="coerce") != merged["_sum"])
    return bad.reindex(df.index, fill_value=False)


@register("sledai_weight")
def sledai_weight(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.Series:
    """A SLEDAI-2K descriptor scored other than 0 or its weight."""
    need(df, "QSCAT", "QSTESTCD", "QSSTRESN")
    weights = qs_tests().set_index("QSTESTCD")["weight"].dropna().to_dict()
    # looked up as objects: a text column's map gives nullable numbers whose comparisons are missing, not False
    w = pd.Series(df["QSTESTCD"].astype(object).map(weights), index=df.index, dtype="float64")
    score = pd.to_numeric(df["QSSTRESN"], errors="coerce")
    item = df["QSCAT"].eq("SLEDAI-2K") & w.notna() & score.notna()
    return item & ~((score == 0) | (score == w))


@register("sledai_lab")
def sledai_lab(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.Series:
    """A lab-based SLEDAI-2K descriptor that disagrees with the same visit's lab results in LB."""
    need(df, "QSTESTCD", "QSSTRESN", "USUBJID", "VISITNUM")
    if "LB" not in study.datasets:
        raise NotApplicable("LB")
    lb = study.frame("LB")
    need(lb, "LBTESTCD", "LBSTRESN", "USUBJID", "VISITNUM")
    study_tests = load_study()["questionnaires"]["SLEDAI-2K"]["tests"]
    item = p["item"]
    spec = study_tests[item]["lab"]
    key = ["USUBJID", "VISITNUM"]
    res = pd.to_numeric(lb["LBSTRESN"], errors="coerce")
    if "LBTESTCD" in spec:
        sel = lb["LBTESTCD"] == spec["LBTESTCD"]
        cond = (res > spec["above"]) if "above" in spec else (res < spec["below"])
    else:
        tests = spec.get("any_below_lln") or spec.get("any_above_uln")
        sel = lb["LBTESTCD"].isin(tests)
        ref = pd.to_numeric(lb["LBSTNRLO"] if "any_below_lln" in spec else lb["LBSTNRHI"], errors="coerce")
        cond = (res < ref) if "any_below_lln" in spec else (res > ref)
    abnormal = cond[sel & res.notna()].groupby([lb.loc[sel & res.notna(), k] for k in key]).any().rename("_lab")
    q = df[(df["QSTESTCD"] == item) & df["QSSTRESN"].notna()]
    merged = q[key].merge(abnormal.reset_index(), on=key, how="left").set_index(q.index)
    scored = pd.to_numeric(q["QSSTRESN"], errors="coerce") > 0
    bad = merged["_lab"].notna() & (merged["_lab"].astype(bool) != scored)
    return bad.reindex(df.index, fill_value=False)


# ------------------------------------------------------------------ labs

@register("lab_units_known")
def lab_units_known(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.Series:
    """A standard unit that is not the study's standard unit for the test."""
    need(df, "LBTESTCD", "LBSTRESU")
    std = df["LBTESTCD"].map({k: v["unit"] for k, v in lab_tests().items()})
    return std.notna() & df["LBSTRESU"].notna() & (df["LBSTRESU"] != std)


# ------------------------------------------------------------------ mapping problems carried into the report

@register("mapping_rejects")
def mapping_rejects(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.DataFrame:
    """Rows and values that convert could not map (rejects.csv), reported with the domain they belong to."""
    rej = study.extras.get("rejects")
    if rej is None:
        raise NotApplicable("rejects")
    sel = rej[rej["domain"] == name]
    is_row = sel["disposition"].astype("string").str.startswith(("row rejected", "record rejected")).fillna(False)
    sel = sel[is_row] if p["disposition"] == "row" else sel[~is_row]
    if sel.empty:
        return pd.DataFrame()
    frame = pd.DataFrame({"USUBJID": pd.NA, "column": sel["column"].astype("string").to_numpy(),
                          "value": sel["value"].astype("string").to_numpy()})
    out = findings_frame(rule, name, frame, pd.Series(True, index=frame.index), "column", rule.message)
    where = (sel["file"].astype("string") + ", sheet '" + sel["sheet"].astype("string") + "', row "
             + sel["row"].astype("string") + ", column '" + sel["column"].astype("string").fillna("") + "': "
             + sel["reason"].astype("string") + " (" + sel["disposition"].astype("string") + ")")
    out["message"] = where.to_numpy()
    out["variable"] = ("raw column " + sel["column"].astype("string").fillna("?")).to_numpy()
    out["value"] = sel["value"].astype("string").to_numpy()
    out["row"] = pd.NA
    # the raw cell itself, as attach_sources gives it for findings on mapped records
    out["src_file"], out["src_sheet"] = sel["file"].astype("string").to_numpy(), sel["sheet"].astype("string").to_numpy()
    out["src_row"], out["src_heading"] = sel["row"].astype("string").to_numpy(), sel["column"].astype("string").to_numpy()
    out["src_raw"], out["src_variables"] = sel["value"].astype("string").to_numpy(), pd.NA
    return out


@register("variable_and_dataset")
def variable_and_dataset(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.DataFrame:
    """A variable used while another dataset is present (`dataset_is: present`: EXVAMT beside EC) or absent
    (`dataset_is: absent`: MIDS without TM): one finding, on the variable."""
    need(df, p["variable"])
    if (p["dataset"] in study.datasets) != (p["dataset_is"] == "present"):
        return pd.DataFrame()
    return _dataset_finding(rule, name, p["variable"], None, rule.message)


# MedDRA hierarchy variables are sized by the dictionary, not the study's data: SD1082 leaves them out, as P21 does
DICTIONARY_SIZED = ("LLT", "HLT", "HLGT", "SOC")


def _declared_lengths(study: Study, name: str) -> dict[str, int]:
    """Declared lengths of a dataset's character variables, as its file carries them (XPT); CSV has none."""
    ds = study.datasets[name]
    return {c.name: c.length for c in ds.columns if c.type == "Char" and c.length and c.name in ds.frame.columns}


def _longest(values: pd.Series) -> int:
    """The byte length of a text column's longest value (UTF-8), 0 when it has none."""
    from ..frames import byte_lengths

    arrow = _arrow_text(values)
    if arrow is not None:           # the longest UTF-8 value straight from Arrow
        import pyarrow.compute as pc

        return int(pc.max(pc.binary_length(arrow)).as_py() or 0)
    most = byte_lengths(values).max() if len(values) else 0
    return 0 if pd.isna(most) else int(most)


@register("length_excess")
def length_excess(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.DataFrame:
    """SD1082: character variables declared longer than their longest value (bytes) in the domain: a split
    dataset's (SDTMIG 4.1.7) length is the domain's longest, so its siblings' values count. As Pinnacle 21 reads
    it, a variable empty in every record (SD1149's business), ISO 8601 --DTC variables (room for a full
    date-time) and MedDRA hierarchy names are left out."""
    declared = _declared_lengths(study, name)
    if not declared:
        raise NotApplicable(name)
    others = [n for n in study.siblings(name) if n != name]
    parts = []
    for var, length in declared.items():
        if var.endswith(DICTIONARY_SIZED) or var.endswith("DTC") or not study.cached(name, df, var, "notna", present).any():
            continue
        longest = max([_longest(df[var])] + [_longest(study.frame(n)[var]) for n in others
                                             if var in study.frame(n).columns])
        if length > max(longest, 1):
            msg = rule.message.replace("{variable}", var) + f" (declared {length}, longest value {longest})"
            parts.append(_dataset_finding(rule, name, var, str(length - max(longest, 1)), msg))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


@operator("dimensionless")
def dimensionless(df: pd.DataFrame, cond: dict, study: Study, name: str) -> pd.Series:
    """Records whose test code (`var`, --TESTCD) is a test without unit by its CT definition (pH, specific
    gravity, INR)."""
    from ..metadata import dimensionless_tests

    return as_text(df[cond["var"]]).isin(dimensionless_tests()).fillna(False).astype(bool)


@register("format_deviations")
def format_deviations(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.DataFrame:
    """FMT-DSJ-01: where the dataset's file departs from its format's specification but was read all the same
    (a Dataset-JSON header field against the v1.1 schema), one finding per departure, with where and the value."""
    found = study.datasets[name].deviations
    if not found:
        return pd.DataFrame()
    return pd.concat([_dataset_finding(rule, name, "", d.get("value"), d["message"]) for d in found],
                     ignore_index=True)


@register("split_lengths")
def split_lengths(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.DataFrame:
    """SD1116: a variable whose declared length differs between the split datasets of one domain."""
    dom = study.domain(name)
    if dom is None or dom == name:
        raise NotApplicable(name)
    mine = _declared_lengths(study, name)
    siblings = [n for n in study.datasets if n != name and study.kind(n) == "SDTM" and study.domain(n) == dom]
    if not mine or not siblings:
        raise NotApplicable(name)
    parts = []
    for var, length in mine.items():
        others = {_declared_lengths(study, n).get(var) for n in siblings} - {None}
        if others and others != {length}:
            msg = rule.message.replace("{variable}", var) + f" ({length} here, {sorted(others)} in the other {dom} datasets)"
            parts.append(_dataset_finding(rule, name, var, str(length), msg))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
