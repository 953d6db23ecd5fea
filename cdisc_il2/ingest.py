"""Read raw site spreadsheets as text, untrusted: no formula is evaluated, every cell becomes a string.

What a workbook can do to us is bounded before a reader sees it: its zip directory is checked against size
limits (a zip bomb is refused unexpanded), a formula cell gives its cached value (never its text, never an
evaluation), merged cells are filled from their first cell and listed, hidden rows and sheets are read and
noted, and the workbook's own date system (1900 or 1904) is carried with each sheet.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import re
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from openpyxl import load_workbook
from openpyxl.utils.cell import column_index_from_string, get_column_letter, range_boundaries
from openpyxl.utils.datetime import CALENDAR_MAC_1904

from .errors import InputError

if TYPE_CHECKING:
    from .mapping.spec import Spec

ROW = "__row__"
FILE = "__file__"
SHEET = "__sheet__"

# Resource limits, checked from the zip's central directory before anything is expanded. Python's zipfile never
# inflates a part beyond the size its directory declares (a part that would is a CRC error), so these bound what
# openpyxl can be made to read.
MAX_XLSX_EXPANDED = 512 * 1024 ** 2     # all parts of one workbook together, uncompressed
MAX_PART_RATIO = 100                    # compression ratio refused for a part larger than RATIO_CHECK_BYTES
RATIO_CHECK_BYTES = 8 * 1024 ** 2
MAX_XLSX_PARTS = 10_000
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"   # encrypted (password-protected) .xlsx, or an old binary .xls
EXCEL_ERRORS = {"#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A", "#GETTING_DATA", "#SPILL!",
                "#CALC!"}
NOTE_COLUMNS = ["row", "column", "cell", "kind", "value", "reason"]
FORMULA, FORMULA_NO_CACHE, FORMULA_ERROR, MERGED = "formula", "formula without cached value", "formula error", "merged"
_XML_CHUNK = 1 << 20
_HIDDEN_ROW = re.compile(rb'<(?:\w+:)?row\b[^>]*?\bhidden="(?:1|true)"[^>]*>')
_ROW_NUMBER = re.compile(rb'\br="(\d+)"')
_MERGE = re.compile(rb'<(?:\w+:)?mergeCell\b[^>]*?\bref="([A-Za-z]{1,3}[0-9]+(?::[A-Za-z]{1,3}[0-9]+)?)"')
_VALUE_TAGS = (b"<v>", b":v>", b"<is>", b":is>", b"<f>", b"<f ", b":f>", b":f ")   # a cell value, text or formula
_ROW_TAGS = (b"<row ", b"<row>", b":row ", b":row>")
# a formula cell: <c r="C2" t="e"><f>1/0</f><v>#DIV/0!</v></c> -> column, row, its attributes, its cached value
_FORMULA_CELL = re.compile(rb'<(?:\w+:)?c\b([^>]*?\br="([A-Za-z]{1,3})([0-9]+)"[^>]*)>\s*<(?:\w+:)?f\b'
                           rb'(?:[^>]*/>|[^>]*>.*?</(?:\w+:)?f>)\s*(?:<(?:\w+:)?v>([^<]*)</(?:\w+:)?v>)?', re.S)
_ERROR_TYPE = re.compile(rb'\bt="e"')


def _row_number(text: bytes, at: int) -> int | None:
    """The r attribute of the row tag at `at` (None: a row without one, so rows cannot be skipped by number)."""
    m = _ROW_NUMBER.search(text, at, text.find(b">", at) + 1)
    return int(m.group(1)) if m else None


@dataclass
class _SheetFacts:
    """What one pass over a sheet's XML tells: merged ranges, hidden rows, the last row and the last with a value."""

    merged: list[tuple[int, int, int, int]] = field(default_factory=list)
    hidden: set[int] = field(default_factory=set)
    # row -> (0-based column, cached value or None, whether the cached value is an error) of each formula cell
    formulas: dict[int, list[tuple[int, str | None, bool]]] = field(default_factory=dict)
    last_row: int | None = 0
    last_value_row: int | None = 0


@dataclass(frozen=True)
class RawSheet:
    """One sheet of a raw file: the data as text plus where each row came from, and what was noted reading it."""

    file: str
    sheet: str
    frame: pd.DataFrame          # columns: normalized headings + __row__ (spreadsheet row number)
    blank_rows: int
    date1904: bool = False       # the workbook uses the 1904 date system: EXCEL serials are read with it
    state: str = "visible"       # visible, hidden or veryHidden
    hidden_rows: tuple[int, ...] = ()
    cells: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=NOTE_COLUMNS))  # noted cells

    @property
    def notes(self) -> list[str]:
        """Sheet-level facts a reader of accountability.csv should know (hidden sheet or rows, 1904 dates)."""
        out = []
        if self.state != "visible":
            out.append(f"sheet '{self.sheet}' of {self.file} is {self.state} in the workbook: read and mapped")
        if self.hidden_rows:
            rows = ", ".join(map(str, self.hidden_rows[:10])) + (" ..." if len(self.hidden_rows) > 10 else "")
            out.append(f"{len(self.hidden_rows)} hidden row(s) of sheet '{self.sheet}' read and mapped like the "
                       f"others (rows {rows})")
        if self.date1904:
            out.append(f"sheet '{self.sheet}': dates and Excel serial numbers read in the 1904 date system of "
                       f"{self.file}")
        return out


def normalize_heading(text: object) -> str:
    """Heading text with surrounding and repeated white space removed, for case-insensitive matching."""
    return re.sub(r"\s+", " ", str(text)).strip()


def _cell_text(value: object) -> str | None:
    """Render a cell value as text: dates as ISO 8601, whole numbers without '.0', durations as hh:mm."""
    if type(value) is str:              # most cells: tested first (a million cells at 1,000 subjects)
        return value.strip() or None
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
    if isinstance(value, dt.timedelta):
        minutes = int(value.total_seconds() // 60)
        return f"{minutes // 60:02d}:{minutes % 60:02d}"
    text = str(value).strip()
    return text or None


def check_archive(path: Path) -> None:
    """Refuse a workbook that is not a zip, is encrypted, or would expand beyond the limits, before it is read."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise InputError(f"{path.name}: cannot be read ({exc.strerror})") from None
    if head == OLE2_MAGIC:
        raise InputError(f"{path.name}: an encrypted (password-protected) workbook or an old binary .xls, not an "
                         ".xlsx: remove the password, or save it as .xlsx (Excel Workbook), and send it again")
    try:
        with zipfile.ZipFile(path) as archive:
            parts = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise InputError(f"{path.name}: cannot be read as an Excel workbook ({exc})") from None
    if len(parts) > MAX_XLSX_PARTS:
        raise InputError(f"{path.name}: refused: {len(parts)} parts in the archive, more than the "
                         f"{MAX_XLSX_PARTS} allowed for a workbook (limit MAX_XLSX_PARTS)")
    total = sum(p.file_size for p in parts)
    if total > MAX_XLSX_EXPANDED:
        raise InputError(f"{path.name}: refused before reading: its parts expand to {total / 1024 ** 2:,.0f} MiB, "
                         f"more than the {MAX_XLSX_EXPANDED // 1024 ** 2} MiB allowed for one workbook "
                         "(limit MAX_XLSX_EXPANDED; split the workbook)")
    for p in parts:
        ratio = p.file_size / max(p.compress_size, 1)
        if p.file_size > RATIO_CHECK_BYTES and ratio > MAX_PART_RATIO:
            raise InputError(f"{path.name}: refused before reading: part '{p.filename}' expands {ratio:,.0f} times "
                             f"({p.compress_size:,} to {p.file_size:,} bytes), more than the {MAX_PART_RATIO}:1 "
                             "a real sheet reaches (a zip bomb?) (limit MAX_PART_RATIO)")


class Workbook:
    """A raw workbook opened read-only; sheets are read on demand and cached."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        check_archive(self.path)
        try:
            # the workbook's structure (sheets, their state, properties, date system) from openpyxl; cell values
            # from calamine (_rows); which cells hold formulas from the sheet XML (_xml_facts)
            self._wb = load_workbook(self.path, read_only=True, data_only=False)
        except (zipfile.BadZipFile, OSError, KeyError, ValueError, TypeError, AttributeError, SyntaxError) as exc:
            # SyntaxError: XML that does not parse, an entity expansion bomb among them (expat refuses those)
            raise InputError(f"{self.path.name}: cannot be read as an Excel workbook ({exc})") from None
        self._fast = None
        self._cache: dict[tuple[str, int], RawSheet] = {}
        props = self._wb.properties
        # the workbook's own save time: deterministic for the same file, unlike the file system's mtime
        self.saved_at: dt.datetime | None = props.modified or props.created
        self.date1904: bool = self._wb.epoch == CALENDAR_MAC_1904

    @property
    def sheet_names(self) -> list[str]:
        """Names of the workbook's sheets in file order (hidden and very hidden ones included)."""
        return list(self._wb.sheetnames)

    def _rows(self, name: str, cap: int | None) -> list[list[object]]:
        """The sheet's cell values from row 1 down to `cap` (None: all), read with calamine (Rust): a formula
        cell gives its cached value, never its text; an empty cell is None."""
        import python_calamine

        if self._fast is None:
            try:
                self._fast = python_calamine.CalamineWorkbook.from_path(str(self.path))
            except Exception as exc:                     # noqa: BLE001 - the reader's own error types
                raise InputError(f"{self.path.name}: cannot be read as an Excel workbook ({exc})") from None
        try:
            rows = self._fast.get_sheet_by_name(name).to_python(skip_empty_area=False, nrows=cap)
        except Exception as exc:                         # noqa: BLE001
            raise self._xml_error(name, exc) from None
        return [[None if v == "" else v for v in row] for row in rows]

    def _xml_error(self, name: str, exc: Exception) -> InputError:
        """A sheet whose XML does not parse (damaged, or an entity bomb expat refused), as one line."""
        return InputError(f"{self.path.name}, sheet '{name}': damaged or hostile sheet XML, refused ({exc})")

    def sheet_extent(self, name: str) -> tuple[int, str]:
        """Non-blank rows below the first row of a sheet, and its state (visible, hidden, veryHidden)."""
        try:
            return self._sheet_extent(name)
        except (SyntaxError, zipfile.BadZipFile) as exc:
            raise self._xml_error(name, exc) from None

    def _sheet_extent(self, name: str) -> tuple[int, str]:
        """sheet_extent without the XML error wrapping."""
        ws = self._wb[name]
        cap = self._xml_facts(ws).last_value_row
        count = 0
        for r, values in enumerate(self._rows(name, cap) if cap != 0 else (), start=1):
            if r > 1 and any(v is not None and str(v).strip() != "" for v in values):
                count += 1
        return count, getattr(ws, "sheet_state", "visible") or "visible"

    def _xml_facts(self, ws) -> _SheetFacts:
        """Merged ranges, hidden rows, and the last row holding a value, from one pass over the sheet's XML (in
        chunks cut after a tag, so no tag is split): the rows below the last value are never parsed."""
        facts = _SheetFacts()
        merged: set[bytes] = set()
        carry = b""
        numbered = True
        with self._wb._archive.open(ws._worksheet_path) as src:
            while True:
                chunk = src.read(_XML_CHUNK)
                text = carry + chunk
                # cut after a whole cell (or row) so that a cell and its formula tag are in one piece
                whole = max(text.rfind(b"</c>") + 4, text.rfind(b"/>") + 2, text.rfind(b"</row>") + 6)
                cut = (whole if whole > 6 else text.rfind(b">") + 1) if chunk else len(text)
                text, carry = text[:cut], text[cut:]
                for attrs, col, row, cached in _FORMULA_CELL.findall(text):
                    facts.formulas.setdefault(int(row), []).append(
                        (column_index_from_string(col.decode().upper()) - 1,
                         cached.decode("utf-8", "replace") if cached else None, bool(_ERROR_TYPE.search(attrs))))
                for m in _HIDDEN_ROW.finditer(text):
                    number = _ROW_NUMBER.search(m.group(0))
                    if number:
                        facts.hidden.add(int(number.group(1)))
                merged.update(_MERGE.findall(text))
                value_at = max(text.rfind(tag) for tag in _VALUE_TAGS)
                if value_at >= 0:
                    row_at = max(text.rfind(tag, 0, value_at) for tag in _ROW_TAGS)
                    facts.last_value_row = _row_number(text, row_at) if row_at >= 0 else facts.last_row
                last_tag = max(text.rfind(tag) for tag in _ROW_TAGS)
                if last_tag >= 0:
                    facts.last_row = _row_number(text, last_tag)
                numbered = numbered and facts.last_row is not None and facts.last_value_row is not None
                if not chunk:
                    break
        if not numbered:                # rows without numbers (r is optional): every row is parsed
            facts.last_row = facts.last_value_row = None
        for ref in sorted(merged):
            try:
                facts.merged.append(range_boundaries(ref.decode("ascii").upper()))
            except ValueError:
                continue
        return facts

    def sheet(self, name: str, header_row: int = 1) -> RawSheet:
        """Read one sheet as text with headings from `header_row`."""
        key = (name, header_row)
        if key in self._cache:
            return self._cache[key]
        match = [s for s in self._wb.sheetnames if s.strip().casefold() == name.strip().casefold()]
        if not match:
            raise InputError(f"{self.path.name}: no sheet '{name}' (sheets: {', '.join(self._wb.sheetnames)})")
        try:
            sheet = self._read_sheet(match[0], header_row)
        except (SyntaxError, zipfile.BadZipFile) as exc:
            raise self._xml_error(match[0], exc) from None
        self._cache[key] = sheet
        return sheet

    def _read_sheet(self, name: str, header_row: int) -> RawSheet:
        """The body of sheet(): rows as text, formulas resolved, merged cells filled, notes taken."""
        ws = self._wb[name]
        declared_rows = ws.max_row or 0
        facts = self._xml_facts(ws)
        merged, hidden = facts.merged, facts.hidden
        header: list[str] = []
        raw: dict[int, list[object]] = {}
        formulas = facts.formulas
        last = facts.last_row or 0
        # rows below the last one holding a value are blank: not parsed (a sheet formatted down to row 1,048,576)
        cap = max(facts.last_value_row, header_row) if facts.last_value_row is not None else None
        for r, values in enumerate(self._rows(name, cap), start=1):
            last = max(last, r)
            if r < header_row:
                continue
            if r == header_row:
                header = [normalize_heading(v) if v is not None else "" for v in values]
                continue
            if all(v is None for v in values) and r not in formulas:
                continue
            raw[r] = list(values)
        while header and header[-1] == "":
            header.pop()
        if not header:
            below = min(raw, default=None)
            hint = (f"the first non-blank row is {below}: if the headings are there, set header_row: {below} in the "
                    "spec block" if below else "the sheet is empty")
            raise InputError(f"{self.path.name}, sheet '{name}': row {header_row} holds no headings ({hint})")
        seen: set[str] = set()
        for h in header:
            if h and h.casefold() in seen:
                raise InputError(f"{self.path.name}, sheet '{name}': heading '{h}' appears twice in row {header_row}")
            seen.add(h.casefold())
        cols = [h if h else f"(column {i + 1})" for i, h in enumerate(header)]
        notes: list[dict] = []
        if formulas:
            _note_formulas(raw, {r: c for r, c in formulas.items() if r > header_row}, cols, notes)
        data = {r: [_cell_text(v) for v in values] for r, values in raw.items()}
        data = {r: cells for r, cells in data.items() if any(c is not None for c in cells)}
        if merged:
            _fill_merged(data, merged, header_row, cols, notes)
        width = len(header)
        for row_no, cells in data.items():
            extra = [c for c in cells[width:] if c is not None]
            if extra:
                raise InputError(f"{self.path.name}, sheet '{name}', row {row_no}: value '{extra[0]}' "
                                 f"in a column without a heading")
        numbers = sorted(data)
        blank = max(last, declared_rows) - header_row - len(numbers) if max(last, declared_rows) > header_row else 0
        frame = pd.DataFrame([data[r][:width] + [None] * (width - len(data[r])) for r in numbers], columns=cols,
                             dtype="object")
        frame = frame.astype("string")
        frame[ROW] = pd.array(numbers, dtype="Int64")
        cells = pd.DataFrame(notes, columns=NOTE_COLUMNS)
        sheet = RawSheet(self.path.name, name, frame, blank, self.date1904,
                         getattr(ws, "sheet_state", "visible") or "visible",
                         tuple(h for h in hidden if h in data), cells)
        return sheet

def _note_formulas(raw: dict[int, list[object]], formulas: dict[int, list[tuple[int, str | None, bool]]],
                   cols: list[str], notes: list[dict]) -> None:
    """Formula cells keep their cached value (never their text, never evaluated); every one is noted, a cached
    error or a missing cached value leaves the cell empty."""
    for r, cells in formulas.items():
        row = raw.setdefault(r, [])
        for j, cached, error in cells:
            if j >= len(row):
                row.extend([None] * (j + 1 - len(row)))
            value = row[j]
            column = cols[j] if j < len(cols) else f"(column {j + 1})"
            ref = f"{get_column_letter(j + 1)}{r}"
            if error or (isinstance(value, str) and value in EXCEL_ERRORS):
                row[j] = None
                shown = cached or value
                notes.append({"row": r, "column": column, "cell": ref, "kind": FORMULA_ERROR, "value": shown,
                              "reason": f"formula cell {ref}: its cached result is the error {shown}; left empty "
                                        "(formulas are never evaluated)"})
            elif cached is None and value is None:
                notes.append({"row": r, "column": column, "cell": ref, "kind": FORMULA_NO_CACHE, "value": None,
                              "reason": f"formula cell {ref} has no cached value (the program that saved the "
                                        "workbook did not compute it) and formulas are never evaluated"})
            else:
                notes.append({"row": r, "column": column, "cell": ref, "kind": FORMULA, "value": _cell_text(value),
                              "reason": f"formula cell {ref}: its cached value is used (the formula is not "
                                        "evaluated and its text is not kept)"})


def _fill_merged(data: dict[int, list[str | None]], merged: list[tuple[int, int, int, int]], header_row: int,
                 cols: list[str], notes: list[dict]) -> None:
    """Give every cell a merged range covers in a data row the value of the range's first cell, and note it."""
    # only rows that hold data of their own are filled: a blank row under a merged cell stays blank
    for min_col, min_row, max_col, max_row in merged:
        anchor_row = data.get(min_row)
        if min_row <= header_row or anchor_row is None or min_col > len(anchor_row):
            continue
        value = anchor_row[min_col - 1]
        if value is None:
            continue
        anchor = f"{get_column_letter(min_col)}{min_row}"
        span = f"{anchor}:{get_column_letter(max_col)}{max_row}"
        for r in range(min_row, max_row + 1):
            cells = data.get(r)
            if cells is None:
                continue
            for c in range(min_col, max_col + 1):
                if (r, c) == (min_row, min_col):
                    continue
                if len(cells) < c:
                    cells.extend([None] * (c - len(cells)))
                cells[c - 1] = value
                column = cols[c - 1] if c - 1 < len(cols) else f"(column {c})"
                notes.append({"row": r, "column": column, "cell": f"{get_column_letter(c)}{r}", "kind": MERGED,
                              "value": value, "reason": f"cell in merged range {span}: the value of {anchor} is "
                                                        "used, as the sheet shows it"})


def block_columns(block: dict) -> set[str]:
    """Normalized (case-folded) headings of the raw columns a spec block reads."""
    out: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "column" and isinstance(v, (str, list)):      # a heading, or the headings a site has used
                    out.update(normalize_heading(h).casefold() for h in ([v] if isinstance(v, str) else v))
                else:
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk({k: v for k, v in block.items() if k != "unpivot"})
    out.update(normalize_heading(h).casefold() for h in block.get("unpivot", {}).get("columns", {}))
    return out


def cell_problems(sheet: RawSheet, columns: Iterable[str], spec: str, block: str, domain: str) -> pd.DataFrame:
    """The noted cells of the columns a block reads, in the rejects.csv layout; a formula without a cached value
    in one of them is an InputError naming the cell."""
    want = set(columns)
    cells = sheet.cells
    mine = cells[cells["column"].astype("string").str.casefold().isin(want)] if len(cells) else cells
    uncached = mine[mine["kind"] == FORMULA_NO_CACHE]
    if len(uncached):
        first = uncached.iloc[0]
        more = f" (and {len(uncached) - 1} more such cell(s))" if len(uncached) > 1 else ""
        raise InputError(f"{sheet.file}, sheet '{sheet.sheet}', cell {first['cell']} (row {first['row']}, column "
                         f"'{first['column']}'): formula without a cached value{more}: formulas are never evaluated; "
                         "open and save the workbook in Excel (which stores each formula's value) or type the value")
    disposition = mine["kind"].map({FORMULA: "cached value used (formula not evaluated)",
                                    FORMULA_ERROR: "value left empty",
                                    MERGED: "value filled from the merged cell"})
    return pd.DataFrame({"file": sheet.file, "sheet": sheet.sheet, "row": mine["row"].astype("Int64"),
                         "column": mine["column"].astype("string"), "value": mine["value"].astype("string"),
                         "reason": mine["reason"].astype("string"), "disposition": disposition.astype("string"),
                         "spec": spec, "block": block, "domain": domain})


def date_patterns_for(spec: Spec, sheet: RawSheet) -> Spec:
    """The spec as it applies to one sheet: in a 1904-date-system workbook EXCEL means that system (EXCEL1904)."""
    if not sheet.date1904:
        return spec
    from .dates import DEFAULT_PATTERNS, expand_patterns

    declared = spec.doc.get("date_patterns", list(DEFAULT_PATTERNS))
    out = []
    for entry in declared:
        patterns = expand_patterns([entry])
        out += [p if p != "EXCEL" else "EXCEL1904" for p in patterns] if "EXCEL" in patterns else [entry]
    return dataclasses.replace(spec, doc={**spec.doc, "date_patterns": list(dict.fromkeys(out))})
