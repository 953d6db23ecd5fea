"""Every Python file the project ships (package, scripts, benchmarks, tests) compiles with the locked Python: a
script no test imports (scripts/rule_coverage.py) would otherwise break unseen."""
from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import ROOT, needs_reference


def _python_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True, check=False)
    return out.stdout.split() if out.returncode == 0 else sorted(str(p.relative_to(ROOT)) for p in ROOT.rglob("*.py")
                                                                 if ".venv" not in p.parts)


def test_every_python_file_compiles():
    files = _python_files()
    assert len(files) > 50
    bad = []
    for name in files:
        try:
            compile((ROOT / name).read_text(encoding="utf-8"), name, "exec")
        except SyntaxError as exc:
            bad.append(f"{name}:{exc.lineno}: {exc.msg}")
    assert not bad, bad


@needs_reference                                   # the script reads the catalogues in ../shared/reference
@pytest.mark.parametrize("script", ["scripts/rule_coverage.py"])
def test_reporting_scripts_run(script):
    res = subprocess.run([sys.executable, script], cwd=ROOT, capture_output=True, text=True, check=False, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "our catalogue:" in res.stdout
