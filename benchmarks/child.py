"""Run one measured step in a fresh Python process and read the JSON line it prints last."""
from __future__ import annotations

import json
import subprocess
import sys
import time


def run_child(code: str, args: list[str], what: str) -> tuple[dict, float]:
    """The child's last printed JSON object and the wall seconds it took; a failing child stops the benchmark."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode:
        print(proc.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"{what}: the child process failed (exit {proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1]), wall
