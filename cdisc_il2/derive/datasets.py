"""One short program per ADaM dataset, composed from the generic derivations in core.py."""
from __future__ import annotations


import numpy as np
import pandas as pd

from ..config import analysis_config
from ..dates import treatment_emergent
from ..frames import number_text
from ..metadata import qs_tests, visit_table
from .core import (derive_analysis_windows, derive_baseline, derive_change, derive_study_day, derive_treatment,
                   flag_analysis_records, flag_extreme, from_sas_date, impute_partial_date, merge_variables,
                   sas_date_from_dtc, to_sas_date)
from .sri import COMPONENTS, sri_components, yes_no


COLLECTED_SUFFIX = "C"      # SLEDTOTC: the SLEDAI-2K total as the site collected it


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
    completed = decod.eq("COMPLETED").fillna(False).to_numpy(dtype=bool)
    out["EOSSTT"] = np.where(decod.isna().to_numpy(), "ONGOING", np.where(completed, "COMPLETED", "DISCONTINUED"))
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
    out["MITTFL"] = np.where(out["SAFFL"] == "Y", "Y", "N")        # every treated subject: the SRI's analysis set
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
    emergent = treatment_emergent(adae["AESTDTC"], adae["AEENDTC"], start_min, from_sas_date(adae["TRTEDT"]),
                                  ae_cfg["trtem_window_days"])
    adae["TRTEMFL"] = np.where(emergent, "Y", pd.NA)
    adae["AREL"] = np.where(adae["AEREL"].isin(ae_cfg["related"]), "RELATED",
                            np.where(adae["AEREL"].notna(), "NOT RELATED", pd.NA))
    adae["ASEV"] = adae["AESEV"]
    adae["ISRFL"] = np.where(matches_terms(adae["AEDECOD"], ae_cfg["injection_site_reaction_terms"]), "Y", pd.NA)
    adae["SRCDOM"], adae["SRCVAR"], adae["SRCSEQ"] = "AE", "AESEQ", adae["AESEQ"]
    return adae.reset_index(drop=True)


def matches_terms(values: pd.Series, patterns: list[str]) -> pd.Series:
    """True where a value matches one of the declared terms (case ignored; '*' stands for any text)."""
    import re

    regex = "|".join("(?:" + re.escape(p).replace(r"\*", ".*") + ")" for p in patterns)
    return values.astype("string").str.fullmatch(regex, case=False).fillna(False).astype(bool)


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
    bds = label_pre_baseline(bds, cfg)
    bds = bds.drop(columns="_target").sort_values(["USUBJID", "PARAMCD", "ADT", "SRCSEQ"], kind="stable")
    bds["ASEQ"] = bds.groupby("USUBJID").cumcount() + 1
    return bds.reset_index(drop=True)


def label_pre_baseline(bds: pd.DataFrame, cfg: dict) -> pd.DataFrame:
    """Only the baseline record carries AVISIT BASELINE: the other records of the baseline window (screening)
    get the pre-baseline analysis visit of analysis.yaml."""
    out = bds.copy()
    base_window = next(w for w in cfg["windows"] if w["from"] is None)
    pre = out["AVISITN"].eq(base_window["AVISITN"]) & out["ABLFL"].ne("Y").fillna(True)
    out.loc[pre, "AVISIT"] = cfg["pre_baseline"]["AVISIT"]
    out.loc[pre, "AVISITN"] = cfg["pre_baseline"]["AVISITN"]
    out.loc[pre, "ANL01FL"] = pd.NA
    out.loc[out["ABLFL"] == "Y", ["AVISIT", "AVISITN"]] = [base_window["AVISIT"], base_window["AVISITN"]]
    return out


def build_adlb(sdtm: dict[str, pd.DataFrame], adsl: pd.DataFrame, cfg: dict) -> pd.DataFrame:
    """ADLB: one record per LB result with a numeric standard value."""
    lb = sdtm["LB"]
    return build_bds(lb[lb["LBSTRESN"].notna()], "LB", adsl, cfg)


def sledai_total_records(qs: pd.DataFrame, cfg: dict) -> pd.DataFrame:
    """QS as ADQS reads it: the SLEDAI-2K total derived from the 24 descriptor scores at every assessment
    (QSTESTCD SLEDTOT, no QSSEQ: derived in ADaM) and the site's collected total kept as SLEDTOTC.

    An assessment with a descriptor missing gets a total only with `sledai_missing_descriptor: absent` (the
    missing descriptor scores 0); by default it has none (not assessable)."""
    tests = qs_tests()
    cat = tests.loc[tests["kind"].eq("total"), "QSCAT"].iloc[0]
    total = tests.loc[tests["kind"].eq("total")].iloc[0]
    items = set(tests.loc[tests["kind"].eq("weighted") & tests["QSCAT"].eq(cat), "QSTESTCD"])
    sled = qs["QSCAT"].eq(cat)
    is_total = sled & qs["QSTESTCD"].eq(total["QSTESTCD"])
    sdtm_derived = is_total & qs.get("QSDRVFL", pd.Series(pd.NA, index=qs.index)).eq("Y").fillna(False)
    out = qs[~sdtm_derived].copy()
    collected = is_total[~sdtm_derived]
    out.loc[collected, "QSTESTCD"] = total["QSTESTCD"] + COLLECTED_SUFFIX
    out.loc[collected, "QSTEST"] = "SLEDAI-2K Total Score (as collected)"
    item = qs[sled & qs["QSTESTCD"].isin(items)]
    key = ["USUBJID", "QSDTC", "VISITNUM"]
    score = pd.to_numeric(item["QSSTRESN"], errors="coerce")
    grp = item.assign(_v=score, _n=score.notna()).groupby([item[k].astype("string").fillna("") for k in key])
    agg = grp.agg(QSSTRESN=("_v", "sum"), n=("_n", "sum"), first=("QSSEQ", "idxmin"))
    complete = agg["n"].eq(len(items)) if cfg["sri"]["sledai_missing_descriptor"] == "not_assessable" else agg["n"].gt(0)
    agg = agg[complete]
    derived = qs.loc[agg["first"].to_numpy()].copy()
    derived["QSTESTCD"], derived["QSTEST"] = total["QSTESTCD"], total["QSTEST"]
    derived["QSSTRESN"] = agg["QSSTRESN"].to_numpy()
    derived["QSSTRESC"] = number_text(derived["QSSTRESN"])
    derived["QSORRES"] = pd.NA
    derived["QSSEQ"] = np.nan
    return pd.concat([out, derived], ignore_index=True)


def bilag_score_records(qs: pd.DataFrame, cfg: dict) -> pd.DataFrame:
    """QS records of the BILAG-2004 scores: each graded organ domain again, under its score's test code
    (QSTESTCD + suffix, e.g. BILAG01S) and name, so that ADQS holds grade and score as two parameters."""
    par = cfg["bilag_score_param"]
    b = qs[qs["QSCAT"].eq("BILAG-2004")]
    return b.assign(QSTESTCD=b["QSTESTCD"] + par["suffix"], QSTEST=b["QSTEST"] + par["label"])


def build_adqs(sdtm: dict[str, pd.DataFrame], adsl: pd.DataFrame, cfg: dict) -> pd.DataFrame:
    """ADQS: SLEDAI-2K items and total, PGA, BILAG-2004 grades (AVALC, AVAL = grade code A=1..E=5), their
    scores (AVAL = A=12 B=8 C=1 D=E=0, PARAMTYP DERIVED) and the total of the scores (BILAGTOT)."""
    qs = sledai_total_records(sdtm["QS"], cfg)
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
    derived_total = adqs["SRCSEQ"].isna()                   # SLEDAI-2K totals summed from the descriptors
    adqs.loc[derived_total, "PARCAT1"] = "SLEDAI-2K"
    adqs.loc[derived_total, ["SRCDOM", "SRCVAR"]] = pd.NA
    adqs["PARAMTYP"] = pd.Series(np.where(score_params | derived_total, "DERIVED", pd.NA), index=adqs.index,
                                 dtype="string")
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


def sri_visit_values(adqs: pd.DataFrame, cfg: dict) -> pd.DataFrame:
    """Per subject and SRI visit, the values the SRI is decided on, each from the ADQS analysis record
    (ANL01FL) of the window: SLEDAI-2K and PGA (visit, baseline, ASEQ, date), new BILAG A/B counts, the
    domains graded at the visit and at baseline, and the BILAG total's ASEQ."""
    sri_cfg = cfg["sri"]
    anl = adqs[(adqs["ANL01FL"] == "Y") & adqs["AVISIT"].isin(sri_cfg["visits"])]
    key = ["USUBJID", "AVISIT", "AVISITN"]

    def param(code: str, prefix: str) -> pd.DataFrame:
        sel = anl[anl["PARAMCD"] == code]
        return sel[key + ["AVAL", "BASE", "ASEQ", "ADT"]].rename(
            columns={"AVAL": f"{prefix}_AVAL", "BASE": f"{prefix}_BASE", "ASEQ": f"{prefix}_SEQ", "ADT": f"{prefix}_ADT"})

    sled = param("SLEDTOT", "SLED")
    if sri_cfg["sledai_total"] == "collected":          # the site's own total where it has one
        collected = param("SLEDTOT" + COLLECTED_SUFFIX, "SLED")
        sled = pd.concat([collected, sled]).drop_duplicates(key, keep="first")
    pga = param("PGA01", "PGA")
    b = anl[anl["PARCAT1"].eq("BILAG-2004") & anl["AVALC"].notna()]
    bil = b.assign(NEW_A=(b["AVALC"] == "A") & (b["BASEC"] != "A"),
                   NEW_B=(b["AVALC"] == "B") & b["BASEC"].isin(["C", "D", "E"]), BASE_N=b["BASEC"].notna())
    bil = bil.groupby(key).agg(NEW_A=("NEW_A", "sum"), NEW_B=("NEW_B", "sum"), BILAG_N=("AVALC", "count"),
                               BILAG_BASE_N=("BASE_N", "sum"), BILAG_ADT=("ADT", "max")).reset_index()
    tot = anl[anl["PARAMCD"] == "BILAGTOT"][key + ["ASEQ"]].rename(columns={"ASEQ": "BILAG_SEQ"})
    return sled.merge(pga, on=key, how="outer").merge(bil, on=key, how="outer").merge(tot, on=key, how="left")


def not_assessable_reasons(v: pd.DataFrame, cfg: dict) -> pd.DataFrame:
    """Why each component could not be assessed (text), and whether BILAG counts as assessed under the
    configured rule for missing organ domains."""
    out = v.copy()
    sri_cfg = cfg["sri"]
    tests = qs_tests()
    n_domains = int((tests["QSCAT"].eq("BILAG-2004") & tests["kind"].eq("grade")).sum())
    all_nine = (out["BILAG_N"] >= n_domains) & (out["BILAG_BASE_N"] >= n_domains)
    out["BILAG_OK"] = all_nine if sri_cfg["bilag_missing_domain"] == "not_assessable" else out["BILAG_N"] > 0
    none = pd.Series(pd.NA, index=out.index, dtype="string")
    sled = none.mask(out["SLED_AVAL"].isna(), "no SLEDAI-2K total at the visit")
    sled = sled.mask(out["SLED_AVAL"].notna() & out["SLED_BASE"].isna(), "no baseline SLEDAI-2K total")
    pga = none.mask(out["PGA_AVAL"].isna(), "no PGA at the visit")
    pga = pga.mask(out["PGA_AVAL"].notna() & out["PGA_BASE"].isna(), "no baseline PGA")
    graded = out["BILAG_N"].astype("Int64").astype("string")
    based = out["BILAG_BASE_N"].astype("Int64").astype("string")
    bilg = none.mask(~out["BILAG_OK"], "BILAG-2004 graded in " + graded + " of " + str(n_domains) + " domains at the "
                     "visit, " + based + " of them with a baseline grade")
    bilg = bilg.mask(out["BILAG_N"].eq(0), "no BILAG-2004 at the visit")
    out["NRI_SLED"], out["NRI_PGA"] = sled, pga
    out["NRI_BILG"] = bilg if sri_cfg["bilag_required"] else none
    nothing = out["SLED_AVAL"].isna() & out["PGA_AVAL"].isna() & out["BILAG_N"].eq(0)
    parts = out[["NRI_SLED", "NRI_PGA", "NRI_BILG"]]
    reasons = parts.fillna("").agg("; ".join, axis=1).str.replace(r"^(; )+|(; )+$", "", regex=True)
    reasons = reasons.str.replace(r"(; ){2,}", "; ", regex=True).mask(nothing, "no assessment in the visit window")
    out["NRIREAS"] = reasons.str.rstrip("; ").replace("", pd.NA)
    return out


def apply_rescue(v: pd.DataFrame, rescue: pd.DataFrame | None, adsl: pd.DataFrame, cfg: dict) -> pd.DataFrame:
    """Subject-visits on or after the date a rescue-therapy rule is met are non-responses (RESCREAS)."""
    out = v.copy()
    out["RESCREAS"] = pd.Series(pd.NA, index=out.index, dtype="string")
    if rescue is None or rescue.empty:
        return out
    target = {w["AVISIT"]: w["target"] for w in cfg["windows"]}
    trtsdt = out["USUBJID"].map(adsl.set_index("USUBJID")["TRTSDT"])
    visit_date = out["SLED_ADT"].fillna(out["PGA_ADT"]).fillna(trtsdt + out["AVISIT"].map(target) - 1)
    first = rescue.sort_values("RESCDT").drop_duplicates("USUBJID").set_index("USUBJID")
    hit = visit_date >= out["USUBJID"].map(first["RESCDT"])
    out.loc[hit, "RESCREAS"] = out.loc[hit, "USUBJID"].map(first["RESCREAS"]).astype("string")
    return out


def build_adrs(adqs: pd.DataFrame, adsl: pd.DataFrame, cfg: dict, rescue: pd.DataFrame | None = None) -> pd.DataFrame:
    """ADRS: SRI-4 components and overall response per subject of the SRI analysis set and analysis visit,
    with the values each Y/N was decided on and links to the ADQS records (SRCDOM/SRCVAR/SRCSEQ)."""
    sri_cfg = cfg["sri"]
    key = ["USUBJID", "AVISIT", "AVISITN"]
    flag = sri_cfg["analysis_set"]
    subjects = adsl.loc[adsl[flag] == "Y", ["STUDYID", "USUBJID"]]
    windows = pd.DataFrame([w for w in cfg["windows"] if w["AVISIT"] in sri_cfg["visits"]])[["AVISIT", "AVISITN"]]
    grid = subjects.merge(windows, how="cross")
    v = grid.merge(sri_visit_values(adqs, cfg), on=key, how="left")
    for c in ("BILAG_N", "BILAG_BASE_N"):
        v[c] = v[c].fillna(0)
    v = not_assessable_reasons(v, cfg)
    v = apply_rescue(v, rescue, adsl, cfg)
    v["BILAG_GRADED"] = v["BILAG_N"]
    v["BILAG_N_USED"] = v["BILAG_N"].where(v["BILAG_OK"], 0)
    v = sri_components(v.assign(BILAG_N=v["BILAG_N_USED"]), sri_cfg)
    rescued = v["RESCREAS"].notna()
    params = dict(COMPONENTS)
    params["SRI4"] = "SLE Responder Index-4" if sri_cfg["bilag_required"] else "Modified SLE Responder Index-4 (no BILAG)"
    source = {"SRI4SLED": ("SLED_SEQ", "SLED_ADT"), "SRI4PGA": ("PGA_SEQ", "PGA_ADT"),
              "SRI4BILG": ("BILAG_SEQ", "BILAG_ADT"), "SRI4": (None, "SLED_ADT")}
    support = {"BSLEDAI": "SLED_BASE", "ASLEDAI": "SLED_AVAL", "BPGA": "PGA_BASE", "APGA": "PGA_AVAL",
               "NBILAGA": "NEW_A", "NBILAGB": "NEW_B", "NBILAGD": "BILAG_GRADED"}
    parts = []
    for code, name in params.items():
        if code == "SRI4BILG" and not sri_cfg["bilag_required"]:
            continue
        value = v[code].astype("boolean").mask(rescued, False)
        seq, adt = source[code]
        rec = pd.DataFrame({"STUDYID": v["STUDYID"], "USUBJID": v["USUBJID"], "PARAMCD": code, "PARAM": name,
                            "AVALC": yes_no(value), "AVISIT": v["AVISIT"], "AVISITN": v["AVISITN"],
                            "ADT": v[adt].fillna(v["SLED_ADT"]).fillna(v["PGA_ADT"])})
        rec["AVAL"] = (rec["AVALC"] == "Y").astype("float64")
        for var, col in support.items():
            rec[var] = v[col]
        rec["PGACHG"] = (v["PGA_AVAL"] - v["PGA_BASE"]).round(6)
        reason = v[{"SRI4SLED": "NRI_SLED", "SRI4PGA": "NRI_PGA", "SRI4BILG": "NRI_BILG", "SRI4": "NRIREAS"}[code]]
        reason = reason.mask(v["NRIREAS"].eq("no assessment in the visit window"), v["NRIREAS"])
        missing = reason.notna()
        rec["DTYPE"] = pd.Series(np.where(missing | rescued, "WC", pd.NA), index=rec.index, dtype="string")
        rec["NRIREAS"] = reason
        rec["RESCREAS"] = v["RESCREAS"]
        rec["SRCDOM"] = pd.Series(np.where(v[seq].notna(), "ADQS", pd.NA) if seq else pd.NA, index=rec.index,
                                  dtype="string")
        rec["SRCVAR"] = rec["SRCDOM"].map({"ADQS": "AVAL"}).astype("string")
        rec["SRCSEQ"] = v[seq] if seq else np.nan
        parts.append(rec)
    adrs = pd.concat(parts, ignore_index=True)
    adrs = derive_treatment(adrs, adsl, by=["USUBJID"])
    adrs = merge_variables(adrs, adsl, ["USUBJID"], ["TRTSDT", flag, "TRT01P", "TRT01A"])
    adrs["ADY"] = derive_study_day(adrs, "ADT", "TRTSDT", "ADY")
    adrs["ANL01FL"] = "Y"
    adrs = flag_primary_endpoint(adrs, sri_cfg)
    adrs = adrs.sort_values(["USUBJID", "PARAMCD", "AVISITN"], kind="stable")
    adrs["ASEQ"] = adrs.groupby("USUBJID").cumcount() + 1
    return adrs.reset_index(drop=True)


def _iso(sas_dates: pd.Series) -> pd.Series:
    """SAS numeric dates as ISO 8601 text ('-' when missing), for notes."""
    return from_sas_date(sas_dates).dt.strftime("%Y-%m-%d").fillna("-").astype("string")


def derivation_notes(adqs: pd.DataFrame, cfg: dict) -> pd.DataFrame:
    """What a reviewer should know about the SRI inputs, as values: SRI components of one visit taken from
    different assessment dates, different values for one parameter on one day, and collected SLEDAI-2K totals
    that differ from the sum of their descriptors."""
    cols = ["dataset", "USUBJID", "PARAMCD", "AVISIT", "note", "values"]
    sri_cfg = cfg["sri"]
    v = sri_visit_values(adqs, cfg)
    dates = v[["SLED_ADT", "PGA_ADT", "BILAG_ADT"]]
    mixed = dates.nunique(axis=1) > 1
    parts = [pd.DataFrame({"dataset": "ADRS", "USUBJID": v.loc[mixed, "USUBJID"], "PARAMCD": "SRI4",
                           "AVISIT": v.loc[mixed, "AVISIT"],
                           "note": "SRI components of this visit come from different assessment dates",
                           "values": ("SLEDAI-2K " + _iso(v.loc[mixed, "SLED_ADT"]) + ", PGA " + _iso(v.loc[mixed, "PGA_ADT"])
                                      + ", BILAG-2004 " + _iso(v.loc[mixed, "BILAG_ADT"]))})]
    rec = adqs[adqs["AVAL"].notna() & adqs["ADT"].notna() & adqs["PARAMTYP"].isna()]
    n = rec.groupby(["USUBJID", "PARAMCD", "ADT"])["AVAL"].transform("nunique")
    clash = rec[n > 1]
    if len(clash):
        vals = clash.groupby(["USUBJID", "PARAMCD", "ADT"]).agg(
            AVISIT=("AVISIT", "first"), low=("AVAL", "min"), high=("AVAL", "max")).reset_index()
        vals["values"] = number_text(vals["low"]) + " and " + number_text(vals["high"])
        parts.append(pd.DataFrame({"dataset": "ADQS", "USUBJID": vals["USUBJID"], "PARAMCD": vals["PARAMCD"],
                                   "AVISIT": vals["AVISIT"],
                                   "note": "different values on the same day: ANL01FL took the one of the later record "
                                           "(" + _iso(vals["ADT"]) + ")", "values": vals["values"]}))
    total = adqs[adqs["PARAMCD"].isin(["SLEDTOT", "SLEDTOT" + COLLECTED_SUFFIX])]
    wide = total.pivot_table(index=["USUBJID", "ADT"], columns="PARAMCD", values="AVAL", aggfunc="first")
    if "SLEDTOT" + COLLECTED_SUFFIX in wide and "SLEDTOT" in wide:
        diff = wide[wide["SLEDTOT" + COLLECTED_SUFFIX].notna() & wide["SLEDTOT"].notna()
                    & (wide["SLEDTOT" + COLLECTED_SUFFIX] != wide["SLEDTOT"])].reset_index()
        visits = total.drop_duplicates(["USUBJID", "ADT"]).set_index(["USUBJID", "ADT"])["AVISIT"]
        parts.append(pd.DataFrame({
            "dataset": "ADQS", "USUBJID": diff["USUBJID"], "PARAMCD": "SLEDTOT" + COLLECTED_SUFFIX,
            "AVISIT": pd.MultiIndex.from_frame(diff[["USUBJID", "ADT"]]).map(visits),
            "note": f"collected SLEDAI-2K total differs from the sum of its descriptors (the SRI uses the "
                    f"{sri_cfg['sledai_total']} one)",
            "values": "collected " + number_text(diff["SLEDTOT" + COLLECTED_SUFFIX]) + ", derived "
                      + number_text(diff["SLEDTOT"])}))
    out = pd.concat(parts, ignore_index=True)
    return out[cols].sort_values(["USUBJID", "dataset", "PARAMCD"], kind="stable").reset_index(drop=True)


def flag_primary_endpoint(adrs: pd.DataFrame, sri_cfg: dict) -> pd.DataFrame:
    """ANL02FL = Y on the SRI record of the protocol's primary endpoint visit (analysis.yaml sri.primary_visit)."""
    out = adrs.copy()
    primary = out["PARAMCD"].eq("SRI4") & out["AVISIT"].eq(sri_cfg["primary_visit"])
    out["ANL02FL"] = pd.Series(pd.NA, index=out.index, dtype="string").mask(primary, "Y")
    return out
