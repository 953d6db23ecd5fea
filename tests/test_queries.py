"""Site queries: every finding on collected data traced to the site's raw cell, one query per cell in the site's
words, none for what the site never wrote; followed across transfers (open, answered by a change, closed).
The deliberate problems are read from generator-truth.json, the transfer's changes from transfer-changes.json."""
from __future__ import annotations

import html
import json

import pandas as pd
from openpyxl import load_workbook
from typer.testing import CliRunner

from cdisc_il2.cli import app
from cdisc_il2.transfers.queries import WHOLE_ROW, read_queries
from conftest import SAMPLES

NOT_ERRORS = ("no finding", "legitimate", "kept partial")      # problems the truth says are not errors


def problems() -> list[dict]:
    truth = json.loads((SAMPLES / "generator-truth.json").read_text(encoding="utf-8"))["problems"]
    return [p for p in truth if not any(w in (p["expect"] + " " + p["problem"]) for w in NOT_ERRORS)]


def test_every_problem_on_collected_data_is_a_query_naming_the_cell(sample_run):
    q = read_queries(sample_run)
    assert q is not None and len(q)
    for p in problems():                              # the truth names each problem's cell (or its whole row)
        mine = q[(q["site"] == p["site"]) & (q["sheet"] == p["sheet"]) & (q["row"] == str(p["row"]))
                 & (q["heading"] == (p["heading"] or WHOLE_ROW))]
        assert len(mine) == 1, p
        assert mine["question"].iloc[0] and mine["status"].iloc[0] == "open", p
        if p["usubjid"]:
            assert set(mine["usubjid"]) == {p["usubjid"]}, p
    legit = [p for p in json.loads((SAMPLES / "generator-truth.json").read_text(encoding="utf-8"))["problems"]
             if p not in problems()]
    assert legit, "the truth lists problems that are not errors"
    for p in legit:                                   # a legitimate partial date or a not-done test is no query
        assert q[(q["site"] == p["site"]) & (q["sheet"] == p["sheet"]) & (q["row"] == str(p["row"]))
                 & (q["heading"] == p["heading"])].empty, p


def test_findings_not_on_collected_data_are_not_queries(sample_run):
    doc = json.loads((sample_run / "validation" / "findings.json").read_text(encoding="utf-8"))
    f = pd.DataFrame(doc["findings"])
    q = read_queries(sample_run)
    queried = {r for rules in q["rules"] for r in rules.split(", ")}
    sourced = set(f.loc[f["src_file"].notna(), "rule_id"])
    never = set(f["rule_id"]) - sourced               # rules whose findings point at no raw cell or row
    assert never and not (queried & never), queried & never
    assert queried <= sourced
    for site, g in q.groupby("site"):                 # each site's workbook holds its queries, as text
        wb = load_workbook(sample_run / "queries" / f"site{site}.xlsx")
        ws = wb["Queries"]
        header = [c.value for c in ws[1]]
        assert {"query_id", "heading", "raw_value", "question", "response", "status"} <= set(header)
        assert ws.max_row - 1 == int(g["status"].isin(["open", "answered"]).sum())


def test_findings_carry_their_raw_cell(sample_run):
    doc = json.loads((sample_run / "validation" / "findings.json").read_text(encoding="utf-8"))
    f = pd.DataFrame(doc["findings"])
    collected = f[f["src_heading"].notna()]
    assert len(collected) and collected["src_sheet"].notna().all() and collected["src_row"].notna().all()
    derived = collected[collected["src_variables"].notna() & (collected["src_variables"] != collected["variable"])
                        & (collected["variable"] != "")]
    assert len(derived), "a finding on a derived variable names the collected one it came from"
    for r in derived.itertuples():
        assert r.variable not in r.src_variables.split("; ")
    cells = pd.read_csv(sample_run / "trace_cells.csv", dtype="string", keep_default_na=False)
    rejects = pd.read_csv(sample_run / "rejects.csv", dtype="string", keep_default_na=False).rename(
        columns={"column": "heading", "value": "raw"})
    for one in collected.drop_duplicates(["src_file", "src_sheet", "src_row", "src_heading"]).to_dict("records"):
        # a mapped value's cell is in trace_cells.csv, one convert could not map in rejects.csv
        where = cells if one["dataset"] in set(cells["DOMAIN"]) and not one["rule_id"].startswith("IL2-MAP") else rejects
        hit = where[(where["file"] == one["src_file"]) & (where["sheet"] == one["src_sheet"])
                    & (where["row"] == str(int(one["src_row"]))) & (where["heading"] == one["src_heading"])]
        raw = "" if one["src_raw"] is None or pd.isna(one["src_raw"]) else str(one["src_raw"])
        assert len(hit) and (hit["raw"] == raw).any(), one
    wb = load_workbook(sample_run / "validation" / "report.xlsx", read_only=True)
    header = next(wb["Details"].iter_rows(max_row=1, values_only=True))
    assert {"src_file", "src_sheet", "src_row", "src_heading", "src_raw"} <= set(header)
    page = (sample_run / "report.html").read_text(encoding="utf-8")   # each finding's drill-down names its cell
    assert "<th>sheet row</th><th>heading</th><th>raw value</th>" in page
    for one in collected.drop_duplicates(["src_file", "src_sheet", "src_row", "src_heading"]).head(20).to_dict("records"):
        cell = f"<td>{html.escape(one['src_file'])}</td><td>{html.escape(one['src_sheet'])}</td><td>{int(one['src_row'])}</td>" \
               f"<td>{html.escape(one['src_heading'])}</td>"
        assert cell in page, cell


def test_queries_command_lists_open_queries_by_site(sample_run, tmp_path):
    res = CliRunner().invoke(app, ["queries", str(sample_run)])
    assert res.exit_code == 0, res.output
    q = read_queries(sample_run)
    for site in set(q["site"]):
        assert site in res.output
    assert "Open queries" in res.output
    res = CliRunner().invoke(app, ["queries", str(tmp_path)])
    assert res.exit_code == 2 and "no queries/queries.csv" in res.output


def test_the_next_transfer_answers_exactly_the_changed_cells(sample_run, second_run):
    """transfer-02's changes (transfer-changes.json) answer exactly the transfer-01 queries on the cells they
    changed; a deleted record's query is closed; every other query stays open, one transfer older, its id kept
    though the deletion renumbered AESEQ and shifted the site's rows."""
    second, _ = second_run
    q1, q2 = read_queries(sample_run), read_queries(second)
    changes = json.loads((SAMPLES.parent / "transfer-02" / "transfer-changes.json").read_text())["changes"]
    changed = {(c["file"], c["sheet"], str(c["row"]), e["variable"]) for c in changes if c.get("sheet")
               and c.get("row") for e in c["expect"] if e.get("change") == "changed"}
    deleted = {(c["file"], c["sheet"], str(c["row"])) for c in changes
               if any(e.get("change") == "deleted" for e in c["expect"])}

    def cell_vars(key: str) -> set[str]:
        return set(next(k for k in key.split(" | ") if k.startswith("cell="))[len("cell="):].split(";"))

    expected = {r.query_id for r in q1.itertuples()
                if any((r.file, r.sheet, r.row, v) in changed for v in cell_vars(r.record_key))}
    closed = {r.query_id for r in q1.itertuples() if (r.file, r.sheet, r.row) in deleted}
    assert expected, "transfer-02 answers queries of transfer-01 (T8, T9)"
    answered = q2[q2["status"] == "answered"]
    assert set(answered["query_id"]) == expected
    old = q1.set_index("query_id")
    raw = pd.read_csv(second / "trace_cells.csv", dtype="string", keep_default_na=False)
    for r in answered.itertuples():                   # old value as transfer-01 held it, new one as the site wrote it
        assert r.old_value == old.at[r.query_id, "raw_value"] and r.new_value != r.old_value, r
        cell = raw[(raw["file"] == r.file) & (raw["sheet"] == r.sheet) & (raw["row"] == r.row)
                   & raw["VARIABLE"].isin(cell_vars(r.record_key))]
        assert r.new_value in set(cell["raw"]), r
    assert set(q2.loc[q2["status"] == "closed", "query_id"]) == closed
    rest = q1[~q1["query_id"].isin(expected | closed)]
    now = q2.set_index("query_id").loc[rest["query_id"]]
    assert (now["status"] == "open").all() and (now["transfers_open"] == "2").all()
    assert (now["first_transfer"] == "transfer-01").all()
    fresh = q2[~q2["query_id"].isin(set(q1["query_id"]))]   # raised first in transfer-02 (the new subjects')
    assert (fresh["first_transfer"] == "transfer-02").all() and (fresh["status"] == "open").all()
    res = CliRunner().invoke(app, ["queries", str(second)])
    assert res.exit_code == 0 and "oldest open" in " ".join(res.output.split())


def test_a_query_whose_finding_went_away_is_closed_and_kept(second_run):
    """A previous query no longer raised, whose cell no longer exists (the site deleted the record), is closed,
    listed with why, never dropped; one whose cell holds the same value is closed as no longer raised."""
    from cdisc_il2.formats import read_folder
    from cdisc_il2.keys import natural_keys
    from cdisc_il2.transfers.queries import follow_up

    second, _ = second_run
    q2 = read_queries(second)
    cells = pd.read_csv(second / "trace_cells.csv", dtype="string", keep_default_na=False)
    ref = q2[q2["record_key"].str.contains("USUBJID=") & (q2["heading"] != WHOLE_ROW)].iloc[0]
    gone = ref.to_frame().T.assign(query_id="Q-gone", usubjid="IL2-SLE-01-01-999",
                                   record_key=ref["record_key"].replace(ref["usubjid"], "IL2-SLE-01-01-999"))
    same = ref.to_frame().T.assign(query_id="Q-same")           # its identity holds the very value it held
    datasets = read_folder(second / "sdtm")
    now = follow_up(q2, pd.concat([gone, same], ignore_index=True), cells, datasets, natural_keys)
    assert len(now) == len(q2) + 2
    g = now.set_index("query_id")
    assert g.at["Q-gone", "status"] == "closed" and g.at["Q-gone", "question"].endswith("(record no longer sent)")
    assert g.at["Q-same", "status"] == "closed" and g.at["Q-same", "question"].endswith("(no longer raised)")


def test_the_rows_of_the_subjects_with_findings_are_the_same_whether_the_trace_holds_categories_or_text():
    """A trace's USUBJID as categories (as convert makes it: an unused category, a missing subject, a raw 'X.0')
    picks the same rows as the same column as text."""
    from cdisc_il2.transfers.queries import _of_subjects

    ids = pd.Series(["01-001", None, "01-002.0", "01-003", "01-001", "7"], dtype="string")
    frame = pd.DataFrame({"USUBJID": ids, "n": range(len(ids))})
    categories = ["01-001", "01-002.0", "01-003", "7", "UNUSED"]
    as_categories = frame.assign(USUBJID=pd.Categorical(ids, categories=categories))
    subjects = pd.Series(["01-001", "01-002", 7.0, None], dtype=object)
    text = _of_subjects(frame, subjects)
    assert text["n"].tolist() == [0, 2, 4, 5]
    assert _of_subjects(as_categories, subjects)["n"].tolist() == text["n"].tolist()
