"""The comparison a person reads (report.html and the terminal): deleted records and vanished subjects first,
then the changed values with their raw cells, then each new subject on one line with its record counts; checked
in the comparison frames, in the HTML text, and by element positions in headless Chromium. The lab plots: a
y label with the unit and x ticks on the data's visit weeks."""
from __future__ import annotations

import html
import json
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from cdisc_il2.cli import app
from conftest import SAMPLES

TRANSFER02 = SAMPLES.parent / "transfer-02"
INTENT = {c["id"]: c for c in json.loads((TRANSFER02 / "transfer-changes.json").read_text(encoding="utf-8"))["changes"]}
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARROW = "\u2192"

# Written into the page before </body>: the page-relative box of the sections and of every visible table row,
# heading and new-subject line of the comparison (content of closed <details> is not shown, so left out).
MEASURE = """
(function(){
  function box(el){var r=el.getBoundingClientRect();return {top:r.top+window.scrollY,height:r.height};}
  var out={page:document.documentElement.scrollHeight,sections:{},items:[]};
  document.querySelectorAll('section[id]').forEach(function(s){out.sections[s.id]=box(s);});
  document.getElementById('comparison').querySelectorAll('tr, h3, li.subject-line').forEach(function(el){
    if(el.closest('details:not([open])')) return;
    var b=box(el);b.tag=el.tagName;b.within=(el.closest('[id]')||{}).id||'';b.text=el.textContent;
    if(el.tagName==='LI'){var s=el.querySelector('summary');b.text=s.textContent;b.line=box(s).height;
      b.font=parseFloat(getComputedStyle(s).fontSize);}
    out.items.push(b);});
  var pre=document.createElement('pre');pre.id='layout-json';pre.textContent=JSON.stringify(out);
  document.body.appendChild(pre);
})();
"""


def _new_subjects() -> list[str]:
    return [c["usubjid"] for c in INTENT.values() if any(e.get("subject") == "added" for e in c["expect"])]


def _comparison_html(out: Path) -> str:
    page = (out / "report.html").read_text(encoding="utf-8")
    return page[page.index('<section id="comparison">'):page.index('<section id="findings">')]


def test_the_comparison_made_in_memory_is_the_comparison_of_the_two_folders(sample_run, second_run, tmp_path):
    """run compares its new package from memory (compare.RunTables.in_memory); `compare` of the two folders
    reads every table from the files: the comparison files are byte for byte the same, and not empty; and the
    report, handed the comparison in memory, is the one made from the published folder."""
    from cdisc_il2.reports.html import build_report
    from cdisc_il2.transfers.compare import compare_runs, write_comparison

    out, _ = second_run
    written = write_comparison(compare_runs(sample_run, out), tmp_path / "comparison")
    for path in written:
        assert path.read_bytes() == (out / "comparison" / path.name).read_bytes(), path.name
    summary = json.loads((out / "comparison" / "summary.json").read_text())
    assert summary["values_changed"] and summary["records_added"] and summary["findings_new"] + summary["findings_resolved"]
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page == build_report(out) and "id='comparison'" in page.replace('"', "'")


def test_comparison_frames_hold_the_raw_cells_and_the_new_subjects_counts(second_run):
    out, _ = second_run
    folder = out / "comparison"
    read = lambda name: pd.read_csv(folder / name, dtype="string", keep_default_na=False)  # noqa: E731
    changes, values, counts = read("changes.csv"), read("changed_values.csv"), read("new_subjects.csv")
    summary = json.loads((folder / "summary.json").read_text())
    assert (changes["change"] == "added").sum() == summary["records_added"] > 0      # changes.csv still complete
    assert len(values) == summary["values_changed"]
    for tid in ("T1", "T2", "T3"):                                   # each correction, at the sheet/row changed
        c = INTENT[tid]
        e = c["expect"][0]
        hit = values[(values["dataset"] == e["dataset"]) & (values["usubjid"] == c["usubjid"])
                     & (values["variable"] == e["variable"])]
        assert len(hit) == 1, tid
        r = hit.iloc[0]
        assert (r["file"], r["sheet"], r["row"]) == (c["file"], c["sheet"], str(c["row"])), tid
        assert r["column"] != "" and r["raw"] != "", tid             # collected: its heading and raw text
        if "old" in e:
            assert (r["old"], r["new"]) == (e["old"], e["new"])
    t1 = INTENT["T1"]["expect"][0]
    assert values.loc[values["variable"] == t1["variable"], "raw"].tolist() == [t1["new"]]
    assert (values.loc[values["variable"].isin(["LBSTRESC", "LBSTRESN"]), "column"] == "").all()   # derived
    new = _new_subjects()
    assert counts["usubjid"].tolist() == sorted(new)
    added = changes[changes["change"] == "added"]
    for r in counts.to_dict("records"):
        mine = added[added["usubjid"] == r["usubjid"]]
        assert int(r["records"]) == len(mine) > 0
        per = mine["dataset"].value_counts()
        assert {d: int(r[d]) for d in counts.columns[3:] if int(r[d])} == per.to_dict()
        assert r["file"] == next(c["file"] for c in INTENT.values() if c["usubjid"] == r["usubjid"])


def test_comparison_html_and_terminal_show_deletions_and_values_before_new_subjects(second_run):
    out, text = second_run
    section = _comparison_html(out)
    t1, t4 = INTENT["T1"], INTENT["T4"]
    e1 = t1["expect"][0]
    deleted = section.index('id="deleted-records"')
    gone_row = section.index(t4["usubjid"], deleted)
    values = section.index('id="changed-values"')
    t1_row = section.index(html.escape(f"{e1['old']} {ARROW} {e1['new']}"), values)
    assert html.escape(t1["sheet"]) in section[t1_row:section.index("</tr>", t1_row)]
    new_head = section.index("id='new-subjects'")
    assert section.index("id='comparison-summary'") < deleted < gone_row < values < t1_row < new_head
    counts = pd.read_csv(out / "comparison" / "new_subjects.csv", dtype="string")
    lines = re.findall(r"<li class='subject-line' data-usubjid='([^']+)'><details><summary>(.*?)</summary>", section)
    assert [u for u, _ in lines] == counts["usubjid"].tolist() == sorted(_new_subjects())
    for (usubjid, summary), records in zip(lines, counts["records"]):
        assert f"<b>{usubjid}</b>: {records} records (" in summary
    visible = re.sub(r"<details>.*?</details>", "", section, flags=re.S)   # closed drill-downs taken out
    assert visible.count("<tr") < 60                 # not the 399 records of the new subjects
    for usubjid in _new_subjects():                  # a new subject's records only behind its click
        assert visible.count(usubjid) == 1
    # the terminal, in the same order
    order = [text.index(f"record deleted: AE {t4['usubjid']}"),
             text.index(f"value changed: LB {t1['usubjid']}"),
             *[text.index(f"new subject: {u}") for u in counts["usubjid"]]]
    assert order == sorted(order)
    assert f"{e1['old']} -> {e1['new']} ({t1['file']}, {t1['sheet']}, row {t1['row']}," in text
    for r in counts.itertuples():
        assert f"new subject: {r.usubjid}, {r.records} records (" in text


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (.ci/run installs the Debian package)")
def test_comparison_reads_first_in_headless_chromium(second_run, tmp_path):
    out, _ = second_run
    page = tmp_path / "report.html"
    text = (out / "report.html").read_text(encoding="utf-8")
    page.write_text(text.replace("</body>", f"<script>{MEASURE}</script></body>"), encoding="utf-8")
    width, height = 1300, 2400
    base = [CHROMIUM, *CHROME_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", f"--window-size={width},{height}"]
    shot = tmp_path / "report.png"
    subprocess.run([*base, f"--screenshot={shot}", (out / "report.html").as_uri()], check=True, timeout=120,
                   capture_output=True)
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR" and len(png) > 50_000
    assert struct.unpack(">II", png[16:24]) == (width, height)
    dom = subprocess.run([*base, "--dump-dom", page.as_uri()], check=True, timeout=120, capture_output=True,
                         text=True).stdout
    layout = json.loads(html.unescape(re.search(r'<pre id="layout-json">(.*?)</pre>', dom, re.S).group(1)))
    items, sections = layout["items"], layout["sections"]

    def top(within: str, *words: str) -> float:
        hits = [i["top"] for i in items if i["within"] == within and all(w in i["text"] for w in words)]
        assert hits, (within, words)
        return min(hits)

    t1, t4 = INTENT["T1"], INTENT["T4"]
    e1 = t1["expect"][0]
    deleted = top("deleted-records", t4["usubjid"], t4["sheet"])
    changed = top("changed-values", t1["usubjid"], f"{e1['old']} {ARROW} {e1['new']}", t1["sheet"], str(t1["row"]))
    lines = [i for i in items if i["tag"] == "LI"]
    counts = pd.read_csv(out / "comparison" / "new_subjects.csv", dtype="string")
    assert [next(u for u in counts["usubjid"] if u in i["text"]) for i in lines] == counts["usubjid"].tolist()
    assert sections["comparison"]["top"] < deleted < changed < min(i["top"] for i in lines)
    for line, records in zip(lines, counts["records"]):
        assert f"{records} records (" in line["text"]
        assert line["line"] < 2 * line["font"]                   # one line of text, not wrapped
    row = next(i["height"] for i in items if i["within"] == "changed-values" and i["tag"] == "TR")
    # the comparison is a screen or so high (it was 400+ table rows), so the findings come soon after it
    assert sections["comparison"]["height"] < 80 * row
    assert sections["findings"]["top"] < 4000 < layout["page"]


def test_lab_plots_label_the_unit_and_tick_the_visit_weeks(tmp_path):
    from cdisc_il2.reports.html import LAB_PLOTS, RunFiles, _plots

    code, title = LAB_PLOTS[0]
    weeks = [0, 3, 7, 11]                                          # not the study's: ticks follow the data
    rows = [{"USUBJID": f"S-{s}", "PARAMCD": code, "PARAM": "Some test (mmol/L)", "AVISITN": w,
             "AVAL": 100 + 50 * s + 10 * w, "ANL01FL": "Y"} for s in range(4) for w in weeks]
    (tmp_path / "adam").mkdir()
    pd.DataFrame(rows).to_csv(tmp_path / "adam" / "adlb.csv", index=False)
    svg = _plots(RunFiles(tmp_path))
    texts = [html.unescape(t) for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg)]
    assert "result (mmol/L)" in texts and f"{title} (mmol/L)" in texts
    numbers = {t for t in texts if re.fullmatch(r"[\d.]+", t)}
    assert {str(w) for w in weeks} <= numbers and not numbers & {"2.5", "7.5", "1", "2", "4", "5", "6"}
