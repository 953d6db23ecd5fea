"""Rule examples as data: build datasets from records and report which records a rule flags.

Every rule in schemas/rules/ carries `cases` (records and the records it must flag); the tests run them,
and the same functions run CDISC CORE's published test cases, so a rule is checked against examples
written beside it and against a peer's.
"""
from __future__ import annotations

import numbers

import pandas as pd

from ..formats.model import ColumnMeta, Dataset
from .engine import DEFAULT_IG, Rule, Study, run_rule


def frame_from_records(records: list[dict], types: dict[str, str] | None = None) -> pd.DataFrame:
    """A dataset frame from records: numbers become float64, everything else text; declared types win."""
    types = types or {}
    frame = pd.DataFrame.from_records(records) if records else pd.DataFrame()
    for col in frame.columns:
        values = frame[col]
        present = values[values.notna()]
        numeric = len(present) > 0 and all(isinstance(v, numbers.Number) and not isinstance(v, bool) for v in present)
        declared = types.get(col)
        if declared == "Num" or (declared is None and numeric):
            frame[col] = pd.to_numeric(values, errors="coerce").astype("float64") if (
                declared != "Num" or numeric) else values.astype("string")
        else:
            frame[col] = values.map(lambda v: v if v is None or isinstance(v, str) else
                                    (str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)),
                                    na_action="ignore").astype("string")
    return frame


def datasets_from_records(data: dict[str, list[dict]], labels: dict[str, dict[str, str]] | None = None,
                          types: dict[str, dict[str, str]] | None = None,
                          formats: dict[str, dict[str, str]] | None = None,
                          lengths: dict[str, dict[str, int]] | None = None) -> dict[str, Dataset]:
    """Datasets by name from records, with the labels, declared types, display formats and lengths a file
    would carry."""
    labels, types, formats, lengths = labels or {}, types or {}, formats or {}, lengths or {}
    out = {}
    for name, records in data.items():
        frame = frame_from_records(records, types.get(name))
        lab = labels.get(name, {})
        cols = [ColumnMeta(c, lab.get(c), types.get(name, {}).get(c) or
                           ("Num" if pd.api.types.is_numeric_dtype(frame[c]) else "Char"),
                           length=lengths.get(name, {}).get(c),
                           display_format=formats.get(name, {}).get(c)) for c in frame.columns]
        out[name] = Dataset(name, lab.get("", f"{name} dataset"), frame, cols)
    return out


def flagged(rule: Rule, datasets: dict[str, Dataset], standard: str = DEFAULT_IG,
            extras: dict | None = None, variable_position: bool = False) -> tuple[dict[str, list], list[dict]]:
    """Records each dataset's findings of one rule point at (1-based; 'dataset' for whole-dataset findings,
    or with `variable_position` the 1-based column of the variable they name, as CDISC CORE reports them),
    and the (rule, dataset) pairs that could not run."""
    study = Study(datasets, extras=extras or {}, standard=standard, study_rules=True)
    found, _, errors = run_rule(rule, study)
    out: dict[str, list] = {}
    for name, grp in found.groupby("dataset", sort=True):
        cols = list(datasets[name].frame.columns) if name in datasets else []
        recs = set()
        for r, var in zip(grp["row"], grp["variable"]):
            if not pd.isna(r):
                recs.add(int(r))
            elif variable_position and var in cols:
                recs.add(cols.index(var) + 1)
            else:
                recs.add("dataset")
        out[str(name)] = sorted(recs, key=str)
    return out, errors


def run_case(rule: Rule, case: dict) -> tuple[dict[str, list], dict[str, list], list[dict]]:
    """Run a rule on one of its cases: (expected, flagged, errors), records sorted per dataset."""
    datasets = datasets_from_records(case["data"], case.get("labels"), case.get("types"), case.get("formats"),
                                     case.get("lengths"))
    for name, found in (case.get("deviations") or {}).items():
        datasets[name].deviations = [dict(d) for d in found]
    extras: dict = {"expect_define": bool(case.get("expect_define"))}
    if "define" in case:
        d = case["define"]
        extras["define"] = {"datasets": d.get("datasets", {}), "labels": d.get("labels", {}),
                            "keys": d.get("keys", {}), "codelists": d.get("codelists", {})}
    if "meddra" in case:                # the case's own (invented) dictionary terms
        from ..dictionaries.meddra import release_from_terms

        extras["meddra"] = release_from_terms(case["meddra"], "(rule case)")
    if "whodrug" in case:
        from ..dictionaries.whodrug import release_from_terms as drugs_from_terms

        extras["whodrug"] = drugs_from_terms(case["whodrug"], "(rule case)")
    got, errors = flagged(rule, datasets, str(case.get("standard", DEFAULT_IG)), extras)
    expected = {k: sorted(v, key=str) for k, v in case["expect"].items() if v}
    return expected, got, errors


def load_core_case(folder) -> tuple[dict[str, Dataset], str, dict[str, list], str]:
    """A CDISC CORE test case folder (data/_variables.csv, one CSV per dataset, data/.env, results/results.csv):
    its datasets typed as declared, the IG version, the records expected to be flagged per dataset, and the
    product (SDTMIG, SENDIG)."""
    from pathlib import Path

    folder = Path(folder)
    data = folder / "data"
    env = dict(line.split("=", 1) for line in (data / ".env").read_text().split() if "=" in line) \
        if (data / ".env").is_file() else {}
    version = env.get("VERSION", "3-4").replace("-", ".")
    declared = pd.read_csv(data / "_variables.csv", dtype="string", keep_default_na=False)
    labels = pd.read_csv(data / "_datasets.csv", dtype="string", keep_default_na=False) \
        if (data / "_datasets.csv").is_file() else pd.DataFrame(columns=["Filename", "Label"])
    dataset_labels = dict(zip(labels["Filename"].str.lower(), labels["Label"]))
    datasets = {}
    for path in sorted(data.glob("*.csv")):
        if path.name.startswith("_"):
            continue
        stem = path.stem.lower()
        frame = pd.read_csv(path, dtype="string", keep_default_na=False, na_values=[""])
        meta = declared[declared["dataset"].str.lower() == stem]
        types = dict(zip(meta["variable"], meta["type"]))
        cols = []
        for col in frame.columns:
            kind = types.get(col, "Char")
            if kind == "Num":
                frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")
            cols.append(ColumnMeta(col, dict(zip(meta["variable"], meta["label"])).get(col), kind))
        name = stem.upper()
        datasets[name] = Dataset(name, dataset_labels.get(stem), frame, cols, path)
    results = folder / "results" / "results.csv"
    expected: dict[str, list] = {}
    if results.is_file() and results.stat().st_size:
        res = pd.read_csv(results, dtype="string", keep_default_na=False)
        if len(res):
            for name, recs in res.groupby(res["Dataset"].str.upper())["Record"]:
                expected[str(name)] = sorted({int(float(r)) if r.strip() else "dataset" for r in recs}, key=str)
    return datasets, version, expected, env.get("PRODUCT", "SDTMIG").upper()
