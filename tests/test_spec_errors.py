"""A broken mapping spec gives one clear line naming the spec and the path inside it, and exit code 3."""
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from cdisc_il2.cli import app
from cdisc_il2.errors import SpecError
from cdisc_il2.mapping.spec import load_spec
from conftest import ROOT, SAMPLES

SITES = ROOT / "mappings" / "sites"


def _specs_with(tmp_path: Path, edit) -> Path:
    folder = tmp_path / "specs"
    shutil.copytree(SITES, folder)
    doc = yaml.safe_load((folder / "site02.yaml").read_text(encoding="utf-8"))
    edit(doc)
    (folder / "site02.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return folder


def _run(folder: Path, tmp_path: Path):
    return CliRunner().invoke(app, ["convert", str(SAMPLES), "--out", str(tmp_path / "out"), "--mappings", str(folder)])


def test_bad_yaml(tmp_path):
    folder = tmp_path / "specs"
    shutil.copytree(SITES, folder)
    (folder / "site02.yaml").write_text("site: '02'\nblocks: [\n  - domain: DM\n", encoding="utf-8")
    res = _run(folder, tmp_path)
    assert res.exit_code == 3
    assert "site02.yaml" in res.output and "not valid YAML" in res.output and "Traceback" not in res.output


def test_unknown_variable(tmp_path):
    folder = _specs_with(tmp_path, lambda d: d["blocks"][0]["variables"].update({"SEXX": {"value": "F"}}))
    res = _run(folder, tmp_path)
    assert res.exit_code == 3
    assert "site02.yaml: at blocks[0].variables.SEXX: 'SEXX' is not an SDTMIG 3.4 variable of DM" in " ".join(res.output.split())


def _edit_variable(tmp_path: Path, domain: str, var: str, change: dict) -> tuple[Path, int]:
    """site02.yaml with one assignment of the first block of `domain` changed; the block's index (found by data)."""
    holder = {}

    def edit(doc):
        holder["i"] = next(i for i, b in enumerate(doc["blocks"]) if b["domain"] == domain)
        doc["blocks"][holder["i"]]["variables"][var].update(change)
    folder = _specs_with(tmp_path, edit)
    return folder, holder["i"]


def test_unknown_column(tmp_path):
    folder, i = _edit_variable(tmp_path, "AE", "AETERM", {"column": "Event term"})
    res = _run(folder, tmp_path)
    out = " ".join(res.output.split())
    assert res.exit_code == 3
    assert (f"at blocks[{i}].variables.AETERM.column: no column 'Event term' in sheet 'AE log' of "
            "site02_export.xlsx") in out
    assert "Onset" in out  # lists what the sheet has


def test_schema_violation_names_the_path(tmp_path):
    folder, i = _edit_variable(tmp_path, "EX", "EXDOSE", {"multiply": "a million"})
    with pytest.raises(SpecError) as err:
        load_spec(folder / "site02.yaml")
    assert err.value.path == f"blocks[{i}].variables.EXDOSE.multiply"
    assert "is not of type 'number'" in str(err.value)


@pytest.mark.parametrize("patterns,message", [
    (["DD/MM", "iso"], "'DD/MM': no year token (YYYY or YY)"),
    (["YYYY-MM[-DD"], "'YYYY-MM[-DD': '[' at position 8 is never closed by ']'"),
])
def test_bad_date_pattern_names_its_entry(tmp_path, patterns, message):
    folder = _specs_with(tmp_path, lambda d: d.update({"date_patterns": patterns}))
    with pytest.raises(SpecError) as err:
        load_spec(folder / "site02.yaml")
    assert err.value.path == "date_patterns[0]"
    assert f"site02.yaml: at date_patterns[0]: {message}" in str(err.value)


def test_bad_date_pattern_lists_the_tokens(tmp_path):
    folder = _specs_with(tmp_path, lambda d: d.update({"date_patterns": ["iso", "dd.mm.yyyy"]}))
    with pytest.raises(SpecError) as err:
        load_spec(folder / "site02.yaml")
    assert err.value.path == "date_patterns[1]"
    assert "write YYYY, not yyyy" in str(err.value) and "YYYY YY MM M DD D MON MONTH UNK hh h mm ss f" in str(err.value)


def test_old_date_styles_key_is_refused(tmp_path):
    folder = _specs_with(tmp_path, lambda d: d.update({"date_styles": d.pop("date_patterns")}))
    with pytest.raises(SpecError, match="'date_styles' was unexpected"):
        load_spec(folder / "site02.yaml")


def test_date_patterns_mixing_groups_and_patterns_load(tmp_path):
    folder = _specs_with(tmp_path, lambda d: d.update({"date_patterns": ["YYYY年M月D日", "dmy_mon", "EXCEL1904"]}))
    assert load_spec(folder / "site02.yaml").doc["date_patterns"][1] == "dmy_mon"


def test_unknown_codelist_and_bad_synonym(tmp_path):
    folder = _specs_with(tmp_path, lambda d: d["blocks"][0]["variables"]["SEX"].update({"codelist": "GENDER"}))
    with pytest.raises(SpecError, match=r"blocks\[0\]\.variables\.SEX\.codelist: unknown codelist 'GENDER'"):
        load_spec(folder / "site02.yaml")
    folder2 = _specs_with(tmp_path / "b", lambda d: d["synonyms"]["SEX"].update({"X": "MALE"}))
    with pytest.raises(SpecError, match="'MALE' is not a submission value of SEX"):
        load_spec(folder2 / "site02.yaml")


def test_unreadable_workbook_is_an_input_error(tmp_path):
    transfer = tmp_path / "transfer"
    transfer.mkdir()
    shutil.copy(SAMPLES / "site01_IL2-SLE-01_transfer.xlsx", transfer)
    (transfer / "site02_export.xlsx").write_text("not a workbook")
    res = CliRunner().invoke(app, ["convert", str(transfer), "--out", str(tmp_path / "out")])
    assert res.exit_code == 3 and "site02_export.xlsx: cannot be read as an Excel workbook" in res.output


def test_missing_transfer_folder_is_a_usage_error(tmp_path):
    res = CliRunner().invoke(app, ["convert", str(tmp_path / "nope"), "--out", str(tmp_path / "out")])
    assert res.exit_code == 2 and "does not exist" in res.output


def test_no_partial_output_on_error(tmp_path):
    def edit(doc):
        ae = next(b for b in doc["blocks"] if b["domain"] == "AE")
        ae["variables"]["AETERM"].update({"column": "Nope"})
    folder = _specs_with(tmp_path, edit)
    res = _run(folder, tmp_path)
    assert res.exit_code == 3 and "'Nope'" in res.output
    assert not (tmp_path / "out").exists()


def test_unwritable_output_is_a_clear_input_error(tmp_path):
    blocker = tmp_path / "out"
    blocker.write_text("a file where the output folder should be")
    res = CliRunner().invoke(app, ["convert", str(SAMPLES), "--out", str(blocker)])
    assert res.exit_code == 3 and "Traceback" not in res.output and str(blocker) in " ".join(res.output.split())


def test_a_key_study_yaml_repeats_is_a_spec_error_naming_where(monkeypatch):
    """A visit named twice in study.yaml would give its records two visit numbers: convert stops with a
    SpecError naming the place and the name, never a traceback."""
    import re

    import cdisc_il2.sdtm as sdtm
    from cdisc_il2.metadata import visit_table

    visits = visit_table()
    twice = pd.concat([visits, visits.iloc[[1]]], ignore_index=True)
    monkeypatch.setattr(sdtm, "visit_table", lambda: twice)
    name = str(visits["VISIT"].iloc[1])
    with pytest.raises(SpecError, match=f"study.yaml: at visits: VISIT must be unique, but {re.escape(name)} comes more than once"):
        sdtm.derive_visitnum(pd.DataFrame({"VISIT": [name]}))
