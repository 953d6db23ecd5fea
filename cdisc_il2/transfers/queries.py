"""From findings to site queries: each finding on collected data traced to the site's raw cell (trace_cells.csv),
one query per cell in the site's words, followed across transfers (open, answered by a change, closed).

A finding is a query when it points at a value the site wrote: a collected variable of a mapped record (or a
variable derived from one, mappings/derived-from.yaml), a raw value convert could not map (rejects), or a whole
raw row (a duplicate record). Metadata, trial design, our own derivations and the sponsor's coding are not."""
from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import SpecError
from ..resources import data_dir, load_yaml

SOURCE_COLUMNS = ["src_file", "src_sheet", "src_row", "src_heading", "src_raw", "src_variables"]
QUERY_COLUMNS = ["query_id", "site", "usubjid", "visit", "file", "sheet", "row", "heading", "raw_value", "question",
                 "rules", "severity", "first_transfer", "transfers_open", "status", "old_value", "new_value",
                 "response", "record_key"]
KEY_SEP = " | "
WHOLE_ROW = "(the whole row)"
SEVERITY_RANK = {"Error": 3, "Warning": 2, "Notice": 1}


@lru_cache(maxsize=1)
def derived_from() -> dict[str, tuple[str, ...]]:
    """mappings/derived-from.yaml: derived variable (generic, --) -> the collected variables it comes from."""
    path = data_dir("mappings") / "derived-from.yaml"
    doc = load_yaml(path.read_text(encoding="utf-8")) or {}
    table = doc.get("derived_from")
    if not isinstance(table, dict) or not all(isinstance(v, list) for v in table.values()):
        raise SpecError(path.name, "derived_from", "must map each derived variable to a list of collected variables")
    return {str(k): tuple(map(str, v)) for k, v in table.items()}


def _sources_of(variable: str, domain: str) -> list[str]:
    """The variable itself, then the collected variables it is derived from (-- resolved to the domain's prefix)."""
    pre = domain[:2]
    generic = "--" + variable[2:] if variable.startswith(pre) and len(variable) > 2 else variable
    return [variable, *[v.replace("--", pre) for v in derived_from().get(generic, derived_from().get(variable, ()))]]


def _key_text(values: pd.Series) -> pd.Series:
    """A key column's values as text, numbers without a trailing .0 (missing: NA)."""
    return values.astype("string").str.replace(r"\.0$", "", regex=True)


def _key(frame: pd.DataFrame, cols: list[str]) -> pd.Series:
    """One text key per row of the given columns (_key_text)."""
    out = pd.Series("", index=frame.index, dtype="string")
    for i, c in enumerate(cols):
        v = _key_text(frame[c]).fillna("")
        out = out + ("\x1f" if i else "") + v
    return out


def _of_subjects(frame: pd.DataFrame, subjects: pd.Series) -> pd.DataFrame:
    """The rows of `frame` whose USUBJID can key-match one of `subjects` (texts as _key makes them: a raw
    'X' or 'X.0'), so that a trace of millions of cells is keyed only where findings are."""
    wanted = set(_key_text(subjects).dropna())
    wanted |= {w + ".0" for w in wanted}
    ids = frame["USUBJID"]
    if isinstance(ids.dtype, pd.CategoricalDtype):      # a trace's subjects: each category looked at once
        known = pd.Series(ids.cat.categories).astype("string").isin(wanted).fillna(False).to_numpy(dtype=bool)
        return frame[np.append(known, False)[ids.cat.codes.to_numpy()]]     # code -1 (no subject) is no match
    return frame[ids.astype("string").isin(wanted).fillna(False)]


def attach_sources(findings: pd.DataFrame, cells: pd.DataFrame, trace: pd.DataFrame) -> pd.DataFrame:
    """Findings with the raw cell they are about (src_file, src_sheet, src_row, src_heading, src_raw) and the
    collected variables it holds (src_variables): the finding's variable, or those it is derived from; a finding
    on a record but no collected variable gets the record's raw row. Sources already given (rejects) stay."""
    f = findings.copy()
    for c in SOURCE_COLUMNS:
        f[c] = f[c].astype("string") if c in f else pd.Series(pd.NA, index=f.index, dtype="string")
    if f.empty or cells is None or cells.empty:
        f["src_row"] = pd.to_numeric(f["src_row"], errors="coerce").astype("Int64")
        return f
    f["_i"] = np.arange(len(f))
    rec = f[f["row"].notna() & f["usubjid"].notna()]
    cand = [(i, k, var) for i, ds, v in zip(rec["_i"], rec["dataset"], rec["variable"].fillna(""))
            if v for k, var in enumerate(_sources_of(str(v), str(ds)))]
    if cand:
        c = pd.DataFrame(cand, columns=["_i", "_k", "VARIABLE"]).merge(f[["_i", "dataset", "usubjid", "seq"]], on="_i")
        c["_rec"] = _key(c.rename(columns={"dataset": "D", "usubjid": "U", "seq": "S"}).assign(
            S=lambda x: x["S"].where(x["D"] != "DM", "")), ["D", "U", "S", "VARIABLE"])
        cl = _of_subjects(cells, c["usubjid"])
        cl = cl.assign(_rec=_key(cl.assign(SEQ=cl["SEQ"].where(cl["DOMAIN"] != "DM", pd.NA)),
                                 ["DOMAIN", "USUBJID", "SEQ", "VARIABLE"]))
        hit = c.merge(cl.drop_duplicates("_rec"), on="_rec", suffixes=("", "_c")).sort_values(["_i", "_k"], kind="stable")
        found = hit.groupby("_i", sort=True).agg(src_file=("file", "first"), src_sheet=("sheet", "first"),
                                                 src_row=("row", "first"), src_heading=("heading", "first"),
                                                 src_raw=("raw", "first"),
                                                 src_variables=("VARIABLE_c", lambda v: "; ".join(dict.fromkeys(v))))
        _fill(f, found)
    if trace is not None and len(trace):
        t = trace[trace["QNAM"].isna()] if "QNAM" in trace else trace
        t = _of_subjects(t, rec["usubjid"])
        t = t.assign(_rec=_key(t.assign(SEQ=t["SEQ"].where(t["DOMAIN"] != "DM", pd.NA)), ["DOMAIN", "USUBJID", "SEQ"]))
        r = rec[f.loc[rec.index, "src_file"].isna()]
        r = r.assign(_rec=_key(r.assign(seq=r["seq"].where(r["dataset"] != "DM", pd.NA)), ["dataset", "usubjid", "seq"]))
        hit = r[["_i", "_rec"]].merge(t.drop_duplicates("_rec"), on="_rec")
        _fill(f, hit.set_index("_i").rename(columns={"file": "src_file", "sheet": "src_sheet", "row": "src_row"})[
            ["src_file", "src_sheet", "src_row"]])
    f["src_row"] = pd.to_numeric(f["src_row"], errors="coerce").astype("Int64")
    return f.drop(columns="_i")


def _fill(f: pd.DataFrame, found: pd.DataFrame) -> None:
    """Set source columns of the findings at positions `found.index` where they are empty."""
    pos = found.index.to_numpy(dtype=int)
    for c in found.columns:
        cur = f[c].to_numpy(dtype=object).copy()
        new = found[c].astype("string").to_numpy(dtype=object)
        empty = pd.isna(cur[pos])
        cur[pos[empty]] = new[empty]
        f[c] = pd.array(cur, dtype="string")


def _plain(message: str, variable: str, sources: str, heading: str, where: tuple) -> str:
    """A rule's message in the site's words: the raw place it starts with (a rejects message) left out, the
    collected variables of the cell named by the site's heading, a dataset named by its SDTM label, and a
    derived variable said to come from the cell."""
    from ..metadata import sdtm_dataset_label

    file, sheet, row = where
    message = re.sub(rf"^{re.escape(str(file))}, sheet '{re.escape(str(sheet))}', row {int(float(row))}"
                     r"(, column '[^']*')?: ", "", message)
    held = [v for v in sources.split("; ") if v]
    if heading != WHOLE_ROW:
        for var in sorted(held, key=len, reverse=True):
            message = re.sub(rf"\b{re.escape(var)}\b", f"'{heading}'", message)

    def label(m: re.Match) -> str:
        try:
            return f"{m.group(1)} the {sdtm_dataset_label(m.group(2)).lower()} data"
        except KeyError:
            return m.group(0)
    message = re.sub(r"\b(in|from|of) ([A-Z]{2})\b(?! dataset)", label, message)
    if variable and held and variable not in held and heading != WHOLE_ROW:
        message += f" ({variable} is derived from '{heading}')"
    return message


def build_queries(findings: pd.DataFrame, datasets: dict, site_of: dict[str, str], transfer: str,
                  keys_of) -> pd.DataFrame:
    """One query per raw cell (or whole raw row) the findings on collected data point at: subject, visit,
    sheet, row, heading, raw value, the rules' messages in the site's words, the highest severity. `site_of`
    maps a raw file to its site; `keys_of(dataset)` gives the variables that identify a record (Define-XML keys
    without --SEQ), from which a query id stable across transfers is made."""
    if findings.empty or "src_file" not in findings:
        return pd.DataFrame(columns=QUERY_COLUMNS)
    f = findings[findings["src_file"].notna() & findings["src_row"].notna()].copy()
    cell = f["src_heading"].notna()
    whole = ~cell & f["variable"].fillna("").eq("") & f["row"].notna()
    f = f[cell | whole].copy()
    if f.empty:
        return pd.DataFrame(columns=QUERY_COLUMNS)
    f["src_heading"] = f["src_heading"].fillna(WHOLE_ROW)
    f["_visit"] = [_record_value(datasets, d, r, "VISIT") for d, r in zip(f["dataset"], f["row"])]
    f["_ident"] = [_identity(datasets, d, r, v, keys_of) for d, r, v in zip(f["dataset"], f["row"],
                                                                           f["src_variables"].fillna(""))]
    rows = []
    for (file, sheet, row, heading), g in f.groupby(["src_file", "src_sheet", "src_row", "src_heading"], sort=True):
        subject = next((str(u) for u in g["usubjid"] if not pd.isna(u)), "")
        idents = [i for i in g["_ident"] if i is not None]
        held = sorted({v for sv in g["src_variables"].dropna() for v in str(sv).split("; ") if v})
        # the cell is known by the variables it holds (a heading the site renames is the same cell), a raw value
        # convert could not map by its heading and row
        ident = ([f"cell={';'.join(held) or heading}", *sorted(set.intersection(*[set(i) for i in idents]))]
                 if idents else [f"cell={heading}", f"row={int(float(row))}"])
        site = site_of.get(str(file), "")
        qid = _query_id(site, sheet, subject, ident)
        justified = g["triage"].eq("justified") if "triage" in g else pd.Series(False, index=g.index)
        live = g[~justified] if not justified.all() else g
        question = "; ".join(dict.fromkeys(
            _plain(str(m), "" if pd.isna(v) else str(v), "" if pd.isna(sv) else str(sv), str(heading), (file, sheet, row))
            for m, v, sv in zip(live["message"], live["variable"], live["src_variables"])))
        severity = max(live["severity"], key=lambda s: SEVERITY_RANK.get(s, 0))
        justified = bool(justified.all())
        rows.append({"query_id": qid, "site": site, "usubjid": subject,
                     "visit": next((v for v in g["_visit"] if v), ""), "file": file, "sheet": sheet,
                     "row": int(float(row)), "heading": heading, "raw_value": _first(g["src_raw"]),
                     "question": question, "rules": ", ".join(sorted(set(live["rule_id"]))), "severity": severity,
                     "first_transfer": transfer, "transfers_open": 1,
                     "status": "closed by triage" if justified else "open", "old_value": "", "new_value": "",
                     "response": "", "record_key": KEY_SEP.join(ident)})
    out = _disambiguate(pd.DataFrame(rows), site_of)
    return out.sort_values(["site", "usubjid", "sheet", "row", "heading"], kind="stable").reset_index(drop=True)


def _query_id(site: str, sheet: str, subject: str, ident: list[str]) -> str:
    return "Q-" + hashlib.sha1("\x1f".join([site, str(sheet), subject, *ident]).encode()).hexdigest()[:10]


def _disambiguate(out: pd.DataFrame, site_of: dict[str, str]) -> pd.DataFrame:
    """Queries whose record identity is shared (a subject's same AE twice, its key without the queried date)
    numbered in row order of the sheet, so that none is lost and each keeps its id while the order holds."""
    if out.empty:
        return out
    out = out.sort_values(["query_id", "row"], kind="stable").copy()
    n = out.groupby("query_id").cumcount()
    for i in out.index[n.to_numpy() > 0]:
        ident = str(out.at[i, "record_key"]).split(KEY_SEP) + [f"occurrence={int(n[i]) + 1}"]
        out.at[i, "record_key"] = KEY_SEP.join(ident)
        out.at[i, "query_id"] = _query_id(out.at[i, "site"], out.at[i, "sheet"], out.at[i, "usubjid"], ident)
    return out


def _first(values: pd.Series) -> str:
    v = values.dropna()
    return str(v.iloc[0]) if len(v) else ""


def _record_value(datasets: dict, name, row, var: str) -> str:
    """A variable of the finding's record (row: 1-based record number), or ''."""
    ds = datasets.get(name)
    if ds is None or pd.isna(row) or var not in ds.frame.columns or not 0 < int(row) <= len(ds.frame):
        return ""
    v = ds.frame[var].iloc[int(row) - 1]
    return "" if pd.isna(v) else str(v)


def _identity(datasets: dict, name, row, variables: str, keys_of) -> list[str] | None:
    """What identifies the finding's record across transfers: its key variables' values, but for the variables
    the queried cell holds (a corrected value must not make it another record)."""
    ds = datasets.get(name)
    if ds is None or pd.isna(row):
        return None
    mine = set(variables.split("; "))
    return [f"{k}={_record_value(datasets, name, row, k)}" for k in keys_of(str(name)) if k not in mine
            and k in ds.frame.columns]


def follow_up(queries: pd.DataFrame, previous: pd.DataFrame | None, cells: pd.DataFrame, datasets: dict,
              keys_of) -> pd.DataFrame:
    """This transfer's queries with the previous transfer's followed: one still raised keeps its id, first
    transfer and counts one more transfer open (answered, with old and new value, when its cell changed); one
    no longer raised is answered when its cell now holds another value, else closed."""
    if previous is None or previous.empty:
        return queries
    prev = previous[previous["status"].isin(["open", "answered"])].astype({"raw_value": "string"}).fillna("")
    q = queries.copy()
    both = q["query_id"].isin(set(prev["query_id"]))
    by_id = prev.set_index("query_id")
    for i in np.flatnonzero(both.to_numpy()):
        p = by_id.loc[q.at[i, "query_id"]]
        q.at[i, "first_transfer"] = p["first_transfer"]
        q.at[i, "transfers_open"] = int(float(p["transfers_open"] or 1)) + 1
        if str(p["raw_value"]) != str(q.at[i, "raw_value"]) and q.at[i, "status"] == "open":
            q.at[i, "status"], q.at[i, "old_value"], q.at[i, "new_value"] = "answered", p["raw_value"], q.at[i, "raw_value"]
            q.at[i, "question"] = q.at[i, "question"] + " (the new value still fails)"
    gone = prev[~prev["query_id"].isin(set(q["query_id"]))].copy()
    if len(gone):
        now = [_cell_now(cells, datasets, r, keys_of) for r in gone.itertuples()]
        gone["new_value"] = [n if n is not None else "" for n in now]
        gone["old_value"] = gone["raw_value"]
        changed = [n is not None and n != str(o) for n, o in zip(now, gone["raw_value"])]
        gone["status"] = np.where(changed, "answered", "closed")
        gone["question"] = [qq + ("" if c else (" (no longer raised)" if n is not None else " (record no longer sent)"))
                            for qq, c, n in zip(gone["question"], changed, now)]
        q = pd.concat([q, gone.reindex(columns=q.columns)], ignore_index=True)
    return q.sort_values(["site", "usubjid", "sheet", "row", "heading"], kind="stable").reset_index(drop=True)


def _cell_now(cells: pd.DataFrame, datasets: dict, prev, keys_of) -> str | None:
    """The value a previous query's cell holds in this transfer (None: no such cell any more): the cell of the
    same file, sheet, heading and subject whose record has the query's identity."""
    want = set(str(prev.record_key or "").split(KEY_SEP)) - {""}
    held = next((w[len("cell="):] for w in want if w.startswith("cell=")), str(prev.heading))
    want = {w for w in want if not w.startswith(("cell=", "occurrence="))}
    c = cells[(cells["file"] == prev.file) & (cells["sheet"] == prev.sheet)]
    if prev.usubjid:
        c = c[c["USUBJID"] == prev.usubjid]
    if not want or all(w.startswith("row=") for w in want):       # a raw value convert could not map
        c = c[(c["heading"] == held) & (c["row"].astype("string") == str(int(float(prev.row))))]
        return _first(c["raw"]) if len(c) else None
    c = c[c["VARIABLE"].isin(held.split(";"))]
    found: list[tuple[int, str]] = []                 # (distance from the query's old row, raw value)
    for r in c.itertuples():
        ds = datasets.get(r.DOMAIN)
        if ds is None:
            continue
        seq = f"{r.DOMAIN}SEQ"
        frame = ds.frame
        rows = frame.index[(frame["USUBJID"].astype("string") == r.USUBJID)
                           & ((frame[seq].astype("float") == float(r.SEQ)) if seq in frame and not pd.isna(r.SEQ)
                              else True)]
        for pos in rows:
            ident = set(_identity(datasets, r.DOMAIN, pos + 1, r.VARIABLE, keys_of) or [])
            if want <= ident:
                found.append((abs(int(float(r.row)) - int(float(prev.row))), "" if pd.isna(r.raw) else str(r.raw)))
    # two records of a subject may share the identity (the same AE twice): the one nearest the old row
    return min(found, key=lambda x: x[0])[1] if found else None


def write_queries(queries: pd.DataFrame, folder: Path, when) -> list[Path]:
    """OUT/queries/queries.csv (every query) and one workbook per site, <site>.xlsx, of its open and answered
    queries with an empty response column; text is written as text, never a formula."""
    from openpyxl import Workbook

    from ..io import add_sheet, save_workbook, write_csv

    folder = Path(folder)
    q = queries.reindex(columns=QUERY_COLUMNS)
    written = [folder / "queries.csv"]
    write_csv(written[0], q)
    for site, g in q.groupby("site", sort=True):
        wb = Workbook(write_only=True)
        live = g[g["status"].isin(["open", "answered"])]
        add_sheet(wb, "Queries", live, {"question": 70, "heading": 24, "raw_value": 20, "response": 40,
                                        "usubjid": 22, "sheet": 18}, "severity")
        add_sheet(wb, "Closed", g[~g["status"].isin(["open", "answered"])], {"question": 70, "heading": 24})
        path = folder / f"site{site or '-unknown'}.xlsx"
        save_workbook(wb, path, when)
        written.append(path)
    return written


def read_queries(out: Path) -> pd.DataFrame | None:
    """A run folder's queries (queries/queries.csv), or None when it has none."""
    from ..io import unescape_formulas

    path = Path(out) / "queries" / "queries.csv"
    if not path.is_file():
        return None
    return unescape_formulas(pd.read_csv(path, dtype="string", keep_default_na=False))


def query_counts(queries: pd.DataFrame) -> dict:
    """Queries per site and status, for the run history."""
    if queries is None or queries.empty:
        return {}
    return {str(site): {str(s): int(n) for s, n in g["status"].value_counts().sort_index().items()}
            for site, g in queries.groupby("site", sort=True)}
