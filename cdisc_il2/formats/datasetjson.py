"""CDISC Dataset-JSON v1.1 reading (JSON and NDJSON); NDJSON rows are streamed line by line."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ..errors import InputError
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


def _frame(columns: list[dict], rows) -> pd.DataFrame:
    """Rows (lists) to a frame typed by the Dataset-JSON column metadata."""
    names = [c["name"] for c in columns]
    df = pd.DataFrame(list(rows), columns=names, dtype="object")
    for c in columns:
        col = df[c["name"]]
        dtype = c.get("dataType", "string")
        target = c.get("targetDataType")
        present = col.dropna()
        if dtype == "decimal" and len(present) and isinstance(present.iloc[0], str):
            # Dataset-JSON exchanges decimals as strings to keep them exact: keep the text (rules compare it
            # as a number), never a rounded binary float
            text = col.astype("string")
            df[c["name"]] = text.mask(text == "")
        elif dtype in NUMERIC_TYPES:
            df[c["name"]] = pd.to_numeric(col, errors="coerce").astype("float64")
        elif dtype in ("date", "datetime") and target == "integer":
            # a SAS numeric date/datetime exchanged as ISO 8601 text: back to days/seconds since 1960
            ts = pd.to_datetime(col.replace("", None), errors="coerce", format="ISO8601")
            delta = ts - SAS_EPOCH
            scale = 86400.0 if dtype == "date" else 1.0
            df[c["name"]] = (delta.dt.total_seconds() / scale).astype("float64")
        elif dtype == "boolean":
            df[c["name"]] = col.map({True: "true", False: "false"}).astype("string")
        else:
            text = col.astype("string")
            df[c["name"]] = text.mask(text == "")
    return df


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


def read_dataset_json(path: Path) -> Dataset:
    """Read a Dataset-JSON v1.1 file (.json, .ndjson or compressed .dsjc) into a Dataset, streaming the rows."""
    path = Path(path)
    try:
        if path.suffix.lower() in LINE_FORMATS:
            meta, rows = read_header(path), list(iter_rows(path))
        else:
            import ijson

            meta, rows = {}, []
            with open(path, "rb") as fh:      # one streaming pass: header keys in any order, rows parsed once
                for key, value in ijson.kvitems(fh, "", use_float=True):
                    if key == "rows":
                        rows = value
                    else:
                        meta[key] = value
        if "columns" not in meta or "name" not in meta:
            raise InputError(f"{path.name}: not Dataset-JSON: 'columns' or 'name' is missing")
        width = len(meta["columns"])
        bad = next((i for i, r in enumerate(rows) if len(r) != width), None)
        if bad is not None:
            raise InputError(f"{path.name}: row {bad + 1} has {len(rows[bad])} values, the columns say {width}")
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError, OSError, _ijson_error()) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"{path.name}: not valid Dataset-JSON ({exc})") from None
    frame = _frame(meta["columns"], rows)
    return Dataset(meta["name"].upper(), meta.get("label"), frame, _meta(meta["columns"]), path,
                   meta.get("datasetJSONCreationDateTime"))


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


def read_header(path: Path) -> dict:
    """The metadata part of a Dataset-JSON file (everything but the rows), without reading the rows."""
    path = Path(path)
    if path.suffix.lower() in LINE_FORMATS:
        first = next(_lines(path), "")
        return json.loads(first)
    import ijson

    meta = {}
    with open(path, "rb") as fh:
        for key, value in ijson.kvitems(fh, "", use_float=True):
            if key != "rows":
                meta[key] = value
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
    lengths = values.astype("string").str.len()
    return int(max(1, lengths.max())) if lengths.notna().any() else 1


def _infer_type(values: pd.Series, meta: ColumnMeta) -> str:
    """dataType for a column without Define-XML: integer/float for numbers, date/datetime for --DTC."""
    if meta.type == "Num" or pd.api.types.is_numeric_dtype(values):
        num = pd.to_numeric(values, errors="coerce").dropna()
        return "integer" if ((num % 1) == 0).all() else "float"
    if meta.name.endswith("DTC"):
        text = values.dropna().astype("string")
        if len(text) and text.str.fullmatch(r"\d{4}-\d{2}-\d{2}").all():
            return "date"
        if len(text) and text.str.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?").all():
            return "datetime"
    return "string"


def _cell_frame(frame: pd.DataFrame, columns: list[dict]) -> pd.DataFrame:
    """Columns in Dataset-JSON value form: text '' for missing character values, null for numbers and dates."""
    out = {}
    for col in columns:
        s = frame[col["name"]]
        kind, target = col["dataType"], col.get("targetDataType")
        if target == "integer":
            ts = SAS_EPOCH + pd.to_timedelta(pd.to_numeric(s, errors="coerce"), unit="D" if kind == "date" else "s")
            fmt = "%Y-%m-%d" if kind == "date" else "%Y-%m-%dT%H:%M:%S"
            out[col["name"]] = ts.dt.strftime(fmt).astype("string")
        elif kind == "integer":
            out[col["name"]] = pd.to_numeric(s, errors="coerce").round().astype("Int64")
        elif kind in ("float", "double", "decimal"):
            out[col["name"]] = pd.to_numeric(s, errors="coerce").astype("float64")
        else:
            out[col["name"]] = s.astype("string").fillna("")
    return pd.DataFrame(out, index=frame.index)


def _cells(frame: pd.DataFrame, columns: list[dict]) -> list[list]:
    """Row values as Python lists (NDJSON writes one line per row)."""
    cells = _cell_frame(frame, columns)
    cols = [cells[c].astype(object).where(cells[c].notna(), None).tolist() for c in cells.columns]
    return [list(r) for r in zip(*cols)] if cols else []


def write_dataset_json(ds: Dataset, path: Path, header: dict, item_meta: dict[str, dict] | None = None,
                       ndjson: bool = False) -> None:
    """Write Dataset-JSON v1.1 (JSON, or NDJSON: metadata line then one line per row) atomically."""
    from ..io import write_with

    columns = column_definitions(ds, item_meta)
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
            for r in _cells(ds.frame, columns):
                fh.write((enc.encode(r) + "\n").encode("utf-8"))
        else:
            # pandas' C JSON writer serializes the rows in one pass
            rows = _cell_frame(ds.frame, columns).to_json(orient="values", double_precision=15, force_ascii=False)
            fh.write((enc.encode(meta)[:-1] + ',"rows":').encode("utf-8"))
            fh.write(rows.encode("utf-8"))
            fh.write(b"}\n")

    write_with(path, dump)


__all__ = ["read_dataset_json", "write_dataset_json", "iter_rows", "read_header", "column_definitions"]
