"""Blocks that add variables to records other blocks made (e.g. an end-of-study sheet adding RFPENDTC to DM).

Records are matched on the block's `merge.by` variables; a row matching no record is rejected and listed;
two different values for one variable of one record are an input error naming both places."""
from __future__ import annotations

import pandas as pd

from ..errors import InputError
from ..frames import comparable_text
from .engine import (CELL_COL, RAW_COL, REJECT_COLUMNS, SRC_COLUMN, SRC_FILE, SRC_ROW, SRC_SHEET, BlockResult, Issues,
                     full_cell_refs)
from .spec import Spec

MERGE_REJECTED = "row rejected (no record to add to)"
_PROVENANCE = {SRC_FILE, SRC_SHEET, SRC_ROW, SRC_COLUMN, "__site__"}


def _key(frame: pd.DataFrame, on: list[str]) -> pd.Series:
    """One text key per record from the merge variables."""
    key = frame[on[0]].astype("string").str.strip().fillna("")
    for col in on[1:]:
        key = key + "\x1f" + frame[col].astype("string").str.strip().fillna("")
    return key


def merge_block(base: pd.DataFrame | None, res: BlockResult, block: dict, spec: Spec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Add the variables of a merge block's records to `base`; return the new base and the rows rejected."""
    on = block["merge"]["by"]
    name = block.get("name", block["sheet"])
    add = res.records
    issues = Issues(spec.name, name, res.domain)
    if base is None or base.empty:
        base = pd.DataFrame(columns=[*on, SRC_FILE, SRC_SHEET, SRC_ROW, SRC_COLUMN])
    values = [c for c in add.columns if c not in _PROVENANCE and c not in on and not c.startswith((CELL_COL, RAW_COL))]
    add_key = _key(add, on)
    base_key = _key(base, on)
    _check_clashes(add, add_key, add, add_key, values, spec, name, on, within=True)
    first = ~add_key.duplicated()
    unmatched = ~add_key.isin(set(base_key))
    issues.add(add, unmatched, "(" + ", ".join(on) + ")", add_key.str.replace("\x1f", ", "),
               f"no {res.domain} record with this {', '.join(on)} from the site's other blocks to add to", MERGE_REJECTED)
    take = add[first & ~unmatched]
    take_key = add_key[first & ~unmatched]
    _check_clashes(base, base_key, take, take_key, [v for v in values if v in base], spec, name, on, within=False)
    out = base.copy()
    pos = pd.Series(range(len(take)), index=take_key.to_numpy())
    idx = base_key.map(pos)
    hit = idx.notna()
    for var in values:
        new = pd.Series(take[var].to_numpy(), dtype=take[var].dtype)
        incoming = pd.Series(pd.NA, index=out.index, dtype="object")
        incoming[hit] = new.iloc[idx[hit].astype(int).to_numpy()].to_numpy()
        taken = hit & ((out[var].isna() & incoming.notna()) if var in out else pd.Series(True, index=out.index))
        for col in (CELL_COL + var, RAW_COL + var):      # the raw cell follows the value it gave
            if col in take:
                moved = full_cell_refs(take, take[col]) if col.startswith(CELL_COL) else take[col].astype("string")
                cell = pd.Series(pd.NA, index=out.index, dtype="string")
                cell[hit] = moved.to_numpy()[idx[hit].astype(int).to_numpy()]
                mine = out[col].astype("string") if col in out else pd.Series(pd.NA, index=out.index, dtype="string")
                out[col] = cell.where(taken | mine.isna(), mine)
        if var in out:
            out[var] = out[var].astype("object").where(out[var].notna(), incoming)
        else:
            out[var] = incoming
        if new.dtype.kind in "fiu":
            out[var] = pd.to_numeric(out[var], errors="coerce")
        else:
            out[var] = out[var].astype("string")
    rejects = issues.frame()
    return out, rejects[REJECT_COLUMNS]


def _check_clashes(base: pd.DataFrame, base_key: pd.Series, add: pd.DataFrame, add_key: pd.Series, values: list[str],
                   spec: Spec, block: str, on: list[str], within: bool) -> None:
    """Two different values for one variable of one record: an InputError naming both rows and values."""
    if within:
        pairs = add.assign(_k=add_key.to_numpy())
        for var in values:
            have = pairs[pairs[var].notna()]
            n = comparable_text(have[var]).groupby(have["_k"]).nunique()
            bad = n[n > 1]
            if len(bad):
                rows = have[have["_k"] == bad.index[0]]
                a, b = rows.iloc[0], rows[comparable_text(rows[var]) != comparable_text(rows[var]).iloc[0]].iloc[0]
                raise InputError(_clash_message(spec, block, on, a, b, var))
        return
    left = base.assign(_k=base_key.to_numpy())
    right = add.assign(_k=add_key.to_numpy())
    for var in values:
        m = left[["_k", var, SRC_FILE, SRC_SHEET, SRC_ROW, *on]].merge(
            right[["_k", var, SRC_FILE, SRC_SHEET, SRC_ROW]], on="_k", suffixes=("", "_new"))
        clash = m[var].notna() & m[f"{var}_new"].notna() & (comparable_text(m[var]) != comparable_text(m[f"{var}_new"]))
        if clash.any():
            r = m[clash].iloc[0]
            a = pd.Series({**{c: r[c] for c in on}, var: r[var], SRC_FILE: r[SRC_FILE], SRC_SHEET: r[SRC_SHEET],
                           SRC_ROW: r[SRC_ROW]})
            b = pd.Series({var: r[f"{var}_new"], SRC_FILE: r[f"{SRC_FILE}_new"], SRC_SHEET: r[f"{SRC_SHEET}_new"],
                           SRC_ROW: r[f"{SRC_ROW}_new"]})
            raise InputError(_clash_message(spec, block, on, a, b, var))


def _clash_message(spec: Spec, block: str, on: list[str], a: pd.Series, b: pd.Series, var: str) -> str:
    """One line: spec, block, both places, the record's key, the variable and both values."""
    who = ", ".join(f"{k} {a[k]}" for k in on)
    return (f"{spec.name}, block '{block}': {var} of the record with {who} has two values: '{a[var]}' "
            f"({a[SRC_FILE]}, sheet '{a[SRC_SHEET]}', row {a[SRC_ROW]}) and '{b[var]}' ({b[SRC_FILE]}, sheet "
            f"'{b[SRC_SHEET]}', row {b[SRC_ROW]}): keep one value per record")
