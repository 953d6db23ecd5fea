"""Print where our findings on the CDISC pilot SDTM differ from the Pinnacle 21 report beside it.

    python scripts/p21_parity.py [--all] [--csv OUT.csv]

Reads ../shared/reference/packages/cdiscpilot01-sdtm/ (its datasets and pinnacle21-report-4.0.2.xlsx); the
committed explanations of every difference are in tests/p21_parity.csv.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from cdisc_il2.validate import validate_folder
from cdisc_il2.validate.p21 import compare_with_p21

PACKAGE = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "packages" / "cdiscpilot01-sdtm"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--all", action="store_true", help="also list the rules where both agree")
    ap.add_argument("--csv", type=Path, help="write the comparison here")
    args = ap.parse_args()
    present = {p.stem.upper() for p in PACKAGE.glob("*.xpt")}
    table = compare_with_p21(validate_folder(PACKAGE), PACKAGE / "pinnacle21-report-4.0.2.xlsx", present)
    shown = table if args.all else table[table["status"] != "same"]
    with pd.option_context("display.max_rows", None, "display.width", 200, "display.max_colwidth", 60):
        print(shown.to_string(index=False))
    print(f"{(table['status'] == 'same').sum()} of {len(table)} rule/dataset pairs agree")
    if args.csv:
        table.to_csv(args.csv, index=False)


if __name__ == "__main__":
    main()
