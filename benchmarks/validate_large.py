"""Benchmark: validation wall time and peak memory on a large generated study (default 10,000 subjects).

Generates raw site workbooks with the samples generator, converts them to SDTM once (cached under
benchmarks/data/, not committed), then validates in fresh child processes: each dataset with DM (for the
cross-dataset rules), and all datasets together. Prints seconds and peak resident memory per run.

    python benchmarks/validate_large.py [--subjects 10000] [--seed 1]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

CHILD = r"""
import json, resource, sys, time
from cdisc_il2.formats import read_folder
from cdisc_il2.validate import validate_datasets
folder, names = sys.argv[1], sys.argv[2].split(",")
t0 = time.perf_counter()
data = read_folder(folder, None if names == ["ALL"] else set(names))
t1 = time.perf_counter()
result = validate_datasets(data)
t2 = time.perf_counter()
print(json.dumps({"read_s": t1 - t0, "validate_s": t2 - t1, "rows": sum(len(d.frame) for d in data.values()),
                  "findings": len(result.findings),
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def prepare(subjects: int, seed: int) -> Path:
    """Raw workbooks and their SDTM for `subjects` subjects (reused when already there)."""
    from cdisc_il2.convert import map_transfer, write_outputs
    from cdisc_il2.samples import generate

    base = HERE / "data" / f"study-{subjects}-{seed}"
    raw, out = base / "raw", base / "out"
    if not (out / "sdtm" / "dm.csv").is_file():
        t = time.perf_counter()
        generate(subjects, seed, raw)
        print(f"generated raw workbooks for {subjects} subjects in {time.perf_counter() - t:.1f} s", flush=True)
        t = time.perf_counter()
        write_outputs(map_transfer(raw), out)
        print(f"converted to SDTM in {time.perf_counter() - t:.1f} s", flush=True)
    return out / "sdtm"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subjects", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    sdtm = prepare(args.subjects, args.seed)
    names = sorted(p.stem.upper() for p in sdtm.glob("*.csv") if p.stem != "variables")
    print(f"\nvalidation of {args.subjects} subjects ({sdtm})")
    print(f"{'datasets':<18}{'rows':>10}{'read s':>9}{'validate s':>12}{'peak MB':>10}{'findings':>10}")
    runs = [[n] if n == "DM" else ["DM", n] for n in names] + [["ALL"]]
    for run in runs:
        proc = subprocess.run([sys.executable, "-c", CHILD, str(sdtm), ",".join(run)], capture_output=True, text=True,
                              check=True)
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        label = "+".join(run) if run != ["ALL"] else "all together"
        print(f"{label:<18}{r['rows']:>10}{r['read_s']:>9.1f}{r['validate_s']:>12.1f}{r['peak_mb']:>10.0f}"
              f"{r['findings']:>10}", flush=True)


if __name__ == "__main__":
    main()
