"""Generate the package's standards tables in schemas/ from the official CDISC files.

Reads ../shared/reference/ (SDTMIG 3.4 and ADaMIG 1.3 variable metadata, SDTM and ADaM
controlled terminology) and writes:
  schemas/sdtm-metadata.json  datasets and variables (order, label, type, codelist, role, core)
  schemas/adam-metadata.json  ADaMIG variable sets by data structure, and how a concrete name matches the
                              IG's pattern entries (TRTxxP, ANLzzFL, *DT) with their labels as templates
  schemas/rule-xref.json      Pinnacle 21 rule ids with their message, publisher ids (CGxxxx, FDABxxx,
                              ADaM rule numbers) and the CDISC CORE rule ids that implement the same CG ids
  schemas/ct.json             every codelist referenced by those variables (plus extra ones named
                              below), with terms, NCI codes, synonyms and extensibility
Run: python scripts/build_metadata.py [--reference ../shared/reference]
The outputs are committed; the installed package never reads ../shared.
"""
from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from cdisc_il2.metadata import ct_rows      # the NCI EVS layout, read the same way as a release given to validate

ROOT = Path(__file__).resolve().parents[1]
# Codelists used by the study but not attached to an SDTMIG variable in Variables.csv.
EXTRA_CODELISTS = ["C66742", "C66781", "C71620", "C65047", "C67154", "C78734", "C66728", "C66734", "C99079",
                   "C71113", "C66726", "C66729", "C78736", "C66789", "C100129", "C66767", "C66768", "C66769",
                   # trial summary value codelists (TS: TPHASE, STYPE, TTYPE, INTMODEL, TBLIND, TCNTRL, SEXPOP, INTTYPE,
                   # TINDTP)
                   "C66737", "C99077", "C66739", "C99076", "C66735", "C66785", "C66732", "C99078", "C66736"]
# Test codes whose result has no unit, found by what their own NCI definition or preferred term says they are:
# a negative logarithm (pH), a ratio of like quantities (specific gravity: density to density; INR: a normalised
# ratio of times). SD0026/SD0029 do not ask such results for a unit.
DIMENSIONLESS_DEFINITIONS = [r"^The negative logarithm", r"^A ratio of the density", r"International Normalized Ratio"]
CT_VERSION = "SDTM CT 2025-03-27"
ADAM_CT_VERSION = "ADaM CT 2025-03-28"


def _codes(field: str) -> list[str]:
    return [c.strip() for c in field.replace(",", ";").split(";") if c.strip()]


def build_sdtm(ref: Path) -> dict:
    """Dataset and variable metadata of SDTMIG 3.4, without the long CDISC notes."""
    datasets = {}
    with open(ref / "sdtmig-3.4" / "Datasets.csv", newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            datasets[r["Dataset Name"]] = {"label": r["Dataset Label"], "class": r["Class"],
                                           "structure": r["Structure"], "variables": []}
    with open(ref / "sdtmig-3.4" / "Variables.csv", newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            datasets[r["Dataset Name"]]["variables"].append({
                "name": r["Variable Name"], "label": r["Variable Label"],
                "type": r["Type"], "order": int(r["Variable Order"]),
                "codelists": _codes(r["CDISC CT Codelist Code(s)"]),
                "role": r["Role"], "core": r["Core"],
                "value_list": r["Value List"] or None,
                "described_value_domain": r["Described Value Domain(s)"] or None,
            })
    return {"standard": "SDTMIG", "version": "3.4", "datasets": datasets}


def build_adam(ref: Path) -> dict:
    """Variable metadata of ADaMIG 1.3 by data structure."""
    structures: dict[str, dict] = {}
    with open(ref / "adamig-1.3" / "DataStructures.csv", newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            structures[r["Data Structure Name"]] = {"description": r["Data Structure Description"],
                                                    "class": r["Class"], "variables": []}
    names = {v["description"]: k for k, v in structures.items()}
    with open(ref / "adamig-1.3" / "Variables.csv", newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            key = names.get(r["Data Structure Name"] + " Structure", names.get(r["Data Structure Name"]))
            if key is None:
                key = r["Data Structure Name"]
                structures.setdefault(key, {"description": key, "class": "", "variables": []})
            structures[key]["variables"].append({
                "name": r["Variable Name"], "label": r["Variable Label"], "type": r["Type"],
                "variable_set": r["Variable Set"], "codelists": _codes(r["CDISC CT Codelist Code(s)"]),
                "core": r["Core"]})
    patterns = {v["name"]: _pattern(v) for st in structures.values() for v in st["variables"]
                if v["name"] != v["name"].upper() or "*" in v["name"]}
    return {"standard": "ADaMIG", "version": "1.3", "structures": structures, "patterns": patterns}


# ADaMIG 1.3 section 3.1.2: xx and zz stand for a two-digit index (01-99), y and w for an integer index.
PLACEHOLDERS = {"xx": r"\d{2}", "zz": r"\d{2}", "y": r"\d+", "w": r"\d+"}


def _pattern(var: dict) -> dict:
    """How a concrete name matches an ADaMIG pattern entry (TRTxxP, ANLzzFL, CRITy; *DT, *SDY) and its label
    with the placeholders as fields: {"regex": "TRT(?P<xx>\\d{2})P", "label": "Planned Treatment for Period {xx}"}.
    A * entry is generic: its label ({Date}) describes a family, it is no label to give a variable."""
    import re

    name, label = var["name"], var["label"]
    if name.startswith("*"):
        return {"regex": "[A-Z][A-Z0-9]*" + re.escape(name[1:]), "generic": True, "description": label.strip("{}")}
    rx, found, i = "", [], 0
    while i < len(name):
        ph = name[i:i + 2] if name[i:i + 2] in PLACEHOLDERS else name[i] if name[i] in PLACEHOLDERS else None
        if ph is None:
            rx += re.escape(name[i])
            i += 1
            continue
        if ph in found or not re.search(rf"\b{ph}\b", label):
            raise SystemExit(f"ADaMIG variable {name}: placeholder {ph} repeated or not in its label '{label}'")
        rx += f"(?P<{ph}>{PLACEHOLDERS[ph]})"
        found.append(ph)
        i += len(ph)
    template = label.replace("{", "{{").replace("}", "}}")
    for ph in found:
        template = re.sub(rf"\b{ph}\b", "{" + ph + "}", template, count=1)
    return {"regex": rx, "generic": False, "label": template}


def build_ct(ref: Path, wanted: set[str]) -> dict:
    """The codelists in `wanted` with all their terms, from the SDTM and ADaM CT releases."""
    lists: dict[str, dict] = {}
    rows: list[dict] = []
    rows += [dict(r, _src=CT_VERSION) for r in ct_rows(ref / "ct" / "sdtm-terminology-2025-03.txt")]
    rows += [dict(r, _src=ADAM_CT_VERSION) for r in ct_rows(ref / "ct" / "adam-terminology-2025-03-28.csv")]
    for r in rows:
        if not r["Codelist Code"] and r["Code"] in wanted:
            lists[r["Code"]] = {"code": r["Code"], "name": r["Codelist Name"],
                                "short_name": r["CDISC Submission Value"],
                                "extensible": r["Codelist Extensible (Yes/No)"] == "Yes",
                                "source": r["_src"], "terms": []}
    for r in rows:
        cl = lists.get(r["Codelist Code"])
        if cl is not None:
            syn = [s.strip() for s in (r["CDISC Synonym(s)"] or "").split(";") if s.strip()]
            cl["terms"].append({"code": r["Code"], "value": r["CDISC Submission Value"],
                                "synonyms": syn, "preferred": r["NCI Preferred Term"]})
    for cl in lists.values():
        cl["terms"].sort(key=lambda t: t["value"])
    return {"versions": [CT_VERSION, ADAM_CT_VERSION], "codelists": dict(sorted(lists.items())),
            "dimensionless_tests": _dimensionless(rows)}


def _dimensionless(rows: list[dict]) -> list[str]:
    """Test codes (of every '... Test Code' codelist) whose definition or preferred term says they have no unit."""
    import re

    found = set()
    for r in rows:
        if r["Codelist Code"] and r["Codelist Name"].endswith("Test Code") and any(
                re.search(p, r["CDISC Definition"] or "") or re.search(p, r["NCI Preferred Term"] or "")
                for p in DIMENSIONLESS_DEFINITIONS):
            found.add(r["CDISC Submission Value"])
    return sorted(found)


def build_rule_xref(ref: Path) -> dict:
    """P21 rule catalogue (SDTM and ADaM) cross-referenced to CORE ids through shared CG ids."""
    core_by_cg: dict[str, list[str]] = {}
    with open(ref / "core-rules" / "core-rules-sdtm.csv", newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            for cg in _codes(r["sdtm_conformance_ids"]):
                core_by_cg.setdefault(cg, []).append(r["core_id"])
    rules = {}
    for std, name in (("SDTM", "sdtm-rules.csv"), ("ADaM", "adam-rules.csv")):
        with open(ref / "p21-rules" / name, newline="", encoding="utf-8") as fh:
            for r in csv.DictReader(fh):
                pubs = _codes(r["Publisher ID"])
                cores = sorted({c for p in pubs for c in core_by_cg.get(p, [])})
                rules[r["Pinnacle 21 ID"]] = {"standard": std, "message": r["Message"],
                                              "description": r["Description"], "category": r["Category"],
                                              "publisher_ids": pubs, "core_ids": cores}
    # The rules each Pinnacle 21 configuration applies (its report's Rules sheet): which checks belong to an
    # earlier SDTMIG version. The CDISC pilot's report is the P21 Community 4.0.2 'SDTM-IG 3.1.2 (FDA)' config.
    configs = {}
    report = ref / "packages" / "cdiscpilot01-sdtm" / "pinnacle21-report-4.0.2.xlsx"
    if report.is_file():
        from openpyxl import load_workbook

        wb = load_workbook(report, read_only=True, data_only=True)
        ids = sorted({str(r[0]) for r in list(wb["Rules"].iter_rows(values_only=True))[1:] if r and r[0]})
        configs["3.1.2"] = ids
    return {"source": "Pinnacle 21 rule catalogue; CDISC CORE rules (cdisc-rules-engine cache); Pinnacle 21 "
                      "Community 4.0.2 SDTM-IG 3.1.2 configuration (Rules sheet of the CDISC pilot's report)",
            "rules": rules, "configurations": configs}


def _dump(obj: dict, path: Path) -> None:
    path.write_text(json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference", type=Path, default=ROOT.parent / "shared" / "reference")
    args = ap.parse_args()
    sdtm, adam = build_sdtm(args.reference), build_adam(args.reference)
    wanted = set(EXTRA_CODELISTS)
    for ds in sdtm["datasets"].values():
        for v in ds["variables"]:
            wanted.update(v["codelists"])
    for st in adam["structures"].values():
        for v in st["variables"]:
            wanted.update(v["codelists"])
    ct = build_ct(args.reference, wanted)
    _dump(sdtm, ROOT / "schemas" / "sdtm-metadata.json")
    _dump(adam, ROOT / "schemas" / "adam-metadata.json")
    _dump(ct, ROOT / "schemas" / "ct.json")
    _dump(build_rule_xref(args.reference), ROOT / "schemas" / "rule-xref.json")


if __name__ == "__main__":
    main()
