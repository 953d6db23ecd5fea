"""Compare our findings with a Pinnacle 21 Community report (Excel) on the same package, rule by rule.

Data managers run Pinnacle 21 today; this says, per dataset and rule, where the two agree and where they do not,
with an example record from each side.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..errors import InputError
from . import ValidationResult

COMPARISON_COLUMNS = ["rule", "dataset", "p21_count", "our_count", "status", "p21_example", "our_example"]


def read_p21_report(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The Issue Summary (rule, dataset, found) and Details (dataset, record, variables, values, rule) of a
    Pinnacle 21 Community report; formulas are never evaluated (openpyxl reads stored values)."""
    summary_rows, detail_rows = _sheets(path, "Issue Summary", "Details")
    header = next(i for i, r in enumerate(summary_rows) if r and r[0] == "Source")
    out, source = [], None
    for r in summary_rows[header + 1:]:
        if r[0]:
            source = str(r[0])
        elif r[1] and source:
            out.append({"rule": str(r[1]), "dataset": source, "message": r[2], "found": int(r[4] or 0)})
    summary = pd.DataFrame(out, columns=["rule", "dataset", "message", "found"])
    cols = [str(c) for c in detail_rows[0]]
    details = pd.DataFrame(detail_rows[1:], columns=cols)[["Domain", "Record", "Count", "Variables", "Values",
                                                           "Pinnacle 21 ID"]]
    details.columns = ["dataset", "record", "count", "variables", "values", "rule"]
    return summary.groupby(["rule", "dataset"], as_index=False)["found"].sum(), details


def _sheets(path: Path, *names: str) -> list[list[tuple]]:
    """The rows of the named sheets of a Pinnacle 21 report, stored values only."""
    from openpyxl import load_workbook

    try:
        wb = load_workbook(Path(path), read_only=True, data_only=True)
        return [list(wb[name].iter_rows(values_only=True)) for name in names]
    except (OSError, KeyError, ValueError) as exc:
        raise InputError(f"{Path(path).name}: not a Pinnacle 21 report with sheets {', '.join(names)} ({exc})") from None


def read_p21_rules(path: Path) -> set[str]:
    """The Pinnacle 21 ids of every rule the report's configuration ran (its Rules sheet)."""
    (rows,) = _sheets(path, "Rules")
    return {str(r[0]) for r in rows[1:] if r and r[0]}


AGREEMENT_FIGURES = ["reference_pairs", "pairs_found", "reference_records", "records_in_common",
                     "our_findings", "on_reference_pairs", "rule_reference_lacks", "disagreement"]


def agreement(result: ValidationResult, report: Path, datasets: set[str] | None = None) -> dict[str, int]:
    """How far our findings agree with an independent Pinnacle 21 report on the same package: the report's
    (dataset, rule) pairs we also find, its listed records we flag too, and our findings outside its pairs, split
    into those of a rule the report did not run ("rule the reference lacks") and those it ran and did not find
    there ("disagreement"). Only datasets in `datasets` (those the package holds) are counted."""
    summary, details = read_p21_report(report)
    ran = read_p21_rules(report)
    ours = result.findings
    if datasets is not None:
        summary = summary[summary["dataset"].isin(datasets)]
        details = details[details["dataset"].isin(datasets)]
        ours = ours[ours["dataset"].isin(datasets)]
    pairs = set(zip(summary.loc[summary["found"] > 0, "rule"], summary.loc[summary["found"] > 0, "dataset"]))
    our_pairs = set(zip(ours["p21_id"], ours["dataset"]))
    recs = details[details["record"].notna()]
    ref_records = set(zip(recs["rule"], recs["dataset"], recs["record"].astype(int)))
    with_row = ours[ours["row"].notna()]
    our_records = set(zip(with_row["p21_id"], with_row["dataset"], with_row["row"].astype(int)))
    on_pair = pd.Series([k in pairs for k in zip(ours["p21_id"], ours["dataset"])], index=ours.index, dtype=bool)
    lacks = ~on_pair & ~ours["p21_id"].isin(ran)
    return {"reference_pairs": len(pairs), "pairs_found": len(pairs & our_pairs),
            "reference_records": len(ref_records), "records_in_common": len(ref_records & our_records),
            "our_findings": len(ours), "on_reference_pairs": int(on_pair.sum()),
            "rule_reference_lacks": int(lacks.sum()), "disagreement": int((~on_pair & ~lacks).sum())}


def compare_with_p21(result: ValidationResult, report: Path, datasets: set[str] | None = None) -> pd.DataFrame:
    """Per rule and dataset: P21's count, ours, and whether they agree (same count, and every record P21's
    Details list is one we flag), with one example record from each side. Only datasets in `datasets`."""
    summary, details = read_p21_report(report)
    ours = result.findings[result.findings["p21_id"] != ""]
    if datasets is not None:
        summary = summary[summary["dataset"].isin(datasets)]
        details = details[details["dataset"].isin(datasets)]
        ours = ours[ours["dataset"].isin(datasets)]
    counts = ours.groupby(["p21_id", "dataset"]).size().rename("our_count").reset_index() \
        .rename(columns={"p21_id": "rule"})
    table = summary.rename(columns={"found": "p21_count"}).merge(counts, on=["rule", "dataset"], how="outer")
    table[["p21_count", "our_count"]] = table[["p21_count", "our_count"]].fillna(0).astype(int)
    recs = details[details["record"].notna()].assign(record=lambda d: d["record"].astype(int))
    p21_recs = recs.groupby(["rule", "dataset"])["record"].agg(set)
    our_recs = ours[ours["row"].notna()].groupby(["p21_id", "dataset"])["row"].agg(lambda s: set(s.astype(int)))
    first_p21 = details.groupby(["rule", "dataset"]).first()
    first_ours = ours.groupby(["p21_id", "dataset"]).first()
    status, p21_ex, our_ex = [], [], []
    for r in table.itertuples(index=False):
        key = (r.rule, r.dataset)
        missing = p21_recs.get(key, set()) - our_recs.get(key, set())
        status.append("same" if r.p21_count == r.our_count and not missing else "differs")
        if key in first_p21.index:
            d = first_p21.loc[key]
            p21_ex.append(f"record {'' if pd.isna(d['record']) else int(d['record'])}: {d['variables']} = {d['values']}")
        else:
            p21_ex.append("")
        if key in first_ours.index:
            o = first_ours.loc[key]
            our_ex.append(f"record {'' if pd.isna(o['row']) else int(o['row'])}: {o['variable']} = {o['value']}")
        else:
            our_ex.append("")
    table["status"], table["p21_example"], table["our_example"] = status, p21_ex, our_ex
    return table[COMPARISON_COLUMNS].sort_values(["rule", "dataset"]).reset_index(drop=True)
