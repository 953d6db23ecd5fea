"""The next data transfer of the samples: transfer-01 some weeks later, as sites send it. Every change is made
on purpose and recorded in transfer-changes.json beside the workbooks, so that tests compare the tool's
comparison with what was meant, not with the tool's own output.

Changes: two subjects enrolled later (one withdrew after week 2 at site 01, one ongoing at site 03 with
visits to week 4), a corrected lab value, a corrected AE end date, an AE term corrected, a deleted AE,
a renamed column heading at site 02 (its spec lists both headings), and two answers to the queries of
transfer-01: the missing AE start date of P1 supplied, P3's unknown severity corrected."""
from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

from openpyxl import load_workbook

from .io import save_workbook, write_text
from .resources import load_study

FILE_TIME_02 = dt.datetime(2015, 8, 31, 12, 0, 0)
SHIFT = dt.timedelta(days=120)             # the new subjects enrolled four months after the copied one
SITE1 = "site01_IL2-SLE-01_transfer.xlsx"
SITE2 = "site02_export.xlsx"
SITE3 = "site03_cn_export.xlsx"
DOTTED = re.compile(r"^(\d{4})\.(\d{2})\.(\d{2})$")


def _rows(ws) -> list[list]:
    return [list(r) for r in ws.iter_rows(values_only=True)]


def _rewrite(ws, rows: list[list]) -> None:
    """Replace a sheet's content with `rows` (headings first), strings kept as text."""
    from .io import set_text_cell

    ws.delete_rows(1, ws.max_row)
    for r, row in enumerate(rows, start=1):
        for c, value in enumerate(row, start=1):
            set_text_cell(ws.cell(row=r, column=c), value)


def _shift(value: object) -> object:
    """A date cell moved by SHIFT: datetime cells and 2014.03.18 text; anything else unchanged."""
    if isinstance(value, dt.datetime):
        return value + SHIFT
    if isinstance(value, str) and DOTTED.match(value):
        d = dt.date(*map(int, DOTTED.match(value).groups())) + SHIFT
        return f"{d.year}.{d.month:02d}.{d.day:02d}"
    return value


def _copy_subject(rows: list[list], old: object, new: object, keep=lambda r: True) -> list[list]:
    """The rows of subject `old` (first column) copied as subject `new`, dates shifted, filtered by `keep`."""
    return [[new, *(_shift(v) for v in r[1:])] for r in rows[1:] if r[0] == old and keep(r)]


def make_transfer_02(src: Path, out: Path) -> dict:
    """Write transfer-02 from transfer-01 in `src` into `out`, with transfer-changes.json; return the changes."""
    src, out = Path(src), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    studyid = load_study()["studyid"]
    changes: list[dict] = []

    wb = load_workbook(src / SITE1)
    # T1: a corrected lab value (C3 at week 8 of the first subject)
    labs = _rows(wb["Labs"])
    i = next(k for k, r in enumerate(labs) if r[3] == "Complement C3" and r[1] == "Week 8")
    old_value = labs[i][4]
    labs[i][4] = f"{float(old_value) * 1.1:.2f}"
    changes.append({"id": "T1", "what": "lab value corrected by the site", "file": SITE1, "sheet": "Labs", "row": i + 1,
                    "usubjid": f"{studyid}-01-{labs[i][0]}", "expect": [
                        {"dataset": "LB", "change": "changed", "variable": "LBORRES", "old": old_value, "new": labs[i][4]}]})
    # T5: a new subject (copy of the last one, four months later) who withdrew after week 2
    last = labs[-1][0]
    visits = {"Screening", "Baseline", "Week 2"}
    new_id = f"{int(last) + 1:03d}"
    demo = _rows(wb["Demography"])
    head = demo[0]
    added = _copy_subject(demo, last, new_id)
    week2 = next(r[2] for r in labs[1:] if r[0] == last and r[1] == "Week 2") + SHIFT
    for r in added:
        r[head.index("Completed study")] = "N"
        r[head.index("End of study date")] = week2
        r[head.index("Reason for discontinuation")] = "Withdrawal of consent"
    _rewrite(wb["Demography"], demo + added)
    for sheet, date_col in (("Dosing log", 3), ("Concomitant medications", None)):
        rows = _rows(wb[sheet])
        # the copied subject's doses up to its (shifted) week-2 visit: compared after the shift, as written
        keep = (lambda r, c=date_col: _shift(r[c]) <= week2) if date_col is not None else (lambda r: True)
        _rewrite(wb[sheet], rows + _copy_subject(rows, last, new_id, keep))
    for sheet in ("Labs", "SLEDAI-2K", "PGA", "BILAG-2004"):
        rows = labs if sheet == "Labs" else _rows(wb[sheet])
        _rewrite(wb[sheet], rows + _copy_subject(rows, last, new_id, lambda r: r[1] in visits))
    changes.append({"id": "T5", "what": "new subject, withdrew (consent withdrawn) after week 2", "file": SITE1,
                    "usubjid": f"{studyid}-01-{new_id}", "expect": [{"subject": "added", "EOSSTT": "DISCONTINUED",
                                                                  "DCSREAS": "WITHDRAWAL OF CONSENT"}]})
    # T8: the site answers the query on P1 (an AE without a start date): the start date is supplied
    ae = _rows(wb["Adverse events"])
    head = ae[0]
    start, end = head.index("Start date"), head.index("End date")
    m = next(n for n, r in enumerate(ae[1:], start=1) if r[0] is not None and r[start] is None and r[end])
    ae[m][start] = ae[m][end] - dt.timedelta(days=4)
    _rewrite(wb["Adverse events"], ae)
    changes.append({"id": "T8", "what": "query answered: the missing AE start date supplied by the site", "file": SITE1,
                    "sheet": "Adverse events", "row": m + 1, "usubjid": f"{studyid}-01-{ae[m][0]}", "expect": [
                        {"dataset": "AE", "change": "changed", "variable": "AESTDTC", "old": "",
                         "new": ae[m][start].date().isoformat()}]})
    save_workbook(wb, out / SITE1, FILE_TIME_02)

    wb = load_workbook(src / SITE2)
    ae = _rows(wb["AE log"])
    head = ae[0]
    # T2: a corrected AE end date; T3: an abbreviation spelled out; T7: a renamed heading
    j = next(k for k, r in enumerate(ae[1:], start=1) if r[0] is not None and r[3] and r[0] != 2999)
    old_end = ae[j][3]
    new_end = (dt.datetime.strptime(old_end, "%d%b%Y") + dt.timedelta(days=2)).strftime("%d%b%Y").upper()
    ae[j][3] = new_end
    changes.append({"id": "T2", "what": "AE end date corrected", "file": SITE2, "sheet": "AE log", "row": j + 1,
                    "usubjid": f"{studyid}-02-{ae[j][0]}", "expect": [
                        {"dataset": "AE", "change": "changed", "variable": "AEENDTC"}]})
    k = next(n for n, r in enumerate(ae[1:], start=1) if r[1] == "tiredness")
    ae[k][1] = "fatigue"
    changes.append({"id": "T3", "what": "AE term corrected by the site ('tiredness' written as the coded term)",
                    "file": SITE2, "sheet": "AE log", "row": k + 1, "usubjid": f"{studyid}-02-{ae[k][0]}", "expect": [
                        {"dataset": "AE", "change": "changed", "variable": "AETERM", "old": "tiredness",
                         "new": "fatigue"}]})
    # T9: the site answers the query on P3 (a severity outside the codelist): 'Moderate-severe' is grade 2
    g = head.index("Grade")
    n = next(n for n, r in enumerate(ae[1:], start=1) if r[g] == "Moderate-severe")
    ae[n][g] = "Grade 2"
    changes.append({"id": "T9", "what": "query answered: the unknown severity 'Moderate-severe' corrected to 'Grade 2'",
                    "file": SITE2, "sheet": "AE log", "row": n + 1, "usubjid": f"{studyid}-02-{ae[n][0]}", "expect": [
                        {"dataset": "AE", "change": "changed", "variable": "AESEV", "old": "Moderate-severe",
                         "new": "MODERATE"}]})
    head[head.index("Resolved")] = "Resolution date"
    _rewrite(wb["AE log"], ae)
    changes.append({"id": "T7", "what": "column heading 'Resolved' renamed 'Resolution date'", "file": SITE2,
                    "sheet": "AE log", "usubjid": "", "expect": []})
    save_workbook(wb, out / SITE2, FILE_TIME_02)

    wb = load_workbook(src / SITE3)
    # T4: an AE deleted by the site
    ae = _rows(wb["不良事件"])
    gone = ae.pop(1)
    _rewrite(wb["不良事件"], ae)
    changes.append({"id": "T4", "what": "AE record deleted by the site", "file": SITE3, "sheet": "不良事件", "row": 2,
                    "usubjid": f"{studyid}-03-{gone[0]}", "expect": [{"dataset": "AE", "change": "deleted"}]})
    # T6: a new subject still ongoing (visits to week 4, no end-of-study row)
    demo = _rows(wb["人口学资料"])
    last = demo[-1][0]
    new_id = f"C3-{int(last.split('-')[1]) + 1:02d}"
    lab = _rows(wb["实验室检查"])
    visits = {"筛选期", "基线", "第2周", "第4周"}
    week4 = next(r[2] for r in lab[1:] if r[0] == last and r[1] == "第4周")
    cut = _shift(week4)
    _rewrite(wb["人口学资料"], demo + _copy_subject(demo, last, new_id))
    for sheet in ("实验室检查", "疾病活动度"):
        rows = _rows(wb[sheet])
        _rewrite(wb[sheet], rows + _copy_subject(rows, last, new_id, lambda r: r[1] in visits))
    dosing = _rows(wb["给药记录"])
    _rewrite(wb["给药记录"], dosing + [r for r in _copy_subject(dosing, last, new_id) if r[2] <= cut])
    meds = _rows(wb["合并用药"])
    _rewrite(wb["合并用药"], meds + _copy_subject(meds, last, new_id))
    changes.append({"id": "T6", "what": "new subject, ongoing (visits to week 4, no end of study yet)", "file": SITE3,
                    "usubjid": f"{studyid}-03-{new_id}", "expect": [{"subject": "added", "EOSSTT": "ONGOING"}]})
    save_workbook(wb, out / SITE3, FILE_TIME_02)

    doc = {"from": "transfer-01", "transfer_time": FILE_TIME_02.isoformat(), "changes": changes,
           "note": "expect lists the record-level effect in SDTM; derived values of the same record (--STRESC, "
                   "--DY, EPOCH) and trial-level counts in TS follow from it"}
    write_text(out / "transfer-changes.json", json.dumps(doc, indent=1, ensure_ascii=False, default=str) + "\n")
    return doc
