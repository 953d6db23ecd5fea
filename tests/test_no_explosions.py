"""No finding explosions: every shared package, as it is and reshaped as another sponsor's could be (without
define.xml, in the other file format, a split domain merged and a large one split, a few records edited), is
validated, and any (rule, dataset) pair that flags more than half of a dataset's records, or fires more than
1,000 times, fails unless tests/explosion_allow.csv says why it is right (rule text, IG section, one record);
the packages as they are get the same check in tests/test_packages.py, from the validation done there.
A rule that fires on every record is almost always misapplied; packages are found by reading the folder."""
from __future__ import annotations

import csv
import pandas as pd
import pytest

from conftest import PACKAGES, ROOT, needs_reference

FOLDERS = sorted(p for p in PACKAGES.iterdir() if p.is_dir()) if PACKAGES.is_dir() else []
ALLOW = ROOT / "tests" / "explosion_allow.csv"
SPLIT = ("X1", "X2")               # suffixes of the halves a large domain is split into (SDTMIG 4.1.7 names)
HEADER = {"created": "2026-01-01T00:00:00", "modified": "2026-01-01T00:00:00", "fileOID": "reshaped",
          "version": "test", "studyOID": "S", "metaDataVersionOID": "MDV"}


def allowed() -> dict[tuple[str, str, str], dict]:
    return {(r["package"], r["rule"], r["dataset"]): r for r in csv.DictReader(open(ALLOW, encoding="utf-8"))}


def explosions(findings: pd.DataFrame, records: dict[str, int]) -> dict[tuple[str, str], tuple[int, int]]:
    """(rule, dataset) -> (records flagged, findings) for the pairs over half the records or over 1,000."""
    out = {}
    for (rule, name), group in findings.groupby(["rule_id", "dataset"]):
        flagged = group["row"].dropna().nunique()
        n = records.get(name, 0)
        if len(group) > 1000 or (n and flagged > n / 2):
            out[(rule, name)] = (int(flagged), len(group))
    return out


def _reshape(datasets: dict, tmp_path, kind: str):
    """The package reshaped: split datasets of one domain merged, the largest SDTM Findings/Events domain split
    in two, the first three records of the largest dataset edited, written as Dataset-JSON (XPT packages) or
    as our NDJSON (Dataset-JSON packages), without define.xml."""
    from cdisc_il2.formats import Dataset
    from cdisc_il2.formats.datasetjson import write_dataset_json

    data = dict(datasets)
    parts: dict[str, list[str]] = {}
    for name, ds in data.items():
        dom = ds.frame["DOMAIN"].dropna().astype(str) if "DOMAIN" in ds.frame else pd.Series(dtype=str)
        if len(name) > 2 and not name.startswith("SUPP") and len(dom) and dom.iloc[0] == name[:2]:
            parts.setdefault(name[:2], []).append(name)
    for domain, names in parts.items():
        if len(names) > 1 and domain not in data:
            first = data[names[0]]
            frame = pd.concat([data.pop(n).frame for n in names], ignore_index=True)
            data[domain] = Dataset(domain, first.label, frame, first.columns)
    domains = [n for n in data if len(n) == 2 and "DOMAIN" in data[n].frame and len(data[n].frame) > 10
               and n not in {"DM", "TS", "TA", "TE", "TV", "TI", "SE", "SV"}]
    if domains:
        big = max(domains, key=lambda n: len(data[n].frame))
        ds = data.pop(big)
        half = len(ds.frame) // 2
        for suffix, frame in zip(SPLIT, (ds.frame.iloc[:half], ds.frame.iloc[half:])):
            data[big + suffix] = Dataset(big + suffix, ds.label, frame.reset_index(drop=True), ds.columns)
    largest = max(data, key=lambda n: len(data[n].frame))
    frame = data[largest].frame.copy()
    text = [c for c in frame.columns if frame[c].dtype == object and not c.endswith(("ID", "SEQ", "CD")) and c != "DOMAIN"]
    if text:
        frame.loc[frame.index[:3], text[-1]] = "EDITED"
        data[largest] = Dataset(largest, data[largest].label, frame, data[largest].columns)
    for name, ds in data.items():
        if kind == "xpt":
            write_dataset_json(ds, tmp_path / f"{name.lower()}.json", HEADER)
        else:                                     # Dataset-JSON from another writer: ours, as NDJSON
            write_dataset_json(ds, tmp_path / f"{name.lower()}.ndjson", HEADER, ndjson=True)
    return tmp_path


@pytest.fixture(scope="module")
def reshaped(tmp_path_factory):
    """Each package reshaped and validated from the written files: (findings, records per dataset)."""
    from cdisc_il2.formats import read_folder
    from cdisc_il2.validate import validate_folder

    out = {}
    for folder in FOLDERS:
        kind = "xpt" if any(p.suffix.lower() == ".xpt" for p in folder.iterdir()) else "json"
        where = _reshape(read_folder(folder), tmp_path_factory.mktemp(folder.name), kind)
        result = validate_folder(where)
        out[folder.name] = (result, dict(zip(result.datasets["dataset"], result.datasets["records"])))
    return out


def check_explosions(package: str, found: dict, allowed: dict) -> list[str]:
    def key(name: str) -> str:
        return name[:-2] if name.endswith(SPLIT) else name
    return [f"{package}: {rule} on {name} flags {flagged} records in {n} findings"
            for (rule, name), (flagged, n) in sorted(found.items()) if (package, rule, key(name)) not in allowed]


@needs_reference
@pytest.mark.parametrize("folder", FOLDERS, ids=[f.name for f in FOLDERS])
def test_no_explosions_on_reshaped_copies(folder, reshaped):
    result, records = reshaped[folder.name]
    assert result.errors.empty, result.errors.head().to_string()
    bad = check_explosions(folder.name, explosions(result.findings, records), allowed())
    assert not bad, "findings that explode (list them in tests/explosion_allow.csv only if right):\n" + "\n".join(bad)


def test_the_allow_table_says_why():
    for key, r in allowed().items():
        assert len(r["why"]) > 40 and r["example"], key


def test_an_exploding_rule_is_caught():
    findings = pd.DataFrame({"rule_id": ["R1"] * 6 + ["R2"], "dataset": ["AE"] * 7, "row": [1, 2, 3, 4, 5, 6, 1]})
    assert explosions(findings, {"AE": 10}) == {("R1", "AE"): (6, 6)}
    assert explosions(findings, {"AE": 12}) == {}
