"""Profile: `run` on a transfer with cProfile, one profile per stage, printing each stage's top entries.

Each stage of `cdisc_il2.pipeline.run_transfer` is profiled on its own (the `step` callback switches profilers),
so the entries that dominate a stage are not drowned by the others. cProfile roughly doubles the time of code
that makes many small calls (pandas): compare entries within a stage, not with the benchmark figures.

    python benchmarks/profile_stages.py [TRANSFER] [--top 10] [--dump DIR]

The default transfer is samples/transfer-01; --dump writes <stage>.prof files for snakeviz / pstats.
"""
from __future__ import annotations

import argparse
import contextlib
import cProfile
import pstats
import re
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# whose entries are listed: our code and the libraries it hands whole stages to
WANTED = re.compile(r"cdisc_il2|pandas/io|openpyxl|pandera|matplotlib|lxml|calamine")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("transfer", nargs="?", type=Path, default=HERE.parent / "samples" / "transfer-01")
    ap.add_argument("--top", type=int, default=10, help="entries per stage (by cumulative time)")
    ap.add_argument("--dump", type=Path, default=None, help="write one .prof file per stage here")
    args = ap.parse_args()
    profiles: list[tuple[str, float, cProfile.Profile]] = []

    @contextlib.contextmanager
    def step(name: str):
        prof = cProfile.Profile()
        t = time.perf_counter()
        prof.enable()
        try:
            yield
        finally:
            prof.disable()
            profiles.append((name, time.perf_counter() - t, prof))

    t0 = time.perf_counter()
    from cdisc_il2.pipeline import run_transfer
    imports = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        run_transfer(args.transfer, Path(tmp) / "out", step=step)
    print(f"imports before the first stage: {imports:.2f} s (not profiled)")
    if args.dump:
        args.dump.mkdir(parents=True, exist_ok=True)
    for name, seconds, prof in profiles:
        print(f"\n=== {name}: {seconds:.2f} s under the profiler")
        if args.dump:
            prof.dump_stats(args.dump / (re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") + ".prof"))
        stats = pstats.Stats(prof).stats      # (file, line, function) -> (calls, ncalls, tottime, cumtime, callers)
        rows = sorted(((ct, tt, nc, f, ln, fn) for (f, ln, fn), (_, nc, tt, ct, _) in stats.items()
                       if WANTED.search(f)), reverse=True)[:args.top]
        print(f"  {'cumulative s':>12} {'own s':>7} {'calls':>9}  function")
        for ct, tt, nc, f, ln, fn in rows:
            where = re.sub(r"^.*?site-packages/", "", re.sub(r"^.*?/(cdisc_il2/)", r"\1", f))
            print(f"  {ct:>12.2f} {tt:>7.2f} {nc:>9}  {where}:{ln}({fn})")

if __name__ == "__main__":
    main()
