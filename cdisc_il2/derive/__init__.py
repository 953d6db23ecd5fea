"""The derive stage: SDTM -> ADaM (ADSL, ADAE, ADLB, ADQS, ADRS), the SRI-4 summary and its plots."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..errors import InputError
from ..formats import read_folder
from ..io import write_csv
from ..config import analysis_config
from .datasets import (add_baseline_summaries, build_adae, build_adlb, build_adqs, build_adrs, build_adsl,
                       derivation_notes)
from .adcm import add_rescue_flags, build_adcm, rescue_events
from .summary import plot_sledai, plot_sri, sri_summary

REQUIRED = ("DM", "EX", "AE", "LB", "QS")


def derive_adam(sdtm: dict[str, pd.DataFrame], cfg: dict | None = None) -> dict[str, pd.DataFrame]:
    """All ADaM datasets from SDTM frames, in dependency order."""
    missing = [d for d in REQUIRED if d not in sdtm]
    if missing:
        raise InputError(f"SDTM datasets needed for ADaM are missing: {', '.join(missing)}")
    cfg = cfg or analysis_config()
    sdtm = {k: contiguous(v) for k, v in sdtm.items()}
    subjects = sdtm["DM"]["USUBJID"]
    sdtm = {k: (v if k == "DM" or "USUBJID" not in v else v[v["USUBJID"].isin(subjects)]) for k, v in sdtm.items()}
    adsl = build_adsl(sdtm, cfg)
    adqs = build_adqs(sdtm, adsl, cfg)
    adsl = add_baseline_summaries(adsl, adqs)
    adae = build_adae(sdtm, adsl, cfg)
    adlb = build_adlb(sdtm, adsl, cfg)
    adcm = build_adcm(sdtm, adsl, cfg)
    rescue = rescue_events(adcm, adsl, cfg)
    adsl = add_rescue_flags(adsl, rescue)
    adrs = build_adrs(adqs, adsl, cfg, rescue=rescue)
    out = {"ADSL": adsl, "ADAE": adae, "ADCM": adcm, "ADLB": adlb, "ADQS": adqs, "ADRS": adrs}
    return {k: v for k, v in out.items() if k != "ADCM" or "CM" in sdtm}


def contiguous(df: pd.DataFrame) -> pd.DataFrame:
    """The frame with each Arrow column in one chunk (a CSV read gives a large dataset's columns in dozens of
    chunks, and every take, filter and merge pays per chunk); same values and dtypes, the caller's frame unchanged."""
    import pyarrow as pa
    from pandas.arrays import ArrowStringArray

    new = {}
    for col in df.columns:
        arr = df[col].array
        chunks = getattr(arr, "_pa_array", None)
        if not isinstance(chunks, pa.ChunkedArray) or chunks.num_chunks <= 1:
            continue
        one = pa.chunked_array([chunks.combine_chunks()], type=chunks.type)
        new[col] = pd.Series(ArrowStringArray(one, dtype=arr.dtype) if isinstance(arr, ArrowStringArray)
                             else type(arr)(one), index=df.index)
    return df.assign(**new) if new else df


def records_outside_dm(sdtm: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """SDTM records of subjects absent from DM: ADaM cannot analyse them (every subject is in ADSL), so they
    are listed in OUT/adam/excluded.csv instead of being dropped silently."""
    subjects = sdtm["DM"]["USUBJID"]
    parts = []
    for name, df in sorted(sdtm.items()):
        if name == "DM" or "USUBJID" not in df:
            continue
        out = df[~df["USUBJID"].isin(subjects)]
        seq = f"{name}SEQ" if f"{name}SEQ" in out else ("IDVARVAL" if "IDVARVAL" in out else None)
        parts.append(pd.DataFrame({"dataset": name, "USUBJID": out["USUBJID"],
                                   "seq": out[seq] if seq else pd.NA, "reason": "subject not in DM, so not in ADSL"}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["dataset", "USUBJID", "seq", "reason"])


@dataclass
class Derived:
    """What the derive stage makes of one SDTM package: the ADaM datasets, the SDTM records ADaM cannot analyse,
    the derivation notes and the SRI-4 summary by visit (written once by write_derived)."""

    adam: dict[str, pd.DataFrame]
    excluded: pd.DataFrame
    notes: pd.DataFrame
    sri_summary: pd.DataFrame


def derive_package(sdtm: dict[str, pd.DataFrame], cfg: dict | None = None) -> Derived:
    """ADaM, the excluded records, the derivation notes and the SRI-4 summary from SDTM frames, in memory."""
    cfg = cfg or analysis_config()
    adam = derive_adam(sdtm, cfg)
    return Derived(adam, records_outside_dm(sdtm), derivation_notes(adam["ADQS"], cfg),
                   sri_summary(adam["ADRS"], cfg["sri"]["analysis_set"]))


def write_derived(derived: Derived, out: Path) -> None:
    """Write OUT/adam/<dataset>.csv, excluded.csv, derivation_notes.csv, sri_summary.csv and the two plots."""
    folder = Path(out) / "adam"
    for name, df in derived.adam.items():
        write_csv(folder / f"{name.lower()}.csv", df)
    write_csv(folder / "excluded.csv", derived.excluded)
    write_csv(folder / "derivation_notes.csv", derived.notes)
    write_csv(folder / "sri_summary.csv", derived.sri_summary)
    plot_sri(derived.sri_summary, folder / "sri_response.png")
    plot_sledai(derived.adam["ADQS"], folder / "sledai_profiles.png")


def derive_folder(sdtm_dir: Path, out: Path, prefer: tuple[str, ...] = ("xpt", "json", "csv")) -> dict[str, pd.DataFrame]:
    """Read SDTM from a folder, derive ADaM and write it under OUT/adam (the `derive` command)."""
    derived = derive_package({k: v.frame for k, v in read_folder(sdtm_dir, prefer=prefer).items()})
    write_derived(derived, out)
    return derived.adam
