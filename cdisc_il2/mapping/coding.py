"""MedDRA coding of AE from the user's release and the study's coding list (verbatim term -> LLT code).

A verbatim without a code in the list, or a code the release does not know or holds as not current, is a
coding query (rejects.csv, coding_queries.csv): its MedDRA variables stay empty, never guessed.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd

from ..dictionaries.meddra import MEDDRA_SUFFIXES, MeddraRelease, read_release
from ..errors import InputError
from ..metadata import normalize, normalize_series
from ..resources import data_dir, load_study
from .engine import CELL_COL, REJECT_COLUMNS, SRC_COLUMN, SRC_FILE, SRC_ROW, SRC_SHEET, split_cell_refs

AE_MEDDRA = ["AE" + s for s in MEDDRA_SUFFIXES]
CODING_QUERY = "coding query: MedDRA variables left empty"
QUERY_COLUMNS = ["file", "sheet", "row", "heading", "subject", "verbatim", "llt_code", "reason"]
MAX_LIST_BYTES = 16 * 1024 * 1024


def configured(meddra: Path | None) -> tuple[Path | None, Path]:
    """The MedDRA release folder (the option, else study.yaml `dictionaries.meddra`, relative to study.yaml) and
    the AE coding list (study.yaml `dictionaries.ae_coding`, default dictionaries/ae-coding.csv)."""
    base = data_dir("mappings")
    conf = load_study().get("dictionaries") or {}
    folder = Path(meddra) if meddra else (base / conf["meddra"] if conf.get("meddra") else None)
    if not meddra and folder is not None and not folder.is_dir():
        raise InputError(f"{base / 'study.yaml'}: at dictionaries.meddra: '{conf['meddra']}' ({folder}) is not a "
                         "folder: a MedDRA ASCII release folder, relative to study.yaml (or give --meddra DIR)")
    return folder, base / conf.get("ae_coding", "dictionaries/ae-coding.csv")


def read_coding_list(path: Path) -> dict[str, str]:
    """A coding tool's export as CSV (columns `verbatim`, `llt_code`): normalized verbatim -> LLT code."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no AE coding list (CSV with columns verbatim, llt_code) for the MedDRA release")
    if path.stat().st_size > MAX_LIST_BYTES:
        raise InputError(f"{path}: over {MAX_LIST_BYTES:,} bytes: not an AE coding list")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    reader = csv.DictReader(io.StringIO(text))
    fields = {f.strip().lower(): f for f in reader.fieldnames or []}
    if not {"verbatim", "llt_code"} <= set(fields):
        raise InputError(f"{path}: line 1: columns {list(fields)}; an AE coding list needs verbatim and llt_code")
    out: dict[str, str] = {}
    for line, row in enumerate(reader, start=2):
        term, code = (row.get(fields["verbatim"]) or "").strip(), (row.get(fields["llt_code"]) or "").strip()
        if not term:
            continue
        if code and not code.isdigit():
            raise InputError(f"{path}: line {line}: llt_code '{code}' is not a MedDRA code (digits)")
        key = normalize(term)
        if code and out.get(key, code) != code:
            raise InputError(f"{path}: line {line}: '{term}' coded {code}, earlier {out[key]}: one code per verbatim")
        if code:
            out[key] = code
    return out


def code_ae(ae: pd.DataFrame, release: MeddraRelease, coding: dict[str, str], list_name: str
            ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """AE records with their MedDRA variables along the primary SOC path; the coding queries in rejects.csv
    layout and as coding_queries.csv rows (file, sheet, row, heading, subject, verbatim, LLT code, reason)."""
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
    has_term = term.str.strip().fillna("").ne("")
    why = llt.map(why_code).astype("string")
    why = why.mask(has_term & llt.isna(), "verbatim '" + term + f"' has no LLT code in {list_name}")
    why = why.where(has_term).fillna("")
    q = why.ne("")
    heading = (split_cell_refs(ae[CELL_COL + "AETERM"])["heading"]
               if CELL_COL + "AETERM" in ae else ae.get(SRC_COLUMN, pd.Series(pd.NA, index=ae.index)))
    sel = ae[q]
    rejects = pd.DataFrame({"file": sel[SRC_FILE], "sheet": sel[SRC_SHEET], "row": sel[SRC_ROW].astype("Int64"),
                            "column": heading[q].astype("string"), "value": sel["AETERM"].astype("string"),
                            "reason": why[q] + f" ({release.label})", "disposition": CODING_QUERY, "spec": "",
                            "block": "MedDRA coding", "domain": "AE"})[REJECT_COLUMNS]
    queries = pd.DataFrame({"file": sel[SRC_FILE], "sheet": sel[SRC_SHEET], "row": sel[SRC_ROW].astype("Int64"),
                            "heading": heading[q].astype("string"),
                            "subject": sel["SUBJID"].astype("string") if "SUBJID" in sel else pd.NA,
                            "verbatim": sel["AETERM"].astype("string"), "llt_code": llt[q],
                            "reason": why[q]}).reindex(columns=QUERY_COLUMNS)
    return ae, rejects.reset_index(drop=True), queries.reset_index(drop=True)


def load_coding(meddra: Path | None) -> tuple[MeddraRelease, dict[str, str], str] | None:
    """The release and coding list to code AE with, or None when no release is configured."""
    folder, coding_path = configured(meddra)
    if folder is None:
        return None
    return read_release(folder), read_coding_list(coding_path), coding_path.name
