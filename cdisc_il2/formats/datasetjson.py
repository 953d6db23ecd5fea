"""CDISC Dataset-JSON v1.1 reading (JSON and NDJSON); NDJSON rows are streamed line by line."""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from ..frames import distinct_text
from .model import ColumnMeta, Dataset

SAS_EPOCH = pd.Timestamp("1960-01-01")
NUMERIC_TYPES = {"integer", "float", "double", "decimal"}
LINE_FORMATS = {".ndjson", ".dsjc"}        # metadata line, then one line per row (.dsjc compressed)
MAX_EXPANDED_BYTES = 4 * 1024 ** 3         # a compressed dataset may not inflate beyond this
_CHUNK = 1 << 20


def _lines(path: Path):
    """Text lines of an NDJSON file, or of a compressed one (.dsjc: the zlib stream the CDISC specification
    names, or the gzip stream published examples use), decompressed in bounded chunks."""
    if path.suffix.lower() != ".dsjc":
        with open(path, encoding="utf-8") as fh:
            yield from fh
        return
    import zlib

    inflate = zlib.decompressobj(wbits=47)      # 32 + 15: zlib or gzip header, detected
    expanded, pending = 0, b""
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(_CHUNK)
            try:
                data = inflate.decompress(chunk, _CHUNK * 64) if chunk else inflate.flush()
                while inflate.unconsumed_tail:
                    data += inflate.decompress(inflate.unconsumed_tail, _CHUNK * 64)
                    if len(data) > MAX_EXPANDED_BYTES:
                        break
            except zlib.error as exc:
                raise InputError(f"{path.name}: not a zlib or gzip compressed Dataset-JSON file ({exc})") from None
            expanded += len(data)
            if expanded > MAX_EXPANDED_BYTES:
                raise InputError(f"{path.name}: expands beyond {MAX_EXPANDED_BYTES // 1024 ** 3} GiB; refused "
                                 "(limit MAX_EXPANDED_BYTES)")
            pending += data
            *whole, pending = pending.split(b"\n")
            for line in whole:
                yield line.decode("utf-8") + "\n"
            if not chunk:
                break
    if pending.strip():
        yield pending.decode("utf-8")


def _frame(columns: list[dict], rows, path: Path | None = None) -> pd.DataFrame:
    """Rows (lists) to a frame typed by the Dataset-JSON column metadata; a value its column's type cannot hold
    (text in a number, an object anywhere) is an InputError naming the row and column, never silently missing."""
    names = [c["name"] for c in columns]
    df = pd.DataFrame(list(rows), columns=names, dtype="object")
    where = path.name if path else "Dataset-JSON"
    for c in columns:
        col = df[c["name"]]
        dtype = c.get("dataType", "string")
        target = c.get("targetDataType")
        if pd.api.types.infer_dtype(col, skipna=True) in ("mixed", "unknown-array"):
            nested = col.map(lambda v: isinstance(v, (dict, list))).to_numpy()
            if nested.any():
                at = int(nested.argmax())
                raise InputError(f"{where}: row {at + 1}, column {c['name']}: a JSON "
                                 f"{'object' if isinstance(col.iloc[at], dict) else 'array'} is not a value")
        first = col.first_valid_index() if dtype == "decimal" else None
        if first is not None and isinstance(col.at[first], str):
            # Dataset-JSON exchanges decimals as strings to keep them exact: keep the text (rules compare it
            # as a number), never a rounded binary float
            text = col.astype("string")
            df[c["name"]] = text.mask(text == "")
        elif dtype in NUMERIC_TYPES:
            num = pd.to_numeric(col, errors="coerce").astype("float64")
            _lost(where, c, col, num, "a number")
            df[c["name"]] = num
        elif dtype in ("date", "datetime") and target == "integer":
            # a SAS numeric date/datetime exchanged as ISO 8601 text: back to days/seconds since 1960
            ts = pd.to_datetime(col.replace("", None), errors="coerce", format="ISO8601")
            delta = ts - SAS_EPOCH
            scale = 86400.0 if dtype == "date" else 1.0
            num = (delta.dt.total_seconds() / scale).astype("float64")
            _lost(where, c, col, num, f"an ISO 8601 {dtype}")
            df[c["name"]] = num
        elif dtype == "boolean":
            df[c["name"]] = col.map({True: "true", False: "false"}).astype("string")
        else:
            text = col.astype("string")
            df[c["name"]] = text.mask(text == "")
    return df


def _lost(where: str, column: dict, raw: pd.Series, converted: pd.Series, what: str) -> None:
    """A value present in the file but missing after conversion: the first one, as an InputError."""
    lost = converted.isna().to_numpy().copy()
    if lost.any():                       # only the values that came out missing are looked at again
        cand = raw[lost]
        lost[lost] = (cand.notna() & (cand.astype("string") != "").fillna(False)).to_numpy()
    if lost.any():
        at = int(lost.argmax())
        raise InputError(f"{where}: row {at + 1}, column {column['name']}: {raw.iloc[at]!r} is not {what} "
                         f"(dataType {column.get('dataType')})")


def _meta(columns: list[dict]) -> list[ColumnMeta]:
    out = []
    for c in columns:
        dtype = c.get("dataType", "string")
        num = dtype in NUMERIC_TYPES or (dtype in ("date", "datetime", "time") and c.get("targetDataType") == "integer")
        out.append(ColumnMeta(c["name"], c.get("label"), "Num" if num else "Char", c.get("length"),
                              c.get("displayFormat"), dtype))
    return out


def _ijson_error() -> type:
    import ijson

    return ijson.JSONError


_DATETIME = (r"^([0-9][0-9][0-9][0-9])(-(([0][1-9])|([1][0-2])))(-(([0][1-9])|([1-2][0-9])|([3][0-1])))T(([0-1][0-9])|"
             r"([2][0-3])):([0-5][0-9])(:([0-5][0-9]))((\.[0-9]+))?((((\+|-)(([0-1][0-9])|([2][0-3])):[0-5][0-9])|(Z)))?$")
# The metadata part of the official Dataset-JSON v1.1 schema (dataset.schema.json of the CDISC dataset-json
# repository; tests check this copy against it): every key but the rows, which are checked row by row below.
HEADER_SCHEMA: dict = {
    "$schema": "https://json-schema.org/draft/2019-09/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["datasetJSONCreationDateTime", "datasetJSONVersion", "itemGroupOID", "records", "name", "label",
                 "columns"],
    "properties": {
        "datasetJSONCreationDateTime": {"type": "string", "pattern": _DATETIME},
        "datasetJSONVersion": {"type": "string", "pattern": r"^1.1(.(0|([1-9][0-9]*)))?$"},
        "dbLastModifiedDateTime": {"type": "string", "pattern": _DATETIME},
        "fileOID": {"type": "string"}, "itemGroupOID": {"type": "string"}, "label": {"type": "string"},
        "metaDataRef": {"type": "string"}, "metaDataVersionOID": {"type": "string"}, "name": {"type": "string"},
        "originator": {"type": "string"}, "records": {"type": "integer", "minimum": 0},
        "rows": {"type": "array", "items": {"type": "array"}},
        "sourceSystem": {"type": "object", "additionalProperties": False, "required": ["name", "version"],
                         "properties": {"name": {"type": "string"}, "version": {"type": "string"}}},
        "studyOID": {"type": "string"},
        "columns": {"type": "array", "items": {
            "type": "object", "additionalProperties": False, "required": ["itemOID", "name", "label", "dataType"],
            "properties": {
                "itemOID": {"type": "string"}, "name": {"type": "string"}, "label": {"type": "string"},
                "dataType": {"enum": ["string", "integer", "decimal", "float", "double", "boolean", "datetime",
                                      "date", "time", "URI"]},
                "targetDataType": {"enum": ["integer", "decimal"]},
                "length": {"type": "integer", "minimum": 1}, "displayFormat": {"type": "string"},
                "keySequence": {"type": "integer", "minimum": 1}}}},
    },
}


def _schema_path(parts) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else str(p)) for i, p in enumerate(parts)) or "(top)"


def _check_header(path: Path, meta: object) -> list[dict]:
    """The metadata against the Dataset-JSON v1.1 schema. What stops the rows being read (no columns, a column
    without a name, a name twice) is an InputError; every other departure (a datetime without seconds, a missing
    or unknown attribute, an unknown dataType, read as text) is returned as a deviation: where, value, message."""
    import jsonschema

    if not isinstance(meta, dict) or "columns" not in meta or "name" not in meta:
        raise InputError(f"{path.name}: not Dataset-JSON: 'columns' or 'name' is missing")
    columns = meta["columns"]
    if not isinstance(columns, list) or not all(isinstance(c, dict) and isinstance(c.get("name"), str) for c in columns):
        raise InputError(f"{path.name}: not valid Dataset-JSON v1.1: 'columns' must be a list of objects, each "
                         "with a 'name'")
    if not isinstance(meta["name"], str):
        raise InputError(f"{path.name}: not valid Dataset-JSON v1.1: 'name' must be text, not {meta['name']!r}")
    names = [c["name"] for c in columns]
    twice = next((n for n in names if names.count(n) > 1), None)
    if twice:
        raise InputError(f"{path.name}: not valid Dataset-JSON v1.1: column '{twice}' is declared twice")
    validator = jsonschema.Draft201909Validator(HEADER_SCHEMA)
    errors = sorted(validator.iter_errors(meta), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path)),
                                                                e.message))
    out = []
    for err in errors:
        value = err.instance if not isinstance(err.instance, (dict, list)) else None
        what = err.message
        if err.validator == "pattern" and err.validator_value == _DATETIME:
            what = (f"{value!r} is not an ISO 8601 date-time with seconds "
                    "(YYYY-MM-DDThh:mm:ss, optional fraction and offset)")
        out.append({"where": _schema_path(err.absolute_path), "value": None if value is None else str(value),
                    "message": f"not valid Dataset-JSON v1.1: at {_schema_path(err.absolute_path)}: {what}"})
    return out


def _check_rows(path: Path, meta: dict, rows: list, first_line: int | None) -> None:
    """Each row a list of one value per column, and as many rows as the header's `records` says."""
    width = len(meta["columns"])
    bad = next((i for i, r in enumerate(rows) if not isinstance(r, list) or len(r) != width), None)
    if bad is not None:
        where = f"row {bad + 1}" + (f" (line {bad + first_line})" if first_line else "")
        row = rows[bad]
        got = f"has {len(row)} values" if isinstance(row, list) else f"is a {type(row).__name__}, not a list"
        raise InputError(f"{path.name}: {where} {got}, the columns say {width}")
    if isinstance(meta.get("records"), int) and meta["records"] != len(rows):
        raise InputError(f"{path.name}: the header says {meta['records']} records but the file holds {len(rows)} "
                         "rows (cut short, or records not updated)")


def read_dataset_json(path: Path) -> Dataset:
    """Read a Dataset-JSON v1.1 file (.json, .ndjson or compressed .dsjc) into a Dataset, streaming the rows."""
    # the metadata is checked against the v1.1 schema, each row against the columns, the row count against
    # `records`, typed columns against their values: each problem an InputError naming file, row (line) or column
    path = Path(path)
    try:
        if path.suffix.lower() in LINE_FORMATS:
            (meta, rows), first_line = _read_lines(path), 2
        else:
            import ijson

            meta, rows, first_line = {}, [], None
            with open(path, "rb") as fh:      # one streaming pass: header keys in any order, rows parsed once
                for key, value in ijson.kvitems(fh, "", use_float=True):
                    if key == "rows":
                        rows = value
                    else:
                        meta[key] = value
        deviations = _check_header(path, meta)
        _check_rows(path, meta, rows, first_line)
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError, OSError, _ijson_error()) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"{path.name}: not valid Dataset-JSON ({exc})") from None
    frame = _frame(meta["columns"], rows, path)
    return Dataset(meta["name"].upper(), meta.get("label"), frame, _meta(meta["columns"]), path,
                   meta.get("datasetJSONCreationDateTime"), deviations)


def _read_lines(path: Path) -> tuple[dict, list]:
    """Metadata and rows of an NDJSON (or compressed) file; a line that is not JSON is named by its number."""
    lines = _lines(path)
    rows = []
    number = 0
    try:
        for number, line in enumerate(lines, start=1):
            if number == 1:
                meta = json.loads(line)
            elif line.strip():
                rows.append(json.loads(line))
    except json.JSONDecodeError as exc:
        raise InputError(f"{path.name}: line {number} is not valid JSON ({exc.msg} at column {exc.colno})") from None
    if number == 0:
        raise InputError(f"{path.name}: empty file: Dataset-JSON needs a metadata line")
    return meta, rows


def iter_rows(path: Path):
    """Stream the rows of a Dataset-JSON file one at a time (JSON via ijson, NDJSON line by line)."""
    path = Path(path)
    if path.suffix.lower() in LINE_FORMATS:
        lines = _lines(path)
        next(lines, None)
        for line in lines:
            if line.strip():
                yield json.loads(line)
    else:
        import ijson

        with open(path, "rb") as fh:
            yield from ijson.items(fh, "rows.item", use_float=True)


def read_header(path: Path, keys: frozenset[str] | None = None) -> dict:
    """The metadata part of a Dataset-JSON file (everything but the rows), the rows never built; with `keys`,
    only those, reading stops once they are all read (the manifest's record count needs only 'records')."""
    path = Path(path)
    if path.suffix.lower() in LINE_FORMATS:
        first = json.loads(next(_lines(path), "") or "{}")
        return first if keys is None else {k: v for k, v in first.items() if k in keys}
    import ijson

    meta: dict = {}
    key, builder = None, None
    with open(path, "rb") as fh:
        for prefix, event, value in ijson.parse(fh, use_float=True):
            if prefix == "" and event in ("map_key", "end_map"):
                if builder is not None:
                    meta[key] = builder.value
                    if keys is not None and keys <= meta.keys():
                        break
                if event == "end_map":
                    break
                key = value
                builder = None if value == "rows" or (keys is not None and value not in keys) else ijson.ObjectBuilder()
            elif builder is not None:
                builder.event(event, value)
    return meta


# ------------------------------------------------------------------ writing

JSON_TYPES = {"text": "string", "integer": "integer", "float": "float", "double": "double", "date": "date",
              "datetime": "datetime", "time": "time", "partialDate": "string", "partialDatetime": "string",
              "durationDatetime": "string", "incompleteDatetime": "string"}


def column_definitions(ds: Dataset, item_meta: dict[str, dict] | None = None) -> list[dict]:
    """Dataset-JSON column metadata: from Define-XML item metadata when given, else from the data."""
    cols = []
    for c in ds.columns or [ColumnMeta(n) for n in ds.frame.columns]:
        m = (item_meta or {}).get(c.name, {})
        col = {"itemOID": m.get("itemOID", f"IT.{ds.name}.{c.name}"), "name": c.name,
               "label": m.get("label") or c.label or c.name}
        dtype = m.get("dataType") or _infer_type(ds.frame[c.name], c)
        fmt = m.get("displayFormat") or c.display_format
        if dtype == "integer" and fmt and fmt.upper().startswith(("DATE", "E8601DA", "YYMMDD", "DDMMYY", "MMDDYY")):
            col.update({"dataType": "date", "targetDataType": "integer", "displayFormat": fmt})
        elif dtype == "integer" and fmt and fmt.upper().startswith(("DATETIME", "E8601DT")):
            col.update({"dataType": "datetime", "targetDataType": "integer", "displayFormat": fmt})
        else:
            col["dataType"] = dtype
            if dtype == "string":
                col["length"] = m.get("length") or c.length or _max_len(ds.frame[c.name])
        if m.get("keySequence"):
            col["keySequence"] = m["keySequence"]
        cols.append(col)
    return cols


def _max_len(values: pd.Series) -> int:
    """The longest value's length in characters (each distinct value measured once), at least 1."""
    lengths = distinct_text(values).str.len()
    return int(max(1, lengths.max())) if lengths.notna().any() else 1


def _infer_type(values: pd.Series, meta: ColumnMeta) -> str:
    """dataType for a column without Define-XML: integer/float for numbers, date/datetime for --DTC."""
    if meta.type == "Num" or pd.api.types.is_numeric_dtype(values):
        num = pd.Series(pd.to_numeric(values, errors="coerce").dropna().unique())
        # integers only where every value is one JSON readers keep exactly (|v| <= 2**53)
        return "integer" if (((num % 1) == 0) & (num.abs() <= 2 ** 53)).all() else "float"
    if meta.name.endswith("DTC"):
        text = distinct_text(values).dropna()
        if len(text) and text.str.fullmatch(r"\d{4}-\d{2}-\d{2}").all():
            return "date"
        if len(text) and text.str.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?").all():
            return "datetime"
    return "string"


def value_frame(frame: pd.DataFrame, columns: list[dict]) -> pd.DataFrame:
    """Columns in Dataset-JSON value form, the same for the JSON and the NDJSON file of a dataset: text '' for
    missing character values, null for numbers and dates."""
    out = {}
    for col in columns:
        s = frame[col["name"]]
        kind, target = col["dataType"], col.get("targetDataType")
        if target == "integer":
            ts = SAS_EPOCH + pd.to_timedelta(pd.to_numeric(s, errors="coerce"), unit="D" if kind == "date" else "s")
            fmt = "%Y-%m-%d" if kind == "date" else "%Y-%m-%dT%H:%M:%S"
            out[col["name"]] = ts.dt.strftime(fmt).astype("string")
        elif kind == "integer":
            num = pd.to_numeric(s, errors="coerce")
            fits = ((num.abs() < 2 ** 63) | num.isna()).all()    # declared integer beyond int64: kept as a float
            out[col["name"]] = num.round().astype("Int64") if fits else num.astype("float64")
        elif kind in ("float", "double", "decimal"):
            out[col["name"]] = pd.to_numeric(s, errors="coerce").astype("float64")
        else:
            out[col["name"]] = s.astype("string").fillna("")
    return pd.DataFrame(out, index=frame.index)


# text holding either of these characters once made the rows go through Python's JSON encoder when a float needed
# its exact text (pandas' writer carried those floats as marked text); the files keep that encoding
_OPEN, _CLOSE = "\x00", "\x01"


def _lossy(values: np.ndarray) -> np.ndarray:
    """Floats pandas' JSON writer may not write exactly: every one with a fraction, and those from 1e15 on (it
    keeps 15 decimal places, and not always the right last one: 1.2345678e-15 became 1e-15, 1.0000000000000002
    became 1.0); whole numbers below 1e15 it writes exactly."""
    with np.errstate(invalid="ignore"):
        return np.isfinite(values) & ((values != np.trunc(values)) | (np.abs(values) >= 1e15))


JSON_CHUNK = 65_536       # rows turned into JSON text and written at a time


def _json_rows(cells: pd.DataFrame) -> Iterator[bytes]:
    """The rows as one JSON array, a chunk of rows at a time: each column's values as pandas' C writer writes them
    (once per distinct value, _pandas_texts), every float exactly: the few it would round are written as the
    shortest text that reads back to the same double (tests/test_fuzz.py holds it to that). The rows are joined
    by Arrow (io.joined_lines), as NDJSON lines are."""
    from ..io import joined_lines

    if not len(cells):
        yield b"[]"
        return
    distinct = _distinct(cells)
    lossy = any(_lossy(v.to_numpy(dtype="float64")).any() for _, v in distinct if v.dtype == "float64")
    marked = lossy and any(_holds(v.astype("string"), (_OPEN, _CLOSE)) for _, v in distinct
                           if v.dtype == object or isinstance(v.dtype, pd.StringDtype))
    enc = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
    fields = [(_encoder_texts(values, enc) if marked else _pandas_texts(values), codes) for codes, values in distinct]
    yield b"["
    for i, lines in enumerate(joined_lines(fields, len(cells), "[", "]", between=",", chunk=JSON_CHUNK)):
        yield (b"," if i else b"") + lines[:-1]
    yield b"]"


def _distinct(cells: pd.DataFrame) -> list[tuple[np.ndarray, pd.Series]]:
    """Each column as (a code per row, -1 for a missing value; its distinct values, in order of first record),
    floats told apart by bit pattern (-0.0 stays -0.0, NaN is a value written as null)."""
    out = []
    for c in cells.columns:
        values = cells[c]
        if values.dtype == "float64":
            codes, uniques = pd.factorize(values.to_numpy(dtype="float64").view("int64"), use_na_sentinel=True)
            out.append((codes, pd.Series(uniques.view("float64"), dtype="float64")))
        else:
            codes, uniques = pd.factorize(values, use_na_sentinel=True)
            out.append((codes, pd.Series(uniques.array)))
    return out


def _pandas_texts(values: pd.Series) -> np.ndarray:
    """Each value as pandas' JSON writer writes it in a frame (to_json, 15 decimal places), the floats it would
    round as their shortest exact text (Arrow's), then 'null' for a missing value (as _encoder_texts)."""
    import pyarrow as pa

    # one value per line: a line feed inside a value is written escaped, so the lines split cleanly
    lines = values.to_frame("v").to_json(orient="records", lines=True, double_precision=15, force_ascii=False)
    texts = np.array([line[5:-1] for line in lines.split("\n")[:len(values)]], dtype=object)
    if values.dtype == "float64":
        exact = _lossy(values.to_numpy(dtype="float64"))
        if exact.any():
            texts[exact] = pa.array(values.to_numpy(dtype="float64")[exact]).cast(pa.string()).to_numpy(
                zero_copy_only=False)
    return np.append(texts, "null")


def _holds(text: pd.Series, marks: tuple[str, ...]) -> bool:
    """Whether any value holds any of the characters `marks` (literal substring searches, no regex)."""
    return any(text.str.contains(m, regex=False).any() for m in marks)


def _rows_of(cells: pd.DataFrame) -> list[tuple]:
    """Row values as Python tuples (JSON arrays), missing values None."""
    cols = [_values_of(cells[c]) for c in cells.columns]
    return list(zip(*cols)) if cols else []


def _values_of(values: pd.Series) -> list:
    """A column's values as a Python list, missing values None (no masking pass when none is missing)."""
    if values.hasnans:
        return values.astype(object).where(values.notna(), None).tolist()
    return values.astype(object).tolist()


def _ndjson_fields(cells: pd.DataFrame, enc: json.JSONEncoder) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each column's values as the JSON text `enc` writes of them, once per distinct value (_distinct): (the
    texts, then 'null'; a code per row into them), for io.joined_lines."""
    return [(_encoder_texts(values, enc), codes) for codes, values in _distinct(cells)]


def _encoder_texts(values: pd.Series, enc: json.JSONEncoder) -> np.ndarray:
    """Each value as the JSON text `enc` writes of it (NaN and NA as null), then 'null' for a missing value."""
    return np.array([enc.encode(v) for v in _values_of(values)] + ["null"], dtype=object)


def write_dataset_json(ds: Dataset, path: Path, header: dict, item_meta: dict[str, dict] | None = None,
                       ndjson: bool = False, columns: list[dict] | None = None,
                       values: pd.DataFrame | None = None) -> None:
    """Write Dataset-JSON v1.1 (JSON, or NDJSON: metadata line then one line per row) atomically; `columns`,
    column_definitions(ds, item_meta), and `values`, value_frame(ds.frame, columns), already computed (for the
    other file of the dataset) spare computing them again."""
    from ..io import joined_lines, write_with

    columns = columns if columns is not None else column_definitions(ds, item_meta)
    cells = values if values is not None else value_frame(ds.frame, columns)
    meta = {"datasetJSONCreationDateTime": header["created"], "datasetJSONVersion": "1.1.0",
            "fileOID": f"{header['fileOID']}/{ds.name.lower()}", "dbLastModifiedDateTime": header["modified"],
            "originator": header.get("originator", "cdisc-il2"),
            "sourceSystem": {"name": "cdisc-il2", "version": header["version"]},
            "studyOID": header["studyOID"], "metaDataVersionOID": header["metaDataVersionOID"],
            "metaDataRef": header.get("metaDataRef", "define.xml"), "itemGroupOID": f"IG.{ds.name}",
            "records": int(len(ds.frame)), "name": ds.name, "label": ds.label or ds.name, "columns": columns}
    def dump(fh) -> None:
        enc = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
        if ndjson:
            fh.write((enc.encode(meta) + "\n").encode("utf-8"))
            for lines in joined_lines(_ndjson_fields(cells, enc), len(cells), "[", "]"):   # a chunk per write
                fh.write(lines)
        else:
            fh.write((enc.encode(meta)[:-1] + ',"rows":').encode("utf-8"))
            for text in _json_rows(cells):
                fh.write(text)
            fh.write(b"}\n")

    write_with(path, dump)


__all__ = ["read_dataset_json", "write_dataset_json", "iter_rows", "read_header", "column_definitions"]
