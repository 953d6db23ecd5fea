"""ADCM (concomitant medications, OCCDS) and the SRI's rescue-therapy rules, from SDTM CM.

Each derivation takes a frame and returns a new one; the rules and factors are data in mappings/analysis.yaml
(`concomitant_medications`, `rescue_therapy`).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from .core import derive_study_day, from_sas_date, impute_partial_date, merge_variables, to_sas_date

ADSL_VARIABLES = ["TRTSDT", "TRTEDT", "TRT01P", "TRT01A", "SAFFL"]
CM_COLUMNS = ["STUDYID", "USUBJID", "CMSEQ", "CMTRT", "CMDECOD", "CMCLAS", "CMDOSE", "CMDOSU", "CMDOSFRQ",
              "CMSTDTC", "CMENDTC"]
EVENT_COLUMNS = ["USUBJID", "RESCDT", "RESCRULE", "RESCREAS", "SRCDOM", "SRCVAR", "SRCSEQ"]


def build_adcm(sdtm: dict[str, pd.DataFrame], adsl: pd.DataFrame, cfg: dict) -> pd.DataFrame:
    """ADCM: CM with analysis dates imputed as in ADAE, study days, PREFL/ONTRTFL, PEQDOSE and source links."""
    cm_cfg = cfg["concomitant_medications"]
    cm = sdtm.get("CM")
    cm = pd.DataFrame(columns=CM_COLUMNS) if cm is None else cm
    adcm = cm[[c for c in cm.columns if c != "DOMAIN"]].copy()
    adcm = merge_variables(adcm, adsl, ["USUBJID"], ADSL_VARIABLES)
    adcm = derive_analysis_dates(adcm)
    adcm = flag_prior_and_on_treatment(adcm, window=cm_cfg["on_treatment_window_days"])
    adcm = derive_prednisone_equivalent(adcm, cm_cfg)
    adcm["SRCDOM"], adcm["SRCVAR"], adcm["SRCSEQ"] = "CM", "CMSEQ", adcm["CMSEQ"]
    return adcm.reset_index(drop=True)


def derive_analysis_dates(df: pd.DataFrame) -> pd.DataFrame:
    """ASTDT/AENDT imputed as in ADAE (flags ASTDTF/AENDTF) and ASTDY/AENDY, from CMSTDTC/CMENDTC."""
    out = df.copy()
    astdt, out["ASTDTF"] = impute_partial_date(out["CMSTDTC"], "first", min_dates=from_sas_date(out["TRTSDT"]))
    aendt, out["AENDTF"] = impute_partial_date(out["CMENDTC"], "last")
    out["ASTDT"], out["AENDT"] = to_sas_date(astdt), to_sas_date(aendt)
    out["ASTDY"] = derive_study_day(out, "ASTDT", "TRTSDT", "ASTDY")
    out["AENDY"] = derive_study_day(out, "AENDT", "TRTSDT", "AENDY")
    return out


def flag_prior_and_on_treatment(df: pd.DataFrame, window: int) -> pd.DataFrame:
    """PREFL (started before the first dose) and ONTRTFL (taken from the first dose to `window` days after the last)."""
    out = df.copy()
    start, end, first = out["ASTDT"], out["AENDT"], out["TRTSDT"]
    last = out["TRTEDT"].fillna(first) + window
    treated = first.notna()
    prior = treated & (start.isna() | (start < first))
    on = treated & (end.isna() | (end >= first)) & (start.isna() | (start <= last))
    out["PREFL"] = pd.Series(pd.NA, index=out.index, dtype="string").mask(prior, "Y")
    out["ONTRTFL"] = pd.Series(pd.NA, index=out.index, dtype="string").mask(on, "Y")
    return out


def derive_prednisone_equivalent(df: pd.DataFrame, cfg: dict) -> pd.DataFrame:
    """PEQDOSE: CMDOSE in mg x administrations per day x the prednisone-equivalent factor of CMDECOD."""
    out = df.copy()
    factor = out["CMDECOD"].astype("string").str.upper().map(cfg["prednisone_equivalent"])
    per_day = out["CMDOSFRQ"].astype("string").map(cfg["doses_per_day"])
    to_mg = out["CMDOSU"].astype("string").map(cfg["unit_to_mg"])
    dose = pd.to_numeric(out["CMDOSE"], errors="coerce")
    peq = dose.astype("float64") * to_mg.astype("float64") * per_day.astype("float64") * factor.astype("float64")
    out["PEQDOSE"] = peq.round(2).astype("float64")
    return out


def daily_dose_levels(adcm: pd.DataFrame, end_of_records: pd.Series | None = None,
                      dose: str = "PEQDOSE") -> pd.DataFrame:
    """Per subject the total daily `dose` as segments (USUBJID, day, until, level), open ends to `end_of_records`."""
    rec = adcm[adcm[dose].notna() & adcm["ASTDT"].notna()]
    open_end = rec["USUBJID"].map(end_of_records) if end_of_records is not None else pd.Series(np.nan, index=rec.index)
    end = rec["AENDT"].fillna(open_end.astype("float64")).fillna(np.inf)
    end = end.where(end >= rec["ASTDT"], rec["ASTDT"])
    changes = pd.concat([pd.DataFrame({"USUBJID": rec["USUBJID"], "day": rec["ASTDT"], "delta": rec[dose]}),
                         pd.DataFrame({"USUBJID": rec["USUBJID"], "day": end + 1, "delta": -rec[dose]})])
    changes = changes.astype({"USUBJID": "string", "day": "float64", "delta": "float64"})
    seg = changes.groupby(["USUBJID", "day"], as_index=False)["delta"].sum().sort_values(["USUBJID", "day"])
    seg["level"] = seg.groupby("USUBJID")["delta"].cumsum().round(6)
    seg["until"] = (seg.groupby("USUBJID")["day"].shift(-1) - 1).fillna(np.inf)
    return seg.drop(columns="delta").reset_index(drop=True)


def baseline_level(levels: pd.DataFrame, adsl: pd.DataFrame) -> pd.Series:
    """Per ADSL subject (indexed by USUBJID) the daily dose level on the day of the first dose, 0 without one."""
    first = adsl.set_index("USUBJID")["TRTSDT"]
    on_day = levels.assign(_first=levels["USUBJID"].map(first).astype("float64"))
    on_day = on_day[(on_day["day"] <= on_day["_first"]) & (on_day["until"] >= on_day["_first"])]
    base = first.index.to_series().map(on_day.set_index("USUBJID")["level"]).astype("float64").fillna(0.0)
    return base.where(first.notna())


def new_prohibited_medication(adcm: pd.DataFrame, adsl: pd.DataFrame, params: dict) -> pd.DataFrame:
    """Rescue rule prohibited_new: a drug of a listed class (CMCLAS in `classes`, or CMCLASCD under one of the `atc`
    codes, as WHODrug codes it) started after the first dose and not taken on that day."""
    if params.get("after", "first_dose") != "first_dose":
        raise ValueError(f"rescue_therapy.prohibited_new.after: '{params['after']}' is not supported (first_dose)")
    cm = merge_variables(adcm, adsl, ["USUBJID"], ["TRTSDT"])
    drug = cm["CMDECOD"].astype("string").fillna(cm["CMTRT"].astype("string").str.upper())
    key = cm["USUBJID"].astype("string") + "\x1f" + drug
    listed = cm["CMCLAS"].isin(params.get("classes") or [])
    if params.get("atc") and "CMCLASCD" in cm:
        code = cm["CMCLASCD"].astype("string").str.strip().str.upper()
        listed = listed | code.str.startswith(tuple(str(a).upper() for a in params["atc"])).fillna(False)
    first = cm["TRTSDT"]
    at_first = listed & (cm["ASTDT"] <= first) & (cm["AENDT"].isna() | (cm["AENDT"] >= first))
    new = listed & first.notna() & (cm["ASTDT"] > first) & ~key.isin(key[at_first])
    hit = cm[new]
    kind = hit["CMCLAS"].astype("string").str.lower().fillna("medication")
    reason = ("New " + kind + " after the first dose: " + drug[new]
              + " from " + hit["CMSTDTC"].astype("string"))
    return pd.DataFrame({"USUBJID": hit["USUBJID"], "RESCDT": hit["ASTDT"], "RESCRULE": "prohibited_new",
                         "RESCREAS": reason, "SRCDOM": "CM", "SRCVAR": "CMSTDTC", "SRCSEQ": hit["CMSEQ"]})


def glucocorticoid_increase(adcm: pd.DataFrame, adsl: pd.DataFrame, params: dict) -> pd.DataFrame:
    """Rescue rule glucocorticoid_increase: the total PEQDOSE above baseline + N mg/day for more than M days."""
    limit, days, when = params["above_baseline_mg"], params["for_more_than_days"], params.get("date", "start")
    if when not in ("start", "met"):
        raise ValueError(f"rescue_therapy.glucocorticoid_increase.date: '{when}' is not start or met")
    eos = adsl.set_index("USUBJID")["EOSDT"] if "EOSDT" in adsl else None
    seg = daily_dose_levels(adcm, eos)
    seg["BASE"] = seg["USUBJID"].map(baseline_level(seg, adsl)).astype("float64")
    seg["_first"] = seg["USUBJID"].map(adsl.set_index("USUBJID")["TRTSDT"]).astype("float64")
    above = pd.Series((((seg["level"] - seg["BASE"]).round(6) > limit) & (seg["day"] > seg["_first"]))
                      .to_numpy(dtype=bool, na_value=False), index=seg.index)
    starts = above & ~above.groupby(seg["USUBJID"]).shift(1, fill_value=False).astype(bool)
    seg["_run"] = starts.astype("int64").cumsum()
    runs = seg[above].groupby("_run").agg(USUBJID=("USUBJID", "first"), start=("day", "min"), end=("until", "max"),
                                          peak=("level", "max"), BASE=("BASE", "first"))
    runs["length"] = runs["end"] - runs["start"] + 1
    runs = runs[runs["length"] > days].sort_values(["USUBJID", "start"]).groupby("USUBJID").head(1)
    rec = adcm[adcm["PEQDOSE"].notna()].groupby(["USUBJID", "ASTDT"], as_index=False)["CMSEQ"].min()
    runs = runs.merge(rec.rename(columns={"ASTDT": "start"}), on=["USUBJID", "start"], how="left")
    length = _number(runs["length"]).where(np.isfinite(runs["length"]), "an open-ended number of")
    reason = (f"Glucocorticoid above baseline + {limit:g} mg/day prednisone equivalent for more than {days} days: "
              + _number(runs["peak"]) + " mg/day from " + from_sas_date(runs["start"]).dt.strftime("%Y-%m-%d")
              + " for " + length + " days (baseline " + _number(runs["BASE"]) + " mg/day)")
    rescdt = runs["start"] + (days if when == "met" else 0)
    return pd.DataFrame({"USUBJID": runs["USUBJID"], "RESCDT": rescdt, "RESCRULE": "glucocorticoid_increase",
                         "RESCREAS": reason, "SRCDOM": "CM", "SRCVAR": "CMDOSE", "SRCSEQ": runs["CMSEQ"]})


RULES: dict[str, Callable[[pd.DataFrame, pd.DataFrame, dict], pd.DataFrame]] = {
    "prohibited_new": new_prohibited_medication,
    "glucocorticoid_increase": glucocorticoid_increase,
}


def rescue_events(adcm: pd.DataFrame, adsl: pd.DataFrame, cfg: dict) -> pd.DataFrame:
    """One record per subject meeting a rescue rule: the earliest RESCDT, RESCRULE, RESCREAS and the CM record."""
    rules = cfg.get("rescue_therapy") or {}
    unknown = sorted(set(rules) - set(RULES))
    if unknown:
        raise ValueError(f"rescue_therapy: unknown rule(s) {', '.join(unknown)} (known: {', '.join(RULES)})")
    parts = [RULES[name](adcm, adsl, params).assign(_order=i) for i, (name, params) in enumerate(rules.items())]
    events = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=[*EVENT_COLUMNS, "_order"])
    events = events.sort_values(["USUBJID", "RESCDT", "_order", "SRCSEQ"], kind="stable").groupby("USUBJID").head(1)
    events = events[EVENT_COLUMNS].reset_index(drop=True)
    events["RESCDT"] = events["RESCDT"].astype("float64")
    events["SRCSEQ"] = pd.to_numeric(events["SRCSEQ"], errors="coerce").astype("Int64")
    return events


def add_rescue_flags(adsl: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """ADSL RESCFL (Y/N) and RESCDT (SAS date) from the rescue events."""
    out = adsl.copy()
    out["RESCDT"] = out["USUBJID"].map(events.set_index("USUBJID")["RESCDT"]).astype("float64")
    out["RESCFL"] = np.where(out["RESCDT"].notna(), "Y", "N")
    return out


def _number(values: pd.Series) -> pd.Series:
    """Numbers as text without a trailing .0 (12.5, 30)."""
    return values.astype("float64").round(4).astype("string").str.replace(r"\.0$", "", regex=True)
