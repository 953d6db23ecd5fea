"""Print how much of the Pinnacle 21 and CDISC CORE rule catalogues our rule catalogue implements.

    python scripts/rule_coverage.py [--missing]

Reads ../shared/reference/p21-rules/ and core-rules/ (the official catalogues) and schemas/rules/ (ours). A P21
rule counts when one of our rules carries its id; a CORE rule when one of ours carries its CORE id (directly or
through the P21 -> CG -> CORE cross-reference in schemas/rule-xref.json).
"""
from __future__ import annotations

import argparse
import csv
import json
import re
from pathlib import Path

from cdisc_il2.validate.engine import load_rules

REF = Path(__file__).resolve().parents[1].parent / "shared" / "reference"
OUR_DOMAINS = {"DM", "EX", "AE", "LB", "QS", "SUPP--", "SUPPQUAL", "ALL"}
DICTIONARIES = re.compile(r"MedDRA|WHO ?Drug|UNII|SNOMED|LOINC|MED-RT|NDF-RT|dictionary", re.I)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--missing", action="store_true", help="list the rules not implemented")
    args = ap.parse_args()
    rules = load_rules()
    p21_ours = {r.p21 for r in rules if r.p21}
    core_ours = {c for r in rules for c in r.core}
    print(f"our catalogue: {len(rules)} rules ({sum(r.scope == 'study' for r in rules)} of them this study's own)")
    need = sorted({r.params["dictionary"] for r in rules if r.params.get("dictionary")})
    for name in need:
        n = sum(r.params.get("dictionary") == name for r in rules)
        label = {"meddra": "MedDRA", "whodrug": "WHODrug"}.get(name, name)
        print(f"  {n} of them run only with the user's {label} release (validate --{name} DIR, run with a release)")
    for kind in ("sdtm", "adam"):
        cat = list(csv.DictReader(open(REF / "p21-rules" / f"{kind}-rules.csv", encoding="utf-8")))
        ids = {r["Pinnacle 21 ID"] for r in cat}
        dictionary = {r["Pinnacle 21 ID"] for r in cat if DICTIONARIES.search(r["Message"] + " " + r["Description"])}
        have = ids & p21_ours
        print(f"Pinnacle 21 {kind.upper()}: {len(have)} of {len(ids)} rules "
              f"({len(dictionary)} mention a licensed dictionary, {len(have & dictionary)} of them implemented; "
              f"{len(have - dictionary)} of the {len(ids - dictionary)} that do not)")
        if args.missing:
            for r in cat:
                if r["Pinnacle 21 ID"] not in have:
                    tag = " [dictionary]" if r["Pinnacle 21 ID"] in dictionary else ""
                    print(f"   {r['Pinnacle 21 ID']}{tag}: {r['Message']}")
    core = list(csv.DictReader(open(REF / "core-rules" / "core-rules-sdtm.csv", encoding="utf-8")))
    ours_domains = [r for r in core if set(json.loads(r["domains"] or "{}").get("Include", ["ALL"])) & OUR_DOMAINS]
    have = {r["core_id"] for r in ours_domains} & core_ours
    print(f"CDISC CORE (SDTMIG): {len(core_ours & {r['core_id'] for r in core})} of {len(core)} rules; "
          f"{len(have)} of the {len(ours_domains)} that apply to DM, EX, AE, LB, QS, SUPPQUAL or all domains")
    cases = REF / "core-rule-cases"
    if cases.is_dir():
        with_cases = {p.name for p in cases.iterdir() if p.is_dir()}
        print(f"CORE ids we carry that have CDISC's own test cases: {len(core_ours & with_cases)} "
              "(run by tests/test_core_cases.py)")


if __name__ == "__main__":
    main()
