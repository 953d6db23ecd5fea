"""CDISC Dataset-JSON v1.1 reading (JSON and NDJSON); NDJSON rows are streamed line by line."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from .model import ColumnMeta, Dataset

SAS_EPOCH = pd.Timestamp("1960-01-01")
NUMERIC_TYPES = {"integer", "float", "double", "decimal"}


def _frame(columns: list[dict], rows) -> pd.DataFrame:
    """Rows (lists) to a frame typed by the Dataset-JSON column metadata."""
    names = [c["name"] for c in columns]
    df = pd.DataFrame(list(rows), columns=names, dtype="object")
    for c in columns:
        col = df[c["name"]]
        dtype = c.get("dataType", "string")
        target = c.get("targetDataType")
        if dtype in NUMERIC_TYPES:
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


def read_dataset_json(path: Path) -> Dataset:
    """Read a Dataset-JSON v1.1 file (.json whole, .ndjson streamed) into a Dataset."""
    path = Path(path)
    try:
        if path.suffix.lower() == ".ndjson":
            with open(path, encoding="utf-8") as fh:
                meta = json.loads(fh.readline())
                rows = [json.loads(line) for line in fh if line.strip()]
        else:
            with open(path, encoding="utf-8") as fh:
                meta = json.load(fh)
            rows = meta.get("rows", [])
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path.name}: not valid Dataset-JSON ({exc})") from None
    if "columns" not in meta or "name" not in meta:
        raise InputError(f"{path.name}: not Dataset-JSON: 'columns' or 'name' is missing")
    width = len(meta["columns"])
    bad = next((i for i, r in enumerate(rows) if len(r) != width), None)
    if bad is not None:
        raise InputError(f"{path.name}: row {bad + 1} has {len(rows[bad])} values, the columns say {width}")
    frame = _frame(meta["columns"], rows)
    return Dataset(meta["name"].upper(), meta.get("label"), frame, _meta(meta["columns"]), path,
                   meta.get("datasetJSONCreationDateTime"))


__all__ = ["read_dataset_json", "np"]
