"""Writers for validation results: Excel workbook (Pinnacle 21 shape), JSON for machines, terminal table."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
from openpyxl import Workbook

from .. import __version__
from ..io import EXCEL_MAX_ROWS, add_sheet, save_workbook, write_text

from . import ValidationResult

REPORT_TIME = dt.datetime(2000, 1, 1)


SUMMARY_COLUMNS = ["scope", "severity", "domain", "datasets", "rule_id", "p21_id", "core_id", "category", "variables",
                   "count", "message", "sample"]


def issue_summary(result: ValidationResult) -> pd.DataFrame:
    """One line per domain and rule, as Pinnacle 21's Issue Summary reads: split datasets under their domain (the
    files named), how often the rule fired, and the first finding's own message and record as a sample; the
    standard's rules before this study's, then errors before warnings before notices, then by count."""
    f = result.findings
    if f.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    if "scope" not in f:
        f = f.assign(scope="standard")
    domains = dict(zip(result.datasets["dataset"], result.datasets["domain"])) if "domain" in result.datasets else {}
    categories = dict(zip(result.rules["rule_id"], result.rules["category"])) if "category" in result.rules else {}
    f = f.assign(domain=f["dataset"].map(lambda d: domains.get(d, d)))
    keys = ["scope", "severity", "domain", "rule_id", "p21_id", "core_id"]
    rows = []
    for key, g in f.groupby(keys, dropna=False, sort=False):
        first = g.iloc[0]
        where = [f"{first['dataset']}" + (f" record {int(first['row'])}" if pd.notna(first["row"]) else "")]
        if isinstance(first["usubjid"], str) and first["usubjid"]:
            where.append(first["usubjid"])
        if isinstance(first["variable"], str) and first["variable"]:
            value = "" if pd.isna(first["value"]) else f" = {first['value']}"
            where.append(f"{first['variable']}{value}")
        variables = sorted({v for v in g["variable"].dropna().astype(str) if v})
        rows.append({**dict(zip(keys, key)), "datasets": ", ".join(sorted(set(g["dataset"].astype(str)))),
                     "category": categories.get(key[3], ""), "variables": ", ".join(variables[:10]) +
                     (f" (+{len(variables) - 10})" if len(variables) > 10 else ""),
                     "count": len(g), "message": first["message"], "sample": "; ".join(where)})
    out = pd.DataFrame(rows)
    out["_s"] = out["scope"].ne("standard")
    out["_o"] = out["severity"].map({"Error": 0, "Warning": 1, "Notice": 2})
    out = out.sort_values(["_s", "_o", "count", "domain", "rule_id"], ascending=[True, True, False, True, True],
                          kind="stable")
    return out[SUMMARY_COLUMNS].reset_index(drop=True)


def validation_summary(result: ValidationResult, package: str | None = None) -> pd.DataFrame:
    """The first sheet a Pinnacle 21 user looks for: package, standard, CT, and the counts."""
    c = result.counts()
    ds = result.datasets
    read = ds[~ds["standard"].astype(str).str.startswith(("not read", "not in the package"))] if len(ds) else ds
    items = [("package", package or ""), ("standard", result.standard),
             ("controlled terminology", "; ".join(result.ct_versions)),
             ("controlled terminology the package declares", ct_declared_text(result)),
             ("CT findings that are changes between releases", ct_changes_text(result)),
             ("tool", f"cdisc-il2 {__version__}"), ("study rules", _study_rules_text(result)),
             ("datasets validated", str(len(read))), ("records", f"{int(read['records'].sum()) if len(read) else 0:,}"),
             ("datasets not read", str(len(result.unreadable))),
             ("errors", str(c["errors"])), ("warnings", str(c["warnings"])), ("notices", str(c["notices"])),
             ("justified findings", str(c.get("justified", 0))), ("issue lines (domain, rule)", str(len(issue_summary(result)))),
             ("rules checked", f"{c['rules_checked']} of {c['rules_in_catalogue']}"),
             ("rules that could not run", str(c["rule_errors"]))]
    return pd.DataFrame(items, columns=["item", "value"])


def write_excel(result: ValidationResult, path: Path, package: str | None = None) -> None:
    """The report data managers know: Validation Summary, Dataset Summary, Issue Summary, Details, Rules."""
    wb = Workbook(write_only=True)
    add_sheet(wb, "Validation Summary", validation_summary(result, package), {"item": 28, "value": 80})
    ds = result.datasets.rename(columns=str.title)
    add_sheet(wb, "Dataset Summary", ds, {"Dataset": 10, "Label": 36, "Source": 24, "Class": 18})
    add_sheet(wb, "Issue Summary", issue_summary(result).rename(columns={"count": "Count"}),
           {"message": 80, "core_id": 16, "sample": 50, "datasets": 18, "variables": 24}, "severity")
    details = result.findings.rename(columns={"row": "record"})
    add_sheet(wb, "Details", details, {"message": 80, "value": 28, "usubjid": 22, "core_id": 16}, "severity")
    add_sheet(wb, "Rules", result.rules, {"description": 90, "core_id": 22, "publisher_ids": 26, "applies_to": 22,
                                       "checked_in": 30}, "severity")
    add_sheet(wb, "Rules Not Run", result.errors, {"error": 100, "dataset": 12})
    if len(result.stale):
        add_sheet(wb, "Stale Justifications", result.stale, {"justification": 60, "status": 28})
    c = result.counts()
    meta = pd.DataFrame({"item": ["tool", "version", "standard", "controlled terminology", "study rules", "findings",
                                  "rules checked", "rules in catalogue", "rules that could not run",
                                  "Details rows shown"],
                         "value": ["cdisc-il2", __version__, result.standard, "; ".join(result.ct_versions),
                                   _study_rules_text(result), str(len(result.findings)),
                                   str(c["rules_checked"]), str(c["rules_in_catalogue"]), str(c["rule_errors"]),
                                   f"{min(len(result.findings), EXCEL_MAX_ROWS - 1)} (all findings are in the JSON)"]})
    add_sheet(wb, "About", meta, {"item": 24, "value": 70})
    save_workbook(wb, path, REPORT_TIME)


def ct_declared_text(result: ValidationResult) -> str:
    """The CT releases the package declares, with where each is declared, for the report."""
    if not result.ct_declared:
        return "none (no define.xml def:Standard of type CT, no TS TSVCDVER for CDISC)"
    return "; ".join(f"{d['set']} CT {d['version']} ({d['source']})" for d in result.ct_declared)


def ct_changes_text(result: ValidationResult) -> str:
    """How many terminology findings are terms of the package's own release, or why that was not measured."""
    ours = {v.split()[-1] for v in result.ct_versions}
    other = sorted({d["version"] for d in result.ct_declared} - ours)
    if result.ct_given:
        return f"{result.counts()['ct_release_changes']} (compared with {'; '.join(result.ct_given)})"
    if other:
        return f"not measured: the package declares CT {', '.join(other)}; give that release with --ct-release"
    return "none to measure (the package declares no other release)"


def _study_rules_text(result: ValidationResult) -> str:
    """Whether this trial's own rules ran, for the report."""
    return ("run (this trial's package)" if result.study_rules else
            "not run (another study's package; --study IL2-SLE-01 runs them)")


def to_json(result: ValidationResult) -> dict:
    """Findings and their context as a JSON document (schemas/findings.schema.json)."""
    def records(frame: pd.DataFrame) -> list[dict]:
        return json.loads(frame.to_json(orient="records"))
    return {"tool": "cdisc-il2", "version": __version__, "standard": result.standard,
            "ct_versions": result.ct_versions, "ct_declared": result.ct_declared, "ct_given": result.ct_given,
            "study_rules": result.study_rules,
            "summary": result.counts(),
            "datasets": records(result.datasets), "rules": records(result.rules),
            "rule_errors": records(result.errors),
            "findings": records(result.findings),
            "stale_justifications": records(result.stale) if len(result.stale) else []}


def write_json(result: ValidationResult, path: Path) -> dict:
    """Write the JSON findings document atomically; return it (what the run hands the report and comparison)."""
    doc = to_json(result)
    write_text(path, json.dumps(doc, ensure_ascii=False, indent=1) + "\n")
    return doc


def render_terminal(result: ValidationResult, console, limit: int = 25) -> None:
    """A rich table of the issues by domain and rule, errors first and never hidden, and the totals."""
    from rich.table import Table

    summary = issue_summary(result)
    errors = summary[summary["severity"] == "Error"]
    shown = pd.concat([errors, summary[summary["severity"] != "Error"].head(max(limit - len(errors), 0))])
    table = Table(title="Validation issues (by domain and rule; errors first)", show_lines=False)
    for c in ("severity", "domain", "rule", "P21", "count", "message (first record)"):
        table.add_column(c, justify="right" if c == "count" else "left", overflow="fold")
    colour = {"Error": "red", "Warning": "yellow", "Notice": "cyan"}
    for r in shown.itertuples():
        where = r.domain if r.datasets == r.domain else f"{r.domain} ({r.datasets})"
        table.add_row(f"[{colour.get(r.severity, 'white')}]{r.severity}[/]", where, r.rule_id, r.p21_id,
                      str(r.count), f"{r.message} [{r.sample}]")
    console.print(table)
    if len(summary) > len(shown):
        rest = summary.drop(shown.index)
        by = rest.groupby("severity")["count"].agg(["size", "sum"])
        said = ", ".join(f"{int(by.at[s, 'size'])} {s.lower()} lines ({int(by.at[s, 'sum'])} findings)"
                         for s in ("Warning", "Notice") if s in by.index)
        console.print(f"... and {len(rest)} more issue lines: {said} (see the report)", highlight=False)
    for r in result.errors.head(limit).itertuples():
        console.print(f"[red]rule not run:[/] {r.rule_id} on {r.dataset}: {r.error}")
    if len(result.errors) > limit:
        console.print(f"... and {len(result.errors) - limit} more rules not run (see the report)")
    present = result.datasets[result.datasets["records"].gt(0) | result.datasets["label"].ne("(missing)")] \
        if "rules_checked" in result.datasets else result.datasets.iloc[0:0]
    unchecked = present.loc[present["rules_checked"] == 0, "dataset"].tolist() if len(present) else []
    if unchecked:
        console.print(f"[yellow]not checked by any rule:[/] {', '.join(unchecked)} (see Dataset Summary: standard)")
    c = result.counts()
    console.print(f"{result.standard}; study rules {'run' if result.study_rules else 'not run (another study)'}. "
                  f"{c['rules_checked']} rules checked on {len(present) if len(present) else len(result.datasets)} "
                  "datasets: "
                  f"{c['errors']} errors, {c['warnings']} warnings, {c['notices']} notices"
                  + (f" ({c['justified']} justified)" if c.get("justified") else "")
                  + (f"; {c['rule_errors']} rule/dataset pairs could not run" if c["rule_errors"] else ""))
    ours = {v.split()[-1] for v in result.ct_versions}
    if {d["version"] for d in result.ct_declared} - ours or result.ct_given:
        console.print(f"CT: checked against {'; '.join(result.ct_versions)}; the package declares "
                      f"{ct_declared_text(result)}. CT findings that are changes between releases: "
                      f"{ct_changes_text(result)}", highlight=False)
    if "triage" in result.findings:
        again = result.findings[result.findings["triage"].eq("value changed since justified")]
        for r in again.head(limit).itertuples():
            console.print(f"[yellow]justified before, value changed:[/] {r.rule_id} {r.dataset} {r.usubjid} "
                          f"{r.variable} '{r.value}' ({r.justification})", highlight=False)
    for r in result.stale.head(limit).itertuples() if len(result.stale) else []:
        console.print(f"[yellow]stale justification:[/] {r.rule} {r.dataset} {r.usubjid or ''} {r.variable or ''} "
                      f"'{r.value or ''}' matches no finding any more", highlight=False)
