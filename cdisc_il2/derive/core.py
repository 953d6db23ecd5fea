"""Generic ADaM derivations: each takes a DataFrame and returns a new one, with the same argument names
everywhere (`by`, `order`, `filter`, `new`), in the manner of pharmaverse admiral.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..dates import full_date, impute_partial_date  # noqa: F401  (re-exported: the derivations' name)

SAS_EPOCH = pd.Timestamp("1960-01-01")


def to_sas_date(dates: pd.Series) -> pd.Series:
    """Datetimes to SAS numeric dates (days since 1960-01-01), as ADaM *DT variables are."""
    return (pd.to_datetime(dates) - SAS_EPOCH).dt.days.astype("float64")


def from_sas_date(days: pd.Series) -> pd.Series:
    """SAS numeric dates back to datetimes."""
    return SAS_EPOCH + pd.to_timedelta(days, unit="D")


def merge_variables(df: pd.DataFrame, source: pd.DataFrame, by: Sequence[str], variables: Sequence[str],
                    filter: pd.Series | None = None) -> pd.DataFrame:
    """Add `variables` from `source` (optionally filtered, one record per `by`) to every record of `df`."""
    src = source[filter] if filter is not None else source
    src = src[list(by) + [v for v in variables if v not in by]].drop_duplicates(subset=list(by), keep="last")
    out = df.drop(columns=[v for v in variables if v in df.columns and v not in by]).merge(src, on=list(by), how="left")
    out.index = df.index
    return out


def derive_treatment(df: pd.DataFrame, source: pd.DataFrame, by: Sequence[str] = ("USUBJID",),
                     new: dict[str, str] | None = None) -> pd.DataFrame:
    """Record-level treatment of a one-period trial: `new` maps each new variable to its ADSL variable
    (default TRTP = TRT01P, TRTA = TRT01A), merged by `by`. ADaMIG 1.3 (BDS): TRTP/TRTA must match a value
    of the subject-level planned/actual treatment variables."""
    new = new or {"TRTP": "TRT01P", "TRTA": "TRT01A"}
    src = source[list(by) + list(dict.fromkeys(new.values()))]
    src = pd.concat([src[list(by)], pd.DataFrame({k: src[v] for k, v in new.items()})], axis=1)
    return merge_variables(df, src, by, list(new))


def derive_study_day(df: pd.DataFrame, date: str, reference: str, new: str) -> pd.Series:
    """Analysis study day: date - reference (+1 on or after the reference), from SAS numeric dates."""
    diff = df[date] - df[reference]
    return (diff + (diff >= 0)).astype("Int64").where(df[date].notna() & df[reference].notna()).rename(new)


def derive_analysis_windows(df: pd.DataFrame, windows: list[dict], day: str = "ADY") -> pd.DataFrame:
    """AVISIT/AVISITN (and the window's target day) from the analysis day and the declared windows."""
    out = df.copy()
    out["AVISITN"] = np.nan
    out["AVISIT"] = pd.Series(pd.NA, index=out.index, dtype="string")
    out["_target"] = np.nan
    ady = pd.to_numeric(out[day], errors="coerce")
    for w in windows:
        lo = -np.inf if w["from"] is None else w["from"]
        hi = np.inf if w["to"] is None else w["to"]
        hit = (ady >= lo) & (ady <= hi) & out["AVISITN"].isna()
        out.loc[hit, "AVISITN"] = w["AVISITN"]
        out.loc[hit, "AVISIT"] = w["AVISIT"]
        out.loc[hit, "_target"] = w["target"]
    return out


def flag_extreme(df: pd.DataFrame, by: Sequence[str], order: Sequence[str], new: str, mode: str = "last",
                 filter: pd.Series | None = None) -> pd.DataFrame:
    """Set `new` = 'Y' on the first or last record (by `order`) of each `by` group among `filter` records."""
    out = df.copy()
    cand = out[filter] if filter is not None else out
    cand = cand.sort_values(list(order), kind="stable")
    pick = cand.groupby(list(by), dropna=False).tail(1) if mode == "last" else cand.groupby(list(by), dropna=False).head(1)
    out[new] = pd.Series(pd.NA, index=out.index, dtype="string")
    out.loc[pick.index, new] = "Y"
    return out


def derive_baseline(df: pd.DataFrame, by: Sequence[str], source: str = "AVAL", new: str = "BASE",
                    flag: str = "ABLFL") -> pd.DataFrame:
    """BASE (or BASEC, BNRIND ...) = `source` of the baseline record (flag='Y') of each `by` group."""
    base = df.loc[df[flag] == "Y", list(by) + [source]].rename(columns={source: new})
    return merge_variables(df, base, by, [new])


def derive_change(df: pd.DataFrame, filter: pd.Series | None = None) -> pd.DataFrame:
    """CHG = AVAL - BASE and PCHG = CHG / BASE * 100 (not for BASE = 0), on post-baseline records."""
    out = df.copy()
    post = filter if filter is not None else pd.Series(True, index=out.index)
    out["CHG"] = (out["AVAL"] - out["BASE"]).where(post)
    out["PCHG"] = (out["CHG"] / out["BASE"] * 100).where(post & (out["BASE"] != 0))
    return out


def flag_analysis_records(df: pd.DataFrame, by: Sequence[str], new: str = "ANL01FL",
                          filter: pd.Series | None = None) -> pd.DataFrame:
    """ANL01FL: per `by` group (subject, parameter, window), the record closest to the window's target
    day; on a tie the later one. Records outside any window or without a value are not flagged."""
    out = df.copy()
    ok = out["AVISITN"].notna() & (out["AVAL"].notna() | out.get("AVALC", pd.Series(pd.NA, index=out.index)).notna())
    if filter is not None:
        ok &= filter
    cand = out.loc[ok, list(by)].assign(_dist=(out["ADY"].astype("float64") - out["_target"]).abs(),   # the keys only
                                        _neg=-out["ADY"].astype("float64"))
    cand = cand.sort_values(list(by) + ["_dist", "_neg"], kind="stable")
    pick = cand.groupby(list(by), dropna=False).head(1).index
    out[new] = pd.Series(pd.NA, index=out.index, dtype="string")
    out.loc[pick, new] = "Y"
    return out


def sas_date_from_dtc(dtc: pd.Series) -> pd.Series:
    """SAS numeric date of complete ISO 8601 dates (partial or missing: NaN)."""
    return to_sas_date(full_date(dtc))
