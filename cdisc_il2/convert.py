"""The convert stage: every site workbook of a transfer -> SDTM domains, rejects and accountability."""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .errors import InputError, UsageError
from .ingest import Workbook
from .io import write_csv, write_text
from .mapping.engine import Issues, run_block
from .mapping.spec import Spec, find_specs
from .metadata import sdtm_dataset_label, sdtm_variables
from .sdtm import SRC_SITE, assemble

SPREADSHEET_SUFFIXES = {".xlsx", ".xlsm"}
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
    specs: list[Spec] = field(default_factory=list)
    inputs: list[Path] = field(default_factory=list)
    transfer_time: dt.datetime = DEFAULT_TIME


def map_transfer(transfer: Path, mappings: Path | None = None) -> ConvertResult:
    """Read and map every site workbook in `transfer` with the site specs; nothing is written."""
    transfer = Path(transfer)
    if not transfer.is_dir():
        raise UsageError(f"transfer folder '{transfer}' does not exist or is not a folder")
    specs = find_specs(mappings)
    records: dict[str, list[pd.DataFrame]] = {}
    rejects, account = [], []
    labels: dict[str, dict[str, tuple[str, str]]] = {}
    used: set[Path] = set()
    saved: list[dt.datetime] = []
    for spec in specs:
        files = sorted(p for p in transfer.glob(spec.doc["files"]) if p.is_file())
        if not files:
            account.append({"file": "", "sheet": "", "spec": spec.name, "block": "", "domain": "", "rows_read": 0,
                            "note": f"no file matching '{spec.doc['files']}' in this transfer"})
        for path in files:
            used.add(path)
            wb = Workbook(path)
            if wb.saved_at:
                saved.append(wb.saved_at.replace(tzinfo=None))
            for i, block in enumerate(spec.doc["blocks"]):
                res = run_block(spec, i, wb.sheet(block["sheet"], block.get("header_row", 1)))
                res.records[SRC_SITE] = spec.site
                records.setdefault(res.domain, []).append(res.records)
                rejects.append(res.rejects)
                account.append(res.accountability)
                for q, rule in block.get("supp", {}).items():
                    labels.setdefault(res.domain, {})[q] = (rule["label"], rule.get("origin", "CRF"))
    for path in sorted(transfer.iterdir()):
        if path.suffix.lower() in SPREADSHEET_SUFFIXES and path not in used and not path.name.startswith("~$"):
            account.append({"file": path.name, "sheet": "", "spec": "", "block": "", "domain": "", "rows_read": 0,
                            "note": "no mapping spec matches this file: it was not read"})
    if "DM" not in records:
        raise InputError("no demography (DM) records: no spec maps a DM block, or its files are missing")
    issues = Issues()
    frames = {d: pd.concat(parts, ignore_index=True) for d, parts in records.items()}
    domains, trace = assemble(frames, labels, issues)
    all_rejects = pd.concat([*rejects, issues.frame()], ignore_index=True)
    all_rejects = all_rejects.drop_duplicates(["file", "sheet", "row", "column", "value", "reason", "disposition"])
    all_rejects = all_rejects.sort_values(["file", "sheet", "row", "column"], kind="stable").reset_index(drop=True)
    acc = pd.DataFrame(account).reindex(columns=ACCOUNT_COLUMNS)
    acc["balanced"] = (acc["rows_read"] == acc["rows_mapped"].fillna(0) + acc["rows_rejected"].fillna(0))
    return ConvertResult(domains, all_rejects, acc, trace, specs, sorted(used), max(saved, default=DEFAULT_TIME))


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


def write_outputs(result: ConvertResult, out: Path) -> list[Path]:
    """Write sdtm/<domain>.csv, sdtm/variables.csv, rejects.csv, accountability.csv, trace.csv atomically."""
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
                  (out / "trace.csv", result.trace)):
        write_csv(p, df)
        written.append(p)
    return written
