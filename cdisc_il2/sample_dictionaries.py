"""The bundled sample's synthetic MedDRA and WHODrug releases and coding lists, made from the sponsor lists.

The MedDRA release is in the official ASCII layout with invented codes (9xxxxxxx, not MedDRA's) and invented HLT
and HLGT names; it holds the sample's preferred terms and system organ classes only and says so in
meddra_release.asc and a README.txt. The WHODrug release is in the B3 fixed-width layout with invented drug
codes (99xxxx) and invented ATC codes under the unused anatomical group Z, whose level-4 texts are the sponsor's
medication classes (mappings/dictionaries/cm-terms.yaml). They let the sample be coded end to end without
licensed content.
"""
from __future__ import annotations

from pathlib import Path


from .dictionaries import whodrug
from .dictionaries.meddra import write_release
from .io import write_csv
from .metadata import normalize
from .resources import data_dir, load_yaml

SYNTHETIC_VERSION = "0.0 SYNTHETIC"
DRUG_NOTE = """SYNTHETIC WHODrug-B3-layout release written by `cdisc-il2 samples` for the bundled sample study.
It is NOT WHODrug: every drug code (99xxxx) and ATC code (Z...) is invented; it holds only the standardized names
and classes of the sample's sponsor medication list (mappings/dictionaries/cm-terms.yaml).
Code real data with your own licensed WHODrug Global B3 release from UMC (cdisc-il2 run --whodrug DIR).
"""
NOTE = """SYNTHETIC MedDRA-layout release written by `cdisc-il2 samples` for the bundled sample study.
It is NOT MedDRA: every code (9xxxxxxx) and every HLT and HLGT name is invented; it holds only the preferred
terms and system organ classes of the sample's sponsor synonym list (mappings/dictionaries/ae-terms.yaml).
Code real data with your own licensed MedDRA release from MSSO (cdisc-il2 run --meddra DIR).
"""


def sample_terms(ae_terms: Path | None = None) -> tuple[dict, list[dict]]:
    """The synthetic release's terms (as write_release takes them) and the coding list rows (verbatim, llt_code)
    for every verbatim spelling of the sponsor synonym list."""
    path = ae_terms or data_dir("mappings") / "dictionaries" / "ae-terms.yaml"
    doc = load_yaml(Path(path).read_text(encoding="utf-8"))
    socs = sorted({t["AEBODSYS"] for t in doc["terms"]})
    soc_code = {s: str(91000001 + i) for i, s in enumerate(socs)}
    pts = sorted({t["AEDECOD"]: t["AEBODSYS"] for t in doc["terms"]}.items())
    terms: dict = {"version": SYNTHETIC_VERSION, "language": "English", "llt": [], "pt": {}, "paths": []}
    pt_code = {}
    for i, (pt, soc) in enumerate(pts):
        code = str(94000001 + i)
        pt_code[pt] = code
        terms["pt"][code] = pt
        terms["llt"].append([code, pt, code, True])       # every PT is also an LLT of the same code (MedDRA)
        s = soc_code[soc]
        terms["paths"].append([code, str(93000001 + i), f"{pt} (synthetic HLT)", str(92000000 + int(s) - 91000000),
                               f"{soc} (synthetic HLGT)", s, soc, True])
    rows, seen = [], set()
    for t in doc["terms"]:
        for verbatim in [t["AEDECOD"], *t.get("synonyms", [])]:
            if normalize(verbatim) not in seen:
                seen.add(normalize(verbatim))
                rows.append({"verbatim": verbatim, "llt_code": pt_code[t["AEDECOD"]]})
    return terms, rows


def sample_drug_terms(cm_terms: Path | None = None) -> tuple[dict, list[dict]]:
    """The synthetic WHODrug release's terms (as whodrug.write_release takes them) and the CM coding list rows
    (verbatim, drug_code, atc_code) for every verbatim spelling of the sponsor medication list."""
    path = cm_terms or data_dir("mappings") / "dictionaries" / "cm-terms.yaml"
    doc = load_yaml(Path(path).read_text(encoding="utf-8"))
    classes = sorted({t["CMCLAS"] for t in doc["terms"]})
    atc = {"Z": [1, "SYNTHETIC ANATOMICAL GROUP"], "Z99": [2, "SYNTHETIC THERAPEUTIC GROUP"],
           "Z99A": [3, "SYNTHETIC PHARMACOLOGICAL GROUP"]}
    atc_of = {c: "Z99A" + chr(ord("A") + i) for i, c in enumerate(classes)}
    atc.update({code: [4, c] for c, code in atc_of.items()})
    terms: dict = {"version": SYNTHETIC_VERSION, "drugs": [], "atc": atc}
    rows, seen = [], set()
    for i, t in enumerate(sorted(doc["terms"], key=lambda t: t["CMDECOD"])):
        code = f"{990001 + i}01{whodrug.PREFERRED_SEQ2}"
        terms["drugs"].append([code, t["CMDECOD"], [atc_of[t["CMCLAS"]]]])
        for verbatim in [t["CMDECOD"], *t.get("synonyms", [])]:
            if normalize(verbatim) not in seen:
                seen.add(normalize(verbatim))
                rows.append({"verbatim": verbatim, "drug_code": code, "atc_code": atc_of[t["CMCLAS"]]})
    return terms, rows


def write_sample_dictionaries(release_dir: Path, coding_list: Path, drug_release_dir: Path, drug_coding_list: Path
                              ) -> list[Path]:
    """Write the synthetic release folders and the coding lists (AE: verbatim, llt_code; CM: verbatim, drug_code,
    atc_code) of the sample."""
    import pandas as pd

    terms, rows = sample_terms()
    written = write_release(release_dir, terms, NOTE)
    write_csv(coding_list, pd.DataFrame(rows, columns=["verbatim", "llt_code"]))
    drugs, drug_rows = sample_drug_terms()
    written += whodrug.write_release(drug_release_dir, drugs, DRUG_NOTE)
    write_csv(drug_coding_list, pd.DataFrame(drug_rows, columns=["verbatim", "drug_code", "atc_code"]))
    return [*written, coding_list, drug_coding_list]


def write_sample_release(release_dir: Path) -> Path:
    """Write the synthetic MedDRA release folder only (what `cdisc-il2 samples` writes beside the transfers)."""
    terms, _ = sample_terms()
    write_release(release_dir, terms, NOTE)
    return Path(release_dir)


def write_sample_drug_release(release_dir: Path) -> Path:
    """Write the synthetic WHODrug release folder only (what `cdisc-il2 samples` writes beside the transfers)."""
    terms, _ = sample_drug_terms()
    whodrug.write_release(release_dir, terms, DRUG_NOTE)
    return Path(release_dir)


if __name__ == "__main__":      # regenerate the shipped files: python -m cdisc_il2.sample_dictionaries
    root = data_dir("mappings").parent
    write_sample_dictionaries(root / "samples" / "dictionaries" / "meddra",
                              data_dir("mappings") / "dictionaries" / "ae-coding.csv",
                              root / "samples" / "dictionaries" / "whodrug",
                              data_dir("mappings") / "dictionaries" / "cm-coding.csv")
