"""scripts/output_equality.py: the comparison it makes between two sides' outputs finds every kind of difference
and skips only the files that record when a run happened."""
from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "output_equality.py"


def _module():
    spec = importlib.util.spec_from_file_location("output_equality", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_compare_reports_changed_missing_and_new_files_only(tmp_path):
    eq = _module()
    for side in ("before", "after"):
        (tmp_path / side / "run-01" / "sdtm").mkdir(parents=True)
        (tmp_path / side / "run-01" / "sdtm" / "dm.csv").write_bytes(b"same\n")
        (tmp_path / side / "run-01" / "manifest.json").write_text(side, encoding="utf-8")   # a run's own times
        (tmp_path / side / "history.sqlite").write_text(side, encoding="utf-8")
    (tmp_path / "before" / "run-01" / "sdtm" / "ae.csv").write_bytes(b"a\n")
    (tmp_path / "after" / "run-01" / "sdtm" / "ae.csv").write_bytes(b"b\n")
    (tmp_path / "before" / "run-01" / "gone.csv").write_bytes(b"x")
    (tmp_path / "after" / "run-01" / "new.csv").write_bytes(b"x")
    assert eq.compare(tmp_path / "before", tmp_path / "after") == [
        ("run-01/gone.csv", "only before"), ("run-01/new.csv", "only after"), ("run-01/sdtm/ae.csv", "differs")]
