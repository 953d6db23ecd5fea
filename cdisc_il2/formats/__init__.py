"""Dataset file formats: SAS XPT v5, CDISC Dataset-JSON v1.1 (JSON/NDJSON) and CSV."""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from ..errors import InputError, UsageError
from ..metadata import dataset_variables
from .datasetjson import read_dataset_json
from .model import ColumnMeta, Dataset
from .xpt import read_xpt

SUFFIXES = {".xpt": "xpt", ".json": "json", ".ndjson": "json", ".dsjc": "json", ".csv": "csv"}
NOT_DATASETS = {"variables.csv", "sri_summary.csv", "excluded.csv", "derivation_notes.csv", "findings.json", "manifest.json"}
# ADaM naming conventions for numeric variables: *DT, *DTM, *TM, *DY, *N (numeric codes), *SEQ, durations.
ADAM_NUMERIC = r"(?:.*(?:DT|DTM|TM|DY|SEQ|DURD|N)|AVAL|BASE|CHG|PCHG|AGE|NDOSE|NCOURSE|BSLEDAI|BPGA|BBILAG)"


def _csv_meta(name: str) -> list[ColumnMeta] | None:
    """Types for a CSV dataset from the SDTMIG/ADaMIG metadata, since CSV carries none."""
    try:
        meta = dataset_variables(name)
    except KeyError:
        return None
    return [ColumnMeta(r.name, r.label, "Num" if r.type == "Num" else "Char") for r in meta.itertuples()]


def _adam_numeric(name: str, column: str) -> bool:
    """An ADaM variable whose name says it is numeric (CSV carries no types)."""
    return name.startswith("AD") and re.fullmatch(ADAM_NUMERIC, column) is not None


def read_csv_dataset(path: Path) -> Dataset:
    """Read a CSV dataset; numeric variables (per standard metadata) are converted, empty text is null."""
    path = Path(path)
    name = path.stem.upper()
    try:
        frame = pd.read_csv(path, dtype="string", keep_default_na=False, na_values=[""], engine="pyarrow")
    except (UnicodeDecodeError, pd.errors.ParserError, ValueError) as exc:
        raise InputError(f"{path.name}: cannot be read as CSV ({exc})") from None
    meta = {c.name: c for c in (_csv_meta(name) or [])}
    columns = []
    for col in frame.columns:
        m = meta.get(col)
        if (m is not None and m.type == "Num") or (m is None and _adam_numeric(name, col)):
            raw = frame[col]
            num = pd.to_numeric(raw, errors="coerce")
            if not (num.isna() & raw.notna()).any():   # non-numeric text stays text, for validation to flag
                frame[col] = num.astype("float64")
        columns.append(m or ColumnMeta(col))
    return Dataset(name, None, frame, columns, path)


def read_dataset(path: Path) -> Dataset:
    """Read one dataset file by its suffix."""
    kind = SUFFIXES.get(Path(path).suffix.lower())
    if kind == "xpt":
        return read_xpt(path)
    if kind == "json":
        return read_dataset_json(path)
    if kind == "csv":
        return read_csv_dataset(path)
    raise UsageError(f"{Path(path).name}: unknown dataset format (expected .xpt, .json, .ndjson, .dsjc or .csv)")


def choose_files(folder: Path, names: set[str] | None = None, prefer: tuple[str, ...] = ("xpt", "json", "csv")
                 ) -> tuple[dict[str, Path], dict[str, list[Path]]]:
    """The file to read per dataset name (first format in `prefer`), and the other files of the same dataset."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"'{folder}' does not exist or is not a folder")
    rank = {k: i for i, k in enumerate(prefer)}
    files: dict[str, list[Path]] = {}
    for p in sorted(folder.iterdir()):
        kind = SUFFIXES.get(p.suffix.lower())
        if kind is None or kind not in rank or p.name in NOT_DATASETS or p.name.startswith("."):
            continue
        if names is None or p.stem.upper() in names:
            files.setdefault(p.stem.upper(), []).append(p)
    chosen, others = {}, {}
    for key, paths in sorted(files.items()):
        ordered = sorted(paths, key=lambda q: rank[SUFFIXES[q.suffix.lower()]])
        chosen[key], others[key] = ordered[0], ordered[1:]
    return chosen, others


def read_folder(folder: Path, names: set[str] | None = None, prefer: tuple[str, ...] = ("xpt", "json", "csv"),
                unreadable: dict[str, str] | None = None) -> dict[str, Dataset]:
    """Read every dataset in a folder (or only `names`); one format per dataset name, by `prefer` order.

    With `unreadable` given, a file that cannot be read is recorded there (name -> the one-line reason) and the
    others are still read; without it, the first unreadable file is an InputError."""
    chosen, _ = choose_files(folder, names, prefer)
    if not chosen:
        raise InputError(f"'{folder}' holds no dataset files (.xpt, .json, .ndjson, .dsjc, .csv)")
    out = {}
    for k, p in chosen.items():
        try:
            out[k] = read_dataset(p)
        except InputError as exc:
            if unreadable is None:
                raise
            unreadable[k] = str(exc)
    return out


__all__ = ["Dataset", "ColumnMeta", "read_dataset", "read_folder", "choose_files", "read_xpt", "read_dataset_json"]
