"""Submission files: XPT v5, Dataset-JSON v1.1, Define-XML 2.1 and the manifest."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import os
import shutil

import jsonschema
import numpy as np
import pandas as pd
import pyreadstat
import pytest
from lxml import etree
from typer.testing import CliRunner

from cdisc_il2.cli import app
from cdisc_il2.formats import ColumnMeta, Dataset, read_dataset, read_folder
from cdisc_il2.formats.datasetjson import iter_rows
from cdisc_il2.formats.xpt import XptValueError, write_xpt
from conftest import PACKAGES, REFERENCE, SAMPLES, needs_reference

EXAMPLES = REFERENCE / "dataset-json" / "examples"
WHEN = dt.datetime(2015, 6, 30, 12, 0, 0)


@pytest.fixture(scope="module")
def package(sample_run):
    """The complete package of the sample transfer, written by `run` (shared by the test session)."""
    return sample_run


def _xsd():
    import odmlib

    path = os.path.join(os.path.dirname(odmlib.__file__), "schemas", "define", "2.1", "define2-1-0.xsd")
    return etree.XMLSchema(etree.parse(path))


@pytest.mark.parametrize("folder,name", [("sdtm", "lb"), ("sdtm", "dm"), ("sdtm", "suppae"), ("adam", "adsl"),
                                         ("adam", "adrs")])
def test_xpt_reads_back_exactly_with_pyreadstat_and_pandas(package, folder, name):
    csv = read_dataset(package / folder / f"{name}.csv").frame
    df, meta = pyreadstat.read_xport(str(package / folder / f"{name}.xpt"), disable_datetime_conversion=True)
    sas = pd.read_sas(package / folder / f"{name}.xpt", format="xport", encoding="latin-1")
    assert list(df.columns) == list(csv.columns) == list(sas.columns)
    assert meta.table_name == name.upper() and meta.file_label
    for col in csv.columns:
        ours, theirs = csv[col], df[col]
        if pd.api.types.is_numeric_dtype(ours):
            assert np.allclose(ours.astype(float), theirs.astype(float), equal_nan=True), col
            assert np.allclose(ours.astype(float), sas[col].astype(float), equal_nan=True), col
        else:
            assert ours.fillna("").tolist() == theirs.fillna("").tolist(), col
            width = int(ours.fillna("").str.len().max() or 1)
            assert meta.variable_storage_width[col] == max(1, width), col   # length = longest value
        assert meta.column_names_to_labels[col] and len(meta.column_names_to_labels[col]) <= 40


def sas_format(text: str) -> tuple[str, int | None, int | None]:
    """A SAS display format as (name, width, decimals): 'DATE9' and 'DATE9.' are one format, as SAS reads them."""
    m = re.fullmatch(r"(\$?[A-Z_]*?)(\d*)(?:\.(\d*))?", text.strip().upper())
    assert m, f"not a SAS format: {text!r}"
    return m[1], int(m[2]) if m[2] else None, int(m[3]) if m[3] else None


@pytest.mark.parametrize("spelling", ["DATE9", "DATE9.", "date9."])
def test_sas_format_spellings_are_one_format(spelling):
    assert sas_format(spelling) == ("DATE", 9, None) and sas_format("8.2") == ("", 8, 2) != sas_format("8.")


def test_adam_dates_carry_a_date_format(package):
    _, meta = pyreadstat.read_xport(str(package / "adam" / "adsl.xpt"))
    assert sas_format(meta.original_variable_types["TRTSDT"]) == ("DATE", 9, None)
    df, _ = pyreadstat.read_xport(str(package / "adam" / "adsl.xpt"))
    csv = read_dataset(package / "adam" / "adsl.csv").frame
    first = pd.Timestamp(df["TRTSDT"].iloc[0])
    assert (first - pd.Timestamp("1960-01-01")).days == csv["TRTSDT"].iloc[0]


@needs_reference
def test_our_reader_reads_the_official_xpt_examples():
    for name in ("dm", "ae", "adsl"):
        ours = read_dataset(EXAMPLES / f"{name}.xpt").frame
        ref, meta = pyreadstat.read_xport(str(EXAMPLES / f"{name}.xpt"), disable_datetime_conversion=True)
        assert ours.shape == ref.shape
        for col in ours.columns:
            if pd.api.types.is_numeric_dtype(ours[col]):
                assert np.allclose(ours[col], ref[col].astype(float), equal_nan=True)
            else:
                assert ours[col].fillna("").tolist() == ref[col].fillna("").tolist()


def test_xpt_refuses_values_that_do_not_fit(tmp_path):
    ds = Dataset("AE", "Adverse Events", pd.DataFrame({"AETERM": ["ok", "x" * 201]}), [ColumnMeta("AETERM", "Term")])
    with pytest.raises(XptValueError, match=r"AE\.AETERM, record 2: value of 201 bytes"):
        write_xpt(ds, tmp_path / "ae.xpt", WHEN)
    assert not (tmp_path / "ae.xpt").exists()
    ds = Dataset("DM", "Demographics", pd.DataFrame({"AGE": ["41", "forty"]}), [ColumnMeta("AGE", "Age", "Num")])
    with pytest.raises(XptValueError, match=r"DM\.AGE, record 2: 'forty' is not numeric"):
        write_xpt(ds, tmp_path / "dm.xpt", WHEN)


@needs_reference
def test_xpt_is_deterministic_and_dated_by_the_transfer(tmp_path):
    ds = read_dataset(EXAMPLES / "dm.xpt")
    write_xpt(ds, tmp_path / "a.xpt", WHEN)
    write_xpt(ds, tmp_path / "b.xpt", WHEN)
    assert (tmp_path / "a.xpt").read_bytes() == (tmp_path / "b.xpt").read_bytes()
    assert b"30JUN15:12:00:00" in (tmp_path / "a.xpt").read_bytes()[:400]


@needs_reference
def test_dataset_json_validates_against_the_official_schemas(package):
    schema = json.loads((REFERENCE / "dataset-json" / "dataset.schema.json").read_text(encoding="utf-8-sig"))
    files = sorted([*(package / "sdtm").glob("*.json"), *(package / "adam").glob("*.json")])
    assert len(files) >= 13
    for p in files:
        doc = json.loads(p.read_text(encoding="utf-8"))
        jsonschema.validate(doc, schema)
        assert doc["records"] == len(doc["rows"]) and doc["metaDataRef"] == "define.xml"
    for p in sorted(package.glob("*/*.ndjson")):
        lines = p.read_text(encoding="utf-8").splitlines()
        meta = json.loads(lines[0])
        # the shipped dataset-ndjson-schema.json has unresolvable $refs ('#/$defs/Column' is nested, not under
        # $defs), so the metadata line is checked with the JSON schema, rows given separately
        jsonschema.validate({**meta, "rows": []}, schema)
        assert "rows" not in meta
        assert meta["records"] == len(lines) - 1
        assert all(len(json.loads(x)) == len(meta["columns"]) for x in lines[1:50])


def test_dataset_json_reads_back_equal_and_streams(package):
    csv = read_dataset(package / "sdtm" / "lb.csv").frame
    js = read_dataset(package / "sdtm" / "lb.json").frame
    nd = read_dataset(package / "sdtm" / "lb.ndjson").frame
    for frame in (js, nd):
        assert frame.shape == csv.shape
        assert frame["LBORRES"].fillna("").tolist() == csv["LBORRES"].fillna("").tolist()
        assert np.allclose(frame["LBSTRESN"], csv["LBSTRESN"], equal_nan=True)
    first = next(iter_rows(package / "sdtm" / "lb.json"))
    assert len(first) == csv.shape[1]
    adsl = json.loads((package / "adam" / "adsl.json").read_text())
    trtsdt = next(c for c in adsl["columns"] if c["name"] == "TRTSDT")
    assert trtsdt["dataType"] == "date" and trtsdt["targetDataType"] == "integer" and trtsdt["displayFormat"] == "DATE9."


def _dataset_json_files(package) -> list:
    """Ours (the sample run's) and every Dataset-JSON file of the shared packages (R's among them), by reading."""
    ours = sorted((package / "sdtm").glob("*.json")) + sorted((package / "adam").glob("*.ndjson"))
    theirs = sorted(p for p in PACKAGES.rglob("*") if p.suffix.lower() in (".json", ".ndjson", ".dsjc")) \
        if PACKAGES.is_dir() else []
    return ours + theirs


def test_header_is_everything_but_the_rows_wherever_the_rows_are(package, tmp_path):
    from cdisc_il2.formats.datasetjson import _lines, read_header

    checked = 0
    for path in _dataset_json_files(package):
        if path.suffix.lower() == ".json":
            whole = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(whole, dict) or "rows" not in whole:
                continue                                    # a define or findings file, not a dataset
        else:
            whole = json.loads(next(_lines(path)))
        whole.pop("rows", None)
        assert read_header(path) == whole, path
        assert read_header(path, frozenset({"records"})) == {"records": whole["records"]}, path
        checked += 1
    assert checked >= 10
    # another writer's key order: the rows first, metadata after them (JSON objects are unordered)
    doc = json.loads((package / "sdtm" / "dm.json").read_text(encoding="utf-8"))
    rows = doc.pop("rows")
    shuffled = tmp_path / "dm.json"
    shuffled.write_text(json.dumps({"rows": rows, **dict(reversed(list(doc.items())))}), encoding="utf-8")
    assert read_header(shuffled) == doc and read_header(shuffled, frozenset({"records"})) == {"records": len(rows)}


@pytest.mark.parametrize("name,define", [("dm", "sdtm-msg-define.xml"), ("ae", "sdtm-msg-define.xml"),
                                         ("adsl", "adam-msg-define.xml")])
@needs_reference
def test_official_xpt_converts_to_the_official_dataset_json(tmp_path, name, define):
    data = tmp_path / "in"
    data.mkdir()
    shutil.copy(EXAMPLES / f"{name}.xpt", data)
    res = CliRunner().invoke(app, ["export", str(data), "--out", str(tmp_path / "out"), "--format", "json",
                                   "--define", str(REFERENCE / "define-xml" / define)])
    assert res.exit_code == 0, res.output
    ours = json.loads((tmp_path / "out" / f"{name}.json").read_text())
    official = json.loads((EXAMPLES / f"{name}.json").read_text())
    assert ours["columns"] == official["columns"]
    assert ours["rows"] == official["rows"]
    assert (ours["name"], ours["records"], ours["label"]) == (official["name"], official["records"], official["label"])


@needs_reference
def test_define_xml_is_valid_and_complete(package):
    xsd = _xsd()
    official = etree.parse(str(REFERENCE / "define-xml" / "sdtm-msg-define.xml"))
    assert not xsd.validate(official)          # the pilot's 'STDTMIG' standard name: the check really checks
    ns = {"odm": "http://www.cdisc.org/ns/odm/v1.3", "def": "http://www.cdisc.org/ns/def/v2.1"}
    for folder in ("sdtm", "adam"):
        doc = etree.parse(str(package / folder / "define.xml"))
        assert xsd.validate(doc), xsd.error_log
        igs = {ig.get("Name") for ig in doc.iterfind(".//odm:ItemGroupDef", ns)}
        written = {p.stem.upper() for p in (package / folder).glob("*.xpt")}
        assert igs == written
        leafs = {leaf.get("{http://www.w3.org/1999/xlink}href") for leaf in doc.iterfind(".//def:leaf", ns)}
        assert leafs == {f"{n.lower()}.xpt" for n in written}
    sdtm = etree.parse(str(package / "sdtm" / "define.xml"))
    sex = sdtm.find(".//odm:CodeList[@OID='CL.SEX']", ns)
    assert sex.find("odm:Alias", ns).get("Name") == "C66731"
    assert {e.get("CodedValue") for e in sex.iterfind("odm:EnumeratedItem", ns)} == {"F", "M", "U", "INTERSEX"}
    ext = sdtm.find(".//odm:CodeList[@OID='CL.LBTESTCD.LBTESTCD']", ns)
    coded = {e.get("CodedValue"): e for e in ext.iterfind("odm:EnumeratedItem", ns)}
    assert set(coded) == set(read_dataset(package / "sdtm" / "lb.csv").frame["LBTESTCD"])   # used terms only
    assert coded["TREGCD4"].get("{http://www.cdisc.org/ns/def/v2.1}ExtendedValue") == "Yes"
    assert coded["C3"].find("odm:Alias", ns).get("Name") == "C80174"
    assert sdtm.find(".//def:ValueListDef[@OID='VL.LB.LBSTRESN']", ns) is not None
    assert sdtm.find(".//def:ValueListDef[@OID='VL.QS.QSORRES']", ns) is not None
    assert sdtm.find(".//def:WhereClauseDef[@OID='WC.LB.LBTESTCD.C3']", ns) is not None
    sex_item = sdtm.find(".//odm:ItemDef[@OID='IT.DM.SEX']", ns)
    origin = sex_item.find("def:Origin", ns)
    assert origin.get("Type") == "Collected" and "site02.yaml: sheet 'Patients', column 'Gender'" in etree.tostring(origin).decode()
    assert sdtm.find(".//odm:ItemDef[@OID='IT.DM.USUBJID']/def:Origin", ns).get("Type") == "Derived"
    assert sdtm.find(".//odm:ItemDef[@OID='IT.DM.AGEU']/def:Origin", ns).get("Type") == "Assigned"
    adam = etree.parse(str(package / "adam" / "define.xml"))
    method = adam.find(".//odm:MethodDef[@OID='MT.ADRS.AVALC']", ns)
    text = "".join(method.itertext())
    from cdisc_il2.config import analysis_config

    sri = analysis_config()["sri"]               # the configured rules in words for a reviewer, not the docstring
    assert f"fell by at least {sri['sledai_reduction']} points" in text
    assert f"rose by less than {sri['pga_worsening_limit']}" in text and f"at most {sri['max_new_bilag_b']} is newly" in text
    assert "all nine BILAG-2004 organ domains must be graded" in text and sri["primary_visit"] in text
    assert "sri_components" not in text and "k =" not in text
    assert adam.find(".//def:ValueListDef[@OID='VL.ADQS.AVAL']", ns) is not None


@needs_reference
def test_define_renders_through_the_cdisc_stylesheet(package):
    xslt = etree.XSLT(etree.parse(str(REFERENCE / "define-xml" / "define2-1.xsl")))
    html = str(xslt(etree.parse(str(package / "sdtm" / "define.xml"))))
    assert "<html" in html.lower() and "Demographics" in html and "LBTESTCD" in html


def test_manifest_and_byte_identical_reruns(package, tmp_path):
    import subprocess
    import sys

    from conftest import ROOT

    # another process with another hash seed: no output may depend on set or dict-hash order
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    rerun = tmp_path / "rerun"
    res = subprocess.run([sys.executable, "-m", "cdisc_il2.cli", "run", str(SAMPLES), "--out", str(rerun), "--quiet"],
                         cwd=ROOT, env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    tmp_path = rerun

    def hashes(root):
        return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(root.rglob("*")) if p.is_file()}

    assert hashes(package) == hashes(tmp_path)
    manifest = json.loads((package / "manifest.json").read_text())
    assert manifest["transfer_time"] == "2015-06-30T12:00:00"
    from cdisc_il2.convert import spec_files
    from cdisc_il2.mapping.spec import find_specs

    specs = find_specs()                    # sites are found by data: every shipped spec and the files it matches
    assert {i["file"] for i in manifest["inputs"]} == {p.name for s in specs for p in spec_files(SAMPLES, s)}
    assert {s["file"] for s in manifest["mapping_specs"]} == {s.name for s in specs}
    assert len(manifest["inputs"]) >= len(specs)
    outputs = {o["path"]: o for o in manifest["outputs"]}
    assert outputs["sdtm/dm.xpt"]["sha256"] == hashlib.sha256((package / "sdtm" / "dm.xpt").read_bytes()).hexdigest()
    assert outputs["sdtm/lb.json"]["records"] == len(read_folder(package / "sdtm", {"LB"})["LB"].frame)
    assert manifest["validation"]["sdtm"]["errors"] > 0 and manifest["validation"]["adam"]["rules_in_catalogue"] >= 80
    assert 0 < manifest["validation"]["adam"]["rules_checked"] <= manifest["validation"]["adam"]["rules_in_catalogue"]


def test_our_define_agrees_with_our_data(package):
    """Validated as a package against its own define.xml, our SDTM and ADaM meet it: every value is in the
    codelist define.xml gives its variable (a variable in several datasets lists the terms of all of them),
    every dataset and variable is declared, types and labels agree. The one SD0037 finding is the sample's
    deliberate AESEV spelling, which CT2001 reports too."""
    from cdisc_il2.validate import validate_folder

    for folder in ("sdtm", "adam"):
        res = validate_folder(package / folder, prefer=("xpt",), package=True)
        f = res.findings
        define_rules = {"SD0037", "SD0054", "SD0059", "SD0060", "SD0061", "SD1063", "SD1324", "SD1325", "DD0101"}
        found = f[f["rule_id"].isin(define_rules)]
        ct = set(zip(f.loc[f["rule_id"] == "CT2001", "dataset"], f.loc[f["rule_id"] == "CT2001", "row"]))
        assert all((r.rule_id == "SD0037" and (r.dataset, r.row) in ct) for r in found.itertuples()), \
            found[["rule_id", "dataset", "variable", "value"]].head(10).to_string()
        assert res.errors.empty, res.errors.head().to_string()
