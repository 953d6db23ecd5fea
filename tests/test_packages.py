"""validate on real public packages nobody on this project wrote (../shared/reference/packages/): never an
internal error, complete reports, every dataset listed with the rules checked on it and the standard used.
Packages are found by reading the folder: a new one needs no test edit."""
from __future__ import annotations

import json

import jsonschema
import pandas as pd
import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from cdisc_il2.cli import app
from cdisc_il2.formats import SUFFIXES
from conftest import PACKAGES, ROOT, needs_reference

FOLDERS = sorted(p for p in PACKAGES.iterdir() if p.is_dir()) if PACKAGES.is_dir() else []


def _datasets(folder) -> set[str]:
    return {p.stem.upper() for p in folder.iterdir() if p.suffix.lower() in SUFFIXES}


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """Each package validated once through the CLI: (exit code, JSON document, Excel path, terminal output)."""
    out = {}
    runner = CliRunner()
    for folder in FOLDERS:
        tmp = tmp_path_factory.mktemp(folder.name)
        res = runner.invoke(app, ["validate", str(folder), "--report", str(tmp / "r.xlsx"), "--json", str(tmp / "f.json")])
        doc = json.loads((tmp / "f.json").read_text()) if (tmp / "f.json").is_file() else None
        out[folder.name] = (res.exit_code, doc, tmp / "r.xlsx", res.output)
    return out


@needs_reference
@pytest.mark.parametrize("folder", FOLDERS, ids=[f.name for f in FOLDERS])
def test_package_validates_completely(reports, folder):
    code, doc, xlsx, output = reports[folder.name]
    assert code in (0, 1), output
    assert "internal error" not in output
    jsonschema.validate(doc, json.loads((ROOT / "schemas" / "findings.schema.json").read_text()))
    assert doc["rule_errors"] == [], doc["rule_errors"][:5]
    listed = {d["dataset"]: d for d in doc["datasets"]}
    assert _datasets(folder) <= set(listed)
    for name in _datasets(folder):
        d = listed[name]
        assert d["rules_checked"] > 0 or d["standard"].startswith("none"), d
        assert d["standard"]
    wb = load_workbook(xlsx, read_only=True)
    assert {"Dataset Summary", "Issue Summary", "Details", "Rules", "Rules Not Run", "About"} <= set(wb.sheetnames)
    summary = pd.DataFrame(list(wb["Dataset Summary"].values)[1:], columns=next(wb["Dataset Summary"].values))
    assert set(summary["Dataset"]) >= _datasets(folder) and "Rules_Checked" in summary.columns
    # another study's package: this trial's own rules do not run
    assert doc["study_rules"] is False and not any(f.get("scope") == "study" for f in doc["findings"])


@needs_reference
@pytest.mark.parametrize("folder", FOLDERS, ids=[f.name for f in FOLDERS])
def test_no_explosions_on_the_package_as_it_is(reports, folder):
    """No (rule, dataset) pair flags over half the records or fires over 1,000 times unless explained."""
    from test_no_explosions import allowed, check_explosions, explosions

    _, doc, _, _ = reports[folder.name]
    records = {d["dataset"]: d["records"] for d in doc["datasets"]}
    found = explosions(pd.DataFrame(doc["findings"], columns=["rule_id", "dataset", "row"]), records)
    bad = check_explosions(folder.name, found, allowed())
    assert not bad, "findings that explode (list them in tests/explosion_allow.csv only if right):\n" + "\n".join(bad)


@needs_reference
def test_split_datasets_take_their_domain_and_earlier_standards_are_declared(reports):
    _, msg, _, _ = reports["sdtm-msg-2.0"]
    ds = {d["dataset"]: d for d in msg["datasets"]}
    assert ds["QSPH"]["standard"] == "SDTMIG 3.3 QS (split dataset)" and ds["QSPH"]["rules_checked"] >= 20
    assert ds["TS"]["rules_checked"] > 0 and ds["RELREC"]["rules_checked"] > 0
    assert msg["standard"] == "SDTMIG 3.3"
    found = pd.DataFrame(msg["findings"])
    # questionnaire scores carry no unit: no SD0026 on QS; model variables a domain table omits are allowed
    assert not ((found["rule_id"] == "SD0026") & found["dataset"].str.startswith("QS")).any()
    assert not ((found["rule_id"] == "SD0058") & found["variable"].isin(["SPDEVID", "AELNKID", "LBREPNUM"])).any()
    _, pilot, _, _ = reports["cdiscpilot01-sdtm"]
    assert pilot["standard"] == "SDTMIG 3.1.2"
    pf = pd.DataFrame(pilot["findings"])
    assert not (pf["rule_id"] == "SD1213").any()   # ACTARMCD 'Scrnfail' is not a treated subject


@needs_reference
def test_adam_package_in_compressed_dataset_json(reports):
    code, doc, _, _ = reports["adam-msg-1.0"]
    ds = {d["dataset"]: d for d in doc["datasets"]}
    assert ds["ADVS"]["records"] > 10000 and ds["ADSL"]["records"] == 254
    found = pd.DataFrame(doc["findings"])
    # ADVS has three BASETYPEs; BASE is constant within each: AD0129 keyed by BASETYPE stays silent
    assert not ((found["rule_id"] == "AD0129") & (found["dataset"] == "ADVS")).any()


@needs_reference
def test_zlib_and_gzip_dsjc_read_the_same(tmp_path):
    import gzip
    import zlib

    from cdisc_il2.formats import read_dataset

    src = PACKAGES / "adam-msg-1.0" / "adsl.dsjc"
    text = gzip.decompress(src.read_bytes())
    (tmp_path / "adsl.dsjc").write_bytes(zlib.compress(text))
    a, b = read_dataset(src), read_dataset(tmp_path / "adsl.dsjc")
    pd.testing.assert_frame_equal(a.frame, b.frame)
    assert a.frame.shape == (254, len(a.columns))


@pytest.fixture(scope="module")
def package_data():
    from cdisc_il2.formats import read_folder

    return {folder.name: read_folder(folder) for folder in FOLDERS}


@needs_reference
@pytest.mark.parametrize("variant", ["empty", "text", "half-null"])
def test_every_rule_runs_on_reshaped_packages(variant, package_data):
    """Every rule runs, without a 'could not be run' entry, on the public packages reshaped as others' data
    can be: no records, every column as text, every other value missing."""
    import numpy as np

    from cdisc_il2.formats import Dataset
    from cdisc_il2.validate import validate_datasets

    shape = {"empty": lambda f: f.iloc[0:0].copy(), "text": lambda f: f.head(40).astype("string"),
             "half-null": lambda f: f.head(40).apply(lambda c: c.where(np.arange(len(c)) % 2 == 0))}[variant]
    for name, datasets in package_data.items():
        data = {k: Dataset(v.name, v.label, shape(v.frame), v.columns) for k, v in datasets.items()}
        result = validate_datasets(data)
        assert result.errors.empty, (name, result.errors.head(10).to_string())


@needs_reference
@pytest.mark.parametrize("folder", FOLDERS, ids=[f.name for f in FOLDERS])
def test_issue_summary_is_one_line_per_domain_and_rule_errors_first(reports, folder):
    """The Excel Issue Summary reads like Pinnacle 21's: one line per (domain, rule) with the split files named,
    errors before warnings before notices, then by count; the Validation Summary sheet comes first; the terminal
    never hides an error behind warnings or notices."""
    _, doc, xlsx, output = reports[folder.name]
    wb = load_workbook(xlsx, read_only=True)
    assert wb.sheetnames[0] == "Validation Summary"
    items = dict(list(wb["Validation Summary"].values)[1:])
    assert items["errors"] == str(doc["summary"]["errors"]) and items["standard"] == doc["standard"]
    rows = list(wb["Issue Summary"].values)
    summary = pd.DataFrame(rows[1:], columns=rows[0])
    domains = {d["dataset"]: d["domain"] for d in doc["datasets"]}
    found = pd.DataFrame(doc["findings"])
    if found.empty:
        assert summary.empty
        return
    found["domain"] = found["dataset"].map(domains).fillna(found["dataset"])
    expected = found.groupby(["scope", "severity", "domain", "rule_id"]).size()
    got = summary.set_index(["scope", "severity", "domain", "rule_id"])["Count"].sort_index()
    assert got.to_dict() == expected.to_dict()
    order = summary["severity"].map({"Error": 0, "Warning": 1, "Notice": 2})
    standard = summary[summary["scope"] == "standard"]
    key = list(zip(order[standard.index], -standard["Count"]))
    assert key == sorted(key)
    for line in summary.itertuples():
        assert set(line.datasets.split(", ")) == set(found.loc[(found["domain"] == line.domain) &
                                                                (found["rule_id"] == line.rule_id), "dataset"])
    errors = summary[summary["severity"] == "Error"]
    for rule in errors["rule_id"].unique():
        assert rule in output, rule         # every error line is on the terminal, however many notices
    if folder.name == "sdtm-msg-2.0":       # QSPH and QSSL are one QS line wherever they share a rule
        qs = summary[summary["domain"] == "QS"]
        assert len(qs) and any("QSPH" in d and "QSSL" in d for d in qs["datasets"])


ROWS_HANDED_ON = 5_000         # records per dataset: every column's kind, in a fraction of the largest datasets' time


@needs_reference
def test_every_package_dataset_handed_on_in_memory_is_what_its_csv_reads_back_as(package_data, tmp_path):
    """csv_dataset, what the pipeline hands from one stage to the next instead of writing CSVs and reading them
    back, gives read_csv_dataset's frame for every dataset of the shared packages (frames read from XPT and from
    Dataset-JSON written by others: their dtypes, their text), on its first ROWS_HANDED_ON records."""
    from cdisc_il2.formats import csv_dataset, read_csv_dataset
    from cdisc_il2.io import write_csv

    checked = 0
    for package, datasets in package_data.items():
        for name, ds in datasets.items():
            frame = ds.frame.head(ROWS_HANDED_ON)
            path = tmp_path / package / f"{name.lower()}.csv"
            write_csv(path, frame)
            read, made = read_csv_dataset(path), csv_dataset(name, frame, path)
            pd.testing.assert_frame_equal(made.frame, read.frame, check_exact=True, obj=f"{package} {name}")
            assert made.columns == read.columns, (package, name)
            checked += 1
    assert checked == sum(len(d) for d in package_data.values()) > 20
