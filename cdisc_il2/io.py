"""Atomic, deterministic file writing: a crash never leaves a half-written file where a good one was."""
from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import os
import re
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pandas as pd

from .frames import distinct_text

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
    except OSError as exc:
        if exc.filename is None:        # a failed write (a full disk) names no file: name the one being written
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from None
        raise
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


# CSV injection (OWASP): a spreadsheet program opening a CSV runs a field that starts with one of these as a formula.
FORMULA_START = "=+-@\t\r"
# Text that starts with + or - but holds no formula: a number, an ISO 8601 date or time with missing components
# ('--12-15', '-----T10:30') or an ISO 8601 duration ('-P2D'). Digits, '-', ':', 'T', '.' name no function.
_SAFE_SIGNED = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|-[-0-9T:.]*|[+-]?P[0-9YMWDTHS.,]+"
_LEAD = f"'*[{re.escape(FORMULA_START)}]"


def _risky(text: pd.Series) -> pd.Series:
    """Text (after any leading apostrophes) that starts like a formula and is not a number, date or duration;
    judged once per distinct value."""
    import numpy as np

    codes, uniques = pd.factorize(text, use_na_sentinel=True)
    distinct = pd.Series(uniques, dtype="string")
    lead = distinct.str.match(_LEAD).fillna(False).astype(bool)
    if lead.any():
        body = distinct[lead].str.replace(r"^'+", "", regex=True)
        lead[lead] = ~body.str.fullmatch(_SAFE_SIGNED).fillna(False).astype(bool)
    return pd.Series(np.append(lead.to_numpy(dtype=bool), False)[codes], index=text.index)


# _LEAD as one anchored Arrow (RE2) expression: the same characters, escaped for a character class
_LEAD_RE2 = "^'*[" + "".join({"\t": "\\t", "\r": "\\r", "-": "\\-", "\\": "\\\\", "]": "\\]", "^": "\\^"}.get(ch, ch)
                             for ch in FORMULA_START) + "]"


def _may_start_a_formula(values: pd.Series) -> bool:
    """Whether any value of a text column starts (after apostrophes) like a formula: one Arrow pass, so that the
    columns holding none (nearly all) skip _risky's judgement of each distinct value. Other objects: True."""
    if not isinstance(values.dtype, pd.StringDtype):
        return True
    import pyarrow as pa
    import pyarrow.compute as pc

    return bool(pc.any(pc.match_substring_regex(pa.array(values.array), _LEAD_RE2)).as_py())


def _is_text(dtype) -> bool:
    """Whether a column of this dtype may hold text: object, string, or categories of either."""
    if isinstance(dtype, pd.CategoricalDtype):
        dtype = dtype.categories.dtype
    return dtype == object or isinstance(dtype, pd.StringDtype)


def _text_columns(frame: pd.DataFrame) -> list:
    """Columns that may hold text (object or string dtype, or categories of text); numeric columns are never
    touched."""
    return [c for c in frame.columns if _is_text(frame[c].dtype)]


def _escaped_categories(values: pd.Series, escape: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """A categorical column with `escape` applied to its categories, once each (the codes are kept); as text
    when escaping would make two categories one."""
    cats = pd.Series(values.cat.categories, dtype="string")
    new = escape(cats)
    if new.is_unique:
        return values.cat.rename_categories(pd.Index(new.array, dtype=values.cat.categories.dtype,
                                                     name=values.cat.categories.name))
    return escape(values.astype("string"))


def escape_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Neutralise text a spreadsheet would run as a formula: a value that starts with = + - @ tab or CR (numbers,
    ISO dates and durations excepted), or with apostrophes before one, gets one more leading apostrophe (OWASP's
    advice for CSV injection). unescape_formulas undoes exactly this, so data survive a CSV round trip."""
    out = frame
    for c in _text_columns(frame):
        if isinstance(frame[c].dtype, pd.CategoricalDtype):
            if _risky(pd.Series(frame[c].cat.categories, dtype="string")).any():
                out = out.copy() if out is frame else out
                out[c] = _escaped_categories(frame[c], lambda t: escape_formulas(t.to_frame("v"))["v"])
            continue
        if not _may_start_a_formula(frame[c]):
            continue
        text = frame[c].astype("string")
        risky = _risky(text)
        if risky.any():
            out = out.copy() if out is frame else out
            out[c] = frame[c].mask(risky, "'" + text)
    return out


def unescape_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Remove the apostrophe escape_formulas added (only where it added one)."""
    out = frame
    for c in _text_columns(frame):
        if isinstance(frame[c].dtype, pd.CategoricalDtype):
            out = out.copy() if out is frame else out
            out[c] = _escaped_categories(frame[c], lambda t: unescape_formulas(t.to_frame("v"))["v"])
            continue
        text = frame[c].astype("string")
        quoted = text.str.startswith("'").fillna(False).astype(bool)
        if not quoted.any():
            continue
        quoted[quoted] = _risky(text[quoted].str.slice(1))
        if quoted.any():
            out = out.copy() if out is frame else out
            out[c] = frame[c].mask(quoted, text.str.slice(1))
    return out


CSV_FLOAT = "%.10g"      # how write_csv writes a float: ten significant digits


def float_text(values: pd.Series) -> pd.Series:
    """A float column as the text to_csv writes with float_format CSV_FLOAT (missing: None), formatted once per
    distinct value: pandas formats every record in Python, several times slower on a big dataset."""
    import numpy as np

    numbers = values.to_numpy(dtype=np.float64)
    codes, uniques = pd.factorize(numbers.view(np.int64))     # by bit pattern: -0.0 stays '-0'
    text = np.array([CSV_FLOAT % u for u in uniques.view(np.float64)], dtype=object)[codes]
    text[np.isnan(numbers)] = None
    return pd.Series(text, index=values.index, name=values.name, dtype=object)


def write_frame_csv(buf: IO[str], frame: pd.DataFrame, raw: IO[bytes] | None = None) -> None:
    """A frame as CSV text into a text handle: missing values are empty fields, floats with CSV_FLOAT, text a
    spreadsheet would run as a formula neutralised (escape_formulas); the bytes of pandas' to_csv (csv module,
    minimal quoting), each column's text made once per distinct value (_csv_fields) and the records joined by
    Arrow a chunk at a time (joined_lines), written as bytes to `raw` when given (the file under `buf`)."""
    out = escape_formulas(frame)
    # Python's csv writer quotes a field with a line feed but not one with a lone carriage return, which a reader
    # takes for a line break: a frame holding one has every field quoted (the bytes of any other frame unchanged)
    lone_cr = any(distinct_text(out[c]).str.contains("\r", regex=False).any() for c in _text_columns(out))
    fields = None if lone_cr or not out.columns.is_unique or not all(isinstance(c, str) for c in out.columns) \
        or not len(out.columns) else [_csv_fields(out[c]) for c in out.columns]
    if fields is None or any(f is None for f in fields):
        pandas_csv(buf, out, csv.QUOTE_ALL if lone_cr else csv.QUOTE_MINIMAL)
        return
    single = len(fields) == 1           # the csv module quotes a record that would otherwise be an empty line
    buf.write(",".join(_quoted(c, single) for c in out.columns) + "\n")
    if single:
        table, codes = fields[0]
        for start in range(0, len(out), CSV_CHUNK):
            buf.write("\n".join(r or '""' for r in table[codes[start:start + CSV_CHUNK]].tolist()) + "\n")
        return
    for chunk in joined_lines(fields, len(out)):
        if raw is not None:
            raw.write(chunk)
        else:
            buf.write(chunk.decode("utf-8"))


def joined_lines(fields: list[tuple["np.ndarray", "np.ndarray"]], n: int, before: str = "",
                 after: str = "", between: str = "\n", chunk: int | None = None) -> Iterator[bytes]:
    """`n` lines of fields given as (the text of each distinct value, a code per line into it; -1: the last
    text), joined by ',' between `before` and `after`, each line ended by `between` (a line feed), as UTF-8 bytes
    `chunk` (CSV_CHUNK) lines at a time: each column taken by its codes and joined by Arrow's kernels, not per line in
    Python (a trace of raw cells has millions). CSV records (write_frame_csv), NDJSON rows and the rows of a
    Dataset-JSON file (`between` ',') are written so."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pa.large_string()
    columns = [(pa.array(table, type=text), np.where(codes < 0, len(table) - 1, codes)) for table, codes in fields]
    comma, line_feed, empty = pa.scalar(",", text), pa.scalar(between, text), pa.scalar("", text)
    chunk = chunk or CSV_CHUNK
    for start in range(0, n, chunk):
        if columns:
            lines = pc.binary_join_element_wise(*[t.take(pa.array(c[start:start + chunk])) for t, c in columns],
                                                comma)
        else:
            lines = pa.array([""] * min(chunk, n - start), type=text)
        if before or after:
            lines = pc.binary_join_element_wise(pa.scalar(before, text), lines, pa.scalar(after, text), empty)
        lines = pa.LargeListArray.from_arrays(pa.array([0, len(lines)], pa.int64()), lines)
        yield pc.binary_join(lines, line_feed)[0].as_buffer().to_pybytes() + between.encode("utf-8")


def pandas_csv(buf: IO[str], frame: pd.DataFrame, quoting: int = csv.QUOTE_MINIMAL) -> None:
    """The frame (formulas already escaped) through pandas' to_csv: what write_frame_csv writes, the reference
    its faster path is tested against, and its path for columns of other objects."""
    floats = [c for c in frame.columns if frame[c].dtype == "float64"]
    if floats and frame.columns.is_unique:
        frame = frame.assign(**{c: float_text(frame[c]) for c in floats})
    frame.to_csv(buf, index=False, lineterminator="\n", float_format=CSV_FLOAT, quoting=quoting)


def text_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame as the CSV write_csv writes of it reads back as text (pd.read_csv with dtype="string" and
    keep_default_na=False: formulas escaped, missing values ''), made without the file from csv_words."""
    if not len(frame.columns):
        return pd.DataFrame()                  # write_csv writes an empty file, which reads back as no table
    out = escape_formulas(frame)
    words = [csv_words(out[c]) for c in out.columns] \
        if out.columns.is_unique and all(isinstance(c, str) for c in out.columns) else [None]
    if any(w is None for w in words) or any(any("\r" in t for t in w[1]) for w in words):
        buf = io.StringIO()
        write_frame_csv(buf, frame)          # other objects or a carriage return: the real round trip
        return pd.read_csv(io.StringIO(buf.getvalue()), dtype="string", keep_default_na=False)
    return pd.DataFrame({c: text_by_codes(w[1], w[0], "") for c, w in zip(out.columns, words)},
                        columns=list(out.columns))


def text_by_codes(texts: list, codes: "np.ndarray", missing: str | None = None) -> pd.Series:
    """A text column (string) holding texts[code] for each record, `missing` where the code is -1: taken by
    Arrow from the distinct texts, not built record by record in Python."""
    import numpy as np
    import pyarrow as pa

    table = pa.array([*texts, missing], type=pa.large_string())
    return pd.Series(pd.arrays.ArrowStringArray(table.take(pa.array(np.where(codes < 0, len(texts), codes)))))


def read_back_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame as the CSV write_csv writes of it reads back with pandas' defaults (pd.read_csv with
    dtype="string": '', 'NA', 'null' and pandas' other missing-value words become missing), without the file."""
    from pandas._libs.parsers import STR_NA_VALUES      # the words read_csv takes for missing by default

    text = text_frame(frame)
    missing = frozenset(STR_NA_VALUES) | {""}
    return pd.DataFrame({c: text[c].mask(text[c].isin(missing)) for c in text.columns}, columns=text.columns,
                        index=text.index)


def _quoted(text: str, single: bool = False) -> str:
    """One field as the csv module writes it with minimal quoting (a delimiter, quote or line feed quotes it)."""
    if "," in text or '"' in text or "\n" in text:
        return '"' + text.replace('"', '""') + '"'
    return '""' if single and not text else text


def csv_words(values: pd.Series) -> tuple["np.ndarray", list[str]] | None:
    """A column's text as to_csv writes it, once per distinct value: (a code per record, -1 for missing, and the
    text of each code), unquoted; None for a column of other objects (dates, mixed objects, nullable booleans).
    write_csv's fields and the frames handed on in memory (formats.csv_dataset) both come from it."""
    import numpy as np

    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype) and _is_text(dtype):     # the categories' text, by the codes
        uniques = list(dtype.categories)
        if not all(isinstance(u, str) for u in uniques):
            return None
        return values.cat.codes.to_numpy(), uniques
    if isinstance(dtype, pd.StringDtype) or dtype == object:
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        if dtype == object and not all(isinstance(u, str) for u in uniques):
            return None
        return codes, [str(u) for u in uniques]
    if pd.api.types.is_bool_dtype(dtype) and not values.isna().any():
        codes, uniques = pd.factorize(values.to_numpy(dtype=bool))
        return codes, ["True" if u else "False" for u in uniques]
    if pd.api.types.is_float_dtype(dtype):           # by bit pattern (-0.0 stays '-0'); every NaN is missing
        codes, uniques = pd.factorize(values.astype("float64").to_numpy(dtype=np.float64).view(np.int64))
        floats = uniques.view(np.float64)
        nan = np.isnan(floats)
        if nan.any():
            codes = np.where(nan[codes], -1, codes)
        return codes, [CSV_FLOAT % u for u in floats]
    if pd.api.types.is_integer_dtype(dtype):
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        return codes, [str(int(u)) for u in uniques]
    return None


def _csv_fields(values: pd.Series) -> tuple["np.ndarray", "np.ndarray"] | None:
    """A column's CSV fields as (the quoted text of each distinct value, then '' for missing; a code per record
    into it) from csv_words; None for a column of other objects."""
    import numpy as np

    words = csv_words(values)
    if words is None:
        return None
    return np.array([_quoted(w) for w in words[1]] + [""], dtype=object), words[0]


CSV_CHUNK = 65_536      # records joined and written at a time: a big table's text is never held whole in memory


def write_csv(path: Path, frame: pd.DataFrame) -> None:
    """Write a frame as UTF-8 CSV atomically (write_frame_csv), streamed into the file a chunk at a time."""
    def write(fh: IO[bytes]) -> None:
        text = io.TextIOWrapper(fh, encoding="utf-8", newline="", write_through=True)   # unbuffered: the
        write_frame_csv(text, frame, raw=fh)                   # text and the bytes reach the file in order
        text.flush()
        text.detach()

    write_with(path, write)


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


EXCEL_MAX_ROWS = 1_048_575
SEVERITY_COLOURS = {"Error": "F8CBAD", "Warning": "FFE699", "Notice": "DDEBF7"}


def add_sheet(wb, title: str, frame: pd.DataFrame, widths: dict[str, int], severity_col: str | None = None) -> None:
    """A write-only sheet of a frame: styled header, frozen first row, autofilter, widths, a severity column
    coloured, data cells always as text or numbers (text from the data is never a formula)."""
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    header_fill, header_font = PatternFill("solid", fgColor="1F4E78"), Font(bold=True, color="FFFFFF")
    fills = {k: PatternFill("solid", fgColor=v) for k, v in SEVERITY_COLOURS.items()}
    ws = wb.create_sheet(title)
    cols = list(frame.columns)
    for i, c in enumerate(cols, start=1):
        ws.column_dimensions[get_column_letter(i)].width = widths.get(c, 14)
    ws.freeze_panes = "A2"
    header = []
    for c in cols:
        cell = WriteOnlyCell(ws, value=c)
        cell.font, cell.fill = header_font, header_fill
        cell.alignment = Alignment(vertical="center")
        header.append(cell)
    ws.append(header)
    n = min(len(frame), EXCEL_MAX_ROWS - 1)
    sev_idx = cols.index(severity_col) if severity_col in cols else None
    values = frame.head(n).astype(object).where(frame.head(n).notna(), None).to_numpy()
    for row in values:
        cells = []
        for j, v in enumerate(row):
            cell = WriteOnlyCell(ws, value=v)
            if isinstance(v, str):
                cell.data_type = "s"       # text from the data is never a formula, whatever it starts with
            if sev_idx is not None and j == sev_idx and v in fills:
                cell.fill = fills[v]
            cells.append(cell)
        ws.append(cells)
    ws.auto_filter.ref = f"A1:{get_column_letter(max(1, len(cols)))}{n + 1}"
