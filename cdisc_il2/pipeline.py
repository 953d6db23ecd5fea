"""The whole run on one transfer, in memory where it can be, written to a staging folder and put in place as a
whole: convert -> derive -> export -> validate the exported SDTM and ADaM -> compare -> report, then the run history.

A run killed at any moment leaves the previous complete package (and the history as it was) or the new one."""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ContextManager

import pandas as pd

from .errors import UsageError
from .faults import fault_point
from .resources import data_dir

if TYPE_CHECKING:
    from .validate import ValidationResult

SHIPPED = ("xpt", "json", "csv")    # the submission files as `validate` chooses them: XPT, else Dataset-JSON
Step = Callable[[str], ContextManager]


@dataclass
class RunOutcome:
    """Everything the CLI renders after a run."""

    converted: object
    sdtm: object
    adam: dict[str, pd.DataFrame]
    adam_checked: object
    unwritable: list[str] = field(default_factory=list)
    comparison: object | None = None
    previous: Path | None = None
    run_id: int | None = None
    history: Path | None = None
    queries: pd.DataFrame | None = None


def staging_folder(out: Path) -> Path:
    """Where a run writes before its package is put in place: beside OUT, hidden."""
    out = Path(out).resolve()
    return out.parent / f".{out.name}.staging"


def _previous_folder(out: Path) -> Path:
    out = Path(out).resolve()
    return out.parent / f".{out.name}.previous"


def recover(out: Path) -> None:
    """Put back the previous package when a run was stopped between publish's two renames (OUT moved aside, the
    new package not yet in its place); called before anything reads or replaces OUT."""
    out, old = Path(out).resolve(), _previous_folder(out)
    if old.is_dir() and not out.exists():
        os.replace(old, out)


def publish(staging: Path, out: Path) -> None:
    """Put the staged package in place of OUT: two renames, the old package removed after."""
    out = Path(out).resolve()
    old = _previous_folder(out)
    recover(out)
    if old.exists():
        shutil.rmtree(old)
    if out.exists():
        os.replace(out, old)
    fault_point("between renames")
    os.replace(staging, out)
    if old.exists():
        shutil.rmtree(old)


def default_justifications(mappings: Path | None) -> Path:
    """The study's justifications file kept with its specs: mappings/justifications.yaml."""
    sites = Path(mappings) if mappings else data_dir("mappings") / "sites"
    return sites.parent / "justifications.yaml"


def resolve_previous(previous: str | None, history: Path) -> Path | None:
    """--previous: a run folder, or a run of the history by id ('last' for the latest complete one)."""
    if previous is None:
        return None
    p = Path(previous)
    if (p / "sdtm").is_dir():
        return p.resolve()
    if previous == "last" or previous.isdigit():
        from .transfers.history import find_run

        return find_run(history, previous)
    raise UsageError(f"--previous '{previous}' is neither a run folder (with sdtm/) nor a run id of the history")


def _summary_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The records of a dataset with only USUBJID (if it has one): what a run's summary counts, without holding
    every column of every dataset until the run ends."""
    return frame[[c for c in ("USUBJID",) if c in frame.columns]]


def _sites_of(converted) -> dict[str, str]:
    """Raw file -> the site whose spec read it (accountability's spec, the spec's SITEID)."""
    site = {spec.name: spec.site for spec in converted.specs}
    acc = converted.accountability
    return {str(f): site[str(s)] for f, s in zip(acc["file"], acc["spec"]) if str(s) in site}


def _coding_versions(converted) -> dict[str, str] | None:
    """Domain -> the version of the dictionary release it was coded with (Define-XML's external codelists)."""
    versions = {d: rel.version for d, rel in (("AE", converted.release), ("CM", converted.drug_release)) if rel}
    return versions or None


def with_triage(result: ValidationResult, justifications: pd.DataFrame) -> ValidationResult:
    """The validation result with each finding's triage status from the study's justifications, and the stale
    justifications: triage is the pipeline's step after validation (transfers.triage), not validate's."""
    from .transfers.triage import apply_triage

    findings, stale = apply_triage(result.findings, justifications)
    return dataclasses.replace(result, findings=findings, stale=stale)


def _nothing(_: str) -> ContextManager:
    return contextlib.nullcontext()


def run_transfer(transfer: Path, out: Path, mappings: Path | None = None, allow_missing_site: bool = False,
                 previous: str | None = None, history: Path | None = None, justifications: Path | None = None,
                 step: Step = _nothing, meddra: Path | None = None, whodrug: Path | None = None) -> RunOutcome:
    """Convert, validate, derive, validate, export, compare and report one transfer into OUT, atomically.

    Each stage imports what it uses when it starts (pandera, openpyxl, matplotlib, lxml are not needed before)."""
    from .transfers.triage import load_justifications

    started = dt.datetime.now().isoformat(timespec="seconds")
    out = Path(out)
    recover(out)
    history = Path(history) if history else out.resolve().parent / "history.sqlite"
    prev = resolve_previous(previous, history)
    justified = load_justifications(justifications or default_justifications(mappings))
    stage = staging_folder(out)
    if stage.exists():
        shutil.rmtree(stage)                    # left by a run that was killed
    stage.mkdir(parents=True)
    fault_point("staged")
    with step("convert"):
        from .convert import coding_labels, map_transfer, write_outputs

        converted = map_transfer(transfer, mappings, allow_missing_site, meddra, whodrug)
        write_outputs(converted, stage)
    fault_point("converted")
    # the SDTM is handed on in memory as every later stage would read its CSVs back (csv_dataset: same values,
    # same types), never read back from the files
    from .formats import csv_dataset, read_folder

    sdtm_data = {k: csv_dataset(k, converted.domains[k], stage / "sdtm" / f"{k.lower()}.csv")
                 for k in sorted(converted.domains)}
    # what the run keeps of the conversion from here on (memory): of each domain what the CLI's summary reads
    # (records and subjects); the trace is kept for the findings' raw cells and the queries
    trace, cells = converted.trace, converted.cells
    converted = dataclasses.replace(converted, trace=pd.DataFrame(columns=converted.trace.columns),
                                    cells=pd.DataFrame(columns=converted.cells.columns),
                                    domains={k: _summary_frame(v) for k, v in converted.domains.items()})
    with step("derive ADaM"):
        from .derive import derive_package, write_derived

        derived = derive_package({k: v.frame.copy(deep=False) for k, v in sdtm_data.items()})
        write_derived(derived, stage)
        adam, sri = derived.adam, derived.sri_summary
        derived = None
        adam_data = {k: csv_dataset(k, adam[k], stage / "adam" / f"{k.lower()}.csv") for k in sorted(adam)}
        from .io import text_frame
        from .reports.html import REPORT_COLUMNS

        # what the report reads of the run, as its files read back as text (reports.html.RunFiles)
        given = {f"adam/{k.lower()}.csv": text_frame(adam[k][[c for c in cols if c in adam[k]]])  # the plotted
                 for k, cols in REPORT_COLUMNS.items() if k in adam}
        given["adam/sri_summary.csv"] = text_frame(sri)
        given["accountability.csv"] = text_frame(converted.accountability)
        if converted.meddra or converted.whodrug:
            given["coding_queries.csv"] = text_frame(converted.coding_queries)
            given["coding.json"] = coding_labels(converted)
        adrs = adam.get("ADRS") if prev is not None else None     # for the comparison with the previous run
        adam = {k: _summary_frame(v) for k, v in adam.items()}      # records and subjects, for the CLI's summary
    fault_point("adam derived")
    unwritable: list[str] = []
    with step("export XPT, Dataset-JSON, Define-XML"):
        from .export import export_folder

        export_folder(stage / "sdtm", stage / "sdtm", when=converted.transfer_time, specs=converted.specs,
                      unwritable=unwritable, datasets=sdtm_data, coding=_coding_versions(converted))
        export_folder(stage / "adam", stage / "adam", when=converted.transfer_time, unwritable=unwritable,
                      datasets=adam_data)
        adam_data = None
    fault_point("exported")
    # what is validated is what ships: the submission files just exported, read back as `validate` reads them
    # (XPT, else Dataset-JSON, with define.xml), once; the findings are those `cdisc-il2 validate OUT/sdtm` gives
    with step("validate SDTM"):
        from .validate import validate_folder
        from .keys import natural_keys
        from .transfers.queries import attach_sources, build_queries, follow_up, read_queries, write_queries
        from .validate.report import write_excel, write_json

        shipped_unreadable: dict[str, str] = {}
        shipped = read_folder(stage / "sdtm", prefer=SHIPPED, unreadable=shipped_unreadable)
        sdtm = validate_folder(stage / "sdtm", converted.rejects, SHIPPED, package=True, datasets=shipped,
                               unreadable=shipped_unreadable, meddra=converted.release,
                               whodrug=converted.drug_release)
        sdtm = with_triage(dataclasses.replace(sdtm, findings=attach_sources(sdtm.findings, cells, trace)), justified)
        write_excel(sdtm, stage / "validation" / "report.xlsx", package=f"{Path(transfer).name}: SDTM as exported")
        given["validation/findings.json"] = write_json(sdtm, stage / "validation" / "findings.json")
    fault_point("sdtm validated")
    with step("site queries"):
        queries = follow_up(build_queries(sdtm.findings, sdtm_data, _sites_of(converted), Path(transfer).name,
                                          natural_keys),
                            read_queries(prev) if prev is not None else None, cells, sdtm_data, natural_keys)
        write_queries(queries, stage / "queries", converted.transfer_time)
        if prev is not None:                  # what the comparison reads of this run, as its files have it
            from .transfers.compare import RunTables

            tables = RunTables.in_memory({k: v.frame for k, v in sdtm_data.items()},
                                         [given["validation/findings.json"]["findings"]],
                                         adrs, trace, cells)
        trace = cells = sdtm_data = adrs = None
    with step("validate ADaM"):
        # with the exported SDTM as reference for the cross-dataset rules (`validate OUT/adam` takes OUT/sdtm)
        adam_checked = validate_folder(stage / "adam", None, SHIPPED, package=True, reference=shipped)
        shipped = None
        adam_checked = with_triage(adam_checked, justified)
        write_excel(adam_checked, stage / "validation" / "adam-report.xlsx", package=f"{Path(transfer).name}: ADaM as exported")
        given["validation/adam-findings.json"] = write_json(adam_checked, stage / "validation" / "adam-findings.json")
        if prev is not None:
            tables.findings.append(given["validation/adam-findings.json"]["findings"])
    fault_point("adam validated")
    comparison = None
    if prev is not None:
        from .transfers.compare import compare_runs, write_comparison

        with step("compare with the previous transfer"):
            comparison = compare_runs(prev, tables)
            tables = None
            write_comparison(comparison, stage / "comparison")
            given.update({f"comparison/{k}": text_frame(v) for k, v in comparison.tables().items()})
            given["comparison/summary.json"] = comparison.summary()
    with step("manifest and report"):
        from .export.manifest import build_manifest, write_manifest

        summary = {"sdtm": sdtm.counts(), "adam": adam_checked.counts()}
        manifest = build_manifest(stage, converted.inputs, converted.specs, converted.transfer_time.isoformat(), summary)
        manifest["incomplete"] = unwritable
        write_manifest(stage, manifest)
        given["manifest.json"] = manifest
        from .reports.html import write_report

        write_report(stage, given)
        given = None
        manifest = build_manifest(stage, converted.inputs, converted.specs, converted.transfer_time.isoformat(), summary)
        manifest["incomplete"] = unwritable
        write_manifest(stage, manifest)
    fault_point("reported")
    publish(stage, out)
    fault_point("published")
    outcome = RunOutcome(converted, sdtm, adam, adam_checked, unwritable, comparison, prev, history=history,
                         queries=queries)
    with step("run history"):
        outcome.run_id = _record(history, started, transfer, out, manifest, sdtm, adam_checked, unwritable,
                                 comparison, prev, queries, sri)
    return outcome


def _record(history: Path, started: str, transfer: Path, out: Path, manifest: dict, sdtm, adam_checked,
            unwritable: list[str], comparison, prev: Path | None, queries: pd.DataFrame | None = None,
            sri: pd.DataFrame | None = None) -> int:
    """One history row for the run, with its findings by rule and its SRI-4 summary."""
    from .transfers.history import list_runs, record_run
    from .transfers.queries import query_counts

    findings = pd.concat([sdtm.findings.assign(package="SDTM"), adam_checked.findings.assign(package="ADaM")],
                         ignore_index=True)
    previous_id = None
    if prev is not None and Path(history).is_file():
        runs = list_runs(history)
        same = runs[runs["out"] == str(prev)]
        previous_id = int(same["id"].iloc[-1]) if len(same) else None
    return record_run(history, started=started, finished=dt.datetime.now().isoformat(timespec="seconds"),
                      status="incomplete" if unwritable else "complete", transfer=transfer, out=out,
                      manifest=manifest, findings=findings, sri=sri, previous_run=previous_id,
                      summary={"sdtm": sdtm.counts(), "adam": adam_checked.counts(),
                               "comparison": comparison.summary() if comparison is not None else None,
                               "queries": query_counts(queries)})
