"""Builders of the bad inputs catalogued in README.md: small workbooks, specs and dataset files made on the fly.

The tests (tests/test_bad_inputs.py) build each case in a temporary folder; `python tests/bad_inputs/build.py OUT`
writes them all to OUT to try by hand (`cdisc-il2 convert OUT/transfer --out x --mappings OUT/specs`, ...).
"""
from __future__ import annotations

import datetime as dt
import io
import re
import sys
import zipfile
from pathlib import Path

import yaml
from openpyxl import Workbook
from openpyxl.utils.datetime import CALENDAR_MAC_1904

DEMOGRAPHY = ["Subject ID", "Sex", "Consent date"]
DOSING = ["Subject ID", "Date", "Dose (IU)"]
AE = ["Subject ID", "Adverse event", "Note"]

DM_BLOCK = {"name": "demography", "domain": "DM", "sheet": "Demography",
            "variables": {"SUBJID": {"column": "Subject ID", "required": True},
                          "SEX": {"column": "Sex", "codelist": "SEX"},
                          "RFICDTC": {"column": "Consent date", "date": True}}}
EX_BLOCK = {"name": "dosing", "domain": "EX", "sheet": "Dosing",
            "variables": {"SUBJID": {"column": "Subject ID", "required": True},
                          "EXTRT": {"value": "IL-2"},
                          "EXSTDTC": {"column": "Date", "date": True},
                          "EXENDTC": {"column": "Date", "date": True},
                          "EXDOSE": {"column": "Dose (IU)", "number": True},
                          "EXDOSU": {"value": "IU"}}}
AE_BLOCK = {"name": "adverse events", "domain": "AE", "sheet": "AE",
            "variables": {"SUBJID": {"column": "Subject ID", "required": True},
                          "AETERM": {"column": "Adverse event", "required": True}}}


def spec(folder: Path, blocks: list[dict], **top) -> Path:
    """A site spec (site 09, files site09_*.xlsx) in `folder`; returns the folder (for --mappings)."""
    doc = {"spec_version": 1, "site": "09", "files": "site09_*.xlsx", "date_patterns": ["iso", "excel"],
           "blocks": blocks, **top}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "site09.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return folder


def workbook(path: Path, sheets: dict[str, list[list[object]]], *, date1904: bool = False,
             states: dict[str, str] | None = None, merged: dict[str, list[str]] | None = None,
             hidden_rows: dict[str, list[int]] | None = None, text_cells: dict[str, list[str]] | None = None) -> Path:
    """An .xlsx with the given sheets (rows as lists); optional 1904 dates, sheet states, merged ranges (the
    covered cells are emptied, as Excel stores them), hidden rows and cells forced to text (never formulas)."""
    wb = Workbook()
    wb.remove(wb.active)
    if date1904:
        wb.epoch = CALENDAR_MAC_1904
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(row)
        for ref in (text_cells or {}).get(name, []):
            ws[ref].data_type = "s"
        for rng in (merged or {}).get(name, []):
            ws.merge_cells(rng)
        for r in (hidden_rows or {}).get(name, []):
            ws.row_dimensions[r].hidden = True
        ws.sheet_state = (states or {}).get(name, "visible")
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


def rewrite_part(path: Path, part: str, edit) -> None:
    """Replace one part of a zip (an .xlsx) by edit(old bytes)."""
    src = zipfile.ZipFile(io.BytesIO(path.read_bytes()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            dst.writestr(info.filename, edit(data) if info.filename == part else data)
    path.write_bytes(out.getvalue())


def cache_formulas(path: Path, part: str, cached: dict[str, tuple[str | None, str]]) -> None:
    """Give formula cells (as openpyxl writes them: <f>..</f><v></v>) a cached value, as Excel would: cell ref ->
    (cached text, cell type 'n', 'str' or 'e'); a None value leaves the formula without one."""
    def edit(xml: bytes) -> bytes:
        text = xml.decode("utf-8")
        for ref, (value, kind) in cached.items():
            pattern = re.compile(rf'<c r="{ref}"([^>]*)><f>(.*?)</f><v\s*/?>(?:</v>)?</c>')
            cell = pattern.search(text)
            assert cell, f"no formula cell {ref}"
            attrs = re.sub(r'\s*t="[^"]*"', "", cell.group(1))
            typ = "" if kind == "n" else f' t="{kind}"'
            v = "" if value is None else f"<v>{value}</v>"
            text = text[:cell.start()] + f'<c r="{ref}"{attrs}{typ}><f>{cell.group(2)}</f>{v}</c>' + text[cell.end():]
        return text.encode("utf-8")
    rewrite_part(path, part, edit)


def blank_tail(path: Path, part: str, rows: int, first: int) -> None:
    """Append `rows` blank rows (each a styled empty cell, as formatting a whole column leaves) from row `first`."""
    def edit(xml: bytes) -> bytes:
        tail = "".join(f'<row r="{r}"><c r="A{r}" s="0"/></row>' for r in range(first, first + rows))
        return xml.replace(b"</sheetData>", tail.encode("ascii") + b"</sheetData>")
    rewrite_part(path, part, edit)


def zip_bomb(path: Path, inflated: int) -> Path:
    """A small .xlsx whose first sheet part inflates to `inflated` bytes of white space."""
    workbook(path, {"Demography": [DEMOGRAPHY, ["001", "F", "2014-03-18"]]})
    rewrite_part(path, "xl/worksheets/sheet1.xml", lambda xml: xml + b" " * inflated)
    return path


def main(out: Path) -> None:
    """Write a sample of the workbook cases to OUT/transfer with a spec in OUT/specs."""
    t = out / "transfer"
    workbook(t / "site09_1904.xlsx", {"Demography": [DEMOGRAPHY, ["001", "F", dt.datetime(2014, 3, 18)],
                                                     ["002", "M", 40254]], "AE": [AE]}, date1904=True)
    p = workbook(t / "site09_formulas.xlsx", {"Demography": [DEMOGRAPHY, ["003", "F", "2014-03-18"]],
                                              "AE": [AE, ["003", '=HYPERLINK("http://x","click")', None]]})
    cache_formulas(p, "xl/worksheets/sheet2.xml", {"B2": ("click", "str")})
    spec(out / "specs", [DM_BLOCK, AE_BLOCK])
    zip_bomb(out / "bomb" / "site09_bomb.xlsx", 64 * 1024 ** 2)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
