"""Compare two runs record by record, by each dataset's natural keys (Define-XML keys without --SEQ, which is
renumbered), and their findings and SRI-4 responses. Everything works on whole frames."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..errors import UsageError
from ..formats import read_folder
from ..frames import comparable_text
from ..io import read_back_frame
from ..keys import natural_keys
from ..traces import CELL_COLUMNS

CHANGE_COLUMNS = ["dataset", "change", "usubjid", "key", "variable", "old", "new"]
FINDING_KEY = ["scope", "dataset", "rule_id", "severity", "variable", "usubjid", "value"]
OCCURRENCE = "__occurrence__"
VALUE_COLUMNS = ["dataset", "usubjid", "key", "variable", "old", "new", "file", "sheet", "row", "column", "raw", "follows"]
NEW_SUBJECT_COLUMNS = ["usubjid", "file", "records"]      # then one column of record counts per dataset


@dataclass
class Comparison:
    """What changed between a previous run and this one, as frames."""

    changes: pd.DataFrame          # CHANGE_COLUMNS
    subjects: pd.DataFrame         # usubjid, change (added|gone)
    findings: pd.DataFrame         # FINDING_KEY + status (new|persisting|resolved), count
    sri: pd.DataFrame              # usubjid, avisit, old, new
    raw: pd.DataFrame              # dataset, change, usubjid, key, file, sheet, row, column
    values: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=VALUE_COLUMNS))
    new_subjects: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=NEW_SUBJECT_COLUMNS))

    def tables(self) -> dict[str, pd.DataFrame]:
        """The frames as the files of OUT/comparison/ are named (write_comparison writes them)."""
        return {"changes.csv": self.changes, "findings.csv": self.findings, "subjects.csv": self.subjects,
                "sri.csv": self.sri, "raw_rows.csv": self.raw, "changed_values.csv": self.values,
                "new_subjects.csv": self.new_subjects}

    def summary(self) -> dict:
        """Counts a person reads first: records added/deleted/changed, subjects, findings, SRI changes."""
        ch = self.changes
        records = ch.drop_duplicates(["dataset", "change", "key"])
        return {"records_added": int((records["change"] == "added").sum()),
                "records_deleted": int((records["change"] == "deleted").sum()),
                "records_changed": int((records["change"] == "changed").sum()),
                "values_changed": int((ch["change"] == "changed").sum()),
                "subjects_added": int((self.subjects["change"] == "added").sum()),
                "subjects_gone": int((self.subjects["change"] == "gone").sum()),
                "findings_new": int((self.findings["status"] == "new").sum()),
                "findings_resolved": int((self.findings["status"] == "resolved").sum()),
                "findings_persisting": int((self.findings["status"] == "persisting").sum()),
                "sri_changed": int(len(self.sri))}


@dataclass
class RunTables:
    """What a comparison reads of a run, each table as `pd.read_csv(path, dtype="string")` reads its file: the
    SDTM datasets (sdtm/*.csv), the findings of the SDTM and ADaM packages (validation/findings.json,
    adam-findings.json, as records), ADRS (adam/adrs.csv), trace.csv and trace_cells.csv (None when absent).
    `of_folder` reads a run folder; the pipeline makes one of the run in memory, without reading back."""

    sdtm: dict[str, pd.DataFrame]
    findings: list[list[dict]]
    adrs: pd.DataFrame | None
    trace: pd.DataFrame | None
    cells: pd.DataFrame | None

    @classmethod
    def of_folder(cls, out: Path) -> "RunTables":
        """The tables of a run folder, from its files."""
        out = Path(out)
        if not (out / "sdtm").is_dir():
            raise UsageError(f"'{out}' is not a run folder (no sdtm/ in it)")
        docs = [json.loads(p.read_text(encoding="utf-8")).get("findings", [])
                for p in (out / "validation" / n for n in ("findings.json", "adam-findings.json")) if p.is_file()]

        def table(path: Path, **kw) -> pd.DataFrame | None:
            return pd.read_csv(path, dtype="string", **kw) if path.is_file() else None
        return cls({k: v.frame for k, v in read_folder(out / "sdtm", prefer=("csv",)).items()}, docs,
                   table(out / "adam" / "adrs.csv"), table(out / "trace.csv"),
                   table(out / "trace_cells.csv", usecols=lambda c: c in CELL_COLUMNS))

    @classmethod
    def in_memory(cls, sdtm: dict[str, pd.DataFrame], findings: list[list[dict]], adrs: pd.DataFrame | None,
                  trace: pd.DataFrame, cells: pd.DataFrame) -> "RunTables":
        """The tables of the run being made, from its frames as they are written: `sdtm` as its CSVs read back
        (formats.csv_dataset), `findings` as the JSON documents' records, ADRS, trace and trace_cells as
        write_csv writes them."""
        return cls(dict(sdtm), findings, read_back_frame(adrs) if adrs is not None else None, read_back_frame(trace),
                   read_back_frame(cells[[c for c in cells.columns if c in CELL_COLUMNS]]))


def _with_key(frame: pd.DataFrame, name: str, parents: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """A text key per record (natural key, and an occurrence number where the natural key repeats)."""
    df = frame.copy()
    cols = [c for c in natural_keys(name) if c in df]
    if name.startswith("SUPP") and {"IDVAR", "IDVARVAL", "RDOMAIN"} <= set(df.columns):
        parent = parents.get(str(df["RDOMAIN"].iloc[0]) if len(df) else "")
        seq = f"{df['RDOMAIN'].iloc[0]}SEQ" if len(df) else ""
        if parent is not None and seq in parent:
            pkey = [c for c in natural_keys(str(df["RDOMAIN"].iloc[0])) if c in parent and c != "USUBJID"]
            lookup = parent[["USUBJID", seq, *pkey]].astype("string").rename(columns={seq: "IDVARVAL"})
            df = df.astype({"IDVARVAL": "string", "USUBJID": "string"}).merge(lookup, on=["USUBJID", "IDVARVAL"],
                                                                              how="left", suffixes=("", "_parent"))
            cols = cols + pkey
    key = pd.Series("", index=df.index, dtype="string")
    for i, c in enumerate(cols):
        key = key + ("|" if i else "") + df[c].astype("string").fillna("")
    df[OCCURRENCE] = key.groupby(key).cumcount() + 1
    suffix = ("#" + df[OCCURRENCE].astype("string")).where(df[OCCURRENCE] > 1, "")
    df["__key__"] = key + suffix
    return df


def _rekey_corrected(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """The earlier version with a record whose key value the site corrected (an AE start date supplied, a lab
    date fixed) given its new key, so that it reads as that value changed, not as one record deleted and
    another added: an unmatched old and an unmatched new record of the same subject pair when their keys
    differ in exactly one part and neither has another such partner."""
    if "USUBJID" not in a or "USUBJID" not in b:
        return a
    old_only = a[~a["__key__"].isin(set(b["__key__"]))]
    new_only = b[~b["__key__"].isin(set(a["__key__"]))]
    subjects = set(old_only["USUBJID"].dropna().astype(str)) & set(new_only["USUBJID"].dropna().astype(str))
    if not subjects:
        return a
    def parts(frame: pd.DataFrame) -> dict[str, list[tuple[str, tuple]]]:
        out: dict[str, list[tuple[str, tuple]]] = {}
        for k, u in zip(frame["__key__"], frame["USUBJID"].astype("string")):
            if str(u) in subjects:
                out.setdefault(str(u), []).append((str(k), tuple(str(k).split("#")[0].split("|"))))
        return out
    olds, news = parts(old_only), parts(new_only)
    def near(x: tuple, y: tuple) -> bool:
        return len(x) == len(y) and sum(i != j for i, j in zip(x, y)) == 1
    rekey: dict[str, str] = {}
    for u in sorted(subjects):
        for ok, op in olds[u]:
            hits = [(nk, np_) for nk, np_ in news[u] if near(op, np_)]
            if len(hits) == 1 and sum(near(other, hits[0][1]) for _, other in olds[u]) == 1:
                rekey[ok] = hits[0][0]
    if not rekey:
        return a
    a = a.copy()
    a["__key__"] = a["__key__"].map(lambda k: rekey.get(str(k), k)).astype(a["__key__"].dtype)
    return a


def compare_frames(name: str, a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """Records added, deleted and changed (one row per changed variable) between two keyed versions of a
    dataset (frames from `_with_key`)."""
    seq = [c for c in set(a.columns) | set(b.columns) if c.endswith("SEQ") or c == "IDVARVAL"]
    a = _rekey_corrected(a, b)
    m = a.merge(b, on="__key__", how="outer", suffixes=("__old", "__new"), indicator=True)
    usubjid = m.get("USUBJID__new", pd.Series(pd.NA, index=m.index)).fillna(
        m.get("USUBJID__old", pd.Series(pd.NA, index=m.index))) if "USUBJID__new" in m or "USUBJID__old" in m \
        else pd.Series(pd.NA, index=m.index)
    parts = []
    for change, side in (("added", "right_only"), ("deleted", "left_only")):
        sel = m["_merge"] == side
        if sel.any():
            parts.append(pd.DataFrame({"dataset": name, "change": change, "usubjid": usubjid[sel],
                                       "key": m.loc[sel, "__key__"], "variable": "", "old": "", "new": ""}))
    both = m[m["_merge"] == "both"]
    variables = [c for c in dict.fromkeys([*a.columns, *b.columns])
                 if c not in seq and not c.startswith("__") and c not in (OCCURRENCE,)]
    for var in variables:
        o = both[f"{var}__old"] if f"{var}__old" in both else (both[var] if var in a.columns else pd.Series(pd.NA, index=both.index))
        n = both[f"{var}__new"] if f"{var}__new" in both else (both[var] if var in b.columns else pd.Series(pd.NA, index=both.index))
        ot, nt = comparable_text(o), comparable_text(n)
        diff = ot.fillna("\x00") != nt.fillna("\x00")
        if diff.any():
            parts.append(pd.DataFrame({"dataset": name, "change": "changed", "usubjid": usubjid[both.index][diff],
                                       "key": both.loc[diff, "__key__"], "variable": var,
                                       "old": ot[diff].fillna(""), "new": nt[diff].fillna("")}))
    if not parts:
        return pd.DataFrame(columns=CHANGE_COLUMNS)
    return pd.concat(parts, ignore_index=True)[CHANGE_COLUMNS]


def _findings(run: RunTables) -> pd.DataFrame:
    """The SDTM and ADaM findings of a run, counted per finding key."""
    frames = []
    for records in run.findings:
        f = pd.DataFrame(records)
        if len(f):
            f["scope"] = f.get("scope", "standard")
            frames.append(f)
    if not frames:
        return pd.DataFrame(columns=[*FINDING_KEY, "count"])
    f = pd.concat(frames, ignore_index=True).reindex(columns=FINDING_KEY).astype("string").fillna("")
    return f.groupby(FINDING_KEY).size().rename("count").reset_index()


def compare_findings(old: RunTables, new: RunTables) -> pd.DataFrame:
    """Each finding (rule, dataset, variable, subject, value) as new, persisting or resolved."""
    a, b = _findings(old), _findings(new)
    m = a.merge(b, on=FINDING_KEY, how="outer", suffixes=("_old", "_new"), indicator=True)
    m["status"] = m["_merge"].map({"left_only": "resolved", "right_only": "new", "both": "persisting"}).astype("string")
    m["count"] = m["count_new"].fillna(m["count_old"]).astype(int)
    return m[[*FINDING_KEY, "status", "count"]].sort_values(["status", "dataset", "rule_id"], kind="stable").reset_index(drop=True)


def compare_sri(old: RunTables, new: RunTables) -> pd.DataFrame:
    """SRI-4 responses (ADRS PARAMCD SRI4) that changed at any visit, subjects added or gone included."""
    def load(run: RunTables) -> pd.DataFrame:
        r = run.adrs
        if r is None:
            return pd.DataFrame(columns=["USUBJID", "AVISIT", "AVALC"])
        return r.loc[r["PARAMCD"] == "SRI4", ["USUBJID", "AVISIT", "AVALC"]]
    m = load(old).merge(load(new), on=["USUBJID", "AVISIT"], how="outer", suffixes=("_old", "_new"))
    diff = m["AVALC_old"].fillna("") != m["AVALC_new"].fillna("")
    out = m[diff].rename(columns={"USUBJID": "usubjid", "AVISIT": "avisit", "AVALC_old": "old", "AVALC_new": "new"})
    return out[["usubjid", "avisit", "old", "new"]].fillna("").reset_index(drop=True)


def _raw_rows(changes: pd.DataFrame, old: RunTables, new: RunTables, old_keyed: dict, new_keyed: dict) -> pd.DataFrame:
    """Raw file, sheet, row and column of every SDTM record added, deleted or changed (trace.csv)."""
    cols = ["dataset", "change", "usubjid", "key", "file", "sheet", "row", "column"]
    parts = []
    for run, keyed_sets, which in ((new, new_keyed, ("added", "changed")), (old, old_keyed, ("deleted",))):
        trace = run.trace
        if trace is None:
            continue
        for name, keyed in keyed_sets.items():
            if name.startswith("SUPP") or "USUBJID" not in keyed or (f"{name}SEQ" not in keyed and name != "DM"):
                continue
            ids = _record_ids(name, keyed)
            sel = changes[(changes["dataset"] == name) & changes["change"].isin(which)].drop_duplicates(["key", "change"])
            if sel.empty:
                continue
            t = trace[(trace["DOMAIN"] == name) & trace["QNAM"].isna()]
            t = t.assign(SEQ=t["USUBJID"] if name == "DM" else t["SEQ"].str.replace(r"\.0$", "", regex=True))
            hit = sel.merge(ids, on="key").merge(t, on=["USUBJID", "SEQ"])
            if len(hit):
                parts.append(hit[cols])
    if not parts:
        return pd.DataFrame(columns=cols)
    return pd.concat(parts, ignore_index=True)[cols]


def _record_ids(name: str, keyed: pd.DataFrame) -> pd.DataFrame:
    """Key, USUBJID and SEQ (USUBJID for DM) of each record of a keyed dataset, as trace.csv names them."""
    seq = keyed["USUBJID"].astype("string") if name == "DM" else \
        keyed[f"{name}SEQ"].astype("string").str.replace(r"\.0$", "", regex=True)
    return pd.DataFrame({"key": keyed["__key__"], "USUBJID": keyed["USUBJID"].astype("string"), "SEQ": seq})


def _changed_values(changes: pd.DataFrame, raw: pd.DataFrame, new: RunTables, new_keyed: dict) -> pd.DataFrame:
    """Each changed value with its raw cell: the record's file, sheet and row (trace.csv) and, where the value
    was collected (not derived), the cell's column heading and raw text (trace_cells.csv)."""
    ch = changes[changes["change"] == "changed"].drop(columns="change")
    rec = raw.loc[raw["change"] == "changed", ["dataset", "key", "file", "sheet", "row"]].drop_duplicates(["dataset", "key"])
    out = ch.merge(rec, on=["dataset", "key"], how="left").assign(column=pd.NA, raw=pd.NA)
    if new.cells is not None and len(out):
        cells = new.cells
        if set(CELL_COLUMNS) <= set(cells.columns):
            cells = cells[cells["DOMAIN"].isin(set(out["dataset"])) & cells["VARIABLE"].isin(set(out["variable"]))]
            ids = []
            for name in sorted(set(out["dataset"])):
                keyed = new_keyed.get(name)
                if keyed is None or "USUBJID" not in keyed or (f"{name}SEQ" not in keyed and name != "DM"):
                    continue
                ids.append(_record_ids(name, keyed).assign(dataset=name))
            if ids:
                c = cells.assign(SEQ=cells["USUBJID"].where(cells["DOMAIN"] == "DM", cells["SEQ"].str.replace(r"\.0$", "", regex=True)))
                c = c.rename(columns={"DOMAIN": "dataset", "VARIABLE": "variable"}).drop_duplicates(
                    ["dataset", "USUBJID", "SEQ", "variable"])
                hit = (out.reset_index()[["index", "dataset", "key", "variable"]]
                       .merge(pd.concat(ids, ignore_index=True), on=["dataset", "key"])
                       .merge(c, on=["dataset", "USUBJID", "SEQ", "variable"]).set_index("index"))
                for col, src in (("file", "file"), ("sheet", "sheet"), ("row", "row"), ("column", "heading"), ("raw", "raw")):
                    out.loc[hit.index, col] = hit[src]
    out["follows"] = _follows(out)
    return out.reindex(columns=VALUE_COLUMNS).astype("string").reset_index(drop=True)


def _follows(values: pd.DataFrame) -> list[str]:
    """For a derived value that changed, the changed value of the same record it is derived from
    (mappings/derived-from.yaml): AESTDY follows AESTDTC; '' for collected values or none changed."""
    from .queries import _sources_of

    changed = values.groupby(["dataset", "key"])["variable"].agg(set).to_dict() if len(values) else {}
    out = []
    for d, k, var, col in zip(values["dataset"], values["key"], values["variable"], values["column"]):
        mine = changed.get((d, k), set())
        out.append("" if not pd.isna(col) else next((s for s in _sources_of(str(var), str(d))[1:] if s in mine), ""))
    return out


def _new_subject_counts(changes: pd.DataFrame, subjects: pd.DataFrame, raw: pd.DataFrame) -> pd.DataFrame:
    """One row per new subject: the raw file(s) the subject came from, the records added and their count per
    dataset (the records themselves are in changes.csv)."""
    new = subjects.loc[subjects["change"] == "added", "usubjid"]
    added = changes[(changes["change"] == "added") & changes["usubjid"].isin(set(new))].drop_duplicates(["dataset", "key"])
    if new.empty:
        return pd.DataFrame(columns=NEW_SUBJECT_COLUMNS)
    counts = pd.crosstab(added["usubjid"], added["dataset"]).reindex(new.tolist(), fill_value=0)
    counts = counts.reindex(columns=sorted(counts.columns)).astype(int)
    files = raw[raw["usubjid"].isin(set(new)) & (raw["change"] == "added")].groupby("usubjid")["file"].agg(
        lambda f: ", ".join(sorted(set(f.dropna()))))
    out = pd.DataFrame({"usubjid": new.tolist(), "file": files.reindex(new.tolist()).fillna("").tolist(),
                        "records": counts.sum(axis=1).tolist()})
    return pd.concat([out, counts.reset_index(drop=True)], axis=1)


def compare_runs(old: Path | RunTables, new: Path | RunTables) -> Comparison:
    """Compare the SDTM, findings and SRI-4 of two runs (run folders, or their tables)."""
    old, new = (r if isinstance(r, RunTables) else RunTables.of_folder(r) for r in (old, new))
    a, b = old.sdtm, new.sdtm
    names = sorted(set(a) | set(b))
    ka = {n: _with_key(a.get(n, pd.DataFrame(columns=["USUBJID"])), n, a) for n in names}
    kb = {n: _with_key(b.get(n, pd.DataFrame(columns=["USUBJID"])), n, b) for n in names}
    parts = [compare_frames(n, ka[n], kb[n]) for n in names]
    changes = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=CHANGE_COLUMNS)
    changes = changes.sort_values(["dataset", "change", "usubjid", "key", "variable"], kind="stable").reset_index(drop=True)
    subj_a = set(a["DM"]["USUBJID"]) if "DM" in a else set()
    subj_b = set(b["DM"]["USUBJID"]) if "DM" in b else set()
    subjects = pd.DataFrame([{"usubjid": s, "change": "added"} for s in sorted(subj_b - subj_a)] +
                            [{"usubjid": s, "change": "gone"} for s in sorted(subj_a - subj_b)],
                            columns=["usubjid", "change"])
    raw = _raw_rows(changes, old, new, ka, kb)
    return Comparison(changes, subjects, compare_findings(old, new), compare_sri(old, new), raw,
                      _changed_values(changes, raw, new, kb), _new_subject_counts(changes, subjects, raw))


def write_comparison(comp: Comparison, folder: Path) -> list[Path]:
    """OUT/comparison/: changes.csv (every record), findings.csv, subjects.csv, sri.csv, raw_rows.csv,
    changed_values.csv (each changed value with its raw cell), new_subjects.csv (record counts) and summary.json."""
    from ..io import write_csv, write_text

    folder = Path(folder)
    files = comp.tables()
    for name, frame in files.items():
        write_csv(folder / name, frame)
    write_text(folder / "summary.json", json.dumps(comp.summary(), indent=1) + "\n")
    return [folder / n for n in [*files, "summary.json"]]
