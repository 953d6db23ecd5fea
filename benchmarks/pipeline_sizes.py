"""Benchmark: the whole pipeline (`run`) on generated studies of 40 and 1,000 subjects (10,000 on request).

The raw site workbooks come from the samples generator (`cdisc_il2.samples.generate(n, seed, folder)`), written
once and cached under benchmarks/data/pipeline/ (not committed). Each size runs `cdisc_il2.pipeline.run_transfer`
in a fresh child process with a `step` callback that times every stage and records its peak resident memory
(sampled every 10 ms) and the process's peak so far (ru_maxrss). Prints per size and stage: seconds and peak MB;
the start-up (interpreter start to the first stage), the whole child's wall time, the time after conversion
(what a run from already-converted data would take), and the growth exponent of every stage between sizes
(log(t2/t1) / log(n2/n1), n = subjects; 1 is linear).

    python benchmarks/pipeline_sizes.py [--sizes 40,1000] [--seed 20140303] [--json results.json]

10,000 subjects is slow (generation about 4 min, conversion about 6 min while workbooks are read with openpyxl):
ask for it with --sizes 40,1000,10000.
"""
from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

from child import run_child

HERE = Path(__file__).resolve().parent

GENERATE = r"""
import sys, time
from pathlib import Path
from cdisc_il2.samples import generate
t = time.perf_counter()
generate(int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]))
print(time.perf_counter() - t)
"""

CHILD = r"""
import time
T0 = time.perf_counter()
import contextlib, json, os, resource, shutil, sys, threading
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE")
peak = [0]

def rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * PAGE

def sample() -> None:
    while True:
        peak[0] = max(peak[0], rss())
        time.sleep(0.01)

threading.Thread(target=sample, daemon=True).start()
stages, first = [], []

@contextlib.contextmanager
def step(name: str):
    if not first:
        first.append(time.perf_counter() - T0)
    peak[0] = rss()
    t = time.perf_counter()
    yield
    peak[0] = max(peak[0], rss())
    stages.append({"stage": name, "s": time.perf_counter() - t, "peak_mb": peak[0] / 2**20,
                   "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})

from cdisc_il2.pipeline import run_transfer
T1 = time.perf_counter()
raw, out = Path(sys.argv[1]), Path(sys.argv[2])
if out.parent.exists():
    shutil.rmtree(out.parent)
out.parent.mkdir(parents=True)
outcome = run_transfer(raw, out, step=step)
T2 = time.perf_counter()
print(json.dumps({"import_s": T1 - T0, "startup_s": first[0] if first else None, "run_s": T2 - T1,
                  "stages": stages, "records": {n: int(len(f)) for n, f in outcome.converted.domains.items()},
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def workbooks(subjects: int, seed: int) -> Path:
    """The generated raw workbooks of a study (generated once, in a child process, and cached)."""
    raw = HERE / "data" / "pipeline" / f"study-{subjects}-{seed}" / "raw"
    if not (raw / "generator-truth.json").is_file():
        proc = subprocess.run([sys.executable, "-c", GENERATE, str(subjects), str(seed), str(raw)],
                              capture_output=True, text=True, check=True)
        print(f"  generated raw workbooks for {subjects:,} subjects in {float(proc.stdout.split()[-1]):.1f} s",
              flush=True)
    return raw


def exponent(t1: float, t2: float, n1: float, n2: float) -> float | None:
    """Growth exponent between two sizes: log(t2/t1) / log(n2/n1)."""
    if min(t1, t2, n1, n2) <= 0 or n1 == n2:
        return None
    return math.log(t2 / t1) / math.log(n2 / n1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="40,1000", help="subjects per study, comma-separated (e.g. 40,1000,10000)")
    ap.add_argument("--seed", type=int, default=20140303)
    ap.add_argument("--json", type=Path, default=None, help="also write the figures as JSON here")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    results = []
    for n in sizes:
        raw = workbooks(n, args.seed)
        out = HERE / "data" / "pipeline" / f"study-{n}-{args.seed}" / "run" / "out"
        r, wall = run_child(CHILD, [str(raw), str(out)], f"{n} subjects (pipeline)")
        r.update(subjects=n, wall_s=wall)
        r["after_convert_s"] = sum(s["s"] for s in r["stages"] if s["stage"] != "convert")
        results.append(r)
        print(f"\n{n:,} subjects ({sum(r['records'].values()):,} SDTM records): wall {wall:.1f} s, start-up "
              f"{r['startup_s']:.2f} s (imports {r['import_s']:.2f} s), run {r['run_s']:.1f} s, after conversion "
              f"{r['after_convert_s']:.1f} s, peak {r['peak_mb']:,.0f} MB", flush=True)
        print(f"  {'stage':<40}{'seconds':>9}{'stage peak MB':>15}{'process peak MB':>17}")
        for s in r["stages"]:
            print(f"  {s['stage']:<40}{s['s']:>9.2f}{s['peak_mb']:>15,.0f}{s['maxrss_mb']:>17,.0f}", flush=True)
    if len(results) > 1:
        names = [s["stage"] for s in results[0]["stages"]]
        print("\ngrowth exponents between sizes (subjects; 1.00 = linear)")
        pairs = list(zip(results, results[1:]))
        print(f"  {'stage':<40}" + "".join(f"{'%d-%d' % (a['subjects'], b['subjects']):>14}" for a, b in pairs))
        for name in [*names, "whole run", "peak memory"]:
            cells = []
            for a, b in pairs:
                if name == "whole run":
                    ta, tb = a["run_s"], b["run_s"]
                elif name == "peak memory":
                    ta, tb = a["peak_mb"], b["peak_mb"]
                else:
                    ta = next((s["s"] for s in a["stages"] if s["stage"] == name), 0)
                    tb = next((s["s"] for s in b["stages"] if s["stage"] == name), 0)
                x = exponent(ta, tb, a["subjects"], b["subjects"])
                cells.append("-" if x is None else f"{x:.2f}")
            print(f"  {name:<40}" + "".join(f"{c:>14}" for c in cells))
    if args.json:
        args.json.write_text(json.dumps({"seed": args.seed, "results": results}, indent=1))


if __name__ == "__main__":
    main()
