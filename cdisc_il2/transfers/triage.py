"""Findings triage: findings a data manager has explained, kept in a YAML file with the study's specs
(mappings/justifications.yaml). Each run matches its findings to the justifications by rule, dataset,
subject, variable and value: a match is 'justified' (not counted against --fail-on), a finding whose value
changed since it was justified is flagged again, and a justification that matches nothing is stale."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from ..errors import SpecError
from ..resources import YamlTooDeep, load_yaml

FIELDS = ["rule", "dataset", "usubjid", "variable", "value"]
REQUIRED = ["rule", "dataset", "justification", "who", "when"]


def load_justifications(path: Path) -> pd.DataFrame:
    """The justifications file as a frame (empty when the file does not exist); malformed entries are a
    SpecError naming the entry."""
    path = Path(path)
    cols = [*FIELDS, "justification", "who", "when"]
    if not path.is_file():
        return pd.DataFrame(columns=cols)
    try:
        doc = load_yaml(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise SpecError(path.name, "", f"not valid YAML: {exc}") from None
    except YamlTooDeep as exc:
        raise SpecError(path.name, "", f"refused: {exc}") from None
    entries = doc.get("justifications", []) if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise SpecError(path.name, "justifications", "must be a list of entries")
    for i, e in enumerate(entries):
        if not isinstance(e, dict):
            raise SpecError(path.name, f"justifications[{i}]", "must be a mapping")
        missing = [k for k in REQUIRED if not e.get(k)]
        if missing:
            raise SpecError(path.name, f"justifications[{i}]", f"missing {', '.join(missing)} "
                            f"(each entry needs {', '.join(REQUIRED)}; usubjid, variable and value narrow it)")
        unknown = set(e) - set(cols)
        if unknown:
            raise SpecError(path.name, f"justifications[{i}]", f"unknown key(s) {', '.join(sorted(unknown))}")
    frame = pd.DataFrame(entries, columns=cols).astype("string")
    return frame


def apply_triage(findings: pd.DataFrame, justifications: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Findings with `triage` (justified | value changed | '') and `justification`; and the stale
    justifications (matching no finding). A justification field left empty matches any value."""
    f = findings.copy()
    f["triage"] = pd.Series("", index=f.index, dtype="string")
    f["justification"] = pd.Series("", index=f.index, dtype="string")
    if justifications.empty or f.empty:
        stale = justifications.copy()
        return f, stale.assign(status="stale: matches no finding") if len(stale) else stale.assign(status=pd.Series(dtype="string"))
    ff = pd.DataFrame({"rule": f["rule_id"], "dataset": f["dataset"], "usubjid": f.get("usubjid"),
                       "variable": f.get("variable"), "value": f.get("value")}).astype("string").fillna("")
    ff["_row"] = range(len(f))
    j = justifications.reset_index(drop=True).fillna("")
    j["_j"] = range(len(j))
    pairs = ff.merge(j, on=["rule", "dataset"], suffixes=("", "_j"))
    same = pd.Series(True, index=pairs.index)
    for c in ("usubjid", "variable"):
        same &= (pairs[f"{c}_j"] == "") | (pairs[f"{c}_j"] == pairs[c])
    value_ok = (pairs["value_j"] == "") | (pairs["value_j"] == pairs["value"])
    full = pairs[same & value_ok].drop_duplicates("_row")
    changed = pairs[same & ~value_ok & ~pairs["_row"].isin(full["_row"])].drop_duplicates("_row")
    f.iloc[full["_row"].to_numpy(), f.columns.get_loc("triage")] = "justified"
    f.iloc[full["_row"].to_numpy(), f.columns.get_loc("justification")] = full["justification"].to_numpy()
    f.iloc[changed["_row"].to_numpy(), f.columns.get_loc("triage")] = "value changed since justified"
    f.iloc[changed["_row"].to_numpy(), f.columns.get_loc("justification")] = (
        "was justified for value '" + changed["value_j"] + "': " + changed["justification"]).to_numpy()
    used = set(full["_j"]) | set(changed["_j"])
    stale = j[~j["_j"].isin(used)].drop(columns="_j")
    stale = stale.assign(status="stale: matches no finding")
    return f, stale.reset_index(drop=True)
