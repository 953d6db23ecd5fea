"""Transfers: comparison of two runs by natural keys, the run history (transactions), findings triage, the
staged package (a killed run leaves the previous one), and the HTML report (escaped, rendered in Chromium)."""
from __future__ import annotations

import json
import re
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from cdisc_il2.cli import app
from cdisc_il2.faults import FAULT_COPY_ENV, FAULT_ENV, RUN_POINTS
from cdisc_il2.pipeline import recover
from cdisc_il2.transfers.compare import compare_runs
from cdisc_il2.transfers.queries import read_queries
from cdisc_il2.transfers.history import list_runs, record_run
from cdisc_il2.transfers.triage import apply_triage, load_justifications
from conftest import ROOT, SAMPLES


def _copy(run: Path, tmp_path: Path, name: str) -> Path:
    dst = tmp_path / name
    shutil.copytree(run, dst)
    return dst


def test_comparison_finds_exactly_the_edits(sample_run, tmp_path):
    new = _copy(sample_run, tmp_path, "edited")
    lb = pd.read_csv(new / "sdtm" / "lb.csv", dtype="string", keep_default_na=False)
    target = lb.index[(lb["LBTESTCD"] == "C3") & (lb["VISIT"] == "WEEK 4")][0]
    old_value = lb.at[target, "LBORRES"]
    lb.at[target, "LBORRES"] = "9.99"                               # a corrected lab value
    lb.to_csv(new / "sdtm" / "lb.csv", index=False)
    ae = pd.read_csv(new / "sdtm" / "ae.csv", dtype="string", keep_default_na=False)
    gone = ae.iloc[0]
    ae.iloc[1:].to_csv(new / "sdtm" / "ae.csv", index=False)          # a deleted AE
    adrs = pd.read_csv(new / "adam" / "adrs.csv", dtype="string", keep_default_na=False)
    flip = adrs.index[(adrs["PARAMCD"] == "SRI4") & (adrs["AVISIT"] == "WEEK 10") & (adrs["AVALC"] == "Y")][0]
    adrs.at[flip, "AVALC"] = "N"
    adrs.to_csv(new / "adam" / "adrs.csv", index=False)
    comp = compare_runs(sample_run, new)
    ch = comp.changes
    changed = ch[ch["change"] == "changed"]
    assert changed[["dataset", "usubjid", "variable", "old", "new"]].values.tolist() == [
        ["LB", lb.at[target, "USUBJID"], "LBORRES", old_value, "9.99"]]
    deleted = ch[ch["change"] == "deleted"]
    assert deleted[["dataset", "usubjid"]].values.tolist() == [["AE", gone["USUBJID"]]]
    assert gone["AEDECOD"] in deleted["key"].iloc[0]
    assert (ch["change"] == "added").sum() == 0
    assert comp.sri[["usubjid", "avisit", "old", "new"]].values.tolist() == [
        [adrs.at[flip, "USUBJID"], "WEEK 10", "Y", "N"]]
    raw = comp.raw
    assert set(raw["change"]) == {"changed", "deleted"} and raw["file"].str.endswith(".xlsx").all()
    assert comp.summary()["records_deleted"] == 1


def test_compare_command_writes_the_comparison_and_calls_out_deletions(sample_run, tmp_path):
    new = _copy(sample_run, tmp_path, "edited")
    dm = pd.read_csv(new / "sdtm" / "dm.csv", dtype="string", keep_default_na=False)
    dm.iloc[1:].to_csv(new / "sdtm" / "dm.csv", index=False)          # a subject vanished
    res = CliRunner().invoke(app, ["compare", str(sample_run), str(new)])
    out = " ".join(res.output.split())
    assert res.exit_code == 0, res.output
    assert f"subject gone since the previous transfer: {dm.at[0, 'USUBJID']}" in out
    changes = pd.read_csv(new / "comparison" / "changes.csv", dtype="string")
    assert list(changes.columns) == ["dataset", "change", "usubjid", "key", "variable", "old", "new"]
    findings = pd.read_csv(new / "comparison" / "findings.csv", dtype="string")
    assert set(findings["status"]) <= {"new", "persisting", "resolved"}
    elsewhere = tmp_path / "elsewhere"
    res = CliRunner().invoke(app, ["compare", str(sample_run), str(new), "--out", str(elsewhere)])
    assert res.exit_code == 0 and (elsewhere / "changes.csv").is_file()
    assert f"({elsewhere})" in "".join(res.output.split("\n"))              # the folder it wrote to, named


def test_history_reads_at_80_columns_and_when_piped(tmp_path, monkeypatch):
    """Paths are shown relative to the current folder, so an 80-column table keeps each run on few lines."""
    study = tmp_path / "a-rather-long-folder-name-for-the-study" / "build"
    for n in (1, 2):
        record_run(study / "history.sqlite", started=f"2026-12-0{n}T10:1{n}:00", finished="f", status="complete",
                   transfer=tmp_path / "a-rather-long-folder-name-for-the-study" / "samples" / f"transfer-0{n}",
                   out=study / f"transfer-0{n}", manifest={"version": "x"},
                   findings=pd.DataFrame({"package": ["SDTM"], "rule_id": ["SD0003"], "severity": ["Error"]}), sri=None)
    monkeypatch.chdir(tmp_path / "a-rather-long-folder-name-for-the-study")
    monkeypatch.setenv("COLUMNS", "80")
    res = CliRunner().invoke(app, ["history", "build/history.sqlite"])      # CliRunner's output is a pipe
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert max(map(len, lines)) <= 80
    assert lines[1:4] == ["run 1  2026-12-01 10:11  complete  errors 1", "    transfer samples/transfer-01",
                          "    out      build/transfer-01"]
    assert len(lines) == 7


def test_version_option_prints_the_version():
    from cdisc_il2 import __version__

    for args in (["--version"], ["version"]):
        res = CliRunner().invoke(app, args)
        assert res.exit_code == 0 and res.output.strip() == __version__


def test_history_write_is_one_transaction(tmp_path, monkeypatch):
    db = tmp_path / "history.sqlite"
    manifest = {"version": "x", "inputs": [{"file": "a.xlsx", "sha256": "0" * 64}], "mapping_specs": [], "outputs": []}
    findings = pd.DataFrame({"package": ["SDTM"], "rule_id": ["SD0001"], "severity": ["Error"]})
    record_run(db, started="s", finished="f", status="complete", transfer=tmp_path, out=tmp_path,
               manifest=manifest, findings=findings, sri=None)
    assert len(list_runs(db)) == 1
    broken_sri = pd.DataFrame({"AVISIT": ["WEEK 2"]})       # fails after the run and its inputs were inserted
    with pytest.raises(AttributeError):
        record_run(db, started="s", finished="f", status="complete", transfer=tmp_path, out=tmp_path,
                   manifest=manifest, findings=findings, sri=broken_sri)
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 1
        assert con.execute("SELECT COUNT(*) FROM inputs").fetchone()[0] == 1


def test_triage_justified_changed_and_stale(tmp_path):
    findings = pd.DataFrame({"rule_id": ["SD0003", "SD0003", "CT2001"], "dataset": ["LB", "LB", "AE"],
                             "usubjid": ["S-1", "S-2", "S-3"], "variable": ["LBDTC", "LBDTC", "AESEV"],
                             "value": ["2014/02/30", "2014/02/31", "Moderate-severe"], "severity": "Error"})
    path = tmp_path / "justifications.yaml"
    path.write_text(yaml.safe_dump({"justifications": [
        {"rule": "SD0003", "dataset": "LB", "usubjid": "S-1", "variable": "LBDTC", "value": "2014/02/30",
         "justification": "site confirmed the date cannot be recovered", "who": "DM", "when": "2015-07-01"},
        {"rule": "SD0003", "dataset": "LB", "usubjid": "S-2", "variable": "LBDTC", "value": "2014/02/29",
         "justification": "as collected", "who": "DM", "when": "2015-07-01"},
        {"rule": "SD0064", "dataset": "AE", "usubjid": "S-9", "justification": "old", "who": "DM", "when": "2015-01-01"},
    ]}), encoding="utf-8")
    out, stale = apply_triage(findings, load_justifications(path))
    assert out["triage"].tolist() == ["justified", "value changed since justified", ""]
    assert "2014/02/29" in out.at[1, "justification"]
    assert stale["rule"].tolist() == ["SD0064"]


def test_justified_errors_do_not_fail_the_run(sample_run, tmp_path):
    doc = json.loads((sample_run / "validation" / "findings.json").read_text())
    errors = pd.DataFrame(doc["findings"])
    errors = errors[errors["severity"] == "Error"].drop_duplicates(["rule_id", "dataset"])
    entries = [{"rule": r.rule_id, "dataset": r.dataset, "justification": "accepted for this transfer",
                "who": "data manager", "when": "2015-07-01"} for r in errors.itertuples()]
    path = tmp_path / "justifications.yaml"
    path.write_text(yaml.safe_dump({"justifications": entries}), encoding="utf-8")
    # without these justifications the same run exits 1: sample_run is this run with --fail-on error
    args = ["run", str(SAMPLES), "--out", str(tmp_path / "out"), "--fail-on", "error", "--quiet"]
    res = CliRunner().invoke(app, [*args, "--justifications", str(path)])
    assert res.exit_code == 0, res.output
    found = json.loads((tmp_path / "out" / "validation" / "findings.json").read_text())
    assert found["summary"]["justified"] == found["summary"]["errors"] > 0
    assert found["stale_justifications"] == []


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


MARKER = "left-by-an-older-run.txt"      # a name no run writes: it tells the old package from the new one


@pytest.fixture(scope="module")
def stopped_run(sample_run, small_transfer, tmp_path_factory):
    """One run over an older package (and a history of one run), the study folder copied at every named point
    (the disk as a SIGKILL there leaves it) and the process then killed for real (SIGKILL) at the last point,
    inside the history's transaction: (the copies' folder, the study folder, the older package's files)."""
    tmp = tmp_path_factory.mktemp("stopped")
    out = _copy(sample_run, tmp / "study", "transfer")
    (out / MARKER).write_text("an older run's file\n")
    before = _tree(out)
    record_run(tmp / "study" / "history.sqlite", started="s", finished="f", status="complete", transfer=SAMPLES,
               out=out, manifest={"version": "x"}, findings=pd.DataFrame(), sri=None)
    env = {**os.environ, FAULT_ENV: RUN_POINTS[-1], FAULT_COPY_ENV: json.dumps([str(tmp / "study"), str(tmp / "at")])}
    proc = subprocess.run([sys.executable, "-m", "cdisc_il2.cli", "run", str(small_transfer), "--out", str(out),
                           "--quiet"], cwd=ROOT, capture_output=True, env=env)
    assert proc.returncode == -signal.SIGKILL, f"the run was not killed at its last point: exit {proc.returncode} {proc.stderr[-500:]}"
    return tmp / "at", tmp / "study", before


@pytest.mark.parametrize("point", RUN_POINTS)
def test_a_run_stopped_at_any_point_leaves_the_previous_package_and_history(stopped_run, small_transfer, tmp_path,
                                                                            point):
    """The run stopped at each named point of the pipeline, reached on any machine whatever its speed: the study
    folder as copied at that point, or, at the last point, as the real SIGKILL left it."""
    copies, study, before = stopped_run
    study = study if point == RUN_POINTS[-1] else _copy(copies / point, tmp_path, "study")
    out, history = study / "transfer", study / "history.sqlite"
    assert len(list_runs(history)) == 1                          # the history as it was, whatever the point
    published = RUN_POINTS.index(point) > RUN_POINTS.index("between renames")
    if point == "between renames":
        assert not out.exists()                                  # the one moment OUT is aside ...
        _the_next_run_completes_and_clears_the_staging(small_transfer, _copy(study, tmp_path, "next"))
        recover(out)                                             # ... put back by the next run before anything else
    after = _tree(out)
    if published:                                                # the new package went in place whole
        assert MARKER not in after and "manifest.json" in after
        manifest = json.loads(after["manifest.json"])
        assert {o["path"] for o in manifest["outputs"]} | {"manifest.json"} == set(after)
    else:
        assert after == before
    assert not [p for p in after if p.endswith(".tmp") or "/." in "/" + p]
    leftovers = {p.name for p in out.parent.iterdir()} - {out.name, "history.sqlite"}
    # a killed run's staging folder (cleared by the next run), SQLite's rollback journal (rolled back at next open)
    assert leftovers <= {f".{out.name}.staging", "history.sqlite-journal"}


def _the_next_run_completes_and_clears_the_staging(small_transfer, study: Path) -> None:
    """The run after one killed between the renames (a copy of its study folder: OUT aside, the staging left)
    puts the old package back, completes, and leaves only its package and the history."""
    out = study / "transfer"
    res = CliRunner().invoke(app, ["run", str(small_transfer), "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in study.iterdir()) == ["history.sqlite", "transfer"]
    assert len(list_runs(study / "history.sqlite")) == 2        # the killed run's study had one run recorded


def test_report_is_self_contained_and_escapes_cell_text(sample_run, tmp_path):
    from cdisc_il2.reports.html import build_report

    run = _copy(sample_run, tmp_path, "run")
    doc = json.loads((run / "validation" / "findings.json").read_text())
    doc["findings"][0]["value"] = "<script>alert(1)</script>"
    doc["findings"][0]["message"] = "<img src=x onerror=alert(2)>"
    (run / "validation" / "findings.json").write_text(json.dumps(doc))
    page = build_report(run)
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in page
    import re

    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page) and not re.search(r"url\((?!#)", page)
    assert page.count("<svg") >= 3


def test_the_report_made_in_memory_is_the_report_of_the_folder(sample_run):
    """run hands the report what it has in memory (reports.html.RunFiles: the plotted ADaM, accountability,
    findings documents, as io.text_frame and dicts): the page is the one build_report makes from the published
    folder, reading every file back; and both have the plots."""
    from cdisc_il2.reports.html import build_report

    page = (sample_run / "report.html").read_text(encoding="utf-8")
    assert page == build_report(sample_run) and page.count("<svg") >= 3


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (.ci/run installs the Debian package)")
def test_report_renders_in_headless_chromium(sample_run, tmp_path):
    run = _copy(sample_run, tmp_path, "run")
    res = CliRunner().invoke(app, ["compare", str(sample_run), str(run)])
    assert res.exit_code == 0
    from cdisc_il2.reports.html import write_report

    page = write_report(run)
    shot = tmp_path / "report.png"
    base = [CHROMIUM, *CHROME_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1300,3000"]
    subprocess.run([*base, f"--screenshot={shot}", page.as_uri()], check=True, timeout=120, capture_output=True)
    assert shot.is_file() and shot.stat().st_size > 50_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    dom = subprocess.run([*base, "--dump-dom", page.as_uri()], check=True, timeout=120, capture_output=True,
                         text=True).stdout
    doc = json.loads((run / "validation" / "findings.json").read_text())
    domains = {d["dataset"]: d["domain"] for d in doc["datasets"]}
    findings = pd.DataFrame(doc["findings"]).assign(domain=lambda f: f["dataset"].map(domains).fillna(f["dataset"]))
    rule_lines = findings.drop_duplicates(["domain", "rule_id", "severity"])
    assert f"SDTM: {len(doc['findings'])} findings in {len(rule_lines)} rule lines" in dom
    assert dom.count("<tr data-severity=") >= len(rule_lines)
    severities = re.findall(r"<tr data-severity=\"(\w+)\"", dom.split(f"SDTM: {len(doc['findings'])} findings in", 1)[1].split("<h3>", 1)[0])
    order = {"Error": 0, "Warning": 1, "Notice": 2}
    assert severities and [order[s] for s in severities] == sorted(order[s] for s in severities)   # errors first
    assert 'id="comparison-summary"' in dom and 'id="sri-summary"' in dom and 'id="accountability"' in dom
    summary = pd.read_csv(run / "adam" / "sri_summary.csv")
    prim = summary[summary["primary_endpoint"] == "Y"].iloc[0]
    assert f"{prim['responders']}/{prim['N']}" in dom


DERIVED_WITH = {"LBORRES": {"LBSTRESC", "LBSTRESN", "LBNRIND"}, "AEENDTC": {"AEENDY"}, "AESTDTC": {"AESTDY", "EPOCH"}}


def test_second_transfer_lists_exactly_the_generators_changes(sample_run, tmp_path):
    transfer02 = SAMPLES.parent / "transfer-02"
    intent = json.loads((transfer02 / "transfer-changes.json").read_text(encoding="utf-8"))["changes"]
    first = sample_run                                   # transfer-01, already run
    doc = json.loads((first / "validation" / "findings.json").read_text())
    justified = next(f for f in doc["findings"] if f["rule_id"] == "SD0003")     # P2's impossible date
    cell = [f for f in doc["findings"] if (f.get("src_file"), f.get("src_sheet"), f.get("src_row"),
                                           f.get("src_heading")) == (justified["src_file"], justified["src_sheet"],
                                                                     justified["src_row"], justified["src_heading"])]
    assert len({f["rule_id"] for f in cell}) > 1       # every finding on that raw cell justified: its query closes
    path = tmp_path / "justifications.yaml"
    path.write_text(yaml.safe_dump({"justifications": [
        {"rule": f["rule_id"], "dataset": f["dataset"], "usubjid": f["usubjid"], "variable": f["variable"] or "",
         "value": f["value"] or "", "justification": "the site cannot recover the date", "who": "DM",
         "when": "2015-07-01"} for f in cell]}), encoding="utf-8")
    history = first.parent / "history.sqlite"            # the study's history, where transfer-01's run is
    out = tmp_path / "transfer-02"
    res = CliRunner().invoke(app, ["run", str(transfer02), "--out", str(out), "--previous", "last", "--quiet",
                                   "--history", str(history), "--justifications", str(path)])
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    comp = pd.read_csv(out / "comparison" / "changes.csv", dtype="string", keep_default_na=False)
    subjects = pd.read_csv(out / "comparison" / "subjects.csv", dtype="string")
    added = {c["usubjid"] for c in intent if any(e.get("subject") == "added" for e in c["expect"])}
    assert set(subjects.loc[subjects["change"] == "added", "usubjid"]) == added
    assert (subjects["change"] == "gone").sum() == 0
    expected = [(c["usubjid"], e) for c in intent for e in c["expect"] if "dataset" in e]
    for usubjid, e in expected:                          # every intended change is found ...
        hit = comp[(comp["dataset"] == e["dataset"]) & (comp["change"] == e["change"]) & (comp["usubjid"] == usubjid)]
        if e["change"] == "changed":
            hit = hit[hit["variable"] == e["variable"]]
            if "old" in e:
                assert hit[["old", "new"]].values.tolist() == [[e["old"], e["new"]]], e
        assert len(hit) == 1, (usubjid, e)
        if e["change"] == "deleted":
            assert f"record deleted: {e['dataset']} {usubjid}" in text
    for r in comp.itertuples():                          # ... and nothing else changed
        if r.usubjid in added and r.change == "added":   # a new subject's records, in whichever dataset
            continue
        if r.dataset == "TS":                            # trial-level counts follow from the new subjects, and an
            assert r.change == "changed" and any(k in r.key for k in ("ACTSUB", "DTC", "ONGOSIND")), r   # ongoing one
            continue
        # a record's supplemental qualifiers (SUPPAE AETRTEM) follow its change
        mine = [e for u, e in expected if u == r.usubjid and r.dataset in (e["dataset"], f"SUPP{e['dataset']}")
                and e["change"] == r.change]
        if mine and r.dataset.startswith("SUPP"):
            continue
        assert mine, r
        if r.change == "changed":
            assert any(r.variable == e["variable"] or r.variable in DERIVED_WITH.get(e["variable"], ()) for e in mine), r
    adsl = pd.read_csv(out / "adam" / "adsl.csv", dtype="string").set_index("USUBJID")
    for c in intent:
        for e in c["expect"]:
            if "EOSSTT" in e:
                assert adsl.at[c["usubjid"], "EOSSTT"] == e["EOSSTT"]
    found = json.loads((out / "validation" / "findings.json").read_text())
    still = [f for f in found["findings"] if f["rule_id"] == "SD0003" and f["usubjid"] == justified["usubjid"]
             and f["value"] == justified["value"]]
    assert still and all(f["triage"] == "justified" for f in still)
    q1, q2 = read_queries(first), read_queries(out)    # the query of that cell: same id, closed by triage
    raised = q1[(q1["file"] == justified["src_file"]) & (q1["sheet"] == justified["src_sheet"])
                & (q1["row"] == str(justified["src_row"])) & (q1["heading"] == justified["src_heading"])]
    assert len(raised) == 1 and raised["status"].iloc[0] == "open"
    now = q2[q2["query_id"] == raised["query_id"].iloc[0]]
    assert now["status"].tolist() == ["closed by triage"]
    assert (q2["status"] == "closed by triage").sum() == 1
    runs = list_runs(history)                            # both transfers, the second compared with the first
    assert runs["out"].tolist()[-2:] == [str(first.resolve()), str(out.resolve())]
    assert runs["status"].tolist()[-2:] == ["complete", "complete"] and runs["previous_run"].iloc[-1] == runs["id"].iloc[-2]
    listing = CliRunner().invoke(app, ["history", str(history)])
    assert listing.exit_code == 0 and listing.output.count("complete") >= 2
    assert (out / "report.html").is_file()
