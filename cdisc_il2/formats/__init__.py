"""Dataset file formats: SAS XPT v5, CDISC Dataset-JSON v1.1 (JSON/NDJSON) and CSV; Define-XML is read by define_read."""
from __future__ import annotations

import io
import re
from pathlib import Path

import pandas as pd

from ..errors import InputError, UsageError
from ..io import csv_words, text_by_codes, unescape_formulas, write_frame_csv
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


_UTF8_BOM = b"\xef\xbb\xbf"
_CHUNK = 1 << 22


def _check_csv_text(path: Path) -> None:
    """A CSV dataset is UTF-8 text (a byte order mark allowed) with a header row: an empty or white-space file, or
    bytes that are not UTF-8 (GBK, Latin-1: encodings are never guessed), is an InputError naming the file and,
    for bad bytes, the line and byte."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, lines, text = 0, 1, False
    try:
        with open(path, "rb") as fh:
            while True:
                chunk = fh.read(_CHUNK)
                try:
                    decoder.decode(chunk, final=not chunk)
                except UnicodeDecodeError as exc:
                    at = exc.start
                    byte = chunk[at:at + 1].hex().upper() if at < len(chunk) else "end of file"
                    line = lines + chunk[:at].count(b"\n")
                    raise InputError(f"{path.name}: not UTF-8 text: byte 0x{byte} at byte {offset + at + 1:,} "
                                     f"(line {line}) is not UTF-8; save the CSV as UTF-8 (encodings such as GBK or "
                                     "Latin-1 are not guessed)") from None
                if not chunk:
                    break
                text = text or bool(chunk.replace(_UTF8_BOM, b"").strip())
                lines += chunk.count(b"\n")
                offset += len(chunk)
    except OSError as exc:
        raise InputError(f"{path.name}: cannot be read ({exc.strerror})") from None
    if offset == 0:
        raise InputError(f"{path.name}: empty file (0 bytes): a CSV dataset needs a header row of variable names")
    if not text:
        raise InputError(f"{path.name}: only white space: a CSV dataset needs a header row of variable names")


def _ragged_line(path: Path) -> str:
    """Where a CSV's rows stop having as many fields as its header (read again, only when pyarrow refused it)."""
    import csv

    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        width = None
        for fields in reader:
            if width is None:
                width = len(fields)
            elif fields and len(fields) != width:
                return (f"line {reader.line_num} has {len(fields)} fields, the header has {width} (a comma in a value "
                        "that is not quoted?)")
    return ""


def _parse_csv(source) -> pd.DataFrame:
    """CSV text (a path or a binary handle) as an all-text frame: every value a string, an empty field null."""
    return pd.read_csv(source, dtype="string", keep_default_na=False, na_values=[""], engine="pyarrow")


def read_csv_dataset(path: Path) -> Dataset:
    """Read a CSV dataset; numeric variables (per standard metadata) are converted, empty text is null."""
    path = Path(path)
    name = path.stem.upper()
    _check_csv_text(path)
    try:
        frame = _parse_csv(path)
    except (UnicodeDecodeError, pd.errors.ParserError, ValueError) as exc:
        where = _ragged_line(path) if isinstance(exc, pd.errors.ParserError) else ""
        raise InputError(f"{path.name}: cannot be read as CSV: {where or exc}") from None
    frame.columns = [str(c).lstrip("\ufeff") for c in frame.columns]
    twice = frame.columns[frame.columns.duplicated()]
    if len(twice):
        raise InputError(f"{path.name}: column '{twice[0]}' appears twice in the header row")
    return _typed(name, unescape_formulas(frame), path)


def _typed(name: str, frame: pd.DataFrame, source: Path | None) -> Dataset:
    """A CSV dataset's text frame typed: numeric variables (per standard metadata, or by ADaM naming) become
    float64 where every value is a number; other text stays text, for validation to flag."""
    meta = {c.name: c for c in (_csv_meta(name) or [])}
    columns = []
    for col in frame.columns:
        m = meta.get(col)
        if ((m is not None and m.type == "Num") or (m is None and _adam_numeric(name, col))) \
                and frame[col].dtype != "float64":
            raw = frame[col]
            num = pd.to_numeric(raw, errors="coerce")
            if not (num.isna() & raw.notna()).any():   # non-numeric text stays text, for validation to flag
                frame[col] = num.astype("float64")
        columns.append(m or ColumnMeta(col))
    return Dataset(name, None, frame, columns, source)


def _csv_text(values: pd.Series, number: bool) -> pd.Series | None:
    """A column as read_csv_dataset reads back the text write_csv writes of it (string, empty is null; for a
    numeric variable held as numbers, the float64 that text reads back as), or None for a column whose text only
    a real round trip tells (io.csv_words)."""
    import numpy as np

    words = csv_words(values)
    if words is None:
        return None
    codes, texts = words
    if number and (pd.api.types.is_float_dtype(values.dtype) or pd.api.types.is_integer_dtype(values.dtype)):
        back = pd.to_numeric(pd.Series(texts, dtype="string"), errors="coerce").astype("float64").to_numpy()
        return pd.Series(np.append(back, np.nan)[codes], dtype="float64")   # once per distinct value
    return text_by_codes([t if t != "" else None for t in texts], codes)


def csv_dataset(name: str, frame: pd.DataFrame, source: Path | None = None) -> Dataset:
    """The dataset read_csv_dataset reads from the CSV write_csv writes of `frame`, made in memory: what a
    stage hands the next in place of writing its CSVs and reading them back (same values, same types)."""
    meta = {c.name: c.type for c in (_csv_meta(name) or [])}
    texts = {c: _csv_text(frame[c], meta.get(c) == "Num" or (c not in meta and _adam_numeric(name, c)))
             for c in frame.columns} if frame.columns.is_unique else {None: None}
    if any(t is None for t in texts.values()):          # a column of other objects: the real round trip
        buf = io.StringIO()
        write_frame_csv(buf, frame)
        whole = _parse_csv(io.BytesIO(buf.getvalue().encode("utf-8")))
        return _typed(name, unescape_formulas(whole), source)
    return _typed(name, pd.DataFrame(texts, columns=list(frame.columns)), source)


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


__all__ = ["Dataset", "ColumnMeta", "read_dataset", "read_folder", "csv_dataset", "choose_files", "read_xpt", "read_dataset_json"]
