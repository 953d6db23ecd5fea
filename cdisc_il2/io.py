"""Atomic, deterministic file writing: a crash never leaves a half-written file where a good one was."""
from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pandas as pd

FIXED_ZIP_TIME = (2014, 1, 1, 0, 0, 0)


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path` in one rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_bytes(path: Path, data: bytes) -> None:
    """Write bytes atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: Path, text: str) -> None:
    """Write UTF-8 text atomically with Unix newlines."""
    write_bytes(path, text.encode("utf-8"))


def write_csv(path: Path, frame: pd.DataFrame) -> None:
    """Write a frame as UTF-8 CSV atomically; missing values are empty fields."""
    buf = io.StringIO()
    frame.to_csv(buf, index=False, lineterminator="\n", float_format="%.10g")
    write_text(path, buf.getvalue())


def write_with(path: Path, writer: Callable[[IO[bytes]], None]) -> None:
    """Atomically write a file whose content a callback streams into a binary handle."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        writer(fh)


def save_workbook(workbook, path: Path, when: dt.datetime) -> None:
    """Save an openpyxl workbook byte-identically for the same content and `when` timestamp."""
    workbook.properties.created = when
    raw = io.BytesIO()
    from openpyxl.writer.excel import ExcelWriter

    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
        workbook.properties.modified = when
        ExcelWriter(workbook, archive).save()
    src = zipfile.ZipFile(io.BytesIO(raw.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            fixed = zipfile.ZipInfo(info.filename, date_time=FIXED_ZIP_TIME)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o600 << 16
            dst.writestr(fixed, data)
    write_bytes(path, out.getvalue())


def set_text_cell(cell, value: object) -> None:
    """Write `value` into an openpyxl cell, forcing strings to be stored as text, never formulas."""
    cell.value = value
    if isinstance(value, str):
        cell.data_type = "s"
