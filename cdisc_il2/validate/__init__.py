"""Validation: every rule of the catalogue over every dataset, findings collected lazily as one frame."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..formats import Dataset, read_folder
from ..metadata import ct_versions
from . import checks  # noqa: F401  (registers the rule functions)
from .engine import FINDING_COLUMNS, SEVERITY_ORDER, Study, load_rules, run_rule


@dataclass
class ValidationResult:
    """Findings, the rules checked (with whether each fired) and a per-dataset summary."""

    findings: pd.DataFrame
    rules: pd.DataFrame
    datasets: pd.DataFrame
    ct_versions: list[str]

    def count_at_or_above(self, severity: str) -> int:
        """Number of findings at or above a severity (Error > Warning > Notice)."""
        level = SEVERITY_ORDER[severity]
        return int(self.findings["severity"].map(SEVERITY_ORDER).ge(level).sum())


def validate_datasets(datasets: dict[str, Dataset], rejects: pd.DataFrame | None = None) -> ValidationResult:
    """Run every rule on the datasets (and the mapping rejects, if given); findings sorted by dataset and row."""
    study = Study(datasets, extras={"rejects": rejects} if rejects is not None else {})
    parts, rows = [], []
    for rule in load_rules():
        found, applied = run_rule(rule, study)
        if len(found):
            parts.append(found)
        rows.append({"rule_id": rule.id, "p21_id": rule.p21 or "", "core_id": ", ".join(rule.core),
                     "publisher_ids": ", ".join(rule.publisher), "severity": rule.severity,
                     "check": rule.check if rule.check != "function" else rule.params.get("function", "function"),
                     "applies_to": ", ".join(rule.datasets), "checked_in": ", ".join(applied),
                     "findings": len(found), "fired": "Y" if len(found) else ("N" if applied else "not applicable"),
                     "description": rule.description or rule.message})
    findings = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=FINDING_COLUMNS)
    findings = findings.astype({"row": "Int64"})
    findings["_sev"] = findings["severity"].map(SEVERITY_ORDER)
    findings = findings.sort_values(["dataset", "row", "_sev", "rule_id", "variable"], ascending=[True, True, False, True, True],
                                    kind="stable", na_position="first").drop(columns="_sev").reset_index(drop=True)
    summary = []
    for name, ds in datasets.items():
        f = findings[findings["dataset"] == name]
        summary.append({"dataset": name, "label": ds.label or "", "source": ds.source.name if ds.source else "",
                        "records": len(ds.frame), "variables": ds.frame.shape[1],
                        "errors": int((f["severity"] == "Error").sum()), "warnings": int((f["severity"] == "Warning").sum()),
                        "notices": int((f["severity"] == "Notice").sum())})
    extra = sorted(set(findings["dataset"]) - set(datasets))
    for name in extra:
        f = findings[findings["dataset"] == name]
        summary.append({"dataset": name, "label": "(missing)", "source": "", "records": 0, "variables": 0,
                        "errors": int((f["severity"] == "Error").sum()), "warnings": int((f["severity"] == "Warning").sum()),
                        "notices": int((f["severity"] == "Notice").sum())})
    return ValidationResult(findings, pd.DataFrame(rows), pd.DataFrame(summary), ct_versions())


def validate_folder(folder: Path, rejects: pd.DataFrame | None = None,
                    prefer: tuple[str, ...] = ("xpt", "json", "csv")) -> ValidationResult:
    """Read every dataset in a folder (XPT, Dataset-JSON, CSV) and validate them together."""
    return validate_datasets(read_folder(folder, prefer=prefer), rejects)
