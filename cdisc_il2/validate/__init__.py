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

    def counts(self) -> dict:
        """Totals: findings by severity, rules checked and rules that fired (reports and manifest use these)."""
        return {**_severity_counts(self.findings, total="findings"), "rules_checked": int(len(self.rules)),
                "rules_fired": int((self.rules["fired"] == "Y").sum())}

    def count_at_or_above(self, severity: str) -> int:
        """Number of findings at or above a severity (Error > Warning > Notice)."""
        level = SEVERITY_ORDER[severity]
        return int(self.findings["severity"].map(SEVERITY_ORDER).ge(level).sum())


def _severity_counts(findings: pd.DataFrame, total: str | None = None) -> dict:
    """Errors, warnings and notices among findings (and their total under `total`, if named)."""
    sev = findings["severity"].value_counts()
    out = {total: int(len(findings))} if total else {}
    out.update({"errors": int(sev.get("Error", 0)), "warnings": int(sev.get("Warning", 0)),
                "notices": int(sev.get("Notice", 0))})
    return out


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
    for name in [*datasets, *sorted(set(findings["dataset"]) - set(datasets))]:
        ds = datasets.get(name)
        summary.append({"dataset": name, "label": (ds.label or "") if ds else "(missing)",
                        "source": ds.source.name if ds and ds.source else "",
                        "records": len(ds.frame) if ds else 0, "variables": ds.frame.shape[1] if ds else 0,
                        **_severity_counts(findings[findings["dataset"] == name])})
    return ValidationResult(findings, pd.DataFrame(rows), pd.DataFrame(summary), ct_versions())


def validate_folder(folder: Path, rejects: pd.DataFrame | None = None,
                    prefer: tuple[str, ...] = ("xpt", "json", "csv")) -> ValidationResult:
    """Read every dataset in a folder (XPT, Dataset-JSON, CSV) and validate them together."""
    return validate_datasets(read_folder(folder, prefer=prefer), rejects)
