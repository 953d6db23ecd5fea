"""A split domain is judged as the domain (SDTMIG 4.1.7): every SDTM package in ../shared/reference/packages, with
its split domains merged or its largest subject domain split in two, gives the same record findings (rule,
subject, --SEQ, variable) on that domain either way, and the same (rule, variable) pairs for findings on
variables as a whole; only the rules about split files themselves (SD1116) tell the two apart. The domain and
DM are validated alone (both ways alike), which keeps the test quick. Packages are found by reading the folder."""
from __future__ import annotations

import pandas as pd
import pytest

from conftest import PACKAGES, needs_reference

SPLIT_ONLY = {"SD1116"}     # lengths differing between the split datasets: a question about the files
FOLDERS = sorted(p for p in PACKAGES.iterdir() if p.is_dir() and any(
    q.suffix.lower() == ".xpt" and q.stem.lower() == "dm" for q in p.iterdir())) if PACKAGES.is_dir() else []


def split_and_whole(datasets: dict) -> tuple[str, dict, dict]:
    """(domain, the domain split, the domain whole), each with DM: a package's split domain merged, or its
    largest Findings/Events/Interventions domain split in two halves (LBX1, LBX2: a subject in both)."""
    from cdisc_il2.formats import Dataset
    from cdisc_il2.validate.engine import Study

    study = Study(datasets)
    split = {}
    for name in datasets:
        dom = study.domain(name)
        if study.kind(name) == "SDTM" and dom and dom != name:
            split.setdefault(dom, []).append(name)
    if split:
        dom, names = max(split.items(), key=lambda kv: sum(len(datasets[n].frame) for n in kv[1]))
        first = datasets[names[0]]
        whole = Dataset(dom, first.label, pd.concat([datasets[n].frame for n in names], ignore_index=True),
                        first.columns)
        return dom, {"DM": datasets["DM"], **{n: datasets[n] for n in names}}, {"DM": datasets["DM"], dom: whole}
    candidates = [n for n in datasets if study.kind(n) == "SDTM" and study.domain(n) == n
                  and study.sdtm_class(n) in ("Findings", "Events", "Interventions")]
    dom = max(candidates, key=lambda n: len(datasets[n].frame))
    ds = datasets[dom]
    half = len(ds.frame) // 2
    parts = {f"{dom}X{i}": Dataset(f"{dom}X{i}", ds.label, f.reset_index(drop=True), ds.columns)
             for i, f in ((1, ds.frame.iloc[:half]), (2, ds.frame.iloc[half:]))}
    return dom, {"DM": datasets["DM"], **parts}, {"DM": datasets["DM"], dom: ds}


def domain_findings(findings: pd.DataFrame) -> tuple[pd.Series, set]:
    """Record findings counted by (rule, subject, --SEQ, variable), and the (rule, variable) pairs of findings
    on a variable as a whole, outside DM and the split-only rules."""
    f = findings[(findings["dataset"] != "DM") & ~findings["rule_id"].isin(SPLIT_ONLY)]
    rec = f[f["row"].notna()]
    counts = rec.groupby(["rule_id", rec["usubjid"].astype(str), rec["seq"].astype(str), "variable"]).size()
    whole = f[f["row"].isna()]
    return counts, set(zip(whole["rule_id"], whole["variable"]))


def check_split_invariance(package: str, datasets: dict) -> None:
    from cdisc_il2.validate import validate_datasets

    dom, split, whole = split_and_whole(datasets)
    a, b = validate_datasets(split), validate_datasets(whole)
    assert a.errors.empty and b.errors.empty
    (ra, va), (rb, vb) = domain_findings(a.findings), domain_findings(b.findings)
    diff = pd.concat([ra.rename("split"), rb.rename("whole")], axis=1).fillna(0)
    diff = diff[diff["split"] != diff["whole"]]
    assert diff.empty, f"{package} {dom}: record findings differ split and whole:\n{diff.head(20)}"
    assert va == vb, f"{package} {dom}: variable findings differ: {sorted(va ^ vb)}"
    assert dom not in set(a.findings["dataset"]), "findings on the combined domain point back at its split files"


@needs_reference
@pytest.mark.parametrize("folder", FOLDERS, ids=[f.name for f in FOLDERS])
def test_a_split_domain_is_judged_as_the_domain(folder):
    from cdisc_il2.formats import read_folder

    check_split_invariance(folder.name, read_folder(folder))


def test_our_own_largest_domain_split_is_judged_as_the_domain(written):
    """The sample transfer's SDTM as written (LB, with baseline flags and per-subject --SEQ)."""
    from cdisc_il2.formats import read_folder

    check_split_invariance("transfer-01", read_folder(written / "sdtm"))


def test_a_duplicate_seq_across_split_files_is_found():
    """The firing side of the invariance: LBSEQ 1 in both LBCH and LBHE is reported once, on LBHE."""
    from cdisc_il2.validate import validate_datasets
    from cdisc_il2.validate.cases import datasets_from_records

    data = datasets_from_records({
        "DM": [{"USUBJID": "S-1", "ARMCD": "A", "ACTARMCD": "A"}],
        "LBCH": [{"DOMAIN": "LB", "USUBJID": "S-1", "LBSEQ": 1, "LBTESTCD": "ALT", "LBLOBXFL": "Y"}],
        "LBHE": [{"DOMAIN": "LB", "USUBJID": "S-1", "LBSEQ": 1, "LBTESTCD": "HGB", "LBLOBXFL": "Y"}]})
    f = validate_datasets(data).findings
    dup = f[f["rule_id"] == "SD0005"]
    assert list(zip(dup["dataset"], dup["row"])) == [("LBHE", 1)]
    assert f[f["rule_id"] == "SD0006"].empty
