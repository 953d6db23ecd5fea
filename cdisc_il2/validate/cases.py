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
                          types: dict[str, dict[str, str]] | None = None) -> dict[str, Dataset]:
    """Datasets by name from records, with the labels and declared types a file would carry."""
    labels, types = labels or {}, types or {}
    out = {}
    for name, records in data.items():
        frame = frame_from_records(records, types.get(name))
        lab = labels.get(name, {})
        cols = [ColumnMeta(c, lab.get(c), types.get(name, {}).get(c) or
                           ("Num" if pd.api.types.is_numeric_dtype(frame[c]) else "Char")) for c in frame.columns]
        out[name] = Dataset(name, lab.get("", f"{name} dataset"), frame, cols)
    return out


def flagged(rule: Rule, datasets: dict[str, Dataset], standard: str = DEFAULT_IG,
            extras: dict | None = None) -> tuple[dict[str, list], list[dict]]:
    """Records each dataset's findings of one rule point at (1-based; 'dataset' for whole-dataset findings),
    and the (rule, dataset) pairs that could not run."""
    study = Study(datasets, extras=extras or {}, standard=standard, study_rules=True)
    found, _, errors = run_rule(rule, study)
    out: dict[str, list] = {}
    for name, rows in found.groupby("dataset", sort=True)["row"]:
        out[str(name)] = sorted({("dataset" if pd.isna(r) else int(r)) for r in rows}, key=str)
    return out, errors


def run_case(rule: Rule, case: dict) -> tuple[dict[str, list], dict[str, list], list[dict]]:
    """Run a rule on one of its cases: (expected, flagged, errors), records sorted per dataset."""
    datasets = datasets_from_records(case["data"], case.get("labels"), case.get("types"))
    got, errors = flagged(rule, datasets, str(case.get("standard", DEFAULT_IG)))
    expected = {k: sorted(v, key=str) for k, v in case["expect"].items() if v}
    return expected, got, errors
