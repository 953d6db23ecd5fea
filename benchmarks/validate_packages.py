"""Benchmark: validate each public package in ../shared/reference/packages/, in a fresh process each.

Prints per package: records, seconds to read the files, seconds to validate, the whole command's wall time
(imports included), peak resident memory, findings and rules checked.

    python benchmarks/validate_packages.py
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

PACKAGES = Path(__file__).resolve().parents[2] / "shared" / "reference" / "packages"

CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
from pathlib import Path
from cdisc_il2.formats import read_folder
from cdisc_il2.validate import validate_datasets
from cdisc_il2.formats.define_read import read_define
from cdisc_il2.validate.standard import package_standard
t1 = time.perf_counter()
folder = Path(sys.argv[1])
data = read_folder(folder)
t2 = time.perf_counter()
result = validate_datasets(data, standard=package_standard(read_define(folder / "define.xml")))
t3 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "read_s": t2 - t1, "validate_s": t3 - t2,
                  "records": sum(len(d.frame) for d in data.values()), "datasets": len(data),
                  "findings": len(result.findings), "rules_checked": result.counts()["rules_checked"],
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main() -> None:
    print(f"{'package':<20} {'datasets':>8} {'records':>9} {'import s':>8} {'read s':>7} {'validate s':>10} "
          f"{'wall s':>7} {'peak MB':>8} {'findings':>9} {'rules':>6}")
    for folder in sorted(p for p in PACKAGES.iterdir() if p.is_dir()):
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", CHILD, str(folder)], capture_output=True, text=True, check=True)
        wall = time.perf_counter() - t0
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{folder.name:<20} {r['datasets']:>8} {r['records']:>9,} {r['import_s']:>8.2f} {r['read_s']:>7.2f} "
              f"{r['validate_s']:>10.2f} {wall:>7.2f} {r['peak_mb']:>8.0f} {r['findings']:>9,} {r['rules_checked']:>6}")


if __name__ == "__main__":
    main()
