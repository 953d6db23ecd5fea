"""Validation: every rule of the catalogue over every dataset, findings collected lazily as one frame."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..formats import Dataset, choose_files, read_folder
from ..metadata import ct_versions
from ..resources import load_json, load_study
from . import checks, functions  # noqa: F401  (register the rule functions and operators)
from .engine import (DEFAULT_IG, FINDING_COLUMNS, RULE_ERROR_COLUMNS, SEVERITY_ORDER, Study, applies, empty_findings,
                     load_rules, not_in_configuration, run_rule_on)
from .standard import package_standard
from .terminology import annotate, declared_ct, release_changes


@dataclass
class ValidationResult:
    """Findings, the rules checked (with whether each fired), a per-dataset summary, and the (rule, dataset)
    pairs that could not run."""

    findings: pd.DataFrame
    rules: pd.DataFrame
    datasets: pd.DataFrame
    ct_versions: list[str]
    errors: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=RULE_ERROR_COLUMNS))
    standard: str = f"SDTMIG {DEFAULT_IG}"
    study_rules: bool = True
    unreadable: dict[str, str] = field(default_factory=dict)     # dataset -> why its file could not be read
    stale: pd.DataFrame = field(default_factory=pd.DataFrame)    # justifications that match no finding (triage)
    ct_declared: list[dict] = field(default_factory=list)       # CT releases the package declares (set, version, source)
    ct_given: list[str] = field(default_factory=list)           # CT release files given to compare with (--ct-release)

    def counts(self) -> dict:
        """Totals: findings by severity, rules checked, rules that fired and rules that could not run."""
        justified = int(self.findings["triage"].eq("justified").sum()) if "triage" in self.findings else 0
        return {**_severity_counts(self.findings, total="findings"), "justified": justified,
                "rules_checked": int((self.rules["checked_in"] != "").sum()),
                "rules_in_catalogue": int(len(self.rules)),
                "rules_fired": int((self.rules["fired"] == "Y").sum()),
                "rule_errors": int(len(self.errors)),
                "ct_release_changes": release_changes(self.findings)}

    def count_at_or_above(self, severity: str) -> int:
        """Number of findings at or above a severity (Error > Warning > Notice)."""
        level = SEVERITY_ORDER[severity]
        open_ = ~self.findings["triage"].eq("justified") if "triage" in self.findings else True
        return int((self.findings["severity"].map(SEVERITY_ORDER).ge(level) & open_).sum())


def _severity_counts(findings: pd.DataFrame, total: str | None = None) -> dict:
    """Errors, warnings and notices among findings (and their total under `total`, if named)."""
    sev = findings["severity"].value_counts()
    out = {total: int(len(findings))} if total else {}
    out.update({"errors": int(sev.get("Error", 0)), "warnings": int(sev.get("Warning", 0)),
                "notices": int(sev.get("Notice", 0))})
    return out


def _category(rule) -> str:
    """The rule's Pinnacle 21 category (Presence, Consistency, Terminology, ...), or our own rule's kind."""
    xref = load_json("rule-xref.json")["rules"]
    if rule.p21 and rule.p21 in xref:
        return xref[rule.p21].get("category", "")
    return {"FMT": "Format", "IL2": "Study"}.get(rule.id.split("-")[0], "")


def _dataset_class(study: Study, name: str) -> str:
    """The class a dataset is checked as: its SDTM class, or its ADaM structure."""
    kind = study.kind(name)
    if kind in ("ADSL", "BDS"):
        return f"ADaM {kind}"
    if kind == "ADAM":
        return "ADaM other"
    if kind == "SUPP":
        return "Relationship"
    return study.sdtm_class(name) or ""


def is_this_study(datasets: dict[str, Dataset]) -> bool:
    """Whether a package is this trial's: its STUDYID (DM, else any dataset) is the one in mappings/study.yaml."""
    ours = str(load_study()["studyid"])
    for name in ["DM", "ADSL", *datasets]:
        ds = datasets.get(name)
        if ds is not None and "STUDYID" in ds.frame.columns:
            return bool((ds.frame["STUDYID"].astype("string") == ours).any())
    return False


def validate_datasets(datasets: dict[str, Dataset], rejects: pd.DataFrame | None = None,
                      standard: str | None = None, study_rules: bool | None = None,
                      extras: dict | None = None, reference: dict[str, Dataset] | None = None,
                      ct_releases: list | None = None) -> ValidationResult:
    """Run every rule on the datasets (and the mapping rejects, if given); findings sorted by dataset and row.

    `standard` is the package's SDTMIG version (default 3.4); `study_rules` runs this trial's own rules
    (default: when the package's STUDYID is this trial's); `extras` carries the package's define.xml;
    `reference` datasets (SDTM beside ADaM) serve cross-dataset rules and are not themselves checked;
    `ct_releases` (metadata.read_ct_release) are the CT releases the package was made with, to tell a term that
    changed between releases from a data error."""
    checked = frozenset(datasets)
    datasets = {**(reference or {}), **datasets}
    own = is_this_study(datasets) if study_rules is None else study_rules
    context = dict(extras or {})
    if rejects is not None:
        context["rejects"] = rejects
    study = Study(datasets, extras=context, standard=standard or DEFAULT_IG, study_rules=own,
                  checked=checked if reference else None)
    parts, rows, errors = [], [], []
    per_dataset: dict[str, int] = {name: 0 for name in datasets}
    rules = load_rules()
    # every rule on one dataset, then the next: the columns a dataset's rules derive (parsed dates, numbers,
    # joined DM variables) are released before the next dataset's, so memory holds one dataset's at a time.
    # Each rule's findings, datasets and failures are gathered in the order run_rule gives them.
    runs = [(rule, not_in_configuration(rule, study.standard), [], [], []) for rule in rules if applies(rule, study)]
    for name in study.under_validation():
        for rule, earlier, rule_parts, applied, failed in runs:
            run_rule_on(rule, study, name, earlier, rule_parts, applied, failed)
        study.release()
    done = {rule.id: (pd.concat(rule_parts, ignore_index=True) if rule_parts else empty_findings(),
                      sorted(set(applied)), failed) for rule, _, rule_parts, applied, failed in runs}
    for rule in rules:
        found, applied, failed = done.get(rule.id, (empty_findings(), [], []))
        errors.extend(failed)
        if len(found):
            parts.append(found)
        for name in applied:
            per_dataset[name] = per_dataset.get(name, 0) + 1
        rows.append({"rule_id": rule.id, "p21_id": rule.p21 or "", "core_id": ", ".join(rule.core),
                     "category": _category(rule),
                     "publisher_ids": ", ".join(rule.publisher), "severity": rule.severity,
                     "scope": "study" if rule.scope == "study" else "standard", "group": rule.group,
                     "check": rule.check if rule.check != "function" else rule.params.get("function", "function"),
                     "applies_to": ", ".join(rule.datasets), "checked_in": ", ".join(applied),
                     "findings": len(found),
                     "fired": "Y" if len(found) else ("N" if applied else "not applicable"),
                     "description": rule.description or rule.message})
    findings = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=FINDING_COLUMNS)
    findings = findings.astype({"row": "Int64"})
    if "src_row" in findings:             # raw rows of rejects-based findings (mapping_rejects)
        findings["src_row"] = pd.to_numeric(findings["src_row"], errors="coerce").astype("Int64")
    scope = {r["rule_id"]: r["scope"] for r in rows}
    findings["scope"] = findings["rule_id"].map(scope).astype("string")
    findings["_sev"] = findings["severity"].map(SEVERITY_ORDER)
    findings = findings.sort_values(["dataset", "row", "_sev", "rule_id", "variable"], ascending=[True, True, False, True, True],
                                    kind="stable", na_position="first").drop(columns="_sev").reset_index(drop=True)
    declared = declared_ct(context.get("define_ct", []), study)
    findings = annotate(findings, study, declared, list(ct_releases or []))
    errs = pd.DataFrame(errors, columns=RULE_ERROR_COLUMNS)
    summary = []
    for name in [*[n for n in datasets if n in checked], *sorted(set(findings["dataset"]) - set(checked))]:
        ds = datasets.get(name)
        summary.append({"dataset": name, "label": (ds.label or "") if ds else "(missing)",
                        "domain": (study.domain(name) or name) if ds else name,
                        "class": _dataset_class(study, name) if ds else "",
                        "source": ds.source.name if ds and ds.source else "",
                        "records": len(ds.frame) if ds else 0, "variables": ds.frame.shape[1] if ds else 0,
                        "standard": study.standard_name(name) if ds else "not in the package (named by a finding)",
                        "rules_checked": per_dataset.get(name, 0),
                        "rules_not_run": int((errs["dataset"] == name).sum()),
                        **_severity_counts(findings[findings["dataset"] == name])})
    kinds = {study.kind(n) for n in checked}
    parts_ig = ([f"SDTMIG {study.standard}"] if kinds & {"SDTM", "SUPP"} or not kinds & {"ADSL", "BDS", "ADAM"}
                else []) + (["ADaMIG 1.3"] if kinds & {"ADSL", "BDS", "ADAM"} else [])
    ig = "; ".join(parts_ig)
    return ValidationResult(findings, pd.DataFrame(rows), pd.DataFrame(summary), ct_versions(), errs, ig, own,
                            ct_declared=declared, ct_given=[f"{r.standard} CT {r.version} ({r.source})"
                                                            for r in ct_releases or []])


def sdtm_beside(folder: Path) -> Path | None:
    """The folder `sdtm` beside an ADaM folder (OUT/sdtm for OUT/adam), when it holds datasets; else None."""
    beside = Path(folder).resolve().parent / "sdtm"
    if not beside.is_dir() or beside == Path(folder).resolve():
        return None
    chosen, _ = choose_files(beside)
    return beside if chosen else None


def validate_folder(folder: Path, rejects: pd.DataFrame | None = None,
                    prefer: tuple[str, ...] = ("xpt", "json", "csv"), standard: str | None = None,
                    define: Path | None = None, study_rules: bool | None = None,
                    package: bool = False, datasets: dict[str, Dataset] | None = None,
                    unreadable: dict[str, str] | None = None, ct_releases: list | None = None,
                    reference: dict[str, Dataset] | None = None, meddra=None, whodrug=None) -> ValidationResult:
    """Read every dataset in a folder (XPT, Dataset-JSON, CSV) and validate them together, under the standard
    given, else the one the package's define.xml (or `define`) declares. A `package` (what `validate` is given)
    is also checked against its define.xml, and is expected to have one. `datasets` are the folder's datasets
    already read (read_folder with `unreadable`, the files it could not read): they are not read again.
    `ct_releases` are the CT releases the package was made with (see validate_datasets). `reference` datasets
    (the SDTM an ADaM package came from) serve the cross-dataset rules; a `package` of ADaM datasets without one
    takes the SDTM of the folder `sdtm` beside it (a run's OUT/adam and OUT/sdtm), see sdtm_beside."""
    from ..errors import InputError
    from ..formats.define_read import read_define

    path = define or Path(folder) / "define.xml"
    extras: dict = {"expect_define": package}
    metadata = None
    unreadable = dict(unreadable or {}) if datasets is not None else {}
    if path.is_file():
        try:
            metadata = read_define(path)      # read once: the standard it declares, and the package checks
        except InputError as exc:
            unreadable[path.name] = str(exc)
    if standard is None:
        standard = package_standard(metadata)
    if package and metadata is not None:
        extras["define"] = metadata
    if metadata is not None:
        extras["define_ct"] = metadata.get("ct_versions", [])
    if meddra is not None:              # the MedDRA release (dictionaries.meddra): its rules run only with one
        extras["meddra"] = meddra
    if whodrug is not None:             # the WHODrug release (dictionaries.whodrug): its rules run only with one
        extras["whodrug"] = whodrug
    if datasets is None:
        datasets = read_folder(folder, prefer=prefer, unreadable=unreadable)
    if reference is None and package and datasets and all(k.startswith("AD") for k in datasets):
        beside = sdtm_beside(folder)
        reference = read_folder(beside, prefer=prefer) if beside is not None else None
    result = validate_datasets(datasets, rejects, standard, study_rules, extras, reference=reference,
                               ct_releases=ct_releases)
    if unreadable:          # listed in every report; the other datasets are validated all the same
        result.unreadable = unreadable
        rows = [{"dataset": n, "label": "", "source": "", "records": 0, "variables": 0,
                 "standard": f"not read: {why}", "rules_checked": 0, "rules_not_run": 0,
                 "errors": 0, "warnings": 0, "notices": 0} for n, why in sorted(unreadable.items())]
        result.datasets = pd.concat([result.datasets, pd.DataFrame(rows)], ignore_index=True)
        result.errors = pd.concat([result.errors, pd.DataFrame(
            [{"rule_id": "", "dataset": n, "error": f"dataset could not be read: {why}"}
             for n, why in sorted(unreadable.items())], columns=RULE_ERROR_COLUMNS)], ignore_index=True)
    return result
