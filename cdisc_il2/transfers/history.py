"""The run history: every run recorded in a study-level SQLite file (standard library), in one transaction,
so a run killed midway leaves the history as it was."""
from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pandas as pd

from ..errors import UsageError
from ..faults import fault_point

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, started TEXT NOT NULL, finished TEXT NOT NULL, status TEXT NOT NULL,
    transfer TEXT NOT NULL, out TEXT NOT NULL, tool_version TEXT NOT NULL, transfer_time TEXT,
    previous_run INTEGER, summary TEXT);
CREATE TABLE IF NOT EXISTS inputs (run_id INTEGER NOT NULL REFERENCES runs(id), kind TEXT NOT NULL,
    file TEXT NOT NULL, sha256 TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS datasets (run_id INTEGER NOT NULL REFERENCES runs(id), dataset TEXT NOT NULL,
    records INTEGER, sha256 TEXT);
CREATE TABLE IF NOT EXISTS findings (run_id INTEGER NOT NULL REFERENCES runs(id), package TEXT NOT NULL,
    rule_id TEXT NOT NULL, severity TEXT NOT NULL, count INTEGER NOT NULL, justified INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS sri (run_id INTEGER NOT NULL REFERENCES runs(id), avisit TEXT NOT NULL,
    n INTEGER, responders INTEGER, rate REAL, primary_endpoint TEXT);
"""


def default_history(out: Path) -> Path:
    """The study-level history file beside the output folder: OUT/../history.sqlite."""
    return Path(out).resolve().parent / "history.sqlite"


def _connect(path: Path) -> sqlite3.Connection:
    """Open (and create) the history database."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path, timeout=30)
    con.executescript(SCHEMA)
    return con


def record_run(path: Path, *, started: str, finished: str, status: str, transfer: Path, out: Path,
               manifest: dict, findings: pd.DataFrame, sri: pd.DataFrame | None, previous_run: int | None = None,
               summary: dict | None = None) -> int:
    """Insert one run with its inputs, dataset counts, findings by rule and SRI-4 summary; one transaction."""
    with closing(_connect(path)) as con, con:
        cur = con.execute(
            "INSERT INTO runs (started, finished, status, transfer, out, tool_version, transfer_time, previous_run, "
            "summary) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (started, finished, status, str(Path(transfer).resolve()), str(Path(out).resolve()), manifest.get("version", ""),
             manifest.get("transfer_time"), previous_run, json.dumps(summary or {}, sort_keys=True)))
        run_id = int(cur.lastrowid)
        con.executemany("INSERT INTO inputs VALUES (?, ?, ?, ?)",
                        [(run_id, "input", i["file"], i["sha256"]) for i in manifest.get("inputs", [])] +
                        [(run_id, "spec", s["file"], s["sha256"]) for s in manifest.get("mapping_specs", [])])
        con.executemany("INSERT INTO datasets VALUES (?, ?, ?, ?)",
                        [(run_id, o["path"], o.get("records"), o["sha256"]) for o in manifest.get("outputs", [])
                         if o["path"].endswith(".csv") and o["path"].split("/")[0] in ("sdtm", "adam")])
        if len(findings):
            g = findings.assign(justified=findings.get("triage", pd.Series("", index=findings.index)).eq("justified"))
            g = g.groupby(["package", "rule_id", "severity"]).agg(count=("rule_id", "size"),
                                                                  justified=("justified", "sum")).reset_index()
            con.executemany("INSERT INTO findings VALUES (?, ?, ?, ?, ?, ?)",
                            [(run_id, r.package, r.rule_id, r.severity, int(r.count), int(r.justified))
                             for r in g.itertuples()])
        if sri is not None and len(sri):
            con.executemany("INSERT INTO sri VALUES (?, ?, ?, ?, ?, ?)",
                            [(run_id, r.AVISIT, int(r.N), int(r.responders), float(r.rate),
                              getattr(r, "primary_endpoint", "N")) for r in sri.itertuples()])
        fault_point("history in transaction")
    return run_id


def list_runs(path: Path) -> pd.DataFrame:
    """Past runs, newest last: id, times, status, transfer, output folder, findings and SRI at the primary visit."""
    if not Path(path).is_file():
        raise UsageError(f"no run history at '{path}' (it is written by `cdisc-il2 run`; --history names another)")
    with closing(_connect(path)) as con:
        runs = pd.read_sql_query("SELECT id, started, finished, status, transfer, out, previous_run FROM runs ORDER BY id", con)
        f = pd.read_sql_query("SELECT run_id, package, severity, SUM(count) AS n, SUM(justified) AS justified FROM findings "
                              "GROUP BY run_id, package, severity", con)
        sri = pd.read_sql_query("SELECT run_id, avisit, responders, n FROM sri WHERE primary_endpoint = 'Y'", con)
    errors = f[f["severity"] == "Error"].groupby("run_id")["n"].sum()
    just = f.groupby("run_id")["justified"].sum()
    runs["errors"] = runs["id"].map(errors).fillna(0).astype(int)
    runs["justified"] = runs["id"].map(just).fillna(0).astype(int)
    primary = sri.set_index("run_id")
    runs["sri4_primary"] = runs["id"].map(primary["avisit"] + " " + primary["responders"].astype(str) + "/" +
                                          primary["n"].astype(str)) if len(primary) else ""
    return runs


def find_run(path: Path, ref: str) -> Path:
    """The output folder of a run named by its id in the history (or 'last')."""
    runs = list_runs(path)
    ok = runs[runs["status"] == "complete"]
    if ref == "last":
        if ok.empty:
            raise UsageError(f"no complete run in '{path}'")
        return Path(ok.iloc[-1]["out"])
    if not ref.isdigit() or int(ref) not in set(runs["id"]):
        raise UsageError(f"no run {ref} in '{path}' (runs: {', '.join(map(str, runs['id']))})")
    return Path(runs.loc[runs["id"] == int(ref), "out"].iloc[0])
