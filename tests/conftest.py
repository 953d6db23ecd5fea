"""Shared fixtures: the bundled sample transfer converted once per test session."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples" / "transfer-01"
REFERENCE = ROOT.parent / "shared" / "reference"
PACKAGES = REFERENCE / "packages"
# Tests that read ../shared/reference skip, saying why, in a clone on its own; CI has it.
needs_reference = pytest.mark.skipif(not REFERENCE.is_dir(),
                                     reason="../shared/reference is absent (a clone on its own); CI has it")


@pytest.fixture(scope="session")
def converted():
    """ConvertResult of samples/transfer-01 with the shipped specs."""
    from cdisc_il2.convert import map_transfer

    return map_transfer(SAMPLES)


@pytest.fixture(scope="session")
def written(tmp_path_factory, converted):
    """Output folder of write_outputs for the sample transfer."""
    from cdisc_il2.convert import write_outputs

    out = tmp_path_factory.mktemp("transfer-01")
    write_outputs(converted, out)
    return out


def raw_sheet(name: str, sheet: str) -> pd.DataFrame:
    """A raw sample sheet read independently of cdisc_il2 (openpyxl, first row as headings)."""
    wb = load_workbook(SAMPLES / name, read_only=True, data_only=False)
    rows = list(wb[sheet].iter_rows(values_only=True))
    frame = pd.DataFrame(rows[1:], columns=rows[0])
    frame.index = range(2, len(rows) + 1)  # spreadsheet row numbers
    return frame


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory):
    """The complete package of the sample transfer, written once by `cdisc-il2 run` (read-only for tests).

    Run with --fail-on error: the sample's unjustified errors make it exit 1 after writing everything (the
    negative control of test_transfers' justified run, which exits 0 once those errors are justified)."""
    from typer.testing import CliRunner

    from cdisc_il2.cli import app

    out = tmp_path_factory.mktemp("sample-run") / "transfer-01"
    res = CliRunner().invoke(app, ["run", str(SAMPLES), "--out", str(out), "--fail-on", "error", "--quiet"])
    assert res.exit_code == 1, res.output
    assert "recorded in" in " ".join(res.output.split()), res.output       # the whole run, then exit 1
    return out


@pytest.fixture(scope="session")
def second_run(sample_run, tmp_path_factory):
    """samples/transfer-02 run with --previous transfer-01 (the session's sample run), and its terminal output
    (read-only for tests)."""
    from typer.testing import CliRunner

    from cdisc_il2.cli import app

    out = tmp_path_factory.mktemp("second-transfer") / "transfer-02"
    res = CliRunner().invoke(app, ["run", str(SAMPLES.parent / "transfer-02"), "--out", str(out), "--previous",
                                   str(sample_run), "--quiet"])
    assert res.exit_code == 0, res.output
    return out, " ".join(res.output.split())


@pytest.fixture(scope="session")
def small_transfer(tmp_path_factory):
    """A generated transfer of six subjects over the three sites: the whole pipeline on little data, for the
    tests that run it again and again (killed runs)."""
    from cdisc_il2.samples import generate

    out = tmp_path_factory.mktemp("small") / "transfer"
    generate(6, 20140303, out)
    return out
