"""The validate command: official pilot files in XPT and Dataset-JSON, our own output, reports, exit codes."""
import json
import shutil

import jsonschema
import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from cdisc_il2.cli import app
from cdisc_il2.validate import validate_folder
from conftest import REFERENCE, ROOT, SAMPLES, needs_reference

EXAMPLES = REFERENCE / "dataset-json" / "examples"
KEY = ["rule_id", "dataset", "variable", "row", "usubjid", "value"]


@pytest.fixture(scope="module")
def pilot(tmp_path_factory):
    """The CDISC pilot dm/ae/adsl, one folder per format."""
    base = tmp_path_factory.mktemp("pilot")
    for fmt in ("xpt", "json"):
        (base / fmt).mkdir()
        for p in EXAMPLES.glob(f"*.{fmt}"):
            shutil.copy(p, base / fmt)
    return base


# Rules about metadata the two official files really carry differently (adsl.json's dataset label is
# "Subject-Level Analysis", adsl.xpt's "Subject-Level Analysis Dataset"; types are declared per format).
FORMAT_METADATA_RULES = {"AD0320", "SD0055", "AD0058"}


@needs_reference
def test_pilot_xpt_and_json_give_the_same_findings(pilot):
    a = validate_folder(pilot / "xpt").findings
    b = validate_folder(pilot / "json").findings
    a = a[~a["rule_id"].isin(FORMAT_METADATA_RULES)][KEY].astype(str)
    b = b[~b["rule_id"].isin(FORMAT_METADATA_RULES)][KEY].astype(str)
    assert len(a) > 0
    assert a.sort_values(KEY).reset_index(drop=True).equals(b.sort_values(KEY).reset_index(drop=True))


@needs_reference
def test_pilot_findings_are_real_ones(pilot):
    f = validate_folder(pilot / "xpt").findings
    race = f[(f["rule_id"] == "CT2001") & (f["variable"] == "RACE")]
    assert list(race["value"]) == ["MULTIPLE"]          # not a term of the non-extensible RACE codelist
    assert set(f.loc[f["rule_id"] == "SD0002", "variable"]) == {"AEDECOD"}  # the pilot AE is not MedDRA-coded
    assert (f["rule_id"] == "AD0053").sum() == 254       # ADSL subjects that the 18-subject DM extract lacks


@needs_reference
def test_cli_exit_codes_and_reports(tmp_path, pilot):
    runner = CliRunner()
    res = runner.invoke(app, ["validate", str(pilot / "json"), "--report", str(tmp_path / "r.xlsx"),
                              "--json", str(tmp_path / "f.json")])
    assert res.exit_code == 1                         # errors exist, default --fail-on error
    assert runner.invoke(app, ["validate", str(pilot / "json"), "--fail-on", "never"]).exit_code == 0
    assert runner.invoke(app, ["validate", str(tmp_path / "missing")]).exit_code == 2
    assert runner.invoke(app, ["validate", str(pilot), "--fail-on", "sometimes"]).exit_code == 2
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "dm.xpt").write_bytes(b"not a transport file")
    res = runner.invoke(app, ["validate", str(bad)])
    assert res.exit_code == 3 and "dm.xpt: not a SAS transport" in res.output
    (bad / "dm.xpt").unlink()
    (bad / "ae.json").write_text('{"name": "AE", "columns": [], "rows": [[1, 2')
    res = runner.invoke(app, ["validate", str(bad)])
    assert res.exit_code == 3 and "ae.json: not valid Dataset-JSON" in res.output
    doc = json.loads((tmp_path / "f.json").read_text())
    schema = json.loads((ROOT / "schemas" / "findings.schema.json").read_text())
    jsonschema.validate(doc, schema)
    assert doc["summary"]["errors"] > 0 and doc["summary"]["rules_in_catalogue"] >= 80 and doc["summary"]["rules_checked"] > 0
    wb = load_workbook(tmp_path / "r.xlsx")
    assert wb.sheetnames[:5] == ["Validation Summary", "Dataset Summary", "Issue Summary", "Details", "Rules"]
    details = wb["Details"]
    assert details.freeze_panes == "A2" and details.auto_filter.ref.startswith("A1:")
    header = [c.value for c in details[1]]
    assert {"rule_id", "p21_id", "core_id", "severity", "dataset", "usubjid", "seq", "value", "message"} <= set(header)
    assert details.max_row == doc["summary"]["findings"] + 1
    rules = wb["Rules"]
    assert rules.max_row - 1 == doc["summary"]["rules_in_catalogue"]


def test_data_that_looks_like_a_formula_is_written_as_text(tmp_path):
    import pandas as pd

    from cdisc_il2.formats import Dataset
    from cdisc_il2.validate import validate_datasets
    from cdisc_il2.validate.report import write_excel

    dm = pd.DataFrame({"STUDYID": ["S"], "DOMAIN": ["DM"], "USUBJID": ["=HYPERLINK(\"http://x\",\"y\")"],
                       "SUBJID": ["1"], "SITEID": ["1"], "SEX": ["@SUM(1)"], "COUNTRY": ["CHN"]})
    result = validate_datasets({"DM": Dataset("DM", "Demographics", dm)})
    write_excel(result, tmp_path / "r.xlsx")
    ws = load_workbook(tmp_path / "r.xlsx")["Details"]
    values = [c for row in ws.iter_rows(min_row=2) for c in row if isinstance(c.value, str) and c.value[:1] in "=@"]
    assert values and all(c.data_type == "s" for c in values)


def test_every_deliberate_sample_problem_is_found(sample_run):
    tmp_path = sample_run
    doc = json.loads((tmp_path / "validation" / "findings.json").read_text())
    found = {(f["rule_id"], f["dataset"], f["usubjid"]) for f in doc["findings"]}
    rules = {f["rule_id"] for f in doc["findings"]}
    truth = {p["id"]: p for p in json.loads((SAMPLES / "generator-truth.json").read_text())["problems"]}
    expected = {"P1": ("GEN-AE-03", "AE"), "P2": ("SD0003", "LB"), "P3": ("CT2001", "AE"), "P4": ("SD1117", "LB"),
                "P5": ("GEN-DTC-01", "AE"), "P6": ("IL2-LB-04", "LB"), "P8": ("SD0064", "AE")}
    for pid, (rule, ds) in expected.items():
        assert (rule, ds, truth[pid]["usubjid"]) in found, pid
    assert "IL2-MAP-01" in rules                      # P7: the row without a patient ID, from rejects.csv
    p7 = [f for f in doc["findings"] if f["rule_id"] == "IL2-MAP-01"]
    assert any(f"row {truth['P7']['row']}" in f["message"] for f in p7)
    assert (tmp_path / "validation" / "report.xlsx").is_file()


@needs_reference
def test_a_failing_rule_is_reported_and_every_other_finding_stays(tmp_path, pilot, monkeypatch):
    """One rule raising on one dataset becomes a 'rule could not be run' entry in every report; the rest of the
    run, and every other finding, is unchanged."""
    import cdisc_il2.validate as v
    from cdisc_il2.validate.engine import FUNCTIONS, Rule, load_rules
    from cdisc_il2.validate.report import render_terminal, to_json, write_excel
    from rich.console import Console

    before = validate_folder(pilot / "xpt")

    def broken(rule, df, p, study, name):
        if name == "AE":
            raise ZeroDivisionError("injected")
        return df["USUBJID"].isna()

    monkeypatch.setitem(FUNCTIONS, "_broken", broken)
    bad = Rule("IL2-TEST-99", "Error", ("ALL",), "function", {"function": "_broken"}, "never", "injected failure")
    monkeypatch.setattr(v, "load_rules", lambda: (*load_rules(), bad))
    after = v.validate_folder(pilot / "xpt")
    pd_eq = before.findings[KEY].astype(str).reset_index(drop=True)
    assert pd_eq.equals(after.findings[KEY].astype(str).reset_index(drop=True))
    injected = after.errors[after.errors["rule_id"] == "IL2-TEST-99"]
    assert injected.to_dict("records") == [{"rule_id": "IL2-TEST-99", "dataset": "AE", "error":
                                            "rule could not be run on this dataset: ZeroDivisionError: injected"}]
    assert len(after.errors) == len(before.errors) + 1
    assert "IL2-TEST-99" in {e["rule_id"] for e in to_json(after)["rule_errors"]}
    assert to_json(after)["summary"]["rule_errors"] == len(before.errors) + 1
    write_excel(after, tmp_path / "r.xlsx")
    sheet = load_workbook(tmp_path / "r.xlsx")["Rules Not Run"]
    assert ["IL2-TEST-99", "AE", "rule could not be run on this dataset: ZeroDivisionError: injected"] in \
        [[c.value for c in row] for row in sheet.iter_rows(min_row=2)]
    console = Console(record=True, width=200)
    render_terminal(after, console)
    assert "rule not run: IL2-TEST-99 on AE" in console.export_text()
    assert "DM" in set(after.rules.loc[after.rules["rule_id"] == "IL2-TEST-99", "checked_in"].str.split(", ").sum())


def test_study_rules_run_only_on_this_trial(tmp_path):
    """IL2 study rules (scope: study) run on this trial's STUDYID or with --study, never on another study's data."""
    from cdisc_il2.formats import Dataset
    from cdisc_il2.validate import validate_datasets

    import pandas as pd

    ex = pd.DataFrame({"STUDYID": ["OTHER"] * 2, "DOMAIN": ["EX"] * 2, "USUBJID": ["1", "1"], "EXSEQ": [1.0, 2.0],
                       "EXTRT": ["DRUG", "DRUG"], "EXDOSE": [10.0, 20.0], "EXDOSU": ["mg", "mg"]})
    data = {"EX": Dataset("EX", "Exposure", ex)}
    other = validate_datasets(data)
    assert not other.study_rules and "IL2-EX-03" not in set(other.findings["rule_id"])
    forced = validate_datasets(data, study_rules=True)
    assert "IL2-EX-03" in set(forced.findings["rule_id"])
    assert set(forced.findings.loc[forced.findings["rule_id"] == "IL2-EX-03", "scope"]) == {"study"}
    ours = validate_datasets({"EX": Dataset("EX", "Exposure", ex.assign(STUDYID="IL2-SLE-01"))})
    assert ours.study_rules and "IL2-EX-03" in set(ours.findings["rule_id"])


@needs_reference
def test_an_unreadable_dataset_is_reported_and_the_others_validated(tmp_path):
    """A 0-byte CSV beside a good dataset: exit 3 naming the file, and the good dataset still validated and reported."""
    (tmp_path / "ae.csv").write_bytes(b"")
    shutil.copy(EXAMPLES / "dm.xpt", tmp_path / "dm.xpt")
    res = CliRunner().invoke(app, ["validate", str(tmp_path), "--json", str(tmp_path / "f.json")])
    assert res.exit_code == 3 and "ae.csv: empty file (0 bytes)" in " ".join(res.output.split())
    doc = json.loads((tmp_path / "f.json").read_text())
    listed = {d["dataset"]: d for d in doc["datasets"]}
    assert listed["DM"]["rules_checked"] > 0 and listed["AE"]["standard"].startswith("not read: ae.csv")
    assert any(e["dataset"] == "AE" and "could not be read" in e["error"] for e in doc["rule_errors"])


@needs_reference
@pytest.mark.parametrize("cut", [37, 240])
def test_a_truncated_xpt_names_the_file(tmp_path, cut):
    """An XPT cut inside a record, or on a record boundary inside an observation, is an input error naming it."""
    src = (EXAMPLES / "dm.xpt").read_bytes()
    (tmp_path / "dm.xpt").write_bytes(src[:len(src) - cut])
    res = CliRunner().invoke(app, ["validate", str(tmp_path)])
    assert res.exit_code == 3 and "dm.xpt: truncated SAS transport file" in res.output
