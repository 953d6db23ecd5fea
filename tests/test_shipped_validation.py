"""What `run` validates is what ships: the exported XPT/Dataset-JSON with define.xml give, under `cdisc-il2 validate`,
the findings `run` reported; and no exported ADaM variable is labelled with its own name (ADaMIG pattern entries
such as TRTxxP give their label with the index filled in)."""
from __future__ import annotations

import csv
import json
import re
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cdisc_il2.cli import app
from cdisc_il2.formats import read_folder
from cdisc_il2.metadata import adam_standard_variable
from cdisc_il2.validate.engine import load_rules

from conftest import REFERENCE, needs_reference

# the rule functions that judge labels (dataset and variable labels against the standard)
LABEL_FUNCTIONS = {"label_mismatch", "adam_label_mismatch", "adam_label_contains", "adam_dataset_label"}
MAPPING_REJECTS = "mapping_rejects"     # findings from rejects.csv: in run's report, not in any data file


def _rules_by(functions: set[str]) -> set[str]:
    return {r.id for r in load_rules() if r.check == "function" and r.params.get("function") in functions}


def _counts(findings: list[dict], leave_out: set[str] = frozenset()) -> Counter:
    return Counter((f["rule_id"], f["dataset"]) for f in findings if f["rule_id"] not in leave_out)


@pytest.fixture(scope="module")
def validated(sample_run, tmp_path_factory):
    """`cdisc-il2 validate` on the exported SDTM and ADaM folders of the sample run: package -> findings."""
    out = tmp_path_factory.mktemp("shipped")
    found = {}
    for package in ("sdtm", "adam"):
        target = out / f"{package}.json"
        res = CliRunner().invoke(app, ["validate", str(sample_run / package), "--json", str(target),
                                       "--fail-on", "never"])
        assert res.exit_code == 0, res.output
        found[package] = json.loads(target.read_text(encoding="utf-8"))["findings"]
    return found


@pytest.mark.parametrize("package, report", [("sdtm", "findings.json"), ("adam", "adam-findings.json")])
def test_validate_on_exported_files_gives_what_run_reported(sample_run, validated, package, report):
    reported = json.loads((sample_run / "validation" / report).read_text(encoding="utf-8"))["findings"]
    rejects = _rules_by({MAPPING_REJECTS})
    assert rejects, "the mapping-reject rules are in the catalogue"
    assert _counts(validated[package]) == _counts(reported, rejects)
    if package == "sdtm":       # run's report also lists the mapping rejects, which no data file holds
        assert {f["rule_id"] for f in reported} & rejects


def test_run_validated_the_shipped_files(sample_run):
    """The define.xml-based rules ran in `run` (SD0037: a value outside its define.xml codelist, the sample's
    deliberate 'Moderate-severe' severity, P3), so the files checked were the exported package."""
    reported = json.loads((sample_run / "validation" / "findings.json").read_text(encoding="utf-8"))["findings"]
    assert any(f["rule_id"] == "SD0037" and f["variable"] == "AESEV" for f in reported)


def test_no_label_findings(sample_run, validated):
    label_rules = _rules_by(LABEL_FUNCTIONS)
    assert {"AD0018", "AD0503", "GEN-LBL-01"} <= label_rules
    for report in ("findings.json", "adam-findings.json"):
        reported = json.loads((sample_run / "validation" / report).read_text(encoding="utf-8"))["findings"]
        assert not [f for f in reported if f["rule_id"] in label_rules], report
    for package, findings in validated.items():
        assert not [f for f in findings if f["rule_id"] in label_rules], package


def test_no_exported_adam_variable_is_labelled_with_its_name(sample_run):
    xpt = read_folder(sample_run / "adam", prefer=("xpt",))
    js = read_folder(sample_run / "adam", prefer=("json",))
    define = (sample_run / "adam" / "define.xml").read_text(encoding="utf-8")
    assert set(xpt) == set(js) == {"ADSL", "ADAE", "ADCM", "ADLB", "ADQS", "ADRS"}
    for name in xpt:
        for shipped in (xpt[name], js[name]):
            own = [c.name for c in shipped.columns if not c.label or c.label == c.name]
            assert not own, f"{name} ({shipped.source.suffix}): labelled with their own name: {own}"
            assert {c.name for c in shipped.columns} == set(shipped.frame.columns)
        for c in xpt[name].columns:
            m = re.search(rf'<ItemDef OID="IT\.{name}\.{c.name}"[^>]*>\s*<Description>\s*<TranslatedText[^>]*>'
                          r"([^<]*)</TranslatedText>", define)
            assert m and m.group(1) == c.label, (name, c.name, m and m.group(1))
    labels = {(n, c.name): c.label for n, d in xpt.items() for c in d.columns}
    assert labels[("ADSL", "TRT01P")] == "Planned Treatment for Period 01"
    assert labels[("ADAE", "TRT01A")] == "Actual Treatment for Period 01"
    assert labels[("ADLB", "ANL01FL")] == "Analysis Flag 01"
    assert labels[("ADRS", "ANL02FL")] == "Analysis Flag 02"
    assert labels[("ADAE", "ASTDT")] == "Analysis Start Date"
    assert labels[("ADCM", "AENDY")] == "Analysis End Relative Day"


@needs_reference
def test_pattern_labels_are_the_igs_with_the_index_filled_in():
    """Against ADaMIG 1.3's own table: every pattern entry (lowercase placeholders) resolves a concrete name to its
    label, each placeholder replaced by the name's index."""
    with open(REFERENCE / "adamig-1.3" / "Variables.csv", newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if re.search("[a-z]", r["Variable Name"])
                and not r["Variable Name"].startswith("*")]
    assert len(rows) > 100
    for r in rows:
        values = {"xx": "03", "zz": "07", "y": "2", "w": "4"}
        name = re.sub("xx|zz|y|w", lambda m: values[m.group(0)], r["Variable Name"])
        label = re.sub(r"\b(xx|zz|y|w)\b", lambda m: values[m.group(0)], r["Variable Label"])
        entry = adam_standard_variable(name, "ALL")
        assert entry is not None and entry["label"] == label, (r["Variable Name"], name, entry)
    assert adam_standard_variable("TRT01P", "ADSL")["pattern"] == "TRTxxP"
    assert adam_standard_variable("TRT1P", "ADSL") is None          # xx is two digits
    assert adam_standard_variable("RESCDT", "ADSL") is None         # *DT describes a family: no label
    assert adam_standard_variable("ASTDT", "OCCDS")["label"] == "Analysis Start Date"


def test_sponsor_labels_name_no_adamig_variable():
    """mappings/define.yaml `labels` hold sponsor variables only: a variable the ADaMIG names (itself or by a
    pattern such as ANLzzFL) takes the IG's label, never one typed here."""
    import yaml

    labels = yaml.safe_load((Path(__file__).resolve().parents[1] / "mappings" / "define.yaml")
                            .read_text(encoding="utf-8"))["labels"]
    assert labels
    assert not [k for k in labels if adam_standard_variable(k, "ALL") is not None]
