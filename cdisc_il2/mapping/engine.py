"""Execute one block of a mapping spec on one raw sheet, column-wise: records, rejects, accountability."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from ..dates import DEFAULT_PATTERNS, parse_dates
from ..errors import SpecError
from ..ingest import ROW, RawSheet, block_columns, normalize_heading
from ..metadata import codelist, dictionary, normalize, normalize_series
from .spec import Spec

SRC_FILE, SRC_SHEET, SRC_ROW, SRC_COLUMN = "__file__", "__sheet__", "__row__", "__column__"
SUPP_COL = "SUPP:"
DERIVE_COL = "DERIVE:"
# Per collected variable and record, the raw cell it was read from ("file\x1fsheet\x1frow\x1fheading") and the
# cell's text: what a site query names (trace_cells.csv); a constant, template or derived value has none.
CELL_COL = "CELL:"
RAW_COL = "RAW:"
CELL_SEP = "\x1f"
REJECT_COLUMNS = ["file", "sheet", "row", "column", "value", "reason", "disposition", "spec", "block", "domain"]
ROW_REJECTED = "row rejected"
VALUE_KEPT = "value kept as collected"
VALUE_BLANKED = "value left empty"
DUPLICATE_REJECTED = "row rejected (subject already in DM)"


@dataclass
class BlockResult:
    """What one block produced: records (SDTM variables + provenance), rejects, and row counts."""

    domain: str
    records: pd.DataFrame
    rejects: pd.DataFrame
    accountability: dict


def _resolve(spec: Spec, where: str, heading: str | list[str], sheet: RawSheet, extra: set[str]) -> str:
    """The sheet's real column for a spec heading (case and spacing ignored); with a list of headings a site
    has used, the first one the sheet has."""
    headings = [heading] if isinstance(heading, str) else list(heading)
    for h in headings:
        if h in extra:
            return h
    present = {col.casefold(): col for col in sheet.frame.columns if col != ROW}
    for h in headings:
        hit = present.get(normalize_heading(h).casefold())
        if hit is not None:
            return hit
    cols = ", ".join(c for c in sheet.frame.columns if c != ROW)
    wanted = " or ".join(f"'{h}'" for h in headings)
    read = set().union(*(block_columns(b) for b in spec.doc["blocks"] if b["sheet"].casefold() == sheet.sheet.casefold()))
    new = [c for c in present.values() if c.casefold() not in read]
    hint = f"; headings no block of the spec reads: {', '.join(new)}" if new else ""
    raise SpecError(spec.name, where, f"no column {wanted} in sheet '{sheet.sheet}' of {sheet.file} (columns: {cols}"
                                      f"{hint})")


class Issues:
    """Collects raw problems as frames in the rejects.csv layout, without a loop over rows.

    File, sheet and row come from each record's provenance columns; spec, block and domain from the
    context given (a record's DOMAIN when the context has none)."""

    def __init__(self, spec: str = "", block: str = "assembly", domain: str = "") -> None:
        self.parts: list[pd.DataFrame] = []
        self.ctx = {"spec": spec, "block": block, "domain": domain}

    def add(self, frame: pd.DataFrame, mask: pd.Series, column: pd.Series | str, values: pd.Series,
            reason: pd.Series | str, disposition: str = VALUE_KEPT) -> None:
        """Record one problem for each row of `frame` where `mask` holds."""
        if not mask.any():
            return
        sel = frame[mask]
        part = pd.DataFrame({
            "file": sel[SRC_FILE], "sheet": sel[SRC_SHEET], "row": sel[SRC_ROW].astype("Int64"),
            "column": column[mask] if isinstance(column, pd.Series) else column,
            "value": values[mask].astype("string"),
            "reason": reason[mask] if isinstance(reason, pd.Series) else reason,
            "disposition": disposition, "spec": self.ctx["spec"], "block": self.ctx["block"],
            "domain": self.ctx["domain"] or sel.get("DOMAIN", ""),
        })
        self.parts.append(part[REJECT_COLUMNS])

    def frame(self) -> pd.DataFrame:
        """All problems recorded, or an empty frame with the rejects.csv columns."""
        if not self.parts:
            return _no_rejects().copy()
        return pd.concat(self.parts, ignore_index=True)


@lru_cache(maxsize=1)
def _no_rejects() -> pd.DataFrame:
    """An empty frame with the rejects.csv columns (text), built once; callers take a copy."""
    return pd.DataFrame({c: pd.Series(dtype="string") for c in REJECT_COLUMNS})


def run_block(spec: Spec, index: int, sheet: RawSheet) -> BlockResult:
    """Map one raw sheet with block `index` of `spec`."""
    block = spec.doc["blocks"][index]
    name = block.get("name", f"block {index + 1}")
    domain = block["domain"]
    bpath = f"blocks[{index}]"
    frame = sheet.frame.copy()
    frame[SRC_FILE] = sheet.file
    frame[SRC_SHEET] = sheet.sheet
    frame[SRC_ROW] = frame[ROW]
    frame[SRC_COLUMN] = pd.NA
    rows_read = len(frame)
    issues = Issues(spec.name, name, domain)
    rejected_rows: set[int] = set()

    if "filter" in block:
        flt = block["filter"]
        col = _resolve(spec, f"{bpath}.filter.column", flt["column"], sheet, set())
        keys = normalize_series(frame[col])
        if "in" in flt:
            keep = keys.isin([normalize(v) for v in flt["in"]])
        else:
            keep = ~keys.isin([normalize(v) for v in flt["not_in"]])
        keep = keep.fillna(False) if "in" in flt else keep.fillna(True)
        drop = ~keep
        issues.add(frame, drop, col, frame[col], flt.get("reason", "excluded by the spec's row filter"), ROW_REJECTED)
        rejected_rows.update(frame.loc[drop, SRC_ROW].tolist())
        frame = frame[keep]

    attributes: set[str] = set()
    if "unpivot" in block:
        frame, attributes, empty_rows = _unpivot(spec, bpath, block["unpivot"], frame, sheet)
        issues.add(empty_rows, pd.Series(True, index=empty_rows.index), "(unpivoted columns)",
                   pd.Series("", index=empty_rows.index), "no value in any unpivoted column", ROW_REJECTED)
        rejected_rows.update(empty_rows[SRC_ROW].tolist())

    out: dict[str, pd.Series] = {}          # the block's columns in order, made a frame once at the end
    reject = pd.Series(False, index=frame.index)
    synonyms = spec.doc.get("synonyms", {})
    styles = spec.doc.get("date_patterns", list(DEFAULT_PATTERNS))
    for section in ("variables", "supp"):
        for var, rule in block.get(section, {}).items():
            where = f"{bpath}.{section}.{var}"
            target = var if section == "variables" else SUPP_COL + var
            if "derive" in rule:
                out[target] = pd.Series(pd.NA, index=frame.index, dtype="string")
                out[DERIVE_COL + var] = _derive_request(rule, frame.index)
                continue
            value, raw, colname, bad, reason = _assign(rule, var, frame, out, sheet, attributes, synonyms, styles,
                                                      spec, where)
            if "not_done" in rule:
                value, bad, status, reasnd = _not_done(rule["not_done"], var, raw, value, bad, frame, sheet,
                                                       attributes, spec, where)
                out[_status_var(domain, "STAT")] = status
                if reasnd is not None:
                    out[_status_var(domain, "REASND")] = reasnd
            policy = rule.get("on_invalid", "blank" if ("number" in rule or "dictionary" in rule) else "keep")
            if bad.any():
                if policy == "reject" or rule.get("required"):
                    issues.add(frame, bad & ~reject, colname, raw, reason, ROW_REJECTED)
                    reject |= bad
                elif policy == "keep":
                    issues.add(frame, bad & ~reject, colname, raw, reason, VALUE_KEPT)
                    value = value.mask(bad, raw)
                else:
                    issues.add(frame, bad & ~reject, colname, raw, reason, VALUE_BLANKED)
            if rule.get("required"):
                missing = value.isna() & ~bad & ~reject
                issues.add(frame, missing, colname, raw, f"required value for {var} is missing", ROW_REJECTED)
                reject |= missing
            out[target] = value
            if section == "variables" and "dictionary" not in rule:      # a coded value is the sponsor's coding
                cell, text = cell_refs(frame, colname, raw)
                out[CELL_COL + var], out[RAW_COL + var] = cell, text
    for col in (SRC_FILE, SRC_SHEET, SRC_ROW, SRC_COLUMN):
        out[col] = frame[col]
    rejected_rows.update(out[SRC_ROW][reject].tolist())
    records = pd.DataFrame(out, index=frame.index)[~reject].reset_index(drop=True)
    mapped_rows = set(records[SRC_ROW].tolist())
    rejected_rows -= mapped_rows          # a wide row with one rejected cell but other records is mapped
    acc = {"file": sheet.file, "sheet": sheet.sheet, "spec": spec.name, "block": name, "domain": domain,
           "rows_read": rows_read, "rows_mapped": len(mapped_rows), "rows_rejected": len(rejected_rows),
           "records_out": len(records), "blank_rows_skipped": sheet.blank_rows}
    rejects = issues.frame()
    partial = rejects["disposition"].eq(ROW_REJECTED) & rejects["row"].isin(list(mapped_rows))
    rejects.loc[partial, "disposition"] = "record rejected (other records of the row mapped)"
    return BlockResult(domain, records, rejects, acc)


def cell_prefix(frame: pd.DataFrame) -> pd.Series:
    """Each record's file, sheet and row joined by CELL_SEP and ended by one: a cell reference without its heading."""
    return (frame[SRC_FILE].astype("string") + CELL_SEP + frame[SRC_SHEET].astype("string") + CELL_SEP
            + frame[SRC_ROW].astype("string") + CELL_SEP)


def cell_refs(frame: pd.DataFrame, heading: pd.Series, raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    """The raw cell of each record's value and its text, where the value was read from a column of the sheet (a
    constant or template has a heading in parentheses: none).

    A cell is named by its column heading alone: its file, sheet and row are the record's own (SRC_FILE,
    SRC_SHEET, SRC_ROW) until a merge moves the value to another record (full_cell_refs names them then); a
    heading that holds CELL_SEP is named in full at once, so that it cannot be taken for a whole reference."""
    codes, names = pd.factorize(heading, use_na_sentinel=True)
    if len(names) == 1 and (codes == 0).all() and isinstance(names[0], str):     # one heading for every record
        if names[0].startswith("("):
            none = pd.Series(pd.NA, index=frame.index, dtype="string")
            return none, none.copy()
        refs = pd.Series(names[0], index=frame.index, dtype="string")
        return (_named_in_full(frame, refs) if CELL_SEP in names[0] else refs), raw.astype("string").copy()
    head = heading.astype("string")
    collected = head.notna() & ~head.str.startswith("(").fillna(True)
    if not collected.any():             # a constant, template or derived value: no cell, no text
        none = pd.Series(pd.NA, index=frame.index, dtype="string")
        return none, none.copy()
    return _named_in_full(frame, head.where(collected)), raw.astype("string").where(collected)


def _own_row(refs: pd.Series) -> pd.Series:
    """Which references are a heading alone (the cell is in the record's own row)."""
    return (refs.notna() & ~refs.str.contains(CELL_SEP, regex=False).fillna(False)).astype(bool)


def _named_in_full(frame: pd.DataFrame, refs: pd.Series) -> pd.Series:
    """References whose heading holds CELL_SEP, named with their file, sheet and row."""
    sep = refs.str.contains(CELL_SEP, regex=False).fillna(False).astype(bool)
    return refs.mask(sep, cell_prefix(frame) + refs) if sep.any() else refs


def full_cell_refs(frame: pd.DataFrame, refs: pd.Series) -> pd.Series:
    """Cell references of `frame`'s records, each naming its file, sheet and row (a heading alone gets its
    record's): what a merge carries to another record, whose own row is another."""
    refs = refs.astype("string")
    own = _own_row(refs)
    return refs.mask(own, cell_prefix(frame) + refs) if own.any() else refs


def cell_places(frame: pd.DataFrame, refs: pd.Series) -> pd.DataFrame:
    """The file, sheet, row and heading of each record's cell reference (cell_refs, full_cell_refs): a heading
    alone is in the record's own file, sheet and row; a heading alone whose record lacks one of those names no
    cell (all four missing)."""
    refs = refs.astype("string")
    mine = _own_row(refs).to_numpy()
    places = pd.DataFrame({"file": frame[SRC_FILE].astype("string"), "sheet": frame[SRC_SHEET].astype("string"),
                           "row": frame[SRC_ROW].astype("Int64"), "heading": refs}, index=frame.index)
    named = mine & places[["file", "sheet", "row"]].notna().all(axis=1).to_numpy()
    if not named.all():
        places = places.mask(pd.Series(~named, index=places.index), pd.NA)
    full = refs.notna().to_numpy() & ~mine
    if full.any():
        bits = split_cell_refs(refs[full])
        for c in ("file", "sheet", "row", "heading"):
            places.loc[full, c] = bits[c]
    return places


# a cell reference's parts, each present when the text has that many separators (the heading keeps any further)
_CELL_PARTS = ("file", "sheet", "row", "heading")
_CELL_PATTERN = (f"(?s)^(?P<file>[^{CELL_SEP}]*)(?:{CELL_SEP}(?P<sheet>[^{CELL_SEP}]*)"
                 f"(?:{CELL_SEP}(?P<row>[^{CELL_SEP}]*)(?:{CELL_SEP}(?P<heading>.*))?)?)?$")


def split_cell_refs(ref: pd.Series) -> pd.DataFrame:
    """The parts of cell references made by cell_refs: file, sheet, row (a number) and heading, one row each.

    Split by Arrow's kernels (one regular expression over the column), not str.split: a trace has a reference per
    collected cell, millions at 1,000 subjects. A part the text lacks is missing, as is a row that is not digits."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pa.array(ref.astype("string"), type=pa.large_string())
    if isinstance(text, pa.ChunkedArray):           # a column concatenated from frames keeps their chunks
        text = text.combine_chunks()
    found, seps = pc.extract_regex(text, _CELL_PATTERN), pc.count_substring(text, CELL_SEP)
    parts = {name: pc.if_else(pc.greater_equal(seps, i), found.field(name), None)
             for i, name in enumerate(_CELL_PARTS)}
    row = pc.cast(pc.if_else(pc.match_substring_regex(parts["row"], "^[0-9]{1,18}$"), parts["row"], None), pa.int64())
    rows = pd.arrays.IntegerArray(pc.fill_null(row, 0).to_numpy(), pc.is_null(row).to_numpy(zero_copy_only=False))
    return pd.DataFrame({"file": pd.arrays.ArrowStringArray(parts["file"]),
                         "sheet": pd.arrays.ArrowStringArray(parts["sheet"]), "row": rows,
                         "heading": pd.arrays.ArrowStringArray(parts["heading"])}, index=ref.index)


def _unpivot(spec: Spec, bpath: str, pivot: dict, frame: pd.DataFrame, sheet: RawSheet):
    """Melt the declared wide columns into one record per non-empty cell, with their attributes."""
    heads = {h: _resolve(spec, f"{bpath}.unpivot.columns.{h}", h, sheet, set()) for h in pivot["columns"]}
    ids = [c for c in frame.columns if c not in heads.values() and c != SRC_COLUMN]
    long = _melt(frame, ids, list(heads.values()), SRC_COLUMN, pivot["value_column"])
    attrs = pd.DataFrame([{SRC_COLUMN: heads[h], **{k: str(v) for k, v in a.items()}}
                          for h, a in pivot["columns"].items()])
    attr_names = [c for c in attrs.columns if c != SRC_COLUMN]
    long = long.merge(attrs, on=SRC_COLUMN, how="left")
    for c in attr_names:
        long[c] = long[c].astype("string")
    has_value = long[pivot["value_column"]].notna()
    any_value = has_value.groupby(long[SRC_ROW]).transform("any")
    empty = long[~any_value].drop_duplicates(SRC_ROW)
    long = long[has_value].sort_values([SRC_ROW], kind="stable").reset_index(drop=True)
    return long, {pivot["value_column"], *attr_names}, empty


def _melt(frame: pd.DataFrame, ids: list[str], value_vars: list[str], var_name: str, value_name: str) -> pd.DataFrame:
    """frame.melt(id_vars=ids, value_vars=value_vars, var_name=var_name, value_name=value_name), made with one take
    per column where the melted columns share one dtype (pandas' melt, column by column, otherwise)."""
    if not value_vars or not frame.columns.is_unique or len({frame[c].dtype for c in value_vars}) != 1 \
            or var_name in ids or value_name in ids or var_name == value_name:
        return frame.melt(id_vars=ids, value_vars=value_vars, var_name=var_name, value_name=value_name)
    n = len(frame)
    rows = np.tile(np.arange(n), len(value_vars))
    out = {c: pd.Series(frame[c].array.take(rows)) for c in ids}
    out[var_name] = pd.Series(pd.Index(value_vars, dtype=frame.columns.dtype).repeat(n))
    out[value_name] = pd.concat([frame[c] for c in value_vars], ignore_index=True)
    return pd.DataFrame(out)


def _template(template: str, out: Mapping[str, pd.Series], index: pd.Index) -> pd.Series:
    """Fill {VAR} placeholders from variables already assigned, column-wise."""
    import re

    pieces = re.split(r"(\{[A-Z][A-Z0-9]{0,7}\})", template)
    result = pd.Series("", index=index, dtype="string")
    for p in pieces:
        if p.startswith("{") and p.endswith("}"):
            result = result + out[p[1:-1]].astype("string")
        elif p:
            result = result + p
    return result


def _source(rule: dict, frame: pd.DataFrame, out: Mapping[str, pd.Series], sheet: RawSheet, attributes: set[str],
            spec: Spec, where: str) -> tuple[pd.Series, str | None]:
    """The raw text an assignment reads: a column of the sheet, a constant or a template; and the column's name."""
    if "column" in rule:
        raw_col = _resolve(spec, f"{where}.column", rule["column"], sheet, attributes)
        return frame[raw_col].astype("string"), raw_col
    if "value" in rule:
        return pd.Series(str(rule["value"]), index=frame.index, dtype="string"), None
    return _template(rule["template"], out, frame.index), None


def _assign(rule: dict, var: str, frame: pd.DataFrame, out: Mapping[str, pd.Series], sheet: RawSheet, attributes: set[str],
            synonyms: dict, styles, spec: Spec, where: str):
    """One assignment's value, its raw text and column, and which values are invalid (with the reason).

    Where the assignment gives no value, its `otherwise` assignment (if any) is used instead."""
    raw, raw_col = _source(rule, frame, out, sheet, attributes, spec, where)
    value, bad, reason = _transform(rule, raw, synonyms, styles, spec, where)
    colname = frame[SRC_COLUMN].fillna(raw_col) if raw_col in attributes else pd.Series(
        raw_col or f"({var})", index=frame.index, dtype="string")
    if "otherwise" in rule:
        alt, alt_raw, alt_col, alt_bad, alt_reason = _assign(rule["otherwise"], var, frame, out, sheet, attributes,
                                                             synonyms, styles, spec, f"{where}.otherwise")
        use = value.isna() & ~bad & (raw.isna() | raw.str.strip().eq(""))
        value = value.astype("object").mask(use, alt)
        raw = raw.mask(use, alt_raw)
        colname = colname.mask(use, alt_col)
        reason = reason.mask(use, alt_reason)
        bad = bad.mask(use, alt_bad)
    return value, raw, colname, bad, reason


def _status_var(domain: str, suffix: str) -> str:
    """--STAT / --REASND of a domain."""
    return f"{domain}{suffix}"


def _not_done(cfg: dict, var: str, raw: pd.Series, value: pd.Series, bad: pd.Series, frame: pd.DataFrame,
              sheet: RawSheet, attributes: set[str], spec: Spec, where: str):
    """A declared 'not done' spelling: the result left empty, --STAT = NOT DONE and --REASND when given."""
    spellings = {normalize(v) for v in cfg["values"]}
    nd = normalize_series(raw).isin(spellings).fillna(False)
    value = value.mask(nd)
    bad = bad & ~nd
    status = pd.Series(pd.NA, index=raw.index, dtype="string").mask(nd, "NOT DONE")
    reasnd = None
    if "reason" in cfg:
        text, _ = _source(cfg["reason"], frame, pd.DataFrame(index=frame.index), sheet, attributes, spec,
                          f"{where}.not_done.reason")
        reasnd = text.where(nd)
    return value, bad, status, reasnd


def _derive_request(rule: dict, index: pd.Index) -> pd.Series:
    """A derivation the assembly stage carries out (e.g. AGE from BRTHDTC), encoded per record."""
    request = rule["derive"]
    return pd.Series(f"{request}|{rule.get('reference', 'RFICDTC')}|{rule.get('partial_birth', 'empty')}",
                     index=index, dtype="string")


_TRANSFORMS = ("translate", "map", "codelist", "dictionary", "date", "number", "multiply")


def _transform(rule: dict, raw: pd.Series, synonyms: dict, styles, spec: Spec, where: str):
    """Apply map/codelist/dictionary/date/number/multiply; return (value, invalid mask, reason).

    Each value's result depends on that value alone: the steps run once per distinct raw text (NA included) and
    are spread back to the records."""
    if not any(k in rule for k in _TRANSFORMS):
        return raw.copy(), pd.Series(False, index=raw.index), pd.Series(pd.NA, index=raw.index, dtype="string")
    codes, uniques = pd.factorize(raw, use_na_sentinel=False)
    distinct = pd.Series(uniques, dtype=raw.dtype, name=raw.name)
    results = _transform_distinct(rule, distinct, synonyms, styles, spec, where)
    return tuple(pd.Series(r.array.take(codes), index=raw.index, name=r.name) for r in results)


def _replace_where(values: pd.Series, cond: pd.Series, other) -> pd.Series:
    """values.mask(cond, other), `other` a value, a Series or a function making it; no work where a plain boolean
    `cond` holds nowhere (a nullable one always takes the mask: an NA there replaces too)."""
    if cond.dtype == bool and not cond.to_numpy().any():
        return values
    return values.mask(cond, other() if callable(other) else other)


def _lookup(keys: pd.Series, table: Mapping) -> pd.Series:
    """keys.map(table).astype("string"), by one dict look-up per key (a text key, or NA: no entry)."""
    found = [table.get(k) for k in keys.to_numpy(dtype=object, na_value=None)]
    if not all(v is None or isinstance(v, str) for v in found):      # numbers: as pandas would render them
        return keys.map(table).astype("string")
    return pd.Series(found, index=keys.index, dtype=object, name=keys.name).astype("string")


def _transform_distinct(rule: dict, raw: pd.Series, synonyms: dict, styles, spec: Spec, where: str):
    """_transform's steps on a column: (value, invalid mask, reason)."""
    value = raw.copy()
    bad = pd.Series(False, index=raw.index)
    reason = pd.Series(pd.NA, index=raw.index, dtype="string")
    present = raw.notna()
    if "translate" in rule:
        table = {normalize(k): str(v) for k, v in spec.doc["translations"][rule["translate"]].items()}
        translated = _lookup(normalize_series(raw), table)
        untranslated = present & translated.isna() & ~raw.str.fullmatch(r"[\x00-\x7f]*").fillna(True)
        value = translated.fillna(raw)
        raw = value
        bad |= untranslated
        reason = _replace_where(reason, untranslated, f"no English translation in the spec's translations.{rule['translate']}")
    if "map" in rule:                 # a raw text mapped to null is known and gives no value (no reject)
        table = {normalize(k): (None if v is None else str(v)) for k, v in rule["map"].items()}
        keys = normalize_series(value)
        value = _lookup(keys, table)
        miss = present & ~keys.isin(set(table)).fillna(False).astype(bool)
        bad |= miss
        reason = _replace_where(reason, miss, "not in the spec's map (valid: " + ", ".join(map(str, rule["map"])) + ")")
    if "codelist" in rule:
        cl = codelist(rule["codelist"]).with_synonyms(synonyms.get(rule["codelist"], {}))
        source = value
        value = _lookup(normalize_series(source), cl.lookup)
        miss = source.notna() & value.isna()
        valid = ", ".join(sorted(cl.values)[:12]) + (" ..." if len(cl.values) > 12 else "")
        kind = "extensible" if cl.extensible else "non-extensible"
        bad |= miss
        reason = _replace_where(reason, miss, f"not a term of {kind} codelist {cl.name} (valid: {valid})")
    if "dictionary" in rule:
        d = dictionary(rule["dictionary"]["name"])
        field = rule["dictionary"]["field"]
        table = {k: v.get(field) for k, v in d["index"].items()}
        value = _lookup(normalize_series(value), table)
        miss = present & value.isna()
        bad |= miss
        reason = _replace_where(reason, miss, f"verbatim term not in dictionary {rule['dictionary']['name']}: add a synonym")
    if rule.get("date"):
        value, err = parse_dates(value, styles)
        bad |= err.notna()
        reason = _replace_where(reason, err.notna(), err)
    if rule.get("number") or "multiply" in rule:
        num, why = parse_numbers(value, bool(spec.doc.get("decimal_comma", False)))
        if "multiply" in rule:
            num = num * rule["multiply"]
            why = _replace_where(why, (num.notna() & ~(num.abs() < NUMBER_LIMIT)).fillna(False).astype(bool),
                                 OUT_OF_RANGE)
            if why.notna().any():
                num = num.mask(why.notna())
        miss = why.notna()
        bad |= miss
        reason = _replace_where(reason, miss, why)
        value = num
    return value, bad, reason


NUMBER_LIMIT = 7.2e75        # about the largest number SAS XPT v5 (IBM floating point) holds
OUT_OF_RANGE = "beyond the range of numbers SAS XPT v5 holds (about 7.2E+75)"
_PLAIN = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
_THOUSANDS_COMMA = r"[+-]?[0-9]{1,3}(?:,[0-9]{3})+\.[0-9]+|[+-]?[0-9]{1,3}(?:,[0-9]{3}){2,}"      # 1,234.5  1,234,567
_THOUSANDS_DOT = r"[+-]?[0-9]{1,3}(?:\.[0-9]{3})+,[0-9]+|[+-]?[0-9]{1,3}(?:\.[0-9]{3}){2,}"      # 1.234,5  1.234.567
_DECIMAL_COMMA = r"[+-]?[0-9]+,[0-9]+"                                                         # 0,85
_ONE_GROUP = r"[+-]?[1-9][0-9]{0,2}[.,][0-9]{3}"                  # 1,234 or 1.234: a separator or a decimal mark?
_LIMIT = r"(?:<|>|<=|>=|≤|≥)\s*" + _PLAIN


def parse_numbers(values: pd.Series, decimal_comma: bool = False) -> tuple[pd.Series, pd.Series]:
    """Raw number text to numbers, column-wise: (numbers, reason or NA for each value that is not one)."""
    # Accepted: plain numbers (12.5, -3, 1.5E3) and separators whose spelling says what they are: 1,234.5 and
    # 1,234,567 (thousands commas), 1.234,5 and 1.234.567 (thousands dots), 0,85 and 12,5 (decimal commas). One
    # separator before exactly three digits (1,234 or 1.234) could be either: it is the decimal mark when it is the
    # site's (a dot; a comma with the spec's decimal_comma), otherwise ambiguous and refused. NaN, infinities and
    # numbers beyond what SAS XPT v5 holds are refused; '<0.5' is a limit, not a number.
    text = values.astype("string").str.strip()
    text = text.mask(text == "")
    why = pd.Series(pd.NA, index=values.index, dtype="string")
    present = text.notna()
    if not present.any():
        return pd.to_numeric(text, errors="coerce"), why
    t = text[present]

    def full(pattern: str) -> pd.Series:
        return t.str.fullmatch(pattern).fillna(False).astype(bool)

    mark = "," if decimal_comma else "."
    one = full(_ONE_GROUP)
    canonical = _replace_where(t, one & t.str.contains(mark, regex=False).fillna(False),
                               lambda: t.str.replace(",", ".", regex=False))
    canonical = _replace_where(canonical, full(_THOUSANDS_COMMA), lambda: t.str.replace(",", "", regex=False))
    canonical = _replace_where(canonical, full(_THOUSANDS_DOT),
                               lambda: t.str.replace(".", "", regex=False).str.replace(",", ".", regex=False))
    canonical = _replace_where(canonical, full(_DECIMAL_COMMA) & ~one, lambda: t.str.replace(",", ".", regex=False))
    ambiguous = one & ~t.str.contains(mark, regex=False).fillna(False)
    ok = canonical.str.fullmatch(_PLAIN).fillna(False).astype(bool) & ~ambiguous
    num = pd.to_numeric(canonical.where(ok), errors="coerce").astype("float64")
    reason = pd.Series(pd.NA, index=t.index, dtype="string")
    reason = _replace_where(reason, ~ok, "not a number (valid: a number such as 12.5, -3, 1.5E3, 1,234.5 or 0,85)")
    reason = _replace_where(reason, full(_LIMIT), "a value reported against a limit (< or >), not a number")
    reason = _replace_where(reason, ambiguous, "ambiguous: one separator before three digits is a thousands "
                                               "separator or a decimal mark (1,234 is 1234 or 1.234): write the "
                                               "number without a thousands separator")
    huge = ok & num.notna() & ~(num.abs() < NUMBER_LIMIT)
    reason = _replace_where(reason, huge, OUT_OF_RANGE)
    keep = pd.Series(pd.NA, index=values.index, dtype="string")
    keep[t.index] = canonical.where(ok & ~huge)
    why[t.index] = reason
    return pd.to_numeric(keep, errors="coerce"), why      # nullable Int64/Float64, as pandas reads numbers
