"""Standards metadata in one place: SDTMIG variables, CDISC and sponsor codelists, coding dictionaries."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pandas as pd

from .resources import data_dir, load_json, load_study, load_yaml

SUPP_PREFIX = "SUPP"


def normalize(text: object) -> str:
    """Case- and spacing-insensitive key for matching raw spellings."""
    return re.sub(r"\s+", " ", str(text)).strip().casefold()


def normalize_series(values: pd.Series) -> pd.Series:
    """Vectorized `normalize` over a string Series (NA stays NA)."""
    return values.astype("string").str.replace(r"\s+", " ", regex=True).str.strip().str.casefold()


@lru_cache(maxsize=None)
def sdtm_variables(domain: str) -> pd.DataFrame:
    """SDTMIG 3.4 variable metadata of a domain (SUPPxx uses SUPPQUAL), in standard order."""
    ds = load_json("sdtm-metadata.json")["datasets"]
    key = "SUPPQUAL" if domain.startswith(SUPP_PREFIX) and domain not in ds else domain
    if key not in ds:
        raise KeyError(f"unknown SDTM dataset {domain}")
    frame = pd.DataFrame(ds[key]["variables"])
    frame["codelist"] = frame["codelists"].map(lambda c: c[0] if c else None)
    return frame.sort_values("order").reset_index(drop=True)


@lru_cache(maxsize=1)
def adam_datasets() -> dict[str, dict]:
    """The study's ADaM datasets (mappings/define.yaml adam_datasets): structure, predecessor, label, records."""

    doc = load_yaml((data_dir("mappings") / "define.yaml").read_text(encoding="utf-8"))
    return doc.get("adam_datasets", {})


def adam_structure(dataset: str) -> str:
    """ADSL, OCCDS or BDS for an ADaM dataset name (the study's declaration, else BDS for other AD* names)."""
    if dataset == "ADSL":
        return "ADSL"
    return adam_datasets().get(dataset, {}).get("structure", "BDS")


def adam_variables(dataset: str) -> pd.DataFrame:
    """ADaMIG 1.3 variable metadata for an ADaM dataset: ADSL, or the BDS structure for BDS datasets (OCCDS
    datasets have no ADaMIG 1.3 table here: KeyError)."""
    structures = load_json("adam-metadata.json")["structures"]
    if not dataset.startswith("AD") or adam_structure(dataset) == "OCCDS":
        raise KeyError(dataset)
    key = adam_structure(dataset)
    frame = pd.DataFrame(structures[key]["variables"])
    frame["codelist"] = frame["codelists"].map(lambda c: c[0] if c else None)
    return frame


# The ADaMIG structures whose variables a dataset of each kind takes its standard labels from, in order: variables
# copied from ADSL into BDS and OCCDS datasets keep their ADSL labels; an OCCDS dataset (whose IG tables we do not
# ship) or any other ADaM dataset shares the BDS timing and analysis variables (ASTDT, AENDY, ANL01FL).
ADAM_LABEL_STRUCTURES = {"ADSL": ("ADSL",), "BDS": ("BDS", "TTE", "ADSL"), "OCCDS": ("BDS", "ADSL"),
                         "ADAM": ("BDS", "ADSL"), "ALL": ("ADSL", "BDS", "TTE")}


@lru_cache(maxsize=None)
def adam_pattern(name: str) -> re.Pattern | None:
    """The regex a concrete name matches for an ADaMIG pattern entry (TRTxxP: TRT01P; *DT: RESCDT), else None."""
    entry = load_json("adam-metadata.json").get("patterns", {}).get(name)
    return re.compile(entry["regex"]) if entry else None


@lru_cache(maxsize=None)
def adam_standard_variable(var: str, kind: str) -> dict | None:
    """The ADaMIG 1.3 entry of a variable for a dataset of this kind (ADSL, BDS, OCCDS, ADAM, ALL): its own entry,
    else the first pattern entry it matches, with the label's placeholders filled (TRT01P: 'Planned Treatment for
    Period 01', ANL01FL: 'Analysis Flag 01'); None when neither (a generic * entry such as *DT gives no label)."""
    doc = load_json("adam-metadata.json")
    variables = [v for key in ADAM_LABEL_STRUCTURES[kind] for v in doc["structures"].get(key, {}).get("variables", [])]
    for v in variables:
        if v["name"] == var:
            return dict(v, pattern=None)
    patterns = doc.get("patterns", {})
    for v in variables:
        entry = patterns.get(v["name"])
        if entry is None or entry["generic"]:
            continue
        m = re.fullmatch(entry["regex"], var)
        if m:
            return dict(v, name=var, label=entry["label"].format(**m.groupdict()), pattern=v["name"])
    return None


GENERAL_CLASSES = ("Events", "Findings", "Interventions", "Findings About")
IDENTIFIERS = ("STUDYID", "DOMAIN", "USUBJID", "POOLID", "SPDEVID", "--SEQ", "--GRPID", "--REFID", "--SPID",
               "--LNKID", "--LNKGRP")


def _generic(var: str, domain: str) -> str:
    """A domain variable in SDTM model form: AESTDTC -> --STDTC (STUDYID, USUBJID, VISIT... stay)."""
    return "--" + var[len(domain):] if var.startswith(domain) and len(var) > len(domain) else var


@lru_cache(maxsize=None)
def class_model(sdtm_class: str) -> pd.DataFrame:
    """The SDTM model variables of a general observation class, in model form (--STDTC), built from every
    SDTMIG domain of the class plus the identifiers and timing variables all general classes share.

    Required only where every domain of the class requires the variable; a codelist only where all agree."""
    ds = load_json("sdtm-metadata.json")["datasets"]
    rows = []
    for dom, d in ds.items():
        cls = d.get("class")
        if cls not in GENERAL_CLASSES:
            continue
        for v in d["variables"]:
            shared = v["role"] in ("Identifier", "Timing") and cls != sdtm_class
            if cls == sdtm_class or shared:
                rows.append({**v, "name": _generic(v["name"], dom), "domain": dom, "own": cls == sdtm_class})
    if not rows:
        raise KeyError(sdtm_class)
    frame = pd.DataFrame(rows)
    own_domains = frame.loc[frame["own"], "domain"].nunique()
    g = frame.groupby("name", sort=False)
    out = g.agg(label=("label", lambda s: s.mode().iloc[0]), type=("type", lambda s: s.mode().iloc[0]),
                order=("order", "min"), role=("role", "first"),
                n=("domain", lambda s: s[frame.loc[s.index, "own"]].nunique()),
                req=("core", lambda s: bool((s == "Req").all())),
                codelist=("codelists", lambda s: s.iloc[0][0] if s.iloc[0] and all(c == s.iloc[0] for c in s) else None))
    out["core"] = ["Req" if r and n == own_domains else "Perm" for r, n in zip(out["req"], out["n"])]
    return out.reset_index().sort_values(["order", "name"]).drop(columns=["req", "n"]).reset_index(drop=True)


def model_variables(prefix: str, sdtm_class: str) -> pd.DataFrame:
    """SDTM model variables of a class for a dataset with this 2-letter prefix (custom domains)."""
    frame = class_model(sdtm_class).copy()
    frame["name"] = frame["name"].str.replace("^--", prefix, regex=True)
    return frame


def dataset_variables(dataset: str) -> pd.DataFrame:
    """Standard variable metadata of a dataset name: SDTMIG (SUPPxx as SUPPQUAL), else ADaMIG; KeyError if neither."""
    try:
        return sdtm_variables(dataset)
    except KeyError:
        return adam_variables(dataset)


def sdtm_dataset_label(domain: str) -> str:
    """Dataset label from SDTMIG (SUPPxx: 'Supplemental Qualifiers for xx')."""
    ds = load_json("sdtm-metadata.json")["datasets"]
    if domain in ds:
        return ds[domain]["label"]
    if domain.startswith(SUPP_PREFIX):
        return f"Supplemental Qualifiers for {domain[4:]}"
    raise KeyError(domain)


def sdtm_datasets() -> list[str]:
    """Names of every SDTMIG 3.4 dataset in the shipped metadata."""
    return list(load_json("sdtm-metadata.json")["datasets"])


@dataclass(frozen=True)
class Codelist:
    """A codelist ready for recoding: allowed submission values and a normalized spelling lookup."""

    name: str
    code: str | None
    extensible: bool
    values: frozenset[str]
    lookup: dict[str, str]
    source: str
    nci_codes: dict[str, str]

    def with_synonyms(self, extra: dict[str, str]) -> "Codelist":
        """A copy whose lookup also accepts site spellings (raw -> submission value)."""
        merged = dict(self.lookup)
        merged.update({normalize(k): v for k, v in extra.items()})
        return Codelist(self.name, self.code, self.extensible, self.values, merged, self.source, self.nci_codes)


@lru_cache(maxsize=None)
def _cdisc_index() -> tuple[dict, dict]:
    lists = load_json("ct.json")["codelists"]
    by_short: dict[str, str] = {}
    for code in sorted(lists):
        by_short.setdefault(lists[code]["short_name"].upper(), code)
    return lists, by_short


@lru_cache(maxsize=1)
def dimensionless_tests() -> frozenset[str]:
    """Test codes whose results have no unit by their CT definition (pH, specific gravity, INR)."""
    return frozenset(load_json("ct.json").get("dimensionless_tests", []))


def ct_versions() -> list[str]:
    """Versions of the CDISC controlled terminology shipped."""
    return list(load_json("ct.json")["versions"])


CT_COLUMNS = ("Code", "Codelist Code", "Codelist Extensible (Yes/No)", "Codelist Name", "CDISC Submission Value")
CT_MAX_BYTES = 512 * 1024 * 1024       # a CT release is ~40 MB; anything far larger is not one


def ct_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a CDISC controlled terminology release as NCI EVS publishes it (tab-delimited .txt, or the
    same columns as .csv): Code, Codelist Code, Codelist Extensible, Codelist Name, CDISC Submission Value..."""
    import csv

    from .errors import InputError

    path = Path(path)
    try:
        if path.stat().st_size > CT_MAX_BYTES:
            raise InputError(f"{path}: {path.stat().st_size:,} bytes is not a CT release (at most {CT_MAX_BYTES:,})")
        with open(path, newline="", encoding="utf-8-sig") as fh:
            head = fh.readline()
            fh.seek(0)
            rows = list(csv.DictReader(fh, delimiter="\t" if "\t" in head else ","))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{path}: cannot be read as a CDISC CT release ({exc})") from None
    missing = [c for c in CT_COLUMNS if rows and c not in rows[0]] if rows else list(CT_COLUMNS)
    if missing:
        raise InputError(f"{path}: not a CDISC CT release in the NCI EVS layout: no column {', '.join(missing)} "
                         f"(expected the columns {', '.join(CT_COLUMNS)}, tab-delimited or CSV)")
    return rows


@dataclass(frozen=True)
class CtRelease:
    """One CDISC CT release's codelists (NCI C-code -> submission values), e.g. the one a package declares."""

    version: str                    # the release date, YYYY-MM-DD
    codelists: dict[str, frozenset[str]]
    source: str                     # the file it was read from
    standard: str = "SDTM"          # SDTM or ADaM terminology

    def has_term(self, codelist_code: str, value: str) -> bool | None:
        """Whether a value is a term of the codelist in this release (None: the release has no such codelist)."""
        terms = self.codelists.get(codelist_code)
        return None if terms is None else value in terms


def read_ct_release(path: Path) -> CtRelease:
    """A CT release file (SDTM or ADaM, NCI EVS layout), dated by its 'Standard and Date' column or the date in
    its file or folder name (NCI's own names: SDTM Terminology 2020-12-18.txt, or .../2020-12-18/...)."""
    from .errors import InputError

    path = Path(path)
    rows = ct_rows(path)
    stamp = (rows[0].get("Standard and Date") or "") if rows else ""
    dated = re.search(r"\d{4}-\d{2}-\d{2}", stamp) or next(
        (m for part in (path.name, *[q.name for q in path.parents]) if (m := re.search(r"\d{4}-\d{2}-\d{2}", part))),
        None)
    if dated is None:
        raise InputError(f"{path}: the CT release's date is neither in its 'Standard and Date' column nor in its "
                         "file or folder name (name it as NCI does, e.g. 'SDTM Terminology 2020-12-18.txt')")
    lists: dict[str, set[str]] = {}
    for r in rows:
        if r["Codelist Code"]:
            lists.setdefault(r["Codelist Code"], set()).add(r["CDISC Submission Value"])
        else:
            lists.setdefault(r["Code"], set())
    standard = "ADaM" if "ADAM" in (stamp + " " + path.name).upper() else "SDTM"
    return CtRelease(dated.group(0), {k: frozenset(v) for k, v in lists.items()}, str(path), standard)


@lru_cache(maxsize=None)
def codelist(name: str) -> Codelist:
    """Resolve a codelist by CDISC short name, C-code, or sponsor name (study.yaml, VISIT)."""
    study = load_study()
    if name == "VISIT":
        lookup = {}
        for v in study["visits"]:
            for spelling in [v["VISIT"], *v.get("synonyms", [])]:
                lookup[normalize(spelling)] = v["VISIT"]
        return Codelist("VISIT", None, False, frozenset(v["VISIT"] for v in study["visits"]), lookup, "study visits", {})
    sponsor = study.get("sponsor_codelists", {})
    if name in sponsor:
        lookup, values = {}, set()
        for value, spellings in sponsor[name].items():
            values.add(value)
            for s in [value, *spellings]:
                lookup[normalize(s)] = value
        return Codelist(name, None, False, frozenset(values), lookup, "sponsor", {})
    lists, by_short = _cdisc_index()
    code = name if name in lists else by_short.get(name.upper())
    if code is None:
        raise KeyError(name)
    cl = lists[code]
    lookup: dict[str, str] = {}
    ambiguous: set[str] = set()
    for t in cl["terms"]:
        for s in t["synonyms"]:
            k = normalize(s)
            if k in lookup and lookup[k] != t["value"]:
                ambiguous.add(k)
            lookup.setdefault(k, t["value"])
    for k in ambiguous:
        del lookup[k]
    for t in cl["terms"]:
        lookup[normalize(t["value"])] = t["value"]
    return Codelist(cl["short_name"], code, cl["extensible"], frozenset(t["value"] for t in cl["terms"]),
                    lookup, cl["source"], {t["value"]: t["code"] for t in cl["terms"]})


@lru_cache(maxsize=None)
def dictionary(name: str) -> dict:
    """A sponsor coding dictionary from mappings/dictionaries: normalized verbatim -> fields."""
    path = data_dir("mappings") / "dictionaries" / f"{name}.yaml"
    if not path.is_file():
        raise KeyError(name)
    doc = load_yaml(path.read_text(encoding="utf-8"))
    index: dict[str, dict] = {}
    for entry in doc["terms"]:
        fields = {k: v for k, v in entry.items() if k != "synonyms"}
        for s in [entry.get("AEDECOD", ""), *entry.get("synonyms", [])]:
            index[normalize(s)] = fields
    return {"version": doc.get("version", ""), "index": index}


def visit_table() -> pd.DataFrame:
    """The study's visit schedule: VISITNUM, VISIT, VISITDY."""
    return pd.DataFrame([{k: v[k] for k in ("VISITNUM", "VISIT", "VISITDY")} for v in load_study()["visits"]])


def lab_tests() -> dict:
    """Lab test definitions of the study (category, specimen, standard unit, conversions)."""
    return load_study()["lab_tests"]


def vital_signs() -> dict:
    """Vital signs test definitions of the study (standard unit, conversions, qualifiers such as VSPOS)."""
    return load_study().get("vital_signs", {})


def qs_tests() -> pd.DataFrame:
    """Sponsor-defined questionnaire tests: QSCAT, QSTESTCD, QSTEST, kind, weight."""
    rows = []
    for cat, q in load_study()["questionnaires"].items():
        for code, t in q["tests"].items():
            rows.append({"QSCAT": cat, "QSTESTCD": code, "QSTEST": t["QSTEST"], "kind": t["kind"],
                         "weight": t.get("weight"), "min": t.get("min"), "max": t.get("max")})
    return pd.DataFrame(rows)
