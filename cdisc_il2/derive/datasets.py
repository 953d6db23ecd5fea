"""One short program per ADaM dataset, composed from the generic derivations in core.py."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..metadata import visit_table
from ..resources import data_dir
from .core import (derive_analysis_windows, derive_baseline, derive_change, derive_study_day, derive_treatment,
                   flag_analysis_records, flag_extreme, from_sas_date, impute_partial_date, merge_variables,
                   sas_date_from_dtc, to_sas_date)
from .sri import COMPONENTS, sri_components, yes_no


def analysis_config() -> dict:
    """mappings/analysis.yaml: windows, AE conventions, BILAG scores, SRI settings."""
    import yaml

    return yaml.safe_load((data_dir("mappings") / "analysis.yaml").read_text(encoding="utf-8"))


def _supp(sdtm: dict[str, pd.DataFrame], domain: str, qnam: str) -> pd.DataFrame:
    supp = sdtm.get(f"SUPP{domain}")
    if supp is None or supp.empty:
        return pd.DataFrame(columns=["USUBJID", "IDVARVAL", qnam])
    s = supp[supp["QNAM"] == qnam]
    return s[["USUBJID", "IDVARVAL", "QVAL"]].rename(columns={"QVAL": qnam})


def count_doses(ex: pd.DataFrame, cfg: dict) -> pd.Series:
    """Doses per EX record: one for a single administration, else one every interval from start to end."""
    start, end = sas_date_from_dtc(ex["EXSTDTC"]), sas_date_from_dtc(ex["EXENDTC"])
    interval = ex["EXDOSFRQ"].map(cfg["dose_interval_days"]).astype("float64")
    n = np.floor((end.fillna(start) - start) / interval) + 1
    return n.where(interval.notna(), 1.0).fillna(1.0)


def build_adsl(sdtm: dict[str, pd.DataFrame], cfg: dict) -> pd.DataFrame:
    """ADSL: one record per subject in DM: demography, treatment dates, populations, disposition, exposure."""
    dm, ex = sdtm["DM"], sdtm["EX"]
    keep = ["STUDYID", "USUBJID", "SUBJID", "SITEID", "AGE", "AGEU", "SEX", "RACE", "ETHNIC", "ARM", "ARMCD",
            "ACTARM", "ACTARMCD", "COUNTRY"]
    adsl = dm[[c for c in keep if c in dm]].copy()
    adsl["TRT01P"], adsl["TRT01A"] = dm["ARM"], dm["ACTARM"]
    adsl["TRTSDT"] = sas_date_from_dtc(dm["RFXSTDTC"])
    adsl["TRTEDT"] = sas_date_from_dtc(dm["RFXENDTC"])
    adsl["TRTDURD"] = adsl["TRTEDT"] - adsl["TRTSDT"] + 1
    adsl["RFICDT"] = sas_date_from_dtc(dm["RFICDTC"])
    adsl["EOSDT"] = sas_date_from_dtc(dm["RFPENDTC"])
    exposed = ex.assign(_n=count_doses(ex, cfg))
    adsl["NDOSE"] = adsl["USUBJID"].map(exposed.groupby("USUBJID")["_n"].sum()).fillna(0)
    course = _supp(sdtm, "EX", "EXCOURSE")
    adsl["NCOURSE"] = adsl["USUBJID"].map(course.groupby("USUBJID")["EXCOURSE"].nunique()).fillna(0)
    adsl["SAFFL"] = np.where(adsl["NDOSE"] > 0, "Y", "N")
    adsl["ITTFL"] = np.where(adsl["ARMCD"].notna(), "Y", "N")
    visits = pd.concat([sdtm[d][["USUBJID", "VISITNUM"]] for d in ("LB", "QS") if d in sdtm])
    last_visit = visits.groupby("USUBJID")["VISITNUM"].max()
    schedule = visit_table().set_index("VISIT")["VISITNUM"]
    completion = float(schedule[cfg["completion_visit"]])
    adsl["COMPLFL"] = np.where(adsl["USUBJID"].map(last_visit) >= completion, "Y", "N")
    return derive_disposition(adsl, sdtm.get("DS"), last_visit)


def derive_disposition(adsl: pd.DataFrame, ds: pd.DataFrame | None, last_visit: pd.Series) -> pd.DataFrame:
    """EOSSTT, DCSREAS and EOSDT from the subject's disposition event in DS (DSCAT DISPOSITION EVENT).

    COMPLETED when DSDECOD is COMPLETED, DISCONTINUED for any other term (DCSREAS = DSDECOD), ONGOING
    without one. A package without DS falls back to visit attendance (the last scheduled visit)."""
    out = adsl.copy()
    if ds is None or ds.empty:
        final = last_visit.max()
        out["EOSSTT"] = np.where(out["USUBJID"].map(last_visit) >= final, "COMPLETED", "DISCONTINUED")
        out["DCSREAS"] = pd.Series(pd.NA, index=out.index, dtype="string")
        return out
    events = ds[ds["DSCAT"].eq("DISPOSITION EVENT")]
    events = events.sort_values(["USUBJID", "DSSTDTC"], kind="stable", na_position="first").groupby("USUBJID").tail(1)
    event = events.set_index("USUBJID")
    decod = out["USUBJID"].map(event["DSDECOD"]).astype("string")
    out["EOSSTT"] = np.where(decod.isna(), "ONGOING", np.where(decod.eq("COMPLETED"), "COMPLETED", "DISCONTINUED"))
    out["DCSREAS"] = decod.where(out["EOSSTT"].eq("DISCONTINUED"))
    out["EOSDT"] = sas_date_from_dtc(out["USUBJID"].map(event["DSSTDTC"])).fillna(out["EOSDT"])
    return out


def add_baseline_summaries(adsl: pd.DataFrame, adqs: pd.DataFrame) -> pd.DataFrame:
    """Baseline SLEDAI-2K, PGA and BILAG-2004 total in ADSL, and the full analysis set flag."""
    base = adqs[adqs["ABLFL"] == "Y"].pivot_table(index="USUBJID", columns="PARAMCD", values="AVAL", aggfunc="first")
    out = adsl.copy()
    for paramcd, var in (("SLEDTOT", "BSLEDAI"), ("PGA01", "BPGA"), ("BILAGTOT", "BBILAG")):
        out[var] = out["USUBJID"].map(base[paramcd]) if paramcd in base else np.nan
    post = adqs[(adqs["PARAMCD"] == "SLEDTOT") & (adqs["ADY"] > 1) & adqs["AVAL"].notna()]["USUBJID"].unique()
    out["FASFL"] = np.where((out["SAFFL"] == "Y") & out["BSLEDAI"].notna() & out["USUBJID"].isin(post), "Y", "N")
    return out


def build_adae(sdtm: dict[str, pd.DataFrame], adsl: pd.DataFrame, cfg: dict) -> pd.DataFrame:
    """ADAE: analysis dates with documented imputation, study day, treatment emergence, relatedness, ISR flag."""
    ae_cfg = cfg["adverse_events"]
    ae = sdtm["AE"]
    adae = ae[[c for c in ae.columns if c not in ("DOMAIN",)]].copy()
    adae = merge_variables(adae, adsl, ["USUBJID"], ["TRTSDT", "TRTEDT", "TRT01P", "TRT01A", "SAFFL"])
    start_min = from_sas_date(adae["TRTSDT"])
    astdt, adae["ASTDTF"] = impute_partial_date(adae["AESTDTC"], "first", min_dates=start_min)
    aendt, adae["AENDTF"] = impute_partial_date(adae["AEENDTC"], "last")
    adae["ASTDT"], adae["AENDT"] = to_sas_date(astdt), to_sas_date(aendt)
    adae["ASTDY"] = derive_study_day(adae, "ASTDT", "TRTSDT", "ASTDY")
    adae["AENDY"] = derive_study_day(adae, "AENDT", "TRTSDT", "AENDY")
    window_end = adae["TRTEDT"] + ae_cfg["trtem_window_days"]
    dated = (adae["ASTDT"] >= adae["TRTSDT"]) & (adae["ASTDT"] <= window_end)
    undated = adae["ASTDT"].isna() & (adae["AENDT"].isna() | (adae["AENDT"] >= adae["TRTSDT"]))
    adae["TRTEMFL"] = np.where(adae["TRTSDT"].notna() & (dated | undated), "Y", pd.NA)
    adae["AREL"] = np.where(adae["AEREL"].isin(ae_cfg["related"]), "RELATED",
                            np.where(adae["AEREL"].notna(), "NOT RELATED", pd.NA))
    adae["ASEV"] = adae["AESEV"]
    adae["ISRFL"] = np.where(adae["AEDECOD"].isin(ae_cfg["injection_site_reaction_terms"]), "Y", pd.NA)
    adae["SRCDOM"], adae["SRCVAR"], adae["SRCSEQ"] = "AE", "AESEQ", adae["AESEQ"]
    return adae.reset_index(drop=True)


def build_bds(findings: pd.DataFrame, domain: str, adsl: pd.DataFrame, cfg: dict, avalc: pd.Series | None = None,
              aval: pd.Series | None = None, srcvar: pd.Series | None = None) -> pd.DataFrame:
    """A BDS dataset from LB or QS: parameter, treatment, values, dates, windows, baseline, change, analysis flag.
    SRCVAR is --STRESN, or --STRESC where AVALC is populated, unless `srcvar` gives it."""
    p = domain
    bds = pd.DataFrame({
        "STUDYID": findings["STUDYID"], "USUBJID": findings["USUBJID"], "PARAMCD": findings[f"{p}TESTCD"],
        "PARAM": findings[f"{p}TEST"], "AVAL": aval if aval is not None else pd.to_numeric(findings[f"{p}STRESN"]),
        "AVALC": avalc if avalc is not None else pd.Series(pd.NA, index=findings.index, dtype="string"),
        "ADT": sas_date_from_dtc(findings[f"{p}DTC"]), "VISITNUM": findings["VISITNUM"], "VISIT": findings["VISIT"],
        "SRCDOM": domain, "SRCVAR": f"{p}STRESN", "SRCSEQ": findings[f"{p}SEQ"]})
    if avalc is not None:
        bds.loc[avalc.notna().to_numpy(), "SRCVAR"] = f"{p}STRESC"
    if srcvar is not None:
        bds["SRCVAR"] = srcvar.to_numpy()
    if p == "LB":
        unit = findings["LBSTRESU"].fillna("")
        bds["PARAM"] = findings["LBTEST"] + np.where(unit != "", " (" + unit + ")", "")
        bds["ANRIND"] = findings["LBNRIND"]
    bds = derive_treatment(bds, adsl, by=["USUBJID"])
    bds = merge_variables(bds, adsl, ["USUBJID"], ["TRTSDT", "SAFFL"])
    bds["ADY"] = derive_study_day(bds, "ADT", "TRTSDT", "ADY")
    bds = derive_analysis_windows(bds, cfg["windows"])
    has_value = bds["AVAL"].notna() | bds["AVALC"].notna()
    bds = flag_extreme(bds, by=["USUBJID", "PARAMCD"], order=["USUBJID", "PARAMCD", "ADT", "SRCSEQ"], new="ABLFL",
                       mode="last", filter=has_value & bds["ADT"].notna() & (bds["ADT"] <= bds["TRTSDT"]))
    bds = derive_baseline(bds, by=["USUBJID", "PARAMCD"], source="AVAL", new="BASE")
    if bds["AVALC"].notna().any():
        bds = derive_baseline(bds, by=["USUBJID", "PARAMCD"], source="AVALC", new="BASEC")
    if "ANRIND" in bds:
        bds = derive_baseline(bds, by=["USUBJID", "PARAMCD"], source="ANRIND", new="BNRIND")
    post = bds["ADT"] > bds["TRTSDT"]
    bds = derive_change(bds, filter=post)
    bds = flag_analysis_records(bds, by=["USUBJID", "PARAMCD", "AVISITN"], filter=bds["AVISITN"] > 0)
    bds.loc[bds["ABLFL"] == "Y", "ANL01FL"] = "Y"
    bds.loc[bds["ABLFL"] == "Y", ["AVISIT", "AVISITN"]] = ["BASELINE", 0]
    bds = bds.drop(columns="_target").sort_values(["USUBJID", "PARAMCD", "ADT", "SRCSEQ"], kind="stable")
    bds["ASEQ"] = bds.groupby("USUBJID").cumcount() + 1
    return bds.reset_index(drop=True)


def build_adlb(sdtm: dict[str, pd.DataFrame], adsl: pd.DataFrame, cfg: dict) -> pd.DataFrame:
    """ADLB: one record per LB result with a numeric standard value."""
    lb = sdtm["LB"]
    return build_bds(lb[lb["LBSTRESN"].notna()], "LB", adsl, cfg)


def bilag_score_records(qs: pd.DataFrame, cfg: dict) -> pd.DataFrame:
    """QS records of the BILAG-2004 scores: each graded organ domain again, under its score's test code
    (QSTESTCD + suffix, e.g. BILAG01S) and name, so that ADQS holds grade and score as two parameters."""
    par = cfg["bilag_score_param"]
    b = qs[qs["QSCAT"].eq("BILAG-2004")]
    return b.assign(QSTESTCD=b["QSTESTCD"] + par["suffix"], QSTEST=b["QSTEST"] + par["label"])


def build_adqs(sdtm: dict[str, pd.DataFrame], adsl: pd.DataFrame, cfg: dict) -> pd.DataFrame:
    """ADQS: SLEDAI-2K items and total, PGA, BILAG-2004 grades (AVALC, AVAL = grade code A=1..E=5), their
    scores (AVAL = A=12 B=8 C=1 D=E=0, PARAMTYP DERIVED) and the total of the scores (BILAGTOT)."""
    qs = sdtm["QS"]
    scores = bilag_score_records(qs, cfg)
    src = pd.concat([qs, scores], ignore_index=True)
    is_score = pd.Series(np.arange(len(src)) >= len(qs), index=src.index)
    bilag = src["QSCAT"].eq("BILAG-2004")
    grade = src["QSSTRESC"].where(bilag)
    code = pd.to_numeric(grade.map(cfg["bilag_grade_codes"]), errors="coerce")
    score = pd.to_numeric(grade.map(cfg["bilag_scores"]), errors="coerce")
    aval = pd.to_numeric(src["QSSTRESN"], errors="coerce").mask(bilag, code).mask(is_score, score)
    srcvar = pd.Series(np.where(bilag, "QSSTRESC", "QSSTRESN"), index=src.index)
    adqs = build_bds(src, "QS", adsl, cfg, avalc=grade.mask(is_score).astype("string"), aval=aval, srcvar=srcvar)
    cat = qs[["USUBJID", "QSSEQ", "QSCAT"]].rename(columns={"QSSEQ": "SRCSEQ", "QSCAT": "PARCAT1"})
    adqs = merge_variables(adqs, cat, ["USUBJID", "SRCSEQ"], ["PARCAT1"])
    score_params = adqs["PARAMCD"].isin(scores["QSTESTCD"].unique())
    grade_params = adqs["PARCAT1"].eq("BILAG-2004") & ~score_params
    adqs.loc[grade_params, ["CHG", "PCHG"]] = np.nan       # a grade code is ordinal: no change from baseline
    adqs["PARAMTYP"] = pd.Series(np.where(score_params, "DERIVED", pd.NA), index=adqs.index, dtype="string")
    totals = _bilag_total(adqs[score_params])
    out = pd.concat([adqs, totals], ignore_index=True)
    out = out.sort_values(["USUBJID", "PARAMCD", "ADT", "SRCSEQ"], kind="stable")
    out["ASEQ"] = out.groupby("USUBJID").cumcount() + 1
    return out.reset_index(drop=True)


def _bilag_total(scores: pd.DataFrame) -> pd.DataFrame:
    """BILAGTOT: per subject and assessment, the sum of the nine domain scores (A=12, B=8, C=1, D/E=0)."""
    grp = scores.groupby(["USUBJID", "ADT"], dropna=False)
    tot = grp.agg(AVAL=("AVAL", "sum"), n=("AVAL", "count"), STUDYID=("STUDYID", "first"),
                  TRTP=("TRTP", "first"), TRTA=("TRTA", "first"),
                  VISITNUM=("VISITNUM", "first"), VISIT=("VISIT", "first"), TRTSDT=("TRTSDT", "first"),
                  SAFFL=("SAFFL", "first"), ADY=("ADY", "first"), AVISIT=("AVISIT", "first"),
                  AVISITN=("AVISITN", "first"), ANL01FL=("ANL01FL", "first"), ABLFL=("ABLFL", "first")).reset_index()
    tot = tot[tot["n"] == 9].drop(columns="n")
    tot["PARAMCD"], tot["PARAM"], tot["PARCAT1"] = "BILAGTOT", "BILAG-2004 Total Score (A=12 B=8 C=1 D=0 E=0)", "BILAG-2004"
    tot["PARAMTYP"] = "DERIVED"
    tot["SRCDOM"], tot["SRCVAR"] = "ADQS", "AVAL"
    base = tot.loc[tot["ABLFL"] == "Y", ["USUBJID", "AVAL"]].rename(columns={"AVAL": "BASE"})
    tot = tot.merge(base, on="USUBJID", how="left")
    return derive_change(tot, filter=tot["ADT"] > tot["TRTSDT"])


def build_adrs(adqs: pd.DataFrame, adsl: pd.DataFrame, cfg: dict) -> pd.DataFrame:
    """ADRS: SRI-4 components and overall response per subject and analysis visit (full analysis set)."""
    sri_cfg = cfg["sri"]
    anl = adqs[(adqs["ANL01FL"] == "Y") & adqs["AVISIT"].isin(sri_cfg["visits"])]
    key = ["USUBJID", "AVISIT", "AVISITN"]

    def param(code: str, cols: dict) -> pd.DataFrame:
        sel = anl[anl["PARAMCD"] == code]
        return sel[key + list(cols)].rename(columns=cols)

    sled = param("SLEDTOT", {"AVAL": "SLED_AVAL", "BASE": "SLED_BASE", "ADT": "ADT", "ASEQ": "SLED_SEQ"})
    pga = param("PGA01", {"AVAL": "PGA_AVAL", "BASE": "PGA_BASE", "ASEQ": "PGA_SEQ"})
    b = anl[anl["PARCAT1"].eq("BILAG-2004") & anl["AVALC"].notna()]
    bil = b.assign(NEW_A=(b["AVALC"] == "A") & (b["BASEC"] != "A"),
                   NEW_B=(b["AVALC"] == "B") & b["BASEC"].isin(["C", "D", "E"]))
    bil = bil.groupby(key).agg(NEW_A=("NEW_A", "sum"), NEW_B=("NEW_B", "sum"), BILAG_N=("AVALC", "count")).reset_index()
    fas = adsl.loc[adsl["FASFL"] == "Y", ["STUDYID", "USUBJID"]]
    windows = pd.DataFrame([w for w in cfg["windows"] if w["AVISIT"] in sri_cfg["visits"]])[["AVISIT", "AVISITN"]]
    grid = fas.merge(windows, how="cross")
    v = grid.merge(sled, on=key, how="left").merge(pga, on=key, how="left").merge(bil, on=key, how="left")
    v["BILAG_N"] = v["BILAG_N"].fillna(0)
    v = sri_components(v, sri_cfg)
    assessed = v[["SLED_AVAL", "PGA_AVAL"]].notna().any(axis=1) | (v["BILAG_N"] > 0)
    incomplete = v[["SRI4SLED", "SRI4PGA"] + (["SRI4BILG"] if sri_cfg["bilag_required"] else [])].isna().any(axis=1)
    params = dict(COMPONENTS)
    label = "SLE Responder Index-4" if sri_cfg["bilag_required"] else "Modified SLE Responder Index-4 (no BILAG)"
    params["SRI4"] = label
    parts = []
    for code, name in params.items():
        if code == "SRI4BILG" and not sri_cfg["bilag_required"]:
            continue
        value = v[code]
        rec = pd.DataFrame({"STUDYID": v["STUDYID"], "USUBJID": v["USUBJID"], "PARAMCD": code, "PARAM": name,
                            "AVALC": yes_no(value), "AVISIT": v["AVISIT"], "AVISITN": v["AVISITN"], "ADT": v["ADT"]})
        rec["AVAL"] = (rec["AVALC"] == "Y").astype("float64")
        missing = value.isna() if code != "SRI4" else incomplete
        rec["DTYPE"] = np.where(missing, "WC", pd.NA)
        rec["SRCDOM"] = "ADQS"
        rec["SRCVAR"] = "AVAL"
        rec["SRCSEQ"] = v["PGA_SEQ"] if code == "SRI4PGA" else (v["SLED_SEQ"] if code in ("SRI4", "SRI4SLED") else np.nan)
        rec["ASSESSED"] = assessed.to_numpy()
        parts.append(rec)
    adrs = pd.concat(parts, ignore_index=True)
    adrs = derive_treatment(adrs, adsl, by=["USUBJID"])
    adrs = merge_variables(adrs, adsl, ["USUBJID"], ["TRTSDT", "FASFL", "TRT01P", "TRT01A"])
    adrs["ADY"] = derive_study_day(adrs, "ADT", "TRTSDT", "ADY")
    adrs["ANL01FL"] = "Y"
    adrs = flag_primary_endpoint(adrs, sri_cfg)
    adrs = adrs.drop(columns="ASSESSED").sort_values(["USUBJID", "PARAMCD", "AVISITN"], kind="stable")
    adrs["ASEQ"] = adrs.groupby("USUBJID").cumcount() + 1
    return adrs.reset_index(drop=True)


def flag_primary_endpoint(adrs: pd.DataFrame, sri_cfg: dict) -> pd.DataFrame:
    """ANL02FL = Y on the SRI record of the protocol's primary endpoint visit (analysis.yaml sri.primary_visit)."""
    out = adrs.copy()
    primary = out["PARAMCD"].eq("SRI4") & out["AVISIT"].eq(sri_cfg["primary_visit"])
    out["ANL02FL"] = pd.Series(pd.NA, index=out.index, dtype="string").mask(primary, "Y")
    return out
