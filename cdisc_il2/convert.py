"""The convert stage: every site workbook of a transfer -> SDTM domains, rejects and accountability."""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .errors import InputError, UsageError
from .ingest import Workbook, block_columns, cell_problems, date_patterns_for
from .io import write_csv, write_text
from .mapping.engine import DUPLICATE_REJECTED, BlockResult, Issues, run_block
from .mapping.coding import QUERY_COLUMNS, code_ae, code_cm, load_coding, load_drug_coding
from .mapping.merge import MERGE_REJECTED, merge_block
from .mapping.spec import Spec, find_specs
from .metadata import sdtm_dataset_label, sdtm_variables
from .sdtm import SRC_SITE, assemble

RAW_SUFFIXES = {".xlsx", ".xlsm", ".xls", ".xlsb", ".ods", ".csv", ".tsv", ".txt"}
DEFAULT_TIME = dt.datetime(2000, 1, 1)
ACCOUNT_COLUMNS = ["file", "sheet", "spec", "block", "domain", "rows_read", "rows_mapped", "rows_rejected",
                   "records_out", "blank_rows_skipped", "balanced", "note"]


@dataclass
class ConvertResult:
    """What convert produced, for the CLI and the next stages."""

    domains: dict[str, pd.DataFrame]
    rejects: pd.DataFrame
    accountability: pd.DataFrame
    trace: pd.DataFrame
    cells: pd.DataFrame = field(default_factory=pd.DataFrame)     # each collected value's raw cell (trace_cells.csv)
    specs: list[Spec] = field(default_factory=list)
    inputs: list[Path] = field(default_factory=list)
    transfer_time: dt.datetime = DEFAULT_TIME
    meddra: str = ""            # the MedDRA release AE was coded with ('' : uncoded, sponsor synonym list only)
    coding_queries: pd.DataFrame | None = None      # verbatims not coded (coding_queries.csv), with a release
    release: object = None      # the MedDRA release (dictionaries.meddra.MeddraRelease) for validation
    whodrug: str = ""           # the WHODrug release CM was coded with ('' : sponsor medication dictionary only)
    drug_release: object = None     # the WHODrug release (dictionaries.whodrug.WhodrugRelease) for validation


def map_transfer(transfer: Path, mappings: Path | None = None, allow_missing_site: bool = False,
                 meddra: Path | None = None, whodrug: Path | None = None) -> ConvertResult:
    """Read and map every site workbook in `transfer` with the site specs; nothing is written. With a MedDRA
    release (`meddra`, else mappings/study.yaml `dictionaries.meddra`) AE is coded, with a WHODrug release
    (`whodrug`, else `dictionaries.whodrug`) CM (mapping/coding.py).

    Every sheet of every workbook and every file of the transfer is accounted for: mapped, rejected,
    or listed as not read. A site whose files are missing is an input error unless `allow_missing_site`."""
    transfer = Path(transfer)
    if not transfer.is_dir():
        raise UsageError(f"transfer folder '{transfer}' does not exist or is not a folder")
    specs = find_specs(mappings)
    coding = load_coding(meddra)        # read before the workbooks: a malformed release stops the run at once
    drug_coding = load_drug_coding(whodrug)
    records: dict[str, list[pd.DataFrame]] = {}
    rejects, account = [], []
    labels: dict[str, dict[str, tuple[str, str]]] = {}
    used: set[Path] = set()
    saved: list[dt.datetime] = []
    missing: list[str] = []
    for spec in specs:
        files = spec_files(transfer, spec)
        if not files:
            missing.append(f"site {spec.site}: no file matching '{spec.doc['files']}' ({spec.name})")
            account.append({"file": "", "sheet": "", "spec": spec.name, "block": "", "domain": "", "rows_read": 0,
                            "note": f"no file matching '{spec.doc['files']}' in this transfer: site {spec.site} "
                                    "sent nothing"})
        site_parts: dict[str, list[pd.DataFrame]] = {}
        merges: list[tuple[dict, BlockResult]] = []
        for path in files:
            used.add(path)
            wb = Workbook(path)
            if wb.saved_at:
                saved.append(wb.saved_at.replace(tzinfo=None))
            read_sheets: set[str] = set()
            for i, block in enumerate(spec.doc["blocks"]):
                sheet = wb.sheet(block["sheet"], block.get("header_row", 1))
                # issue 13: EXCEL means the workbook's own date system; noted cells (formulas, merged cells) of the
                # columns the block reads go to rejects; sheet notes (hidden, 1904) once per sheet in accountability
                res = run_block(date_patterns_for(spec, sheet), i, sheet)
                rejects.append(cell_problems(sheet, block_columns(block), spec.name, res.accountability["block"],
                                             res.domain))
                if sheet.sheet not in read_sheets and sheet.notes:
                    res.accountability["note"] = "; ".join(sheet.notes)
                read_sheets.add(sheet.sheet)
                res.records[SRC_SITE] = spec.site
                if "merge" in block:
                    merges.append((block, res))
                else:
                    site_parts.setdefault(res.domain, []).append(res.records)
                rejects.append(res.rejects)
                account.append(res.accountability)
                for q, rule in block.get("supp", {}).items():
                    labels.setdefault(res.domain, {})[q] = (rule["label"], rule.get("origin", "CRF"))
            account.extend(_unread_sheets(wb, read_sheets, spec))
        site_frames = {d: pd.concat(parts, ignore_index=True) for d, parts in site_parts.items()}
        for block, res in merges:
            site_frames[res.domain], merge_rejects = merge_block(site_frames.get(res.domain), res, block, spec)
            rejects.append(merge_rejects)
        for domain, frame in site_frames.items():
            records.setdefault(domain, []).append(frame)
    for path in sorted(transfer.iterdir()):
        if path.suffix.lower() in RAW_SUFFIXES and path not in used and not path.name.startswith("~$"):
            account.append({"file": path.name, "sheet": "", "spec": "", "block": "", "domain": "", "rows_read": 0,
                            "note": f"{path.name}: no mapping spec matches this file ({_patterns(specs)}): "
                                    "it was not read"})
    if missing and not allow_missing_site:
        raise InputError("; ".join(missing) + " in " + str(transfer) +
                         " (use --allow-missing-site when a site sent no data this time)")
    if "DM" not in records:
        raise InputError("no demography (DM) records: no spec maps a DM block, or its files are missing")
    issues = Issues()
    frames = {d: pd.concat(parts, ignore_index=True) for d, parts in records.items()}
    records = site_frames = site_parts = merges = res = None       # the per-site parts, concatenated above
    found = []
    if coding is not None and "AE" in frames:
        frames["AE"], coding_rejects, ae_queries = code_ae(frames["AE"], *coding)
        rejects.append(coding_rejects)
        found.append(ae_queries)
    if drug_coding is not None and "CM" in frames:
        frames["CM"], coding_rejects, cm_queries = code_cm(frames["CM"], *drug_coding)
        rejects.append(coding_rejects)
        found.append(cm_queries)
    queries = None
    if coding is not None or drug_coding is not None:
        queries = pd.concat([pd.DataFrame(columns=QUERY_COLUMNS), *found], ignore_index=True) if found \
            else pd.DataFrame(columns=QUERY_COLUMNS)
    domains, trace, cells = assemble(frames, labels, issues)      # takes the frames out of `frames` as it goes
    all_rejects = pd.concat([*rejects, issues.frame()], ignore_index=True)
    all_rejects = all_rejects.drop_duplicates(["file", "sheet", "row", "column", "value", "reason", "disposition"])
    all_rejects = all_rejects.sort_values(["file", "sheet", "row", "column"], kind="stable").reset_index(drop=True)
    acc = pd.DataFrame(account).reindex(columns=ACCOUNT_COLUMNS)
    acc = _settle_accountability(acc, all_rejects)
    return ConvertResult(domains, all_rejects, acc, trace, cells, specs, sorted(used), max(saved, default=DEFAULT_TIME),
                         coding[0].label if coding else "", queries, coding[0] if coding else None,
                         drug_coding[0].label if drug_coding else "", drug_coding[0] if drug_coding else None)


def spec_files(transfer: Path, spec: Spec) -> list[Path]:
    """The files of the transfer a spec's pattern matches (inside the transfer folder only)."""
    root = transfer.resolve()
    out = []
    for p in transfer.glob(spec.doc["files"]):
        if p.is_file() and not p.name.startswith("~$") and root in p.resolve().parents:
            out.append(p)
    return sorted(out)


def _patterns(specs: list[Spec]) -> str:
    """The specs' file patterns, for messages."""
    return "patterns: " + ", ".join(f"'{s.doc['files']}'" for s in specs)


def _unread_sheets(wb: Workbook, read: set[str], spec: Spec) -> list[dict]:
    """Accountability rows for the sheets of a workbook that no block of the spec reads."""
    rows = []
    for name in wb.sheet_names:
        if name in read:
            continue
        n, state = wb.sheet_extent(name)
        hidden = "" if state == "visible" else f" ({state} sheet)"
        rows.append({"file": wb.path.name, "sheet": name, "spec": spec.name, "block": "", "domain": "",
                     "rows_read": n, "rows_mapped": 0, "rows_rejected": 0, "records_out": 0,
                     "note": f"sheet '{name}'{hidden} of {wb.path.name} with {n} non-blank row(s) below its "
                             "first row: not read by any spec block"})
    return rows


def _settle_accountability(acc: pd.DataFrame, rejects: pd.DataFrame) -> pd.DataFrame:
    """Balance per block: rows read = rows mapped + rows rejected. Rows a block mapped but a later step
    rejected (no record to merge into, a subject already in DM) move from mapped to rejected."""
    out = acc.copy()
    out["rows_mapped"] = out["rows_mapped"].astype("Int64")
    out["rows_rejected"] = out["rows_rejected"].astype("Int64")
    text = out[["file", "sheet", "block", "domain"]].astype("string").fillna("")
    for disposition, by in ((MERGE_REJECTED, ["file", "sheet", "block"]), (DUPLICATE_REJECTED, ["file", "sheet", "domain"])):
        late = rejects[rejects["disposition"].eq(disposition)]
        if late.empty:
            continue
        n = late.astype({c: "string" for c in by}).groupby(by)["row"].nunique()
        key = pd.MultiIndex.from_frame(text[by])
        moved = pd.Series(n.reindex(key).to_numpy(), index=out.index).fillna(0).astype(int)
        moved = moved.where(out["rows_mapped"].notna(), 0)
        out["rows_mapped"] = out["rows_mapped"] - moved
        out["rows_rejected"] = out["rows_rejected"] + moved
    out["balanced"] = (out["rows_read"] == out["rows_mapped"].fillna(0) + out["rows_rejected"].fillna(0))
    return out


def variables_table(domains: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Dataset and variable labels/types/order of what was written (the CSVs carry names only)."""
    rows = []
    for name, df in domains.items():
        meta = sdtm_variables(name).set_index("name")
        for order, var in enumerate(df.columns, start=1):
            rows.append({"dataset": name, "dataset_label": sdtm_dataset_label(name), "order": order, "variable": var,
                         "label": meta.at[var, "label"], "type": meta.at[var, "type"], "core": meta.at[var, "core"],
                         "codelist": meta.at[var, "codelist"]})
    return pd.DataFrame(rows)


def coding_labels(result: ConvertResult) -> dict[str, str]:
    """The dictionary release each coded domain was coded with (OUT/coding.json; the report shows it)."""
    return {d: label for d, label in (("AE", result.meddra), ("CM", result.whodrug)) if label}


def write_outputs(result: ConvertResult, out: Path) -> list[Path]:
    """Write sdtm/<domain>.csv, sdtm/variables.csv, rejects.csv, accountability.csv, trace.csv,
    trace_cells.csv (and coding_queries.csv and coding.json when AE or CM was coded) atomically."""
    out = Path(out)
    written = []
    for name, df in result.domains.items():
        p = out / "sdtm" / f"{name.lower()}.csv"
        write_csv(p, df)
        written.append(p)
    write_text(out / "transfer.json", json.dumps({"transfer_time": result.transfer_time.isoformat(),
                                                 "files": [p.name for p in result.inputs]}, indent=1) + "\n")
    written.append(out / "transfer.json")
    for p, df in ((out / "sdtm" / "variables.csv", variables_table(result.domains)),
                  (out / "rejects.csv", result.rejects), (out / "accountability.csv", result.accountability),
                  (out / "trace.csv", result.trace), (out / "trace_cells.csv", result.cells)):
        write_csv(p, df)
        written.append(p)
    if result.meddra or result.whodrug:
        write_csv(out / "coding_queries.csv", result.coding_queries)
        write_text(out / "coding.json", json.dumps(coding_labels(result), indent=1) + "\n")
        written += [out / "coding_queries.csv", out / "coding.json"]
    return written
