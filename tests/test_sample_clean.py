"""Our own sample package is clean: every finding of `run samples/transfer-01` is on the raw cell of one of the
deliberate problems of generator-truth.json, or justified in mappings/justifications.yaml, each with a reason.
A finding of our own making (a derivation, the trial design, the metadata) fails this test."""
from __future__ import annotations

import json
from fnmatch import fnmatch

import pandas as pd

from cdisc_il2.mapping.spec import find_specs
from conftest import SAMPLES


def _site_of(file: object) -> str:
    return next((s.site for s in find_specs() if isinstance(file, str) and fnmatch(file, s.doc["files"])), "")


def test_every_finding_is_a_deliberate_problem_or_justified(sample_run):
    truth = json.loads((SAMPLES / "generator-truth.json").read_text(encoding="utf-8"))["problems"]
    cells = {(p["site"], p["sheet"], int(p["row"])) for p in truth}
    found = []
    for name in ("findings.json", "adam-findings.json"):
        doc = json.loads((sample_run / "validation" / name).read_text(encoding="utf-8"))
        found += doc["findings"]
    f = pd.DataFrame(found)
    assert len(f)
    row = pd.to_numeric(f["src_row"], errors="coerce") if "src_row" in f else pd.Series(float("nan"), index=f.index)
    deliberate = pd.Series([(_site_of(file), sheet, int(r)) in cells if pd.notna(r) else False
                            for file, sheet, r in zip(f.get("src_file"), f.get("src_sheet"), row)], index=f.index)
    justified = f.get("triage", pd.Series("", index=f.index)).fillna("").eq("justified")
    ours = f[~deliberate & ~justified]
    assert ours.empty, ours.groupby(["rule_id", "dataset", "variable"], dropna=False).size().to_string()
    assert deliberate.any() and justified.any()
    # every deliberate problem the truth calls an error is found
    raised = set(zip(f.loc[deliberate, "src_sheet"], row[deliberate].astype(int)))
    for p in truth:
        if "no finding" not in p["expect"] and "legitimate" not in p["problem"] and "kept partial" not in p["expect"]:
            assert (p["sheet"], int(p["row"])) in raised, p


def test_sample_run_is_coded_with_the_synthetic_whodrug_release(sample_run):
    """The bundled study's run: CM fully coded from samples/dictionaries/whodrug, define.xml and report.html name
    the release, and the three WHODrug rules ran on CM without a finding."""
    cm = pd.read_csv(sample_run / "sdtm" / "cm.csv", dtype=str)
    assert cm["CMDECOD"].notna().all() and cm["CMCLASCD"].notna().all() and cm["CMCLAS"].notna().all()
    coded = json.loads((sample_run / "coding.json").read_text(encoding="utf-8"))
    assert coded["CM"].startswith("WHODrug") and "SYNTHETIC" in coded["CM"]
    assert '<ExternalCodeList Dictionary="WHODRUG" Version="0.0 SYNTHETIC"/>' in \
        (sample_run / "sdtm" / "define.xml").read_text(encoding="utf-8")
    assert f"CM coded with {coded['CM']}: coding queries<b>0</b>" in \
        (sample_run / "report.html").read_text(encoding="utf-8")
    doc = json.loads((sample_run / "validation" / "findings.json").read_text(encoding="utf-8"))
    rules = {r["rule_id"]: r for r in doc["rules"]}
    assert [f for f in doc["findings"] if f["rule_id"] in ("SD1344", "SD1345", "SD1346")] == []
    assert all(rules[i]["checked_in"] == "CM" and rules[i]["findings"] == 0 for i in ("SD1344", "SD1345", "SD1346"))
