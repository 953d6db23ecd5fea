"""Benchmark: validation of any SDTM folder replicated with new USUBJIDs (x1, x10, x100; x1000 on request).

Reads the folder (XPT, Dataset-JSON or CSV), writes copies in which every subject appears k times under new
USUBJIDs (copy 0 keeps the original ids, copy i appends "-R<i>" to USUBJID and SUBJID; datasets without USUBJID,
the trial design, are kept once), cached under benchmarks/data/replicate/ (not committed), then reads and
validates each size in a fresh child process. Prints per size: subjects, records, import, read and validation
seconds, the child's wall seconds, peak resident memory (ru_maxrss), findings; the growth exponent between
successive sizes (log(t2/t1) / log(n2/n1), n = records: 1 is linear, about 1.1 is n log n at these sizes);
and the findings per rule at every size (a rule on records grows k-fold).

    python benchmarks/replicate_validate.py [FOLDER] [--sizes 1,10,100] [--datasets DM,AE,LB,EX,VS]
                                            [--format xpt|csv|json] [--json results.json]

The default folder is ../shared/reference/packages/cdiscpilot01-sdtm; the SDTMIG version comes from the
folder's define.xml (else 3.4). x1000 is slow to write and needs several GB: ask for it with --sizes.
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import math
import sys
import time
from pathlib import Path

from child import run_child

HERE = Path(__file__).resolve().parent
DEFAULT = HERE.parents[1] / "shared" / "reference" / "packages" / "cdiscpilot01-sdtm"
SUBJECT_COLUMNS = ("USUBJID", "SUBJID")
WHEN = dt.datetime(2000, 1, 1)

CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
from cdisc_il2.formats import read_folder
from cdisc_il2.validate import validate_datasets
t1 = time.perf_counter()
folder, prefer, standard = sys.argv[1], (sys.argv[2],), sys.argv[3] if sys.argv[3] != "-" else None
data = read_folder(folder, prefer=prefer)
t2 = time.perf_counter()
result = validate_datasets(data, standard=standard)
t3 = time.perf_counter()
f = result.findings
print(json.dumps({"import_s": t1 - t0, "read_s": t2 - t1, "validate_s": t3 - t2,
                  "rows": sum(len(d.frame) for d in data.values()), "datasets": len(data),
                  "subjects": int(data["DM"].frame["USUBJID"].nunique()) if "DM" in data else None,
                  "findings": int(len(f)), "rule_errors": int(len(result.errors)),
                  "per_rule": {str(k): int(v) for k, v in f["rule_id"].value_counts().sort_index().items()},
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _standard(folder: Path) -> str | None:
    """The SDTMIG version the folder's define.xml declares (None: the validator's default)."""
    define = folder / "define.xml"
    if not define.is_file():
        return None
    from cdisc_il2.formats.define_read import read_define
    from cdisc_il2.validate.standard import package_standard

    return package_standard(read_define(define))


def replicate_frame(frame, k: int):
    """The records k times, copy-major (each subject's records stay together); copy i > 0 gets new subject ids."""
    import numpy as np
    import pandas as pd

    if k == 1 or "USUBJID" not in frame.columns:
        return frame
    n = len(frame)
    out = frame.iloc[np.tile(np.arange(n), k)].reset_index(drop=True)
    suffixes = np.array([""] + [f"-R{i:04d}" for i in range(1, k)], dtype=object)
    suffix = pd.Series(suffixes[np.repeat(np.arange(k), n)], dtype="string")
    for col in SUBJECT_COLUMNS:
        if col in out.columns and not pd.api.types.is_numeric_dtype(out[col]):
            base = out[col].astype("string")
            out[col] = (base + suffix).where(base.notna())
    return out


def _write(ds, folder: Path, fmt: str) -> None:
    from cdisc_il2.formats.model import Dataset

    path = folder / f"{ds.name.lower()}.{fmt}"
    if fmt == "xpt":
        from cdisc_il2.formats.xpt import write_xpt

        write_xpt(ds, path, WHEN)
    elif fmt == "csv":
        from cdisc_il2.io import write_csv

        write_csv(path, ds.frame)
    else:
        from cdisc_il2.formats.datasetjson import write_dataset_json

        header = {"created": WHEN.isoformat(), "modified": WHEN.isoformat(), "fileOID": "bench",
                  "studyOID": "bench", "metaDataVersionOID": "bench", "version": "bench"}
        write_dataset_json(Dataset(ds.name, ds.label, ds.frame, ds.columns), path, header)


def prepare(source: Path, k: int, names: set[str] | None, fmt: str) -> Path:
    """The folder holding the k-fold copy (written once, reused; a marker file says it is complete)."""
    from cdisc_il2.formats import read_folder
    from cdisc_il2.formats.model import Dataset

    tag = hashlib.sha256(f"{source.resolve()}|{sorted(names or [])}".encode()).hexdigest()[:8]
    folder = HERE / "data" / "replicate" / f"{source.name}-{tag}-{fmt}-x{k}"
    done = folder / ".complete"
    if done.is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    data = read_folder(source, names)
    for name, ds in data.items():          # one dataset at a time: only one replicated frame in memory
        frame = replicate_frame(ds.frame, k)
        _write(Dataset(ds.name, ds.label, frame, ds.columns), folder, fmt)
        del frame
    done.write_text(json.dumps({"source": str(source), "k": k, "datasets": sorted(data)}))
    print(f"  wrote x{k} copy to {folder} in {time.perf_counter() - t:.1f} s", flush=True)
    return folder


def exponent(t1: float, t2: float, n1: float, n2: float) -> float | None:
    """Growth exponent between two sizes: log(t2/t1) / log(n2/n1)."""
    if min(t1, t2, n1, n2) <= 0 or n1 == n2:
        return None
    return math.log(t2 / t1) / math.log(n2 / n1)


def _fmt_exp(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", nargs="?", type=Path, default=DEFAULT)
    ap.add_argument("--sizes", default="1,10,100", help="replication factors, comma-separated (e.g. 1,10,100,1000)")
    ap.add_argument("--datasets", default=None, help="only these datasets, comma-separated (e.g. DM,AE,LB,EX,VS)")
    ap.add_argument("--format", default="xpt", choices=("xpt", "csv", "json"), help="format of the copies")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures as JSON here")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    names = {n.strip().upper() for n in args.datasets.split(",")} if args.datasets else None
    standard = _standard(args.folder)
    print(f"source {args.folder} ({', '.join(sorted(names)) if names else 'all datasets'}), SDTMIG "
          f"{standard or 'default'}, copies as {args.format}", flush=True)
    results = []
    for k in sizes:
        folder = prepare(args.folder, k, names, args.format)
        r, wall = run_child(CHILD, [str(folder), args.format, standard or "-"], f"x{k} (validation)")
        r.update(k=k, wall_s=wall)
        results.append(r)
        print(f"  x{k}: {r['rows']:,} records, read {r['read_s']:.1f} s, validate {r['validate_s']:.1f} s, "
              f"wall {wall:.1f} s, peak {r['peak_mb']:,.0f} MB, {r['findings']:,} findings", flush=True)

    print(f"\n{'size':>6} {'subjects':>9} {'records':>11} {'import s':>9} {'read s':>8} {'validate s':>11} "
          f"{'wall s':>8} {'peak MB':>9} {'findings':>10} {'rules not run':>14} {'validate/read':>14}")
    for r in results:
        ratio = r["validate_s"] / r["read_s"] if r["read_s"] > 0 else float("nan")
        print(f"{'x' + str(r['k']):>6} {r['subjects'] or 0:>9,} {r['rows']:>11,} {r['import_s']:>9.2f} "
              f"{r['read_s']:>8.2f} {r['validate_s']:>11.2f} {r['wall_s']:>8.2f} {r['peak_mb']:>9,.0f} "
              f"{r['findings']:>10,} {r['rule_errors']:>14} {ratio:>14.1f}")
    if len(results) > 1:
        print("\ngrowth exponents between sizes (records; 1.00 = linear)")
        print(f"{'between':>14} {'read':>7} {'validate':>9} {'wall':>7} {'peak MB':>8} {'findings':>9}")
        for a, b in zip(results, results[1:]):
            print(f"{'x%d-x%d' % (a['k'], b['k']):>14} "
                  f"{_fmt_exp(exponent(a['read_s'], b['read_s'], a['rows'], b['rows'])):>7} "
                  f"{_fmt_exp(exponent(a['validate_s'], b['validate_s'], a['rows'], b['rows'])):>9} "
                  f"{_fmt_exp(exponent(a['wall_s'], b['wall_s'], a['rows'], b['rows'])):>7} "
                  f"{_fmt_exp(exponent(a['peak_mb'], b['peak_mb'], a['rows'], b['rows'])):>8} "
                  f"{_fmt_exp(exponent(a['findings'], b['findings'], a['rows'], b['rows'])):>9}")
    rules = sorted({rule for r in results for rule in r["per_rule"]})
    print("\nfindings per rule")
    print(f"{'rule':<16}" + "".join(f"{'x' + str(r['k']):>12}" for r in results))
    for rule in rules:
        print(f"{rule:<16}" + "".join(f"{r['per_rule'].get(rule, 0):>12,}" for r in results))
    if args.json:
        args.json.write_text(json.dumps({"source": str(args.folder), "datasets": sorted(names) if names else None,
                                         "format": args.format, "standard": standard, "results": results}, indent=1))


if __name__ == "__main__":
    main()
