"""The CLI's main job on the samples, the seeded generator, and untrusted spreadsheet content."""
import json

import pandas as pd
from openpyxl import Workbook, load_workbook
from typer.testing import CliRunner

from cdisc_il2.cli import app
from cdisc_il2.ingest import Workbook as RawWorkbook
from conftest import SAMPLES


def test_run_writes_sdtm_rejects_accountability(sample_run):
    tmp_path = sample_run
    for name in ("dm", "ex", "ae", "lb", "qs", "suppdm", "suppae", "variables"):
        assert (tmp_path / "sdtm" / f"{name}.csv").is_file()
    acc = pd.read_csv(tmp_path / "accountability.csv")
    assert acc.loc[acc["rows_read"] > 0, "balanced"].all()
    rej = pd.read_csv(tmp_path / "rejects.csv")
    assert list(rej.columns[:7]) == ["file", "sheet", "row", "column", "value", "reason", "disposition"]
    assert not list(tmp_path.rglob("*.tmp"))


def test_help_has_an_example_for_every_command():
    runner = CliRunner()
    for cmd in ("convert", "run", "samples", "validate", "derive", "export", "compare", "history", "version"):
        res = runner.invoke(app, [cmd, "--help"])
        assert res.exit_code == 0 and "Example: cdisc-il2" in res.output


def _cells(path):
    wb = load_workbook(path, read_only=True, data_only=False)
    return {ws.title: [list(r) for r in ws.iter_rows(values_only=True)] for ws in wb.worksheets}


def test_generator_is_seeded_and_matches_the_bundled_transfer(tmp_path):
    for out in (tmp_path / "a", tmp_path / "b"):
        res = CliRunner().invoke(app, ["samples", "--subjects", "40", "--seed", "20140303", "--out", str(out)])
        assert res.exit_code == 0, res.output
    for p in SAMPLES.iterdir():
        if p.suffix == ".xlsx":
            assert (tmp_path / "a" / p.name).read_bytes() == (tmp_path / "b" / p.name).read_bytes(), p.name
            assert _cells(tmp_path / "a" / p.name) == _cells(p), p.name     # same content as the bundled files
    truth = json.loads((tmp_path / "a" / "generator-truth.json").read_text())
    assert truth == json.loads((SAMPLES / "generator-truth.json").read_text())


def test_generator_intent_matches_the_published_trial():
    truth = json.loads((SAMPLES / "generator-truth.json").read_text())
    subs = truth["subjects"]
    assert len(subs) == 40
    assert sum(s["intended_sri4"]["WEEK 6"] == "Y" for s in subs) == 36
    assert sum(s["intended_sri4"]["WEEK 10"] == "Y" for s in subs) == 35          # the primary endpoint
    # rescue therapy: two non-responders and one responder, who becomes a non-responder at week 12 only
    rescued = [s for s in subs if s["rescue"]]
    assert len(rescued) == 3 and [s["kind"] for s in rescued].count("responder") == 1
    responder = next(s for s in rescued if s["kind"] == "responder")
    assert responder["rescue"]["visit_from"] == "WEEK 12" and responder["intended_sri4"]["WEEK 12"] == "N"
    assert sum(s["intended_sri4"]["WEEK 12"] == "Y" for s in subs) == 34
    assert sum(s["injection_site_reaction"] for s in subs) == 5
    assert 1 <= sum(s["last_visit"] != "FOLLOW-UP" for s in subs) <= 3
    assert sum(s["disposition"]["EOSSTT"] == "DISCONTINUED" for s in subs) == sum(s["last_visit"] != "FOLLOW-UP"
                                                                               for s in subs)


def test_injection_site_reactions_reach_ae(converted):
    ae = converted.domains["AE"]
    isr = ae[ae["AEDECOD"] == "Injection site reaction"]
    assert isr["USUBJID"].nunique() == 5 and set(isr["AESEV"]) == {"MILD"}


def test_formula_cells_are_read_as_text_never_evaluated(tmp_path):
    wb = Workbook()
    ws = wb.active
    ws.title = "Sheet"
    ws.append(["Subject", "Note"])
    ws.append(["001", "=1+1"])
    ws.append(["002", "=HYPERLINK(\"http://x\")"])
    wb.save(tmp_path / "f.xlsx")
    sheet = RawWorkbook(tmp_path / "f.xlsx").sheet("Sheet")
    assert sheet.frame["Note"].isna().all()            # never evaluated, and formula text never becomes data
    assert sheet.cells["kind"].tolist() == ["formula without cached value"] * 2


def test_small_generated_study_converts(tmp_path):
    from cdisc_il2.convert import map_transfer
    from cdisc_il2.samples import generate

    generate(12, 7, tmp_path)
    res = map_transfer(tmp_path)
    assert len(res.domains["DM"]) == 12
    assert res.accountability.loc[res.accountability["rows_read"] > 0, "balanced"].all()
