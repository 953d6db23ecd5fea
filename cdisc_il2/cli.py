"""The cdisc-il2 command line: a thin layer that calls the stages and renders their results.

Exit codes: 0 success; 1 findings at or above the failure threshold; 2 usage error;
3 input error (unreadable file, malformed mapping spec); 4 internal error (a bug: please report);
5 output incomplete (everything that could be written was; the files that could not be are named).
"""
from __future__ import annotations

import functools
import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from . import __version__
from .errors import CdiscIl2Error, IncompleteOutput, UsageError

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_INPUT, EXIT_INTERNAL, EXIT_INCOMPLETE = 0, 1, 2, 3, 4, 5

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="Convert, validate, derive and export the low-dose IL-2 SLE trial's data (CDISC SDTM/ADaM).\n\n"
                       "Exit codes: 0 success, 1 findings, 2 usage error, 3 input error, 4 internal error, "
                       "5 output incomplete.")
out_console = Console()
MEDDRA_HELP = ("the user's MedDRA ASCII release folder as MSSO ships it (llt.asc, pt.asc, ..., mdhier.asc, "
               "meddra_release.asc); default mappings/study.yaml dictionaries.meddra")
WHODRUG_HELP = ("the user's WHODrug Global B3 release folder as UMC ships it (DD.txt, DDA.txt, INA.txt, version.txt); "
                "default mappings/study.yaml dictionaries.whodrug")
ALLOW_MISSING = typer.Option(False, "--allow-missing-site", help="carry on when a site spec matches no file "
                             "in the transfer (the site is listed in accountability.csv); default: input error")
err_console = Console(stderr=True)


def _print_version(value: bool) -> None:
    if value:
        out_console.print(__version__, highlight=False)
        raise typer.Exit()


@app.callback()
def _main_options(show_version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                                    help="print the cdisc-il2 version and exit")) -> None:
    """Convert, validate, derive and export the low-dose IL-2 SLE trial's data (CDISC SDTM/ADaM)."""


def _guarded(fn):
    """Turn the package's named errors into one clear line and a documented exit code."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except CdiscIl2Error as exc:
            err_console.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None
        except typer.Exit:
            raise
        except OSError as exc:   # a file that cannot be read or written: name it
            err_console.print(f"[bold red]error:[/] {exc.filename or ''}: {exc.strerror or exc}", markup=True,
                              highlight=False, soft_wrap=True)
            raise typer.Exit(EXIT_INPUT) from None
        except Exception as exc:  # a bug: say so plainly, no traceback unless asked
            err_console.print(f"[bold red]internal error:[/] {type(exc).__name__}: {exc} "
                              "(set CDISC_IL2_DEBUG=1 for a traceback)", markup=True, highlight=False)
            import os
            if os.environ.get("CDISC_IL2_DEBUG"):
                raise
            raise typer.Exit(EXIT_INTERNAL) from None
    return wrapper


def _render_convert(result) -> None:
    table = Table(title="SDTM datasets written", show_lines=False)
    for col in ("dataset", "records", "subjects"):
        table.add_column(col, justify="right" if col != "dataset" else "left")
    for name, df in result.domains.items():
        table.add_row(name, str(len(df)), str(df["USUBJID"].nunique()) if "USUBJID" in df else "-")
    out_console.print(table)
    acc = result.accountability
    read = acc["block"].fillna("").astype(str) != ""          # unread sheets and files are warned about below
    unbalanced = acc[read & (acc["rows_read"].fillna(0) > 0) & ~acc["balanced"]]
    rej = result.rejects
    n_rows = int((rej["disposition"] == "row rejected").sum())
    out_console.print(f"raw rows read {int(acc['rows_read'].fillna(0).sum())}, mapped {int(acc['rows_mapped'].fillna(0).sum())}, "
                      f"rejected {int(acc['rows_rejected'].fillna(0).sum())}; "
                      f"{n_rows} row rejection(s) and {len(rej) - n_rows} value problem(s) listed in rejects.csv")
    for note in acc["note"].dropna():
        out_console.print(f"[yellow]warning:[/] {note}", highlight=False)
    if len(unbalanced):
        out_console.print("[red]accountability does not balance for some sheets: see accountability.csv[/]")
    queries = result.coding_queries
    for domain, label, uncoded in (
            ("AE", getattr(result, "meddra", ""), "AE terms uncoded: AEDECOD/AEBODSYS from the sponsor synonym list, "
             "no MedDRA release given (--meddra DIR or study.yaml dictionaries.meddra)"),
            ("CM", getattr(result, "whodrug", ""), "medications uncoded: CMDECOD/CMCLAS from the sponsor medication "
             "list, no WHODrug release given (--whodrug DIR or study.yaml dictionaries.whodrug)")):
        if label:
            n_q = int(queries["domain"].eq(domain).sum()) if queries is not None else 0
            out_console.print(f"{domain} coded with {label}: {n_q} coding query(ies) in coding_queries.csv "
                              "and rejects.csv", highlight=False)
        else:
            out_console.print(uncoded, highlight=False)


@app.command()
@_guarded
def convert(transfer_dir: Path = typer.Argument(..., help="folder of one data transfer's site spreadsheets"),
            out: Path = typer.Option(..., "--out", help="output folder (SDTM under OUT/sdtm/)"),
            mappings: Optional[Path] = typer.Option(None, "--mappings", help="folder of site mapping specs "
                                                    "(default: the shipped mappings/sites)"),
            allow_missing_site: bool = ALLOW_MISSING,
            meddra: Optional[Path] = typer.Option(None, "--meddra", help=MEDDRA_HELP),
            whodrug: Optional[Path] = typer.Option(None, "--whodrug", help=WHODRUG_HELP)) -> None:
    """Map every site spreadsheet of a transfer to SDTM DM, EX, AE, LB, QS (+ SUPPxx).

    Writes OUT/sdtm/<domain>.csv, OUT/sdtm/variables.csv, OUT/rejects.csv, OUT/accountability.csv
    and OUT/trace.csv.

    Example: cdisc-il2 convert samples/transfer-01 --out build/transfer-01
    """
    from .convert import map_transfer, write_outputs

    result = map_transfer(transfer_dir, mappings, allow_missing_site, meddra, whodrug)
    write_outputs(result, out)
    _render_convert(result)


class FailOn(str, Enum):
    """Severity at or above which findings make the exit code 1."""

    error = "error"
    warning = "warning"
    notice = "notice"
    never = "never"


def _validate_and_report(data_dir: Path, report: Optional[Path], json_out: Optional[Path], rejects=None,
                         prefer: tuple[str, ...] = ("xpt", "json", "csv"), standard: Optional[str] = None,
                         define: Optional[Path] = None, study: Optional[str] = None, package: bool = False,
                         ct_release: Optional[list[Path]] = None, meddra: Optional[Path] = None,
                         whodrug: Optional[Path] = None):
    from .validate import validate_folder
    from .validate.report import render_terminal, write_excel, write_json

    from .formats import choose_files

    chosen, others = choose_files(data_dir, prefer=prefer)
    for name, skipped in others.items():
        if skipped:
            out_console.print(f"note: {name} is here as {', '.join(p.name for p in [chosen[name], *skipped])}; "
                              f"{chosen[name].name} is validated")
    from .metadata import read_ct_release
    from .validate import sdtm_beside

    if package and chosen and all(k.startswith("AD") for k in chosen) and (beside := sdtm_beside(data_dir)):
        out_console.print(f"note: the SDTM in {beside} is the reference for the cross-dataset rules")
    releases = [read_ct_release(p) for p in ct_release or []]
    if meddra is not None:
        from .dictionaries.meddra import read_release

        release = read_release(meddra)
        out_console.print(f"note: the MedDRA rules run against {release.label} ({meddra})", highlight=False)
    drugs = None
    if whodrug is not None:
        from .dictionaries.whodrug import read_release as read_drug_release

        drugs = read_drug_release(whodrug)
        out_console.print(f"note: the WHODrug rules run against {drugs.label} ({whodrug})", highlight=False)
    result = validate_folder(data_dir, rejects, prefer, standard, define, _study_rules(study), package,
                             ct_releases=releases, meddra=release if meddra is not None else None, whodrug=drugs)
    if report:
        write_excel(result, report, package=str(data_dir))
    if json_out:
        write_json(result, json_out)
    render_terminal(result, out_console)
    return result


def _study_rules(study: Optional[str]) -> Optional[bool]:
    """--study: this trial's STUDYID runs its own rules, 'none' never; absent: decided by the package's STUDYID."""
    from .resources import load_study

    if study is None:
        return None
    ours = str(load_study()["studyid"])
    if study.lower() == "none":
        return False
    if study.upper() == ours.upper():
        return True
    raise UsageError(f"--study '{study}' is not a known study profile (known: {ours}, or none)")


def _exit_for(result, fail_on: FailOn) -> None:
    if fail_on != FailOn.never and result.count_at_or_above(fail_on.value.title()):
        raise typer.Exit(EXIT_FINDINGS)


@app.command()
@_guarded
def validate(data_dir: Path = typer.Argument(..., help="folder of SDTM and/or ADaM datasets (.xpt, .json, .ndjson, .csv)"),
             report: Optional[Path] = typer.Option(None, "--report", help="write the Excel report here (.xlsx)"),
             json_out: Optional[Path] = typer.Option(None, "--json", help="write the findings as JSON here"),
             fail_on: FailOn = typer.Option(FailOn.error, "--fail-on", help="exit 1 when findings at or above this "
                                            "severity exist (never: always exit 0)"),
             standard: Optional[str] = typer.Option(None, "--standard", help="SDTMIG version of the package: 3.1.2, "
                                                    "3.1.3, 3.2, 3.3 or 3.4 (default: what DATA_DIR/define.xml "
                                                    "declares, else 3.4)"),
             define: Optional[Path] = typer.Option(None, "--define", help="the package's Define-XML, when it is not "
                                                   "DATA_DIR/define.xml"),
             study: Optional[str] = typer.Option(None, "--study", help="run this trial's own rules (IL2-SLE-01) or "
                                                 "not (none); default: when the package's STUDYID is this trial's"),
             ct_release: Optional[list[Path]] = typer.Option(None, "--ct-release", help="the CDISC CT release the "
                                                             "package was made with (NCI EVS file, e.g. 'SDTM "
                                                             "Terminology 2020-12-18.txt'; once for SDTM, once for "
                                                             "ADaM): terminology findings whose value is a term of "
                                                             "it are marked as changes between releases"),
             meddra: Optional[Path] = typer.Option(None, "--meddra", help="the MedDRA ASCII release folder the "
                                                   "package was coded with: runs the MedDRA rules (SD0008, "
                                                   "SD2007-SD2016 ...), which do not run without it"),
             whodrug: Optional[Path] = typer.Option(None, "--whodrug", help="the WHODrug B3 release folder the "
                                                    "package was coded with: runs the WHODrug rules (SD1344-SD1346), "
                                                    "which do not run without it")
             ) -> None:
    """Check every dataset of a folder against SDTMIG / ADaMIG 1.3, CDISC CT and the study rules.

    Works on any SDTM/ADaM package, ours or not, in SAS XPT v5, Dataset-JSON (JSON or NDJSON) or CSV.
    Every rule runs on every dataset it applies to; all findings are reported in one run.

    Example: cdisc-il2 validate build/transfer-01/sdtm --report report.xlsx --json findings.json --fail-on error
    """
    from .validate.standard import KNOWN_IG

    if standard is not None and standard not in KNOWN_IG:
        raise UsageError(f"--standard '{standard}' is not an SDTMIG version we know ({', '.join(KNOWN_IG)})")
    if define is not None and not define.is_file():
        raise UsageError(f"--define '{define}' is not a file")
    for path in ct_release or []:
        if not path.is_file():
            raise UsageError(f"--ct-release '{path}' is not a file")
    result = _validate_and_report(data_dir, report, json_out, standard=standard, define=define, study=study,
                                  package=True, ct_release=ct_release, meddra=meddra, whodrug=whodrug)
    if result.unreadable:
        for name, why in sorted(result.unreadable.items()):
            err_console.print(f"error: {why}")
        err_console.print(f"error: {len(result.unreadable)} dataset(s) could not be read; the others were validated "
                          "and reported")
        raise typer.Exit(EXIT_INPUT)
    _exit_for(result, fail_on)


@app.command()
@_guarded
def derive(sdtm_dir: Path = typer.Argument(..., help="folder of SDTM datasets (DM, EX, AE, LB, QS and SUPPxx)"),
           out: Path = typer.Option(..., "--out", help="output folder (ADaM under OUT/adam/)")) -> None:
    """Derive ADaM ADSL, ADAE, ADLB, ADQS and ADRS (SRI-4) from SDTM, with the SRI-4 summary and plots.

    Writes OUT/adam/<dataset>.csv, OUT/adam/sri_summary.csv, OUT/adam/sri_response.png and
    OUT/adam/sledai_profiles.png. Conventions (windows, imputation, SRI settings) are in mappings/analysis.yaml.

    Example: cdisc-il2 derive build/transfer-01/sdtm --out build/transfer-01
    """
    from .derive import derive_folder

    adam = derive_folder(sdtm_dir, out)
    _render_derive(adam, out)


def _render_derive(adam, out: Path) -> None:
    import pandas as pd

    table = Table(title="ADaM datasets written")
    for col in ("dataset", "records", "subjects"):
        table.add_column(col, justify="right" if col != "dataset" else "left")
    for name, df in adam.items():
        table.add_row(name, str(len(df)), str(df["USUBJID"].nunique()) if "USUBJID" in df else "-")
    out_console.print(table)
    excluded = pd.read_csv(out / "adam" / "excluded.csv")
    if len(excluded):
        out_console.print(f"[yellow]note:[/] {len(excluded)} SDTM record(s) of subjects not in DM are not in ADaM "
                          "(adam/excluded.csv)")
    summary = pd.read_csv(out / "adam" / "sri_summary.csv")
    for r in summary.itertuples():
        mark = "  <- primary endpoint" if getattr(r, "primary_endpoint", "N") == "Y" else ""
        out_console.print(f"SRI-4 {r.AVISIT}: {r.responders}/{r.N} = {r.rate:.1%} "
                          f"(95% CI {r.ci95_low:.1%}-{r.ci95_high:.1%}){mark}", highlight=False)


def _step_reporter(quiet: bool):
    """Show each long step as a spinner in a terminal; plain lines when not a terminal; nothing with --quiet."""
    import contextlib
    import time

    @contextlib.contextmanager
    def step(name: str):
        if quiet:
            yield
            return
        t0 = time.perf_counter()
        if out_console.is_terminal:
            with out_console.status(f"{name} ...", spinner="dots"):
                yield
        else:
            yield
        out_console.print(f"[dim]{name}: {time.perf_counter() - t0:.1f} s[/]", highlight=False)
    return step


def _render_comparison(comp, previous: Path, written: Path | None = None) -> None:
    """What changed since the previous transfer, as the report orders it: deleted records and vanished subjects,
    changed values (old -> new, with the raw cell), then each new subject on one line with its record counts."""
    from rich.markup import escape

    from .keys import record_label

    s = comp.summary()
    out_console.print(f"compared with {previous}: {s['records_added']} records added, {s['records_changed']} changed "
                      f"({s['values_changed']} values), {s['records_deleted']} deleted; subjects +{s['subjects_added']} "
                      f"-{s['subjects_gone']}; findings {s['findings_new']} new, {s['findings_resolved']} resolved; "
                      f"{s['sri_changed']} SRI-4 responses changed ({written or 'comparison/'})", highlight=False)
    for r in comp.subjects[comp.subjects["change"] == "gone"].itertuples():
        out_console.print(f"[bold red]subject gone since the previous transfer:[/] {escape(str(r.usubjid))}", highlight=False)
    deleted = comp.changes[comp.changes["change"] == "deleted"]
    for r in deleted.head(50).itertuples():
        out_console.print(f"[bold red]record deleted:[/] {escape(f'{r.dataset} {r.usubjid} {r.key}')}", highlight=False)
    if len(deleted) > 50:
        out_console.print(f"[bold red]... and {len(deleted) - 50} more deleted records[/] "
                          f"({Path(written or 'comparison') / 'changes.csv'})")
    values, lines = comp.values.astype("string").fillna(""), []
    for (dataset, key), rec in values.groupby(["dataset", "key"], sort=False):
        collected = rec[rec["column"] != ""]
        derived = rec[(rec["column"] == "") & rec["follows"].isin(set(collected["variable"]))]
        for r in rec.drop(index=derived.index).itertuples():           # derived values beside their source
            cell = ", ".join(x for x in (r.file, r.sheet, f"row {r.row}" if r.row else "",
                                         f"'{r.column}': {r.raw}" if r.column else "") if x)
            also = derived.loc[derived["follows"] == r.variable, "variable"]
            if len(also):
                cell += f"; also {', '.join(also)}"
            what = " ".join(x for x in (dataset, r.usubjid, record_label(key, r.usubjid), r.variable) if x)
            lines.append(f"value changed: {what} {r.old or '(empty)'} -> {r.new or '(empty)'}"
                         + (f" ({cell})" if cell else ""))
    for line in lines[:20]:
        out_console.print(escape(line), highlight=False)
    if len(lines) > 20:
        out_console.print(f"... and {len(lines) - 20} more ({Path(written or 'comparison') / 'changed_values.csv'})")
    counts = comp.new_subjects
    datasets = [c for c in counts.columns if c not in ("usubjid", "file", "records")]
    for r in counts.to_dict("records"):
        per = ", ".join(f"{d} {int(r[d])}" for d in datasets if int(r[d]))
        out_console.print(escape(f"new subject: {r['usubjid']}, {int(r['records'])} records ({per})"), highlight=False)


@app.command()
@_guarded
def run(transfer_dir: Path = typer.Argument(..., help="folder of one data transfer's site spreadsheets"),
        out: Path = typer.Option(..., "--out", help="output folder for the whole package"),
        mappings: Optional[Path] = typer.Option(None, "--mappings", help="folder of site mapping specs"),
        fail_on: FailOn = typer.Option(FailOn.never, "--fail-on", help="exit 1 when validation finds issues at or "
                                       "above this severity, justified ones not counted (default never: the report "
                                       "is the result)"),
        allow_missing_site: bool = ALLOW_MISSING,
        previous: Optional[str] = typer.Option(None, "--previous", help="compare with an earlier run: its output "
                                               "folder, or its id in the run history ('last' for the latest)"),
        history: Optional[Path] = typer.Option(None, "--history", help="the study's run history (SQLite); default "
                                               "OUT/../history.sqlite"),
        justifications: Optional[Path] = typer.Option(None, "--justifications", help="explained findings (YAML); "
                                                      "default mappings/justifications.yaml beside the site specs"),
        quiet: bool = typer.Option(False, "--quiet", help="no progress lines (for scheduled jobs)"),
        meddra: Optional[Path] = typer.Option(None, "--meddra", help=MEDDRA_HELP),
        whodrug: Optional[Path] = typer.Option(None, "--whodrug", help=WHODRUG_HELP)) -> None:
    """Run the whole pipeline on one transfer: convert to SDTM, derive ADaM, export, validate the exported files
    (what ships), compare with the previous transfer, write report.html and record the run in the history.

    Everything is written to a staging folder and put in place as a whole: a run killed at any moment leaves
    the previous complete package. Writes OUT/sdtm/, OUT/adam/, OUT/validation/, OUT/comparison/ (with
    --previous), OUT/queries/ (site queries: one workbook per site, queries.csv), OUT/report.html,
    OUT/manifest.json, rejects/accountability/trace.csv/trace_cells.csv.

    Example: cdisc-il2 run samples/transfer-02 --out build/transfer-02 --previous build/transfer-01
    """
    from .pipeline import run_transfer
    from .validate.report import render_terminal

    outcome = run_transfer(transfer_dir, out, mappings, allow_missing_site, previous, history, justifications,
                           step=_step_reporter(quiet), meddra=meddra, whodrug=whodrug)
    _render_convert(outcome.converted)
    render_terminal(outcome.sdtm, out_console)
    _render_derive(outcome.adam, out)
    c = outcome.adam_checked.counts()
    out_console.print(f"ADaM validation: {c['errors']} errors, {c['findings']} findings (validation/adam-report.xlsx)")
    if outcome.comparison is not None:
        _render_comparison(outcome.comparison, outcome.previous, Path(out) / "comparison")
    if outcome.queries is not None:
        _render_query_counts(outcome.queries, Path(out) / "queries")
    out_console.print(f"submission files (XPT, Dataset-JSON, NDJSON, define.xml), report.html and manifest.json in {out}; "
                      f"run {outcome.run_id} recorded in {outcome.history}", highlight=False)
    if outcome.unwritable:
        raise IncompleteOutput(outcome.unwritable)
    _exit_for(outcome.sdtm, fail_on)


@app.command()
@_guarded
def compare(previous: Path = typer.Argument(..., help="the earlier run's output folder"),
            current: Path = typer.Argument(..., help="the later run's output folder"),
            out: Optional[Path] = typer.Option(None, "--out", help="write changes.csv, findings.csv ... here "
                                               "(default CURRENT/comparison)")) -> None:
    """Compare two runs record by record by each dataset's natural keys, and their findings and SRI-4.

    Example: cdisc-il2 compare build/transfer-01 build/transfer-02
    """
    from .transfers.compare import compare_runs, write_comparison

    comp = compare_runs(previous, current)
    target = out or Path(current) / "comparison"
    write_comparison(comp, target)
    _render_comparison(comp, previous, target)


def _render_query_counts(queries, folder: Path) -> None:
    """One line: site queries by status, and where the site workbooks are."""
    if queries.empty:
        out_console.print(f"site queries: none ({folder})", highlight=False)
        return
    from collections import Counter

    from .transfers.queries import query_counts

    per_site = query_counts(queries)                   # the counts the run history keeps
    by = sum((Counter(c) for c in per_site.values()), Counter())
    sites = ", ".join(f"site {site} {c.get('open', 0)}" for site, c in per_site.items())
    out_console.print(f"site queries: {', '.join(f'{n} {s}' for s, n in sorted(by.items()))} "
                      f"(open: {sites}) in {folder}", highlight=False)


@app.command()
@_guarded
def queries(run_dir: Path = typer.Argument(..., help="a run's output folder (with queries/queries.csv)"),
            limit: int = typer.Option(40, "--limit", help="open queries listed at most (the counts are complete)")) -> None:
    """Print the open site queries of a run, per site and by age (transfers open), with the counts by status.

    Example: cdisc-il2 queries build/transfer-02
    """
    from .transfers.queries import read_queries

    q = read_queries(run_dir)
    if q is None:
        raise UsageError(f"'{run_dir}' has no queries/queries.csv (a folder written by `cdisc-il2 run`)")
    table = Table(title="Site queries by status")
    for col in ("site", "open", "answered", "closed", "oldest open (transfers)"):
        table.add_column(col, justify="left" if col == "site" else "right")
    for site, g in q.groupby("site", sort=True):
        live = g[g["status"] == "open"]
        age = max((int(float(a or 1)) for a in live["transfers_open"]), default=0)
        table.add_row(site, str(len(live)), str(int((g["status"] == "answered").sum())),
                      str(int(g["status"].str.startswith("closed").sum())), str(age) if len(live) else "-")
    out_console.print(table)
    live = q[q["status"] == "open"].assign(age=lambda d: d["transfers_open"].map(lambda a: int(float(a or 1))))
    live = live.sort_values(["age", "site", "usubjid"], ascending=[False, True, True], kind="stable")
    detail = Table(title=f"Open queries, oldest first ({len(live)})")
    for col, ratio in (("site", 1), ("subject", 3), ("where (sheet, row: heading)", 4), ("value", 2), ("age", 1),
                       ("question", 8)):
        detail.add_column(col, overflow="fold", ratio=ratio)
    for r in live.head(limit).itertuples():
        detail.add_row(r.site, r.usubjid, f"{r.sheet}, row {r.row}: {r.heading}", r.raw_value, str(r.age), r.question)
    out_console.print(detail)
    if len(live) > limit:
        out_console.print(f"... and {len(live) - limit} more open queries (queries/queries.csv)")


def _short_path(path, base: Path) -> str:
    """A path as a person reads it in a table: relative to BASE when it lies under it."""
    p = Path(str(path))
    try:
        return p.resolve().relative_to(base.resolve()).as_posix() or "."
    except ValueError:
        return str(p)


@app.command("history")
@_guarded
def history_(history: Path = typer.Argument(Path("build/history.sqlite"), help="the study's run history file")) -> None:
    """List past runs: when, status, transfer, output folder, errors, justified findings, SRI-4 at the primary visit.

    Example: cdisc-il2 history build/history.sqlite
    """
    from .transfers.history import list_runs

    runs = list_runs(history)
    here = Path.cwd()
    rows = [{"id": str(r.id), "started": str(r.started).replace("T", " ")[:16], "status": r.status,
             "transfer": _short_path(r.transfer, here), "out": _short_path(r.out, here),
             "errors": f"{r.errors} ({r.justified} justified)" if r.justified else str(r.errors),
             "sri": str(r.sri4_primary or "")} for r in runs.itertuples()]
    out_console.print(f"Runs in {history} (folders relative to the current one)", highlight=False)
    if out_console.width >= 120:       # a wide terminal: one line per run
        table = Table()
        for key, col, justify in (("id", "id", "right"), ("started", "started", "left"), ("status", "status", "left"),
                                  ("transfer", "transfer", "left"), ("out", "out", "left"),
                                  ("errors", "errors", "right"), ("sri", "SRI-4 primary", "left")):
            table.add_column(col, justify=justify, overflow="fold")
        for row in rows:
            table.add_row(*(row[k] for k in ("id", "started", "status", "transfer", "out", "errors", "sri")))
        out_console.print(table)
        return
    for row in rows:                   # 80 columns or a pipe: a short block per run, paths never cut
        out_console.print(f"run {row['id']}  {row['started']}  {row['status']}  errors {row['errors']}"
                          + (f"  SRI-4 {row['sri']}" if row["sri"] else ""), highlight=False, soft_wrap=True)
        out_console.print(f"    transfer {row['transfer']}", highlight=False, soft_wrap=True)
        out_console.print(f"    out      {row['out']}", highlight=False, soft_wrap=True)


@app.command()
@_guarded
def export(data_dir: Path = typer.Argument(..., help="folder of SDTM or ADaM datasets (CSV, XPT or Dataset-JSON)"),
           out: Path = typer.Option(..., "--out", help="folder for the submission files"),
           format: str = typer.Option("xpt,json,ndjson", "--format", help="comma-separated: xpt, json, ndjson"),
           timestamp: Optional[str] = typer.Option(None, "--timestamp", help="header date-time (ISO 8601); default "
                                                   "the transfer time from DATA_DIR/../transfer.json, else 2000-01-01"),
           define: Optional[Path] = typer.Option(None, "--define", help="take Dataset-JSON item metadata (types, "
                                                 "lengths, keys) from this Define-XML instead of our own")) -> None:
    """Write SAS XPT v5, Dataset-JSON v1.1 (JSON/NDJSON) and define.xml (Define-XML 2.1) for a folder.

    The same inputs and timestamp give byte-identical files.

    Example: cdisc-il2 export build/transfer-01/sdtm --out build/transfer-01/sdtm --format xpt,json
    """
    import datetime as dt
    import json as _json

    from .export import export_folder

    when = None
    if timestamp:
        try:
            when = dt.datetime.fromisoformat(timestamp)
        except ValueError:
            raise UsageError(f"--timestamp '{timestamp}' is not an ISO 8601 date-time (e.g. 2015-06-30T12:00:00)") from None
    elif (data_dir.parent / "transfer.json").is_file():
        when = dt.datetime.fromisoformat(_json.loads((data_dir.parent / "transfer.json").read_text())["transfer_time"])
    formats = tuple(f.strip().lower() for f in format.split(",") if f.strip())
    written = export_folder(data_dir, out, formats, when, define=define)
    out_console.print(f"wrote {len(written)} files to {out}")


@app.command()
@_guarded
def samples(subjects: int = typer.Option(40, "--subjects", min=1, help="number of subjects"),
            seed: int = typer.Option(20140303, "--seed", help="random seed (same seed, same files)"),
            out: Path = typer.Option(..., "--out", help="folder to write the raw site workbooks into"),
            transfer_02: Optional[Path] = typer.Option(None, "--transfer-02", help="also write the next transfer "
                                                       "(the same study weeks later) into this folder")) -> None:
    """Generate realistic raw site spreadsheets for the trial (three site layouts).

    Also writes generator-truth.json: intended SRI-4 responders, dropouts, rescue therapy and the deliberate
    data problems; with --transfer-02, the next transfer and transfer-changes.json (every change made on purpose).

    Example: cdisc-il2 samples --subjects 40 --seed 20140303 --out samples/transfer-01 --transfer-02 samples/transfer-02
    """
    from .samples import generate

    truth = generate(subjects, seed, out)
    from .sample_dictionaries import write_sample_drug_release, write_sample_release

    release_dir = write_sample_release(Path(out).parent / "dictionaries" / "meddra")
    out_console.print(f"wrote a SYNTHETIC MedDRA-layout release (invented codes) to {release_dir}")
    release_dir = write_sample_drug_release(Path(out).parent / "dictionaries" / "whodrug")
    out_console.print(f"wrote a SYNTHETIC WHODrug-B3-layout release (invented codes) to {release_dir}")
    out_console.print(f"wrote {len(truth['subjects'])} subjects to {out} "
                      f"({len(truth['problems'])} deliberate data problems, see generator-truth.json)")
    if transfer_02 is not None:
        from .followup import make_transfer_02

        doc = make_transfer_02(out, transfer_02)
        out_console.print(f"wrote the next transfer to {transfer_02} ({len(doc['changes'])} changes, see "
                          "transfer-changes.json)")


@app.command()
def version() -> None:
    """Print the cdisc-il2 version.

    Example: cdisc-il2 version
    """
    out_console.print(__version__)


def main() -> None:
    """Console-script entry point."""
    app(prog_name="cdisc-il2")


if __name__ == "__main__":
    sys.exit(main())
