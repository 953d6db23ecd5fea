"""Trial design datasets (TA, TE, TV, TI, TS) and the subject elements and visits (SE, SV).

What the trial is lives in mappings/study.yaml (`trial_design:`, `visits:`, `epochs:`, `treatment:`); the code
here only reads it, looks CDISC names and codes up in the shipped controlled terminology, and derives the
subject-level records from the data (DM reference dates, EX with the course of each dose, the dated records
of every domain that has visits). Each builder returns a new frame in SDTMIG 3.4 variable order.
"""
from __future__ import annotations

import re
import string

import numpy as np
import pandas as pd

# the module, not its names: sdtm may import this module while it is itself initialising
from . import sdtm as _sdtm
from .dates import full_date, is_iso8601, study_day
from .metadata import codelist, ct_versions, sdtm_variables, visit_table
from .resources import load_study

DESIGN_DOMAINS = ("TA", "TE", "TV", "TI", "TS", "SE", "SV")
# Datasets that carry VISITNUM but are not observations of a visit (SV is built from the others).
NOT_VISIT_SOURCES = frozenset({"DM", "SV", "SE", "TA", "TE", "TV", "TI", "TS", "RELREC"})
START_KINDS = ("informed_consent", "course", "after_treatment")
DATE_FMT = "%Y-%m-%d"


def _design() -> dict:
    return load_study()["trial_design"]


def _text(values, index=None) -> pd.Series:
    return pd.Series(values, index=index, dtype="string")


def _col(df: pd.DataFrame, name: str) -> pd.Series:
    """A column as text, or all missing when the frame lacks it (a DM without RFPENDTC, ...)."""
    return df[name].astype("string") if name in df else pd.Series(pd.NA, index=df.index, dtype="string")


def _dates(values: pd.Series) -> pd.Series:
    """Datetimes as ISO 8601 dates (text), NaT as missing."""
    return pd.to_datetime(values).dt.strftime(DATE_FMT).astype("string")


def _fill(template: str, frame: pd.DataFrame) -> pd.Series:
    """A str.format template filled column-wise from `frame` ('{VISITNUM:.2f}' -> '4.01'), no loop over rows."""
    out = pd.Series("", index=frame.index, dtype="string")
    for literal, field, spec, _ in string.Formatter().parse(template):
        out = out + literal
        if field is None:
            continue
        col = frame[field]
        if spec:
            num = pd.to_numeric(col, errors="coerce")
            text = _text(np.char.mod(f"%{spec}", num.fillna(0).to_numpy(dtype=float)), frame.index).mask(num.isna())
        else:
            num = pd.to_numeric(col, errors="coerce")
            whole = num.notna() & (num == num.round())
            text = col.astype("string").mask(whole, num.round().astype("Int64").astype("string"))
        out = out + text.fillna("")
    return out


def _finish(df: pd.DataFrame, domain: str) -> pd.DataFrame:
    """STUDYID and DOMAIN set, every column an SDTMIG variable of the domain, in SDTMIG 3.4 order."""
    out = df.copy()
    out["STUDYID"] = str(load_study()["studyid"])
    out["DOMAIN"] = domain
    unknown = sorted(set(out.columns) - set(sdtm_variables(domain)["name"]))
    if unknown:
        raise ValueError(f"{domain}: not SDTMIG 3.4 variables of the domain: {', '.join(unknown)}")
    return _sdtm.order_variables(out.reset_index(drop=True), domain)


# ------------------------------------------------------------------ trial design: TE, TA, TV, TI

def elements() -> pd.DataFrame:
    """The planned elements of the arm in order (TAETORD), with the rule SE takes each start from."""
    study = load_study()
    el = pd.DataFrame(_design()["elements"])
    el["TAETORD"] = np.arange(1, len(el) + 1)
    epochs = set(study["epochs"].values()) & codelist("EPOCH").values
    bad = ~el["EPOCH"].isin(epochs) | ~el["start"].isin(START_KINDS) | el["ETCD"].str.len().gt(8)
    if bad.any() or el["ETCD"].duplicated().any() or el["ELEMENT"].duplicated().any():
        raise ValueError("trial_design.elements: ETCD and ELEMENT must be unique, ETCD at most 8 characters, EPOCH "
                         f"one of the study epochs {sorted(epochs)}, start one of {START_KINDS}")
    courses = pd.to_numeric(el.get("course"), errors="coerce") if "course" in el else pd.Series(np.nan, index=el.index)
    el["course"] = courses
    n_courses = int(study["treatment"]["courses"])
    if set(courses.dropna().astype(int)) != set(range(1, n_courses + 1)):
        raise ValueError(f"trial_design.elements: one 'course' element per IL-2 course 1..{n_courses} is expected")
    return el


def build_te() -> pd.DataFrame:
    """TE: one record per planned element (code, name, start rule, end rule or planned duration)."""
    el = elements()
    cols = [c for c in ("ETCD", "ELEMENT", "TESTRL", "TEENRL", "TEDUR") if c in el]
    return _finish(el[cols].astype("string"), "TE")


def build_ta() -> pd.DataFrame:
    """TA: the single arm's elements in planned order with their epochs; no branches or transitions."""
    study = load_study()
    arm = study["arms"][_design()["arm"]]
    el = elements()
    ta = pd.DataFrame({"ARMCD": arm["ARMCD"], "ARM": arm["ARM"], "TAETORD": el["TAETORD"], "ETCD": el["ETCD"],
                       "ELEMENT": el["ELEMENT"], "TABRANCH": _text(pd.NA, el.index),
                       "TATRANS": _text(pd.NA, el.index), "EPOCH": el["EPOCH"]})
    return _finish(ta, "TA")


def build_tv() -> pd.DataFrame:
    """TV: the visit schedule of study.yaml (VISITNUM, VISIT, VISITDY) with its start and end rules.

    ARMCD is null: the schedule does not depend on the arm."""
    rules = _design()["visit_rules"]
    tv = visit_table()
    by_visit = pd.DataFrame.from_dict(rules.get("by_visit", {}), orient="index")
    tv["TVSTRL"] = _fill(rules["TVSTRL"], tv)
    for col in ("TVSTRL", "TVENRL"):
        own = tv["VISIT"].map(by_visit[col]) if col in by_visit else pd.Series(pd.NA, index=tv.index)
        tv[col] = own.astype("string").fillna(tv[col]) if col in tv else own.astype("string")
    tv["ARMCD"] = _text(pd.NA, tv.index)
    return _finish(tv, "TV")


def build_ti() -> pd.DataFrame:
    """TI: the inclusion and exclusion criteria of study.yaml (IECAT from the CT codelist IECAT)."""
    cats = codelist("IECAT").values
    parts = []
    for cat, items in _design()["criteria"].items():
        if cat not in cats:
            raise ValueError(f"trial_design.criteria: {cat} is not a term of IECAT ({sorted(cats)})")
        parts.append(pd.DataFrame(items).assign(IECAT=cat))
    ti = pd.concat(parts, ignore_index=True)
    bad = (~ti["IETESTCD"].str.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,7}") | ti["IETEST"].str.len().gt(200)
           | ti["IETESTCD"].duplicated())
    if bad.any():
        raise ValueError("trial_design.criteria: IETESTCD unique, at most 8 letters/digits/underscores not starting "
                         f"with a digit; IETEST at most 200 characters: {ti.loc[bad, 'IETESTCD'].tolist()}")
    return _finish(ti, "TI")


# ------------------------------------------------------------------ TS

def _span_days(dy: pd.Series) -> int:
    """Days from the first to the last planned study day, both counted (there is no day 0)."""
    lo, hi = int(dy.min()), int(dy.max())
    return hi - lo + 1 - int(lo < 0 < hi)


# Values of TS parameters marked `from: data` in study.yaml: rule name -> function of DM giving the text.
TS_RULES = {
    "first_informed_consent": lambda dm: _dates(pd.Series([full_date(_col(dm, "RFICDTC")).min()])).iloc[0],
    "last_participation": lambda dm: _dates(pd.Series([full_date(_col(dm, "RFPENDTC")).max()])).iloc[0],
    "treated_subjects": lambda dm: str(int(dm["USUBJID"][_col(dm, "RFXSTDTC").notna()].nunique())),
    # the study is ongoing at this data cut while a subject has no end of participation yet
    "any_subject_ongoing": lambda dm: "Y" if _col(dm, "RFPENDTC").isna().any() else "N",
    "schedule_length": lambda dm: f"P{_span_days(visit_table()['VISITDY'])}D",
}


def _lookup(path: str):
    """A value of study.yaml by dotted path ('treatment.dose')."""
    node = load_study()
    for key in path.split("."):
        node = node[key]
    return node


def _ct_code(param: dict, value: str) -> tuple[str | None, str | None]:
    """(TSVALCD, CT version) of a value from its CDISC codelist in schemas/ct.json."""
    version = re.sub(r"^SDTM CT ", "", ct_versions()[0])
    cl = codelist(param["codelist"])
    code = cl.nci_codes.get(value)
    if code is None:
        raise ValueError(f"TS {param['TSPARMCD']}: '{value}' is not a term of codelist {cl.name}")
    return code, version


def ts_parameter_names() -> dict[str, str]:
    """TSPARMCD -> TSPARM, matched through the NCI codes of the CT codelists TSPARMCD and TSPARM."""
    codes = codelist("TSPARMCD").nci_codes
    names = {code: name for name, code in codelist("TSPARM").nci_codes.items()}
    return {cd: names[code] for cd, code in codes.items() if code in names}


def build_ts(dm: pd.DataFrame) -> pd.DataFrame:
    """TS: the trial summary parameters of study.yaml; TSPARM from CT, TSVALCD from CT where the value has a
    codelist, and the values marked `from: data` derived from DM (study start, end, subjects treated)."""
    names = ts_parameter_names()
    rows = []
    for p in _design()["ts_parameters"]:
        cd = p["TSPARMCD"]
        if cd not in names:
            raise ValueError(f"TS: {cd} is not a term of the CT codelist TSPARMCD")
        src = p.get("from")
        if src == "data":
            value = TS_RULES[p["rule"]](dm)
        elif src:
            value = _lookup(src)
        else:
            value = p.get("TSVAL")
        value = None if value is None or pd.isna(value) else str(value)
        row = {"TSPARMCD": cd, "TSPARM": names[cd], "TSVAL": value,
               "TSVALNF": p.get("TSVALNF") or (None if value is not None else "NI"),
               "TSVALCD": p.get("TSVALCD"), "TSVCDREF": p.get("TSVCDREF"), "TSVCDVER": p.get("TSVCDVER")}
        if p.get("code_is_value"):
            row["TSVALCD"] = value
        if "codelist" in p and value is not None:
            row["TSVALCD"], row["TSVCDVER"] = _ct_code(p, value)
            row["TSVCDREF"] = "CDISC CT"
        rows.append(row)
    ts = pd.DataFrame(rows).astype("string")
    ts["TSSEQ"] = ts.groupby("TSPARMCD").cumcount() + 1
    ts["TSGRPID"] = _text(pd.NA, ts.index)
    ts = ts.sort_values(["TSPARMCD", "TSSEQ"], kind="stable")
    return _finish(ts, "TS")


# ------------------------------------------------------------------ SE

def with_courses(ex: pd.DataFrame, suppex: pd.DataFrame | None = None) -> pd.DataFrame:
    """EX with EXCOURSE: from SUPPEX (QNAM EXCOURSE, linked by EXSEQ) when given, else kept as is."""
    if suppex is None or suppex.empty or not {"QNAM", "IDVARVAL"} <= set(suppex) or "EXSEQ" not in ex:
        return ex.copy()
    s = suppex[suppex["QNAM"].eq("EXCOURSE") & suppex.get("IDVAR", pd.Series("EXSEQ", index=suppex.index)).eq("EXSEQ")]
    link = pd.DataFrame({"USUBJID": s["USUBJID"].astype("string"),
                         "_seq": pd.to_numeric(s["IDVARVAL"], errors="coerce"),
                         "EXCOURSE": pd.to_numeric(s["QVAL"], errors="coerce")}).drop_duplicates(["USUBJID", "_seq"])
    out = ex.drop(columns=[c for c in ("EXCOURSE",) if c in ex]).assign(
        USUBJID=ex["USUBJID"].astype("string"), _seq=pd.to_numeric(ex["EXSEQ"], errors="coerce"))
    return out.merge(link, on=["USUBJID", "_seq"], how="left").set_axis(ex.index).drop(columns="_seq")


def exposure_courses(ex: pd.DataFrame) -> pd.Series:
    """The IL-2 course of each EX record: EXCOURSE when present, else from the days since the subject's first
    dose (treatment.course_days per course, at most treatment.courses)."""
    t = load_study()["treatment"]
    start = full_date(ex["EXSTDTC"])
    first = start.groupby(ex["USUBJID"]).transform("min")
    by_day = ((start - first).dt.days // int(t["course_days"]) + 1).clip(1, int(t["courses"]))
    given = pd.to_numeric(ex["EXCOURSE"], errors="coerce") if "EXCOURSE" in ex else pd.Series(np.nan, index=ex.index)
    return given.fillna(by_day)


def build_se(dm: pd.DataFrame, ex: pd.DataFrame) -> pd.DataFrame:
    """SE: per subject the elements actually experienced, each ending where the next starts (SDTMIG), the
    last at DM.RFPENDTC. Screening from informed consent; each IL-2 course from its first dose; follow-up from
    the day after the treatment epoch (DM.RFXENDTC + epochs.treatment_extends_days + 1) when the subject was
    still in the study then. Never-dosed subjects have screening only."""
    study = load_study()
    el = elements()
    subj = dm.assign(USUBJID=dm["USUBJID"].astype("string")).drop_duplicates("USUBJID").set_index("USUBJID")
    ex = ex[ex["USUBJID"].astype("string").isin(subj.index)] if len(ex) else ex
    if len(ex):
        doses = pd.DataFrame({"USUBJID": ex["USUBJID"].astype("string"), "course": exposure_courses(ex),
                              "_start": full_date(ex["EXSTDTC"])}).dropna(subset=["_start", "course"])
        course_start = doses.groupby(["USUBJID", "course"], as_index=False)["_start"].min()
    else:
        course_start = pd.DataFrame({"USUBJID": pd.Series(dtype="string"), "course": pd.Series(dtype=float),
                                     "_start": pd.Series(dtype="datetime64[ns]")})
    end_part = full_date(_col(subj, "RFPENDTC"))
    after = full_date(_col(subj, "RFXENDTC")) + pd.Timedelta(days=int(study["epochs"]["treatment_extends_days"]) + 1)
    parts = []
    for e in el.itertuples():          # one pass per planned element of study.yaml
        if e.start == "informed_consent":
            starts = pd.DataFrame({"USUBJID": subj.index, "_start": full_date(_col(subj, "RFICDTC")).to_numpy()})
        elif e.start == "course":
            starts = course_start.loc[course_start["course"].eq(e.course), ["USUBJID", "_start"]]
        else:
            stayed = after.notna() & end_part.notna() & (end_part >= after)
            starts = pd.DataFrame({"USUBJID": subj.index[stayed], "_start": after[stayed].to_numpy()})
        parts.append(starts.assign(ETCD=e.ETCD))
    se = pd.concat(parts, ignore_index=True).dropna(subset=["_start"])
    se = se.merge(el[["ETCD", "ELEMENT", "TAETORD", "EPOCH"]], on="ETCD", how="left")
    se = se.sort_values(["USUBJID", "TAETORD", "_start"], kind="stable").reset_index(drop=True)
    nxt = se.groupby("USUBJID")["_start"].shift(-1)
    end = nxt.fillna(se["USUBJID"].map(end_part))
    ref = se["USUBJID"].map(_col(subj, "RFSTDTC"))
    se["SESTDTC"] = _dates(se["_start"])
    se["SEENDTC"] = _dates(end)
    se["SESTDY"] = study_day(se["SESTDTC"], ref)
    se["SEENDY"] = study_day(se["SEENDTC"], ref)
    se["SESEQ"] = se.groupby("USUBJID").cumcount() + 1
    return _finish(se.drop(columns="_start"), "SE")


# ------------------------------------------------------------------ SV

def _visit_records(domains: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Every record with a visit or a date from the datasets that have VISITNUM/VISIT and a --DTC (--STDTC):
    USUBJID, VISITNUM, VISIT, the date part of the record's date, source dataset and row."""
    parts = []
    for name, df in domains.items():          # one pass per dataset
        if name in NOT_VISIT_SOURCES or name.startswith("SUPP") or "USUBJID" not in df or df.empty:
            continue
        if not {"VISITNUM", "VISIT"} & set(df):
            continue
        prefix = name[:2]
        dtc = next((c for c in (f"{prefix}DTC", f"{prefix}STDTC") if c in df), None)
        if dtc is None:
            continue
        visitnum = pd.to_numeric(df["VISITNUM"], errors="coerce") if "VISITNUM" in df else pd.Series(np.nan, index=df.index)
        parts.append(pd.DataFrame({
            "USUBJID": df["USUBJID"].astype("string"), "VISITNUM": visitnum,
            "VISIT": df["VISIT"].astype("string") if "VISIT" in df else _text(pd.NA, df.index),
            "_dtc": df[dtc].astype("string").str.slice(0, 10), "_dataset": name, "_row": df.index}))
    if not parts:
        return pd.DataFrame(columns=["USUBJID", "VISITNUM", "VISIT", "_dtc", "_date", "_dataset", "_row"])
    rec = pd.concat(parts, ignore_index=True)
    rec["_dtc"] = rec["_dtc"].mask(rec["_dtc"].str.strip().eq("") | ~is_iso8601(rec["_dtc"]))   # invalid: no date
    rec["_date"] = full_date(rec["_dtc"])
    return rec[rec["VISITNUM"].notna() | rec["_dtc"].notna()]


def _unplanned(rec: pd.DataFrame, planned: pd.DataFrame, dm: pd.DataFrame) -> pd.DataFrame:
    """Unplanned visits: records without a planned VISITNUM but with a complete date, one visit per subject and
    date, numbered after the subject's last planned visit on or before that date (else the last scheduled visit
    by study day; else 0) + step, 2 x step ...; records with only a partial date cannot be placed."""
    cfg = _design()["unplanned_visit"]
    un = rec[rec["VISITNUM"].isna() & rec["_date"].notna()]
    cols = ["USUBJID", "_date", "VISITNUM", "VISIT", "SVUPDES"]
    if un.empty:
        return pd.DataFrame({"USUBJID": pd.Series(dtype="string"), "_date": pd.Series(dtype="datetime64[ns]"),
                             "VISITNUM": pd.Series(dtype=float), "VISIT": pd.Series(dtype="string"),
                             "SVUPDES": pd.Series(dtype="string")})
    g = un.groupby(["USUBJID", "_date"])
    visits = pd.DataFrame({
        "domains": g["_dataset"].agg(lambda s: ", ".join(sorted(set(s)))),
        "collected": g["VISIT"].agg(lambda s: ", ".join(f"'{v}'" for v in sorted(set(s.dropna())))),
    }).reset_index().sort_values("_date", kind="stable")
    visits["collected"] = visits["collected"].mask(visits["collected"].eq(""), "(no visit name)")
    visits["_date"] = visits["_date"].astype("datetime64[ns]")          # one resolution on both sides of the join
    seen = planned.assign(_pdate=full_date(planned["SVSTDTC"]).astype("datetime64[ns]")).dropna(subset=["_pdate"])
    seen = seen.sort_values("_pdate", kind="stable")[["USUBJID", "_pdate", "VISITNUM"]]
    anchor = pd.merge_asof(visits, seen.rename(columns={"VISITNUM": "_after"}), left_on="_date", right_on="_pdate",
                           by="USUBJID", direction="backward")["_after"].set_axis(visits.index)
    ref = visits["USUBJID"].map(_col(dm.drop_duplicates("USUBJID").set_index("USUBJID"), "RFSTDTC"))
    day = study_day(_dates(visits["_date"]), ref)
    sched = visit_table().sort_values("VISITDY")[["VISITDY", "VISITNUM"]].rename(columns={"VISITNUM": "_sched"})
    known = day.notna()
    by_day = pd.Series(np.nan, index=visits.index)
    if known.any():
        probe = pd.DataFrame({"_day": day[known].astype("int64"), "_i": visits.index[known]}).sort_values("_day")
        hit = pd.merge_asof(probe, sched.astype({"VISITDY": "int64"}), left_on="_day", right_on="VISITDY",
                            direction="backward")
        by_day.loc[hit["_i"].to_numpy()] = hit["_sched"].to_numpy()
    visits["_anchor"] = anchor.fillna(by_day).fillna(0.0)
    n = visits.sort_values("_date", kind="stable").groupby(["USUBJID", "_anchor"]).cumcount() + 1
    visits["VISITNUM"] = (visits["_anchor"] + n * float(cfg["step"])).round(6)
    visits["VISIT"] = _fill(cfg["VISIT"], visits)
    visits["SVUPDES"] = _fill(cfg["SVUPDES"], visits)
    return visits[cols]


def _sv_parts(domains: dict[str, pd.DataFrame], dm: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(planned visits per subject, unplanned visits per subject and date) from the dated visit records."""
    ids = set(dm["USUBJID"].astype("string"))
    rec = _visit_records(domains)
    rec = rec[rec["USUBJID"].isin(ids)]
    pl = rec[rec["VISITNUM"].notna()]
    g = pl.groupby(["USUBJID", "VISITNUM"])
    planned = pd.DataFrame({"SVSTDTC": g["_dtc"].min(), "SVENDTC": g["_dtc"].max(),
                            "_visit": g["VISIT"].first()}).reset_index()
    sched = visit_table()
    planned = planned.merge(sched, on="VISITNUM", how="left")
    planned["VISIT"] = planned["VISIT"].astype("string").fillna(planned["_visit"].astype("string"))
    planned = planned.drop(columns="_visit").assign(SVPRESP="Y", SVOCCUR="Y")
    return planned, _unplanned(rec, planned, dm)


def build_sv(domains: dict[str, pd.DataFrame], dm: pd.DataFrame) -> pd.DataFrame:
    """SV: one record per subject and visit seen in any dataset with visits and dates: planned visits with
    SVSTDTC/SVENDTC the earliest/latest date of their records, and unplanned visits (see `_unplanned`)."""
    planned, unplanned = _sv_parts(domains, dm)
    unplanned = unplanned.assign(SVSTDTC=_dates(unplanned["_date"]), SVENDTC=_dates(unplanned["_date"]))
    sv = pd.concat([planned, unplanned.drop(columns="_date")], ignore_index=True)
    ref = sv["USUBJID"].map(_col(dm.drop_duplicates("USUBJID").set_index("USUBJID"), "RFSTDTC"))
    for col in ("SVSTDTC", "SVENDTC", "VISIT", "SVPRESP", "SVOCCUR", "SVUPDES"):
        sv[col] = sv[col].astype("string") if col in sv else _text(pd.NA, sv.index)
    sv["SVSTDY"] = study_day(sv["SVSTDTC"], ref)
    sv["SVENDY"] = study_day(sv["SVENDTC"], ref)
    sv["VISITDY"] = pd.to_numeric(sv["VISITDY"], errors="coerce").astype("Int64")
    sv = sv.sort_values(["USUBJID", "VISITNUM"], kind="stable")
    whole = pd.to_numeric(sv["VISITNUM"], errors="coerce")
    if (whole.dropna() % 1 == 0).all():           # the same type as the planned visits of the other datasets
        sv["VISITNUM"] = whole.astype("Int64")
    return _finish(sv, "SV")


def assign_unplanned_visits(domains: dict[str, pd.DataFrame], dm: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The datasets whose records fall on an unplanned visit, with that visit's VISITNUM and VISIT (as in SV)
    and VISITDY null; datasets without such records are not returned."""
    _, unplanned = _sv_parts(domains, dm)
    if unplanned.empty:
        return {}
    rec = _visit_records(domains)
    rec = rec[rec["VISITNUM"].isna()].merge(unplanned[["USUBJID", "_date", "VISITNUM", "VISIT"]],
                                            on=["USUBJID", "_date"], how="inner", suffixes=("_old", ""))
    out = {}
    for name, hits in rec.groupby("_dataset"):        # one pass per dataset with unplanned records
        df = domains[name].copy()
        df["VISITNUM"] = pd.to_numeric(df["VISITNUM"], errors="coerce").astype(float) if "VISITNUM" in df else np.nan
        df.loc[hits["_row"].to_numpy(), "VISITNUM"] = hits["VISITNUM"].to_numpy()
        df["VISIT"] = df["VISIT"].astype("string") if "VISIT" in df else _text(pd.NA, df.index)
        df.loc[hits["_row"].to_numpy(), "VISIT"] = hits["VISIT"].to_numpy()
        if "VISITDY" in df:
            df["VISITDY"] = pd.to_numeric(df["VISITDY"], errors="coerce").astype("Int64")
            df.loc[hits["_row"].to_numpy(), "VISITDY"] = pd.NA
        out[name] = df
    return out


# ------------------------------------------------------------------ all together

def add_design_domains(domains: dict[str, pd.DataFrame], number_unplanned: bool = True) -> dict[str, pd.DataFrame]:
    """A new dict of the SDTM datasets with TA, TE, TV, TI, TS, SE and SV added, from domains['DM'],
    domains['EX'] and (for the course of each dose) domains['SUPPEX']. With `number_unplanned`, records of an
    unplanned visit in the other datasets get the VISITNUM/VISIT their SV record has."""
    dm = domains["DM"]
    ex = domains.get("EX")
    if ex is None:
        ex = pd.DataFrame(columns=["USUBJID", "EXSEQ", "EXSTDTC", "EXENDTC"])
    ex = with_courses(ex, domains.get("SUPPEX"))
    out = dict(domains)
    if number_unplanned:
        out.update(assign_unplanned_visits(domains, dm))
    out.update({"TA": build_ta(), "TE": build_te(), "TV": build_tv(), "TI": build_ti(), "TS": build_ts(dm),
                "SE": build_se(dm, ex), "SV": build_sv(domains, dm)})
    return out
