"""Print how far our findings agree with the independent Pinnacle 21 report beside each shared package.

    python scripts/p21_parity.py [--pairs] [--all] [--csv OUT.csv]

Reads every folder of ../shared/reference/packages/ that holds a Pinnacle 21 report (pinnacle21-report*.xlsx)
and prints, per package: the report's (dataset, rule) pairs we find too, its listed records we flag too, and our
findings outside its pairs, split into "rule the reference lacks" (a rule its configuration did not run) and
"disagreement" (a rule it ran and did not report there). --pairs lists the (rule, dataset) pairs that differ
(--all: every pair); the committed explanations of every difference on the pilot are in tests/p21_parity.csv.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from cdisc_il2.validate import validate_folder
from cdisc_il2.validate.p21 import agreement, compare_with_p21

PACKAGES = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "packages"
DATA_SUFFIXES = {".xpt", ".json", ".ndjson", ".dsjc"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", action="store_true", help="list the rule/dataset pairs that differ")
    ap.add_argument("--all", action="store_true", help="with --pairs: also the pairs where both agree")
    ap.add_argument("--csv", type=Path, help="write the pair comparison of every package here")
    args = ap.parse_args()
    tables = []
    for folder in sorted(p for p in PACKAGES.iterdir() if p.is_dir()):
        for report in sorted(folder.glob("pinnacle21-report*.xlsx")):
            present = {p.stem.upper() for p in folder.iterdir() if p.suffix.lower() in DATA_SUFFIXES}
            result = validate_folder(folder)
            f = agreement(result, report, present)
            print(f"{folder.name} against {report.name}:")
            print(f"  (dataset, rule) pairs the reference reports: {f['reference_pairs']}, found by us too: "
                  f"{f['pairs_found']} ({f['pairs_found'] / max(f['reference_pairs'], 1):.0%})")
            print(f"  records the reference lists: {f['reference_records']}, flagged by us too: "
                  f"{f['records_in_common']} ({f['records_in_common'] / max(f['reference_records'], 1):.0%})")
            print(f"  our findings: {f['our_findings']}; on the reference's pairs {f['on_reference_pairs']}; "
                  f"outside them: rule the reference lacks {f['rule_reference_lacks']}, "
                  f"disagreement {f['disagreement']}")
            if args.pairs or args.csv:
                table = compare_with_p21(result, report, present).assign(package=folder.name)
                tables.append(table)
                if args.pairs:
                    shown = table if args.all else table[table["status"] != "same"]
                    with pd.option_context("display.max_rows", None, "display.width", 200,
                                           "display.max_colwidth", 60):
                        print(shown.to_string(index=False))
                    print(f"  {(table['status'] == 'same').sum()} of {len(table)} rule/dataset pairs agree")
    if args.csv and tables:
        pd.concat(tables).to_csv(args.csv, index=False)


if __name__ == "__main__":
    main()
