"""Dictionary coding from the user's releases and the study's coding lists: AE with MedDRA (verbatim term -> LLT
code), CM with WHODrug (verbatim medication -> drug code and, when the drug has several, the ATC code chosen).

A verbatim without a code in the list, or a code the release does not know (or holds as not current, or whose ATC
code is not the drug's), is a coding query (rejects.csv, coding_queries.csv): its dictionary variables stay
empty, never guessed.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd

from ..dictionaries import whodrug
from ..dictionaries.meddra import MEDDRA_SUFFIXES, MeddraRelease, read_release
from ..errors import InputError
from ..metadata import normalize, normalize_series
from ..resources import data_dir, load_study
from .engine import CELL_COL, REJECT_COLUMNS, SRC_COLUMN, SRC_FILE, SRC_ROW, SRC_SHEET, cell_places

AE_MEDDRA = ["AE" + s for s in MEDDRA_SUFFIXES]
CM_WHODRUG = ["CM" + s for s in whodrug.WHODRUG_SUFFIXES]
CODING_QUERY = "coding query: MedDRA variables left empty"
DRUG_CODING_QUERY = "coding query: WHODrug variables left empty"
QUERY_COLUMNS = ["file", "sheet", "row", "heading", "subject", "domain", "verbatim", "code", "reason"]
MAX_LIST_BYTES = 16 * 1024 * 1024


def _configured(option: Path | None, key: str, list_key: str, default_list: str, what: str, flag: str
                ) -> tuple[Path | None, Path]:
    """A release folder (the option, else study.yaml `dictionaries.<key>`, relative to study.yaml) and the coding
    list (study.yaml `dictionaries.<list_key>`, default `default_list`)."""
    base = data_dir("mappings")
    conf = load_study().get("dictionaries") or {}
    folder = Path(option) if option else (base / conf[key] if conf.get(key) else None)
    if not option and folder is not None and not folder.is_dir():
        raise InputError(f"{base / 'study.yaml'}: at dictionaries.{key}: '{conf[key]}' ({folder}) is not a "
                         f"folder: a {what} release folder, relative to study.yaml (or give {flag} DIR)")
    return folder, base / conf.get(list_key, default_list)


def configured(meddra: Path | None) -> tuple[Path | None, Path]:
    """The MedDRA release folder (the option, else study.yaml `dictionaries.meddra`) and the AE coding list
    (study.yaml `dictionaries.ae_coding`, default dictionaries/ae-coding.csv)."""
    return _configured(meddra, "meddra", "ae_coding", "dictionaries/ae-coding.csv", "MedDRA ASCII", "--meddra")


def configured_whodrug(release: Path | None) -> tuple[Path | None, Path]:
    """The WHODrug B3 release folder (the option, else study.yaml `dictionaries.whodrug`) and the CM coding list
    (study.yaml `dictionaries.cm_coding`, default dictionaries/cm-coding.csv)."""
    return _configured(release, "whodrug", "cm_coding", "dictionaries/cm-coding.csv", "WHODrug B3", "--whodrug")


def _read_list(path: Path, what: str, code: str, optional: tuple[str, ...] = (),
               valid=str.isdigit, valid_text: str = "digits") -> dict[str, tuple[str, ...]]:
    """A coding tool's export as CSV (columns `verbatim`, `code`, and the optional ones): normalized verbatim ->
    (code, *optional), one coding per verbatim; rows without a code are left out (their verbatims are queries)."""
    path = Path(path)
    columns = ", ".join(("verbatim", code, *optional))
    if not path.is_file():
        raise InputError(f"{path}: no {what} coding list (CSV with columns {columns})")
    if path.stat().st_size > MAX_LIST_BYTES:
        raise InputError(f"{path}: over {MAX_LIST_BYTES:,} bytes: not a {what} coding list")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    reader = csv.DictReader(io.StringIO(text))
    fields = {f.strip().lower(): f for f in reader.fieldnames or []}
    if not {"verbatim", code} <= set(fields):
        raise InputError(f"{path}: line 1: columns {list(fields)}; a {what} coding list needs verbatim and {code}")
    out: dict[str, tuple[str, ...]] = {}
    for line, row in enumerate(reader, start=2):
        term = (row.get(fields["verbatim"]) or "").strip()
        values = tuple((row.get(fields[c]) or "").strip() if c in fields else "" for c in (code, *optional))
        if not term or not values[0]:
            continue
        if not valid(values[0]):
            raise InputError(f"{path}: line {line}: {code} '{values[0]}' is not a {what} code ({valid_text})")
        key = normalize(term)
        if out.get(key, values) != values:
            raise InputError(f"{path}: line {line}: '{term}' coded {'/'.join(values)}, earlier "
                             f"{'/'.join(out[key])}: one coding per verbatim")
        out[key] = values
    return out


def read_coding_list(path: Path) -> dict[str, str]:
    """An AE coding list (columns `verbatim`, `llt_code`): normalized verbatim -> LLT code."""
    return {k: v[0] for k, v in _read_list(path, "MedDRA", "llt_code").items()}


def _drug_code(text: str) -> bool:
    """A WHODrug drug code: 6-digit record number, 2-character sequence number 1, 3-character sequence number 2."""
    return len(text) == 11 and text[:6].isdigit()


def read_drug_coding_list(path: Path) -> dict[str, tuple[str, str]]:
    """A CM coding list (columns `verbatim`, `drug_code`, optional `atc_code`): normalized verbatim -> (drug code,
    ATC code or '')."""
    return {k: (v[0], v[1]) for k, v in _read_list(path, "WHODrug", "drug_code", ("atc_code",), _drug_code,
                                                  "11 characters, the first 6 digits").items()}


def _coding_queries(df: pd.DataFrame, domain: str, term_var: str, code: pd.Series, why: pd.Series,
                    disposition: str, label: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The records with a reason (`why` not empty) as rejects.csv rows and as coding_queries.csv rows (file,
    sheet, row and heading of the verbatim's raw cell, subject, domain, verbatim, code, reason)."""
    q = why.ne("")
    heading = (cell_places(df, df[CELL_COL + term_var])["heading"]
               if CELL_COL + term_var in df else df.get(SRC_COLUMN, pd.Series(pd.NA, index=df.index)))
    sel = df[q]
    rejects = pd.DataFrame({"file": sel[SRC_FILE], "sheet": sel[SRC_SHEET], "row": sel[SRC_ROW].astype("Int64"),
                            "column": heading[q].astype("string"), "value": sel[term_var].astype("string"),
                            "reason": why[q] + f" ({label})", "disposition": disposition, "spec": "",
                            "block": f"{label.split()[0]} coding", "domain": domain})[REJECT_COLUMNS]
    queries = pd.DataFrame({"file": sel[SRC_FILE], "sheet": sel[SRC_SHEET], "row": sel[SRC_ROW].astype("Int64"),
                            "heading": heading[q].astype("string"),
                            "subject": sel["SUBJID"].astype("string") if "SUBJID" in sel else pd.NA,
                            "domain": domain, "verbatim": sel[term_var].astype("string"), "code": code[q],
                            "reason": why[q]}).reindex(columns=QUERY_COLUMNS)
    return rejects.reset_index(drop=True), queries.reset_index(drop=True)


def _reasons(term: pd.Series, code: pd.Series, why_code: dict, list_name: str, missing: str) -> pd.Series:
    """Why each record is not coded: its code's reason, or no code for a verbatim in the list; '' when coded."""
    has_term = term.str.strip().fillna("").ne("")
    why = code.map(why_code).astype("string")
    why = why.mask(has_term & code.isna(), "verbatim '" + term + f"' has no {missing} in {list_name}")
    return why.where(has_term).fillna("")


def code_ae(ae: pd.DataFrame, release: MeddraRelease, coding: dict[str, str], list_name: str
            ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """AE records with their MedDRA variables along the primary SOC path; the coding queries in rejects.csv
    layout and as coding_queries.csv rows."""
    ae = ae.copy()
    term = ae["AETERM"].astype("string")
    llt = normalize_series(term).map(coding).astype("string")
    coded, why_code = {}, {}
    for code in sorted(set(llt.dropna())):          # one look-up per distinct code, not per record
        path, why = release.code(code)
        if path is None:
            why_code[code] = why
        else:
            coded[code] = (path.llt_name, path.llt_code, path.pt_name, path.pt_code, path.hlt_name, path.hlt_code,
                           path.hlgt_name, path.hlgt_code, path.soc_name, path.soc_code, path.soc_name, path.soc_code)
    for i, v in enumerate(AE_MEDDRA):
        ae[v] = llt.map({c: vals[i] for c, vals in coded.items()}).astype("string")
    why = _reasons(term, llt, why_code, list_name, "LLT code")
    rejects, queries = _coding_queries(ae, "AE", "AETERM", llt, why, CODING_QUERY, release.label)
    return ae, rejects, queries


def code_cm(cm: pd.DataFrame, release: whodrug.WhodrugRelease, coding: dict[str, tuple[str, str]], list_name: str
            ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """CM records with CMDECOD (the drug code's preferred name), CMCLAS and CMCLASCD (its ATC text and code)
    from the release; the coding queries in rejects.csv layout and as coding_queries.csv rows."""
    cm = cm.copy()
    term = cm["CMTRT"].astype("string")
    key = normalize_series(term).map({k: "/".join(v) for k, v in coding.items()}).astype("string")
    coded, why_code = {}, {}
    for k in sorted(set(key.dropna())):
        drug, atc = (k.split("/") + [""])[:2]
        got, why = release.code(drug, atc)
        if got is None:
            why_code[k] = why
        else:
            coded[k] = (got.preferred_name, got.atc_text, got.atc_code)
    for i, v in enumerate(CM_WHODRUG):
        cm[v] = key.map({c: vals[i] for c, vals in coded.items()}).astype("string")
    why = _reasons(term, key, why_code, list_name, "drug code")
    rejects, queries = _coding_queries(cm, "CM", "CMTRT", key.str.split("/").str[0], why, DRUG_CODING_QUERY,
                                       release.label)
    return cm, rejects, queries


def load_coding(meddra: Path | None) -> tuple[MeddraRelease, dict[str, str], str] | None:
    """The release and coding list to code AE with, or None when no release is configured."""
    folder, coding_path = configured(meddra)
    if folder is None:
        return None
    return read_release(folder), read_coding_list(coding_path), coding_path.name


def load_drug_coding(release: Path | None) -> tuple[whodrug.WhodrugRelease, dict[str, tuple[str, str]], str] | None:
    """The WHODrug release and coding list to code CM with, or None when no release is configured."""
    folder, coding_path = configured_whodrug(release)
    if folder is None:
        return None
    return whodrug.read_release(folder), read_drug_coding_list(coding_path), coding_path.name
