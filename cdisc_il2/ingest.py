"""Read raw site spreadsheets as text, untrusted: no formula is evaluated, every cell becomes a string."""
from __future__ import annotations

import datetime as dt
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from openpyxl import load_workbook

from .errors import InputError

ROW = "__row__"
FILE = "__file__"
SHEET = "__sheet__"


@dataclass(frozen=True)
class RawSheet:
    """One sheet of a raw file: the data as text plus where each row came from."""

    file: str
    sheet: str
    frame: pd.DataFrame          # columns: normalized headings + __row__ (spreadsheet row number)
    blank_rows: int


def normalize_heading(text: object) -> str:
    """Heading text with surrounding and repeated white space removed, for case-insensitive matching."""
    return re.sub(r"\s+", " ", str(text)).strip()


def _cell_text(value: object) -> str | None:
    """Render a cell value as text; dates as ISO 8601; formulas stay as their literal text."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0, 0):
            return value.date().isoformat()
        return value.isoformat(timespec="minutes" if value.second == 0 else "seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.strftime("%H:%M")
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return repr(value)
    text = str(value).strip()
    return text or None


class Workbook:
    """A raw workbook opened read-only; sheets are read on demand and cached."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            # data_only=False: a formula cell yields its formula text, never a computed value
            self._wb = load_workbook(self.path, read_only=True, data_only=False)
        except (zipfile.BadZipFile, OSError, KeyError, ValueError) as exc:
            raise InputError(f"{self.path.name}: cannot be read as an Excel workbook ({exc})") from None
        self._cache: dict[tuple[str, int], RawSheet] = {}
        props = self._wb.properties
        # the workbook's own save time: deterministic for the same file, unlike the file system's mtime
        self.saved_at: dt.datetime | None = props.modified or props.created

    @property
    def sheet_names(self) -> list[str]:
        """Names of the workbook's sheets in file order."""
        return list(self._wb.sheetnames)

    def sheet_extent(self, name: str) -> tuple[int, str]:
        """Non-blank rows below the first row of a sheet, and its state (visible, hidden, veryHidden)."""
        ws = self._wb[name]
        count = 0
        for r, values in enumerate(ws.iter_rows(values_only=True), start=1):
            if r > 1 and any(v is not None and str(v).strip() != "" for v in values):
                count += 1
        return count, getattr(ws, "sheet_state", "visible") or "visible"

    def sheet(self, name: str, header_row: int = 1) -> RawSheet:
        """Read one sheet as text with headings from `header_row`."""
        key = (name, header_row)
        if key in self._cache:
            return self._cache[key]
        match = [s for s in self._wb.sheetnames if s.strip().casefold() == name.strip().casefold()]
        if not match:
            raise InputError(f"{self.path.name}: no sheet '{name}' (sheets: {', '.join(self._wb.sheetnames)})")
        ws = self._wb[match[0]]
        rows = ws.iter_rows(values_only=True)
        header: list[str] = []
        data: list[list[str | None]] = []
        numbers: list[int] = []
        blank = 0
        for r, values in enumerate(rows, start=1):
            if r < header_row:
                continue
            if r == header_row:
                header = [normalize_heading(v) if v is not None else "" for v in values]
                continue
            cells = [_cell_text(v) for v in values]
            if all(c is None for c in cells):
                blank += 1
                continue
            data.append(cells)
            numbers.append(r)
        while header and header[-1] == "":
            header.pop()
        seen: set[str] = set()
        for h in header:
            if h and h.casefold() in seen:
                raise InputError(f"{self.path.name}, sheet '{match[0]}': heading '{h}' appears twice in row {header_row}")
            seen.add(h.casefold())
        width = len(header)
        for row_no, cells in zip(numbers, data):
            extra = [c for c in cells[width:] if c is not None]
            if extra:
                raise InputError(f"{self.path.name}, sheet '{match[0]}', row {row_no}: value '{extra[0]}' "
                                 f"in a column without a heading")
        cols = [h if h else f"(column {i + 1})" for i, h in enumerate(header)]
        frame = pd.DataFrame([c[:width] + [None] * (width - len(c)) for c in data], columns=cols, dtype="object")
        frame = frame.astype("string")
        frame[ROW] = pd.array(numbers, dtype="Int64")
        sheet = RawSheet(self.path.name, match[0], frame, blank)
        self._cache[key] = sheet
        return sheet
