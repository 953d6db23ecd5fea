"""CT version honesty (issue 19 item 7): a terminology finding says which CDISC CT release it was checked
against; when the package declares another (define.xml def:Standard Type="CT", TS TSVCDVER), the report says so,
and given that release's file (a small synthetic release in the NCI EVS layout here: CT is public, but the
tests carry none of it) a value that is a term there is marked as a change between releases."""
from __future__ import annotations

import json

import jsonschema
import pytest
from typer.testing import CliRunner

from conftest import PACKAGES, ROOT, needs_reference

HEADER = ["Code", "Codelist Code", "Codelist Extensible (Yes/No)", "Codelist Name", "CDISC Submission Value",
          "CDISC Synonym(s)", "CDISC Definition", "NCI Preferred Term"]


HEADER_JSON = {"created": "2026-01-01T00:00:00", "modified": "2026-01-01T00:00:00", "fileOID": "ct-test",
               "version": "test", "studyOID": "S", "metaDataVersionOID": "MDV"}


def old_release(folder, name="SDTM Terminology 2020-12-18.txt"):
    """A synthetic 'older' SDTM CT release in the NCI EVS tab-delimited layout: SEX (C66731) with a term X that
    the shipped release does not have."""
    rows = [["C66731", "", "No", "Sex", "SEX", "Sex", "Sex.", "CDISC SDTM Sex of Individual Terminology"],
            ["C20197", "C66731", "", "Sex", "M", "Male", "Male.", "Male"],
            ["C16576", "C66731", "", "Sex", "F", "Female", "Female.", "Female"],
            ["C99999", "C66731", "", "Sex", "X", "X", "A synthetic term.", "Synthetic"]]
    path = folder / name
    path.write_text("\n".join("\t".join(r) for r in [HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def package(ts_version: str | None = "2020-12-18"):
    from cdisc_il2.validate.cases import datasets_from_records

    data = {"DM": [{"STUDYID": "S", "DOMAIN": "DM", "USUBJID": "S-1", "SUBJID": "1", "SEX": "X"},
                   {"STUDYID": "S", "DOMAIN": "DM", "USUBJID": "S-2", "SUBJID": "2", "SEX": "Q"},
                   {"STUDYID": "S", "DOMAIN": "DM", "USUBJID": "S-3", "SUBJID": "3", "SEX": "F"}]}
    if ts_version:
        data["TS"] = [{"STUDYID": "S", "DOMAIN": "TS", "TSSEQ": 1, "TSPARMCD": "SEXPOP", "TSPARM": "Sex of Participants",
                       "TSVAL": "BOTH", "TSVCDREF": "CDISC", "TSVCDVER": ts_version}]
    return datasets_from_records(data)


def sex_findings(result):
    f = result.findings
    return f[(f["dataset"] == "DM") & (f["variable"] == "SEX") & f["rule_id"].isin(["CT2001", "CT2002"])]


def test_a_term_of_the_declared_release_is_marked_as_a_change_between_releases(tmp_path):
    from cdisc_il2.metadata import ct_versions, read_ct_release
    from cdisc_il2.validate import validate_datasets

    release = read_ct_release(old_release(tmp_path))
    assert release.version == "2020-12-18" and release.standard == "SDTM" and release.has_term("C66731", "X")
    result = validate_datasets(package(), ct_releases=[release])
    sex = sex_findings(result).set_index("value")
    assert sorted(sex.index) == ["Q", "X"]
    assert set(sex["ct"]) == {next(v for v in ct_versions() if v.startswith("SDTM"))}
    assert "a change between releases, not a data error" in sex.at["X", "ct_note"]
    assert "is not a term of C66731 in the package's CDISC CT 2020-12-18 either" in sex.at["Q", "ct_note"]
    assert result.counts()["ct_release_changes"] == 1
    assert result.ct_declared == [{"set": "SDTM", "version": "2020-12-18", "source": "TS"}]


def test_without_the_declared_release_the_finding_says_it_could_not_tell(tmp_path):
    from cdisc_il2.validate import validate_datasets

    sex = sex_findings(validate_datasets(package()))
    assert len(sex) == 2 and sex["ct_note"].str.contains("the package declares CDISC CT 2020-12-18").all()
    quiet = sex_findings(validate_datasets(package(ts_version=None)))
    assert len(quiet) == 2 and quiet["ct_note"].isna().all() and quiet["ct"].notna().all()


def test_the_cli_takes_the_release_and_reports_it(tmp_path):
    from cdisc_il2.cli import app
    from cdisc_il2.formats.datasetjson import write_dataset_json

    data = tmp_path / "pkg"
    data.mkdir()
    for name, ds in package().items():
        write_dataset_json(ds, data / f"{name.lower()}.json", HEADER_JSON)
    release = old_release(tmp_path)
    res = CliRunner().invoke(app, ["validate", str(data), "--ct-release", str(release), "--json",
                                   str(tmp_path / "f.json"), "--report", str(tmp_path / "r.xlsx")])
    assert res.exit_code in (0, 1), res.output
    assert "the package declares" in res.output and "SDTM CT 2020-12-18 (TS)" in res.output
    doc = json.loads((tmp_path / "f.json").read_text())
    jsonschema.validate(doc, json.loads((ROOT / "schemas" / "findings.schema.json").read_text()))
    assert doc["summary"]["ct_release_changes"] == 1 and doc["ct_given"]
    from openpyxl import load_workbook

    summary = {r[0]: r[1] for r in load_workbook(tmp_path / "r.xlsx")["Validation Summary"].iter_rows(values_only=True)}
    assert summary["CT findings that are changes between releases"].startswith("1 (compared with SDTM CT 2020-12-18")
    bad = tmp_path / "not-ct.txt"
    bad.write_text("a\tb\n1\t2\n")
    res = CliRunner().invoke(app, ["validate", str(data), "--ct-release", str(bad)])
    assert res.exit_code == 3 and "not a CDISC CT release in the NCI EVS layout" in res.output
    undated = old_release(tmp_path, "terminology.txt")
    res = CliRunner().invoke(app, ["validate", str(data), "--ct-release", str(undated)])
    assert res.exit_code == 3 and "the CT release's date" in res.output
    res = CliRunner().invoke(app, ["validate", str(data), "--ct-release", str(tmp_path / "absent.txt")])
    assert res.exit_code == 2 and "is not a file" in res.output


@needs_reference
@pytest.mark.skipif(not (PACKAGES / "sdtm-msg-2.0").is_dir(), reason="sdtm-msg-2.0 is not in ../shared")
def test_a_real_package_declares_its_release_in_define_and_ts():
    from cdisc_il2.validate import validate_folder

    result = validate_folder(PACKAGES / "sdtm-msg-2.0", package=True)
    declared = {(d["version"], d["source"]) for d in result.ct_declared}
    assert ("2020-12-18", "define.xml") in declared and ("2020-03-27", "TS") in declared
    f = result.findings
    ct = f[f["rule_id"].isin(["CT2001", "CT2002"])]
    assert len(ct) and ct["ct"].notna().all() and ct["ct_note"].str.contains("declares CDISC CT 2020-12-18").all()
    assert f.loc[~f["rule_id"].str.startswith("CT") & f["p21_id"].eq(""), "ct"].isna().all()
