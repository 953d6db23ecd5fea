"""Vital signs (VS) from every site: each spec's vital signs sheet read independently of cdisc_il2 (openpyxl) and
compared with VS; standard units through the study's conversions (site 02 weighs in pounds); the VS rules of the
catalogue run on it and find nothing in the sample. Sites and tests are found from the specs and study.yaml."""
from __future__ import annotations

import json

import pandas as pd

from cdisc_il2.mapping.spec import find_specs
from cdisc_il2.metadata import vital_signs
from cdisc_il2.resources import load_study
from conftest import SAMPLES, raw_sheet


def _vs_blocks():
    for spec in find_specs():
        for block in spec.doc["blocks"]:
            if block["domain"] == "VS":
                yield spec, block


def test_every_site_sends_vital_signs_and_each_value_reaches_vs(converted):
    vs = converted.domains["VS"]
    blocks = list(_vs_blocks())
    assert {spec.site for spec, _ in blocks} == {spec.site for spec in find_specs()}
    studyid = load_study()["studyid"]
    tests = vital_signs()
    for spec, block in blocks:
        name = next(p.name for p in SAMPLES.glob("*.xlsx") if p.match(spec.doc["files"]))
        raw = raw_sheet(name, block["sheet"])
        subject_col = block["variables"]["SUBJID"]["column"]
        mine = vs[vs["USUBJID"].str.startswith(f"{studyid}-{spec.site}-")]
        assert len(mine) == sum(raw[c].notna().sum() for c in block["unpivot"]["columns"])
        for heading, col in block["unpivot"]["columns"].items():
            assert col["test"] in tests
            got = mine[mine["VSTESTCD"] == col["test"]].copy()
            factor = 1.0 if col["unit"] == tests[col["test"]]["unit"] else tests[col["test"]]["conversions"][col["unit"]]
            want = raw[[subject_col, heading]].dropna()
            assert len(got) == len(want), (spec.site, heading)
            # every raw value, in the study's standard unit, is a standard result of that subject and test
            expect = sorted(round(float(v) * factor, 4) for v in want[heading])
            assert sorted(round(float(v), 4) for v in got["VSSTRESN"]) == expect, (spec.site, heading)
            assert set(got["VSSTRESU"]) == {tests[col["test"]]["unit"]} and set(got["VSORRESU"]) == {col["unit"]}


def test_vital_signs_follow_the_subjects_course(converted):
    """Fever in the SLEDAI-2K (QS) at a visit exactly when the temperature there is above 38 C; one baseline
    (VSLOBXFL) per subject and test; diastolic below systolic."""
    vs, qs = converted.domains["VS"], converted.domains["QS"]
    temp = vs[vs["VSTESTCD"] == "TEMP"].set_index(["USUBJID", "VISITNUM"])["VSSTRESN"].astype(float)
    fever = qs[qs["QSTEST"].str.contains("Fever", case=False, na=False)]
    fever = fever.set_index(["USUBJID", "VISITNUM"])["QSSTRESN"].astype(float) > 0
    both = temp.to_frame("t").join(fever.rename("f"), how="inner")
    assert len(both) > 100 and ((both["t"] > 38) == both["f"]).all()
    base = vs[vs["VSLOBXFL"] == "Y"]
    assert not base.duplicated(["USUBJID", "VSTESTCD"]).any()
    assert base.groupby("USUBJID")["VSTESTCD"].nunique().eq(len(vital_signs())).all()
    bp = vs[vs["VSTESTCD"].isin(["SYSBP", "DIABP"])].pivot_table(index=["USUBJID", "VISITNUM"], columns="VSTESTCD",
                                                                  values="VSSTRESN", aggfunc="first")
    assert (bp["DIABP"] < bp["SYSBP"]).all()


def test_vs_is_validated_and_clean(sample_run):
    doc = json.loads((sample_run / "validation" / "findings.json").read_text(encoding="utf-8"))
    f = pd.DataFrame(doc["findings"])
    assert not (f["dataset"] == "VS").any(), f[f["dataset"] == "VS"].groupby("rule_id").size()
    assert "SD1108" not in set(f["rule_id"])             # "Missing VS dataset" no more
    ds = {d["dataset"]: d for d in doc["datasets"]}
    assert ds["VS"]["rules_checked"] > 50
