"""Assemble SDTM domains from mapped records: identifiers, visits, standard units, scores, flags, order.

Each step is a small function taking a DataFrame and returning a new one; `assemble` composes them.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .dates import full_date, study_day, treatment_emergent
from .errors import SpecError
from .frames import as_categories, number_text
from .mapping.engine import (CELL_COL, RAW_COL, DERIVE_COL, DUPLICATE_REJECTED, SRC_COLUMN, SRC_FILE, SRC_ROW, SRC_SHEET, SUPP_COL, Issues,
                             cell_places, parse_numbers)
from .metadata import codelist, lab_tests, normalize_series, qs_tests, sdtm_variables, visit_table, vital_signs
from .resources import load_analysis, load_study
from .traces import CELL_CATEGORIES, CELL_COLUMNS, TRACE_CATEGORIES

SRC_SITE = "__site__"
PROVENANCE = [SRC_FILE, SRC_SHEET, SRC_ROW, SRC_COLUMN]
DTC_VARS = {"EX": [("EXSTDTC", "EXSTDY"), ("EXENDTC", "EXENDY")], "AE": [("AESTDTC", "AESTDY"), ("AEENDTC", "AEENDY")],
            "LB": [("LBDTC", "LBDY")], "VS": [("VSDTC", "VSDY")], "QS": [("QSDTC", "QSDY")], "DS": [("DSSTDTC", "DSSTDY")],
            "CM": [("CMSTDTC", "CMSTDY"), ("CMENDTC", "CMENDY")]}
SEQ_ORDER = {"EX": ["EXSTDTC"], "AE": ["AESTDTC", "AETERM"], "LB": ["LBCAT", "LBTESTCD", "VISITNUM", "LBDTC"],
             "VS": ["VSTESTCD", "VISITNUM", "VSDTC"],
             "QS": ["QSCAT", "QSTESTCD", "VISITNUM", "QSDTC"], "DS": ["DSSTDTC", "DSCAT"], "CM": ["CMSTDTC", "CMTRT"]}
# the order domains are assembled in: DM first (reference dates), then the others
DOMAIN_ORDER = ["DM", "DS", "EX", "AE", "LB", "VS", "QS", "CM"]
DERIVE_AGE = DERIVE_COL + "AGE"


def raw_column(df: pd.DataFrame, variable: str) -> pd.Series | str:
    """The raw column a record's value came from (unpivoted records), else the variable's name."""
    return df[SRC_COLUMN].fillna(variable) if SRC_COLUMN in df else variable


def add_identifiers(df: pd.DataFrame, domain: str) -> pd.DataFrame:
    """STUDYID, DOMAIN and USUBJID (study-site-subject), the same in every domain."""
    out = df.copy()
    studyid = load_study()["studyid"]
    out["STUDYID"] = studyid
    out["DOMAIN"] = domain
    out["SUBJID"] = out["SUBJID"].astype("string")
    out["USUBJID"] = studyid + "-" + out[SRC_SITE] + "-" + out["SUBJID"]
    return out


def derive_visitnum(df: pd.DataFrame) -> pd.DataFrame:
    """VISITNUM and VISITDY from the study schedule for the recoded VISIT."""
    if "VISIT" not in df:
        return df
    out = df.drop(columns=[c for c in ("VISITNUM", "VISITDY") if c in df])
    return out.assign(**looked_up(out, visit_table(), ["VISIT"], ["VISITNUM", "VISITDY"], "visits"))


def standardize_results(df: pd.DataFrame, domain: str, tests: dict, issues: Issues) -> pd.DataFrame:
    """--TEST from CT (or the study's sponsor-defined name), the test's qualifiers (LBCAT, LBSPEC...) and
    standard results/ranges in the study's standard unit per test: LB from `lab_tests`, VS from `vital_signs`."""
    d = domain
    testcd, orres, orresu = f"{d}TESTCD", f"{d}ORRES", f"{d}ORRESU"
    out = df.copy()
    cl = codelist(f"{d}TEST")
    cd = codelist(f"{d}TESTCD")
    test_name = {v: k for k, v in cl.nci_codes.items()}
    names = {code: tests[code].get(f"{d}TEST") or test_name.get(cd.nci_codes.get(code)) for code in tests}
    out[f"{d}TEST"] = out[testcd].map(names).astype("string")
    qualifiers = sorted({k for t in tests.values() for k in t if k.startswith(d) and k != f"{d}TEST"})
    for q in qualifiers:
        out[q] = out[testcd].map({k: v.get(q) for k, v in tests.items()}).astype("string")
    unknown = out[testcd].notna() & out[f"{d}TEST"].isna()
    issues.add(out, unknown, raw_column(out, testcd), out[testcd],
               f"test not defined in mappings/study.yaml {'lab_tests' if d == 'LB' else 'vital_signs'}")
    std_unit = out[testcd].map({k: v["unit"] for k, v in tests.items()}).astype("string")
    factors = pd.DataFrame([{testcd: k, orresu: u, "_factor": f}
                            for k, v in tests.items() for u, f in [(v["unit"], 1.0), *v["conversions"].items()]],
                           columns=[testcd, orresu, "_factor"])
    out = out.assign(**looked_up(out, factors, [testcd, orresu], ["_factor"],
                                 f"{'lab_tests' if d == 'LB' else 'vital_signs'} (unit and conversions)"))
    no_factor = out[orres].notna() & out["_factor"].isna() & ~unknown
    issues.add(out, no_factor, raw_column(out, orresu), out[orresu].fillna("(no unit)"),
               "no conversion from this unit to the standard unit " + std_unit.fillna("?"))
    text = out[orres].astype("string").str.strip()
    parsed = text.str.extract(r"^(?P<op>[<>]=?)?\s*(?P<num>.+)$")
    value, why = parse_numbers(parsed["num"])        # the one number parser: 1,234.5 and 0,85 read, 'ND' refused
    num = value * out["_factor"]
    op = parsed["op"].fillna("")
    not_number = text.notna() & why.notna()
    issues.add(out, not_number, raw_column(out, orres), text,
               f"result is not a number: kept in {orres} and {d}STRESC, {d}STRESN left empty (" + why.fillna("") + ")")
    out[f"{d}STRESC"] = (op + number_text(num)).mask(num.isna(), text)
    out[f"{d}STRESN"] = num.where(op == "").round(6)
    out[f"{d}STRESU"] = std_unit.where(num.notna())
    for lo_hi in ("LO", "HI"):                       # reference ranges where collected (LB always has the columns)
        if f"{d}ORNR{lo_hi}" in out or d == "LB":
            out[f"{d}STNR{lo_hi}"] = (pd.to_numeric(out.get(f"{d}ORNR{lo_hi}"), errors="coerce") * out["_factor"]).round(6)
    return out.drop(columns="_factor")


def derive_reference_indicator(df: pd.DataFrame) -> pd.DataFrame:
    """LBNRIND: LOW/HIGH/NORMAL from the standard result and standard reference range."""
    out = df.copy()
    res, lo, hi = out["LBSTRESN"], out["LBSTNRLO"], out["LBSTNRHI"]
    ind = pd.Series(pd.NA, index=out.index, dtype="string")
    ind = ind.mask(res.notna() & (lo.notna() | hi.notna()), "NORMAL")
    ind = ind.mask(res.notna() & lo.notna() & (res < lo), "LOW")
    ind = ind.mask(res.notna() & hi.notna() & (res > hi), "HIGH")
    out["LBNRIND"] = ind
    return out


def looked_up(df: pd.DataFrame, table: pd.DataFrame, on: list[str], columns: list[str],
              where: str) -> dict[str, pd.Series]:
    """The `columns` of `table` for each record of `df` by the key columns `on` (missing where the key is not in
    the table): what a left merge adds, without copying the records' own columns. The table comes from
    mappings/study.yaml at `where`; a key it repeats is a SpecError (a record would have two answers)."""
    found = table.set_index(on)[columns]
    if not found.index.is_unique:
        twice = sorted({str(k) for k in found.index[found.index.duplicated()]})
        raise SpecError("study.yaml", where, f"{', '.join(on)} must be unique, but {'; '.join(twice)} comes "
                                             "more than once")
    keys = pd.MultiIndex.from_frame(df[on]) if len(on) > 1 else pd.Index(df[on[0]])
    at = found.index.get_indexer(keys)
    rows = found.reset_index(drop=True).reindex(at)     # -1 (not found) reindexes to missing
    return {c: rows[c].set_axis(df.index) for c in columns}


def standardize_questionnaires(df: pd.DataFrame, issues: Issues) -> pd.DataFrame:
    """QSTEST and standard results: weighted descriptors, numeric scales, letter grades, totals."""
    tests = qs_tests()
    out = df.assign(**looked_up(df, tests, ["QSCAT", "QSTESTCD"], ["QSTEST", "kind", "weight", "min", "max"],
                                "questionnaires"))
    unknown = out["QSTEST"].isna()
    issues.add(out, unknown, raw_column(out, "QSTESTCD"), out["QSTESTCD"], "test code not defined for this QSCAT in study.yaml")
    study = load_study()
    orres = out["QSORRES"].astype("string").str.strip()
    key = normalize_series(orres).str.upper()
    num = pd.to_numeric(orres, errors="coerce")
    present = key.isin([str(x).upper() for x in study["presence"]["present"]]) | (num == out["weight"]) & (num > 0)
    absent = key.isin([str(x).upper() for x in study["presence"]["absent"]])
    kind = out["kind"]
    weighted = kind.eq("weighted")
    score = pd.Series(np.nan, index=out.index).mask(weighted & present, out["weight"]).mask(weighted & absent, 0.0)
    bad_w = weighted & orres.notna() & score.isna()
    issues.add(out, bad_w, raw_column(out, "QSORRES"), orres, "descriptor result is neither present (Y or its weight) nor absent (N or 0)")
    numeric = kind.isin(["numeric", "total"])
    bad_n = numeric & orres.notna() & (num.isna() | (out["min"].notna() & ((num < out["min"]) | (num > out["max"]))))
    issues.add(out, bad_n, raw_column(out, "QSORRES"), orres, "not a number within the scale's range")
    grades = study["questionnaires"]["BILAG-2004"]["grades"]
    grade = kind.eq("grade")
    bad_g = grade & orres.notna() & ~key.isin(grades)
    issues.add(out, bad_g, raw_column(out, "QSORRES"), orres, "BILAG-2004 grade must be one of " + ", ".join(grades))
    stresn = score.mask(numeric & ~bad_n, num)
    out["QSSTRESN"] = stresn
    out["QSSTRESC"] = number_text(stresn).mask(grade & ~bad_g, key)
    return derive_sledai_total(out.drop(columns=["kind", "weight", "min", "max"]))


def derive_sledai_total(df: pd.DataFrame) -> pd.DataFrame:
    """Add a derived SLEDAI-2K total (QSDRVFL=Y) where a form has all 24 descriptors but no total."""
    tests = qs_tests()
    items = set(tests.loc[tests["kind"].eq("weighted"), "QSTESTCD"])
    total = tests.loc[tests["kind"].eq("total")].iloc[0]
    form = ["USUBJID", "QSCAT", "VISIT", "QSDTC", SRC_FILE, SRC_SHEET, SRC_ROW]
    sled = df.loc[df["QSCAT"].eq(total["QSCAT"]), [*form, "QSTESTCD", "QSSTRESN"]]   # the columns it needs
    keys = sled[form].astype("string").fillna("")
    is_item = sled["QSTESTCD"].isin(items)
    grp = [keys[c] for c in form]
    n_scored = (is_item & sled["QSSTRESN"].notna()).groupby(grp).transform("sum")
    has_total = sled["QSTESTCD"].eq(total["QSTESTCD"]).groupby(grp).transform("any")
    need = sled[is_item & (n_scored == len(items)) & ~has_total]
    if need.empty:
        return df
    sums = need.groupby([keys.loc[need.index, c] for c in form])["QSSTRESN"].transform("sum")
    derived = df.loc[need.index].assign(QSSTRESN=sums).drop_duplicates(subset=form).copy()
    derived["QSTESTCD"] = total["QSTESTCD"]
    derived["QSTEST"] = total["QSTEST"]
    derived["QSORRES"] = pd.NA
    derived["QSSTRESC"] = number_text(derived["QSSTRESN"])
    derived["QSDRVFL"] = "Y"
    derived[SRC_COLUMN] = "(derived: sum of SLEDAI-2K descriptors)"
    return pd.concat([df, derived], ignore_index=True)


def reject_duplicate_subjects(dm: pd.DataFrame, issues: Issues) -> pd.DataFrame:
    """One DM record per subject: a repeated subject's later rows are rejected, naming the first one."""
    dup = dm["USUBJID"].duplicated(keep="first")
    if not dup.any():
        return dm
    first = dm[~dup].set_index("USUBJID")
    where = (first[SRC_FILE].astype("string") + ", sheet '" + first[SRC_SHEET].astype("string") + "', row "
             + first[SRC_ROW].astype("string"))
    reason = "subject " + dm["USUBJID"] + " already has a demography record (" + dm["USUBJID"].map(where) + ")"
    issues.add(dm, dup, "(SUBJID)", dm["SUBJID"], reason, DUPLICATE_REJECTED)
    return dm[~dup]


def date_bounds(dtc: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Earliest and latest possible date of ISO 8601 (possibly partial) dates: 2014-06 -> 1 and 30 June."""
    return _birth_bounds(dtc, pd.Series("empty", index=dtc.index))


def _date_parts(text: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Year, month and day text of ISO 8601 dates (NA where absent), read once per distinct value."""
    codes, uniques = pd.factorize(text, use_na_sentinel=True)
    parts = pd.Series(uniques, dtype="string").str.extract(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")
    return tuple(pd.Series(np.append(parts[i].to_numpy(dtype=object), pd.NA)[codes], index=text.index,
                           dtype="string") for i in range(3))


def _birth_bounds(brthdtc: pd.Series, impute: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Earliest and latest possible birth date of an ISO 8601 (possibly partial) BRTHDTC.

    Where `impute` holds ('midpoint'), both bounds are the imputed date: 15th of a known month, else 1 July."""
    year, month, day = _date_parts(brthdtc.astype("string").str.slice(0, 10))
    full = pd.to_datetime(year + "-" + month + "-" + day, format="%Y-%m-%d", errors="coerce")
    ym = pd.to_datetime(year + "-" + month + "-01", format="%Y-%m-%d", errors="coerce")
    yo = pd.to_datetime(year + "-01-01", format="%Y-%m-%d", errors="coerce")
    lo = full.fillna(ym).fillna(yo)
    hi = full.fillna(ym + pd.offsets.MonthEnd(0)).fillna(yo + pd.offsets.YearEnd(0))
    mid = full.fillna(ym + pd.Timedelta(days=14)).fillna(yo + pd.DateOffset(months=6))
    use_mid = impute.eq("midpoint") & full.isna()
    return lo.mask(use_mid, mid), hi.mask(use_mid, mid)


def _completed_years(birth: pd.Series, at: pd.Series) -> pd.Series:
    """Whole years from birth to `at` (a birthday reached on the day counts)."""
    years = at.dt.year - birth.dt.year
    before = (at.dt.month < birth.dt.month) | ((at.dt.month == birth.dt.month) & (at.dt.day < birth.dt.day))
    return (years - before.astype(int)).astype("Int64")


def derive_age(dm: pd.DataFrame, issues: Issues) -> pd.DataFrame:
    """AGE (AGEU YEARS) from BRTHDTC at the reference date a spec names, where the spec asks for it.

    A partial birth date gives an age only when every possible birth date gives the same age (or with the
    spec's 'midpoint' imputation); otherwise AGE stays empty and the reason is listed."""
    if DERIVE_AGE not in dm:
        return dm
    out = dm.copy()
    request = out[DERIVE_AGE].astype("string")
    asked = request.notna()
    if not asked.any():
        return out.drop(columns=DERIVE_AGE)
    parts = request.str.split("|", expand=True)
    ref_var, impute = parts[1], parts[2]
    ref = pd.Series(pd.NaT, index=out.index, dtype="datetime64[ns]")
    for var in ref_var.dropna().unique():
        sel = asked & ref_var.eq(var)
        if var in out:
            ref = ref.mask(sel, full_date(out[var].where(sel)))
    lo, hi = _birth_bounds(out["BRTHDTC"] if "BRTHDTC" in out else pd.Series(pd.NA, index=out.index), impute)
    age_hi, age_lo = _completed_years(lo, ref), _completed_years(hi, ref)
    decided = age_hi.notna() & (age_hi == age_lo)
    age = age_lo.where(decided)
    out["AGE"] = pd.to_numeric(out["AGE"], errors="coerce").where(~asked, age.astype("Float64")) if "AGE" in out \
        else age.astype("Float64")
    no_birth = asked & lo.isna()
    no_ref = asked & lo.notna() & ref.isna()
    unsure = asked & age_hi.notna() & ~decided
    issues.add(out, no_birth, "(AGE)", out.get("BRTHDTC", pd.Series(pd.NA, index=out.index)).astype("string").fillna(""),
               "AGE cannot be derived: no birth date", "value left empty")
    issues.add(out, no_ref, "(AGE)", ref_var.fillna(""), "AGE cannot be derived: no complete reference date " + ref_var.fillna(""),
               "value left empty")
    issues.add(out, unsure, "(AGE)", out.get("BRTHDTC", pd.Series("", index=out.index)).astype("string"),
               "AGE cannot be derived: the partial birth date allows " + age_lo.astype("string").fillna("") + " or "
               + age_hi.astype("string").fillna("") + " years (spec option partial_birth: midpoint imputes it)",
               "value left empty")
    return out.drop(columns=DERIVE_AGE)


def complete_end_of_participation(dm: pd.DataFrame, ds: pd.DataFrame | None) -> pd.DataFrame:
    """DM.RFPENDTC where the site did not collect it: the date of the subject's disposition event in DS."""
    if ds is None or ds.empty or "DSSTDTC" not in ds:
        return dm
    out = dm.copy()
    events = ds[ds["DSCAT"].eq("DISPOSITION EVENT") & ds["DSSTDTC"].notna()]
    last = events.sort_values("DSSTDTC", kind="stable").groupby("USUBJID")["DSSTDTC"].last()
    current = out["RFPENDTC"] if "RFPENDTC" in out else pd.Series(pd.NA, index=out.index, dtype="string")
    out["RFPENDTC"] = current.astype("string").fillna(out["USUBJID"].map(last).astype("string"))
    return out


def derive_dm(dm: pd.DataFrame, ex: pd.DataFrame) -> pd.DataFrame:
    """DM reference dates from exposure, planned and actual arm, country and site."""
    study = load_study()
    out = dm.copy()
    start = full_date(ex["EXSTDTC"]) if "EXSTDTC" in ex else pd.Series(pd.NaT, index=ex.index, dtype="datetime64[ns]")
    end = full_date(ex["EXENDTC"]).fillna(start) if "EXENDTC" in ex else start
    first = ex.assign(_d=start).groupby("USUBJID")["_d"].min()
    last = ex.assign(_d=end).groupby("USUBJID")["_d"].max()
    # reindex, not map: a site without exposure records gives empty lookups
    out["RFXSTDTC"] = pd.Series(first.reindex(out["USUBJID"]).to_numpy(), index=out.index,
                                dtype="datetime64[ns]").dt.strftime("%Y-%m-%d").astype("string")
    out["RFXENDTC"] = pd.Series(last.reindex(out["USUBJID"]).to_numpy(), index=out.index,
                                dtype="datetime64[ns]").dt.strftime("%Y-%m-%d").astype("string")
    out["RFSTDTC"] = out["RFXSTDTC"]
    out["RFENDTC"] = out["RFXENDTC"]
    out["SITEID"] = out[SRC_SITE]
    out["COUNTRY"] = study["country"]
    treated = out["RFXSTDTC"].notna()
    arm = study["arms"]["planned"]
    out["ARMCD"], out["ARM"] = arm["ARMCD"], arm["ARM"]
    out["ACTARMCD"] = pd.Series(arm["ARMCD"], index=out.index, dtype="string").where(treated)
    out["ACTARM"] = pd.Series(arm["ARM"], index=out.index, dtype="string").where(treated)
    out["ARMNRS"] = pd.Series(study["arms"]["not_treated"]["ARMNRS"], index=out.index, dtype="string").mask(treated)
    return out


def derive_study_days(df: pd.DataFrame, domain: str, dm: pd.DataFrame) -> pd.DataFrame:
    """--DY for each --DTC relative to DM.RFSTDTC (day 1 = reference date, no day 0)."""
    out = df.copy()
    ref = out["USUBJID"].map(dm.set_index("USUBJID")["RFSTDTC"])
    for dtc, dy in DTC_VARS.get(domain, []):
        if dtc in out:
            out[dy] = study_day(out[dtc], ref)
    return out


def derive_epoch(df: pd.DataFrame, domain: str, dm: pd.DataFrame) -> pd.DataFrame:
    """EPOCH from the record's start date relative to first and last exposure (study.yaml epochs)."""
    out = df.copy()
    ep = load_study()["epochs"]
    dtc = DTC_VARS[domain][0][0]
    if dtc not in out:                       # a site that does not collect the date: no EPOCH either
        out["EPOCH"] = pd.Series(pd.NA, index=out.index, dtype="string")
        return out
    lo, hi = date_bounds(out[dtc])        # a partial date places the record when every possible day agrees
    first = full_date(out["USUBJID"].map(dm.set_index("USUBJID")["RFXSTDTC"]))
    last = full_date(out["USUBJID"].map(dm.set_index("USUBJID")["RFXENDTC"]))
    last = last + pd.Timedelta(days=ep["treatment_extends_days"])
    epoch = pd.Series(pd.NA, index=out.index, dtype="string")
    before = hi.notna() & (first.isna() | (hi < first))
    during = lo.notna() & first.notna() & (lo >= first) & (last.isna() | (hi <= last))
    after = lo.notna() & last.notna() & (lo > last)
    epoch = epoch.mask(before.fillna(False).astype(bool), ep["before_first_dose"])
    epoch = epoch.mask(during.fillna(False).astype(bool), ep["on_treatment"])
    epoch = epoch.mask(after.fillna(False).astype(bool), ep["after_treatment"])
    out["EPOCH"] = epoch
    return out


def flag_last_before_exposure(df: pd.DataFrame, domain: str, by: list[str], dm: pd.DataFrame) -> pd.DataFrame:
    """--LOBXFL: 'Y' on the last non-missing result on or before first exposure, per subject and test."""
    out = df.copy()
    dtc = f"{domain}DTC"
    d = full_date(out[dtc])
    first = full_date(out["USUBJID"].map(dm.set_index("USUBJID")["RFXSTDTC"]))
    has = out[f"{domain}STRESC"].notna() | out[f"{domain}ORRES"].notna()
    cand = out[has & d.notna() & first.notna() & (d <= first)].assign(_d=d)
    order = [c for c in [*by, "_d", "VISITNUM", SRC_FILE, SRC_ROW, SRC_COLUMN] if c in cand]
    cand = cand.sort_values(order, kind="stable", na_position="first")
    last = cand.groupby(by, dropna=False).tail(1).index
    flag = pd.Series(pd.NA, index=out.index, dtype="string")
    flag.loc[last] = "Y"
    out[f"{domain}LOBXFL"] = flag
    return out


def add_derived_qualifiers(df: pd.DataFrame, domain: str, dm: pd.DataFrame,
                           labels: dict[str, tuple[str, str]]) -> tuple[pd.DataFrame, dict[str, tuple[str, str]]]:
    """Supplemental qualifiers every site's records get by derivation (mappings/study.yaml derived_qualifiers):
    AETRTEM, the treatment-emergent flag of AE, by the same rule and window as ADAE TRTEMFL (analysis.yaml)."""
    wanted = load_study().get("derived_qualifiers", {}).get(domain, {})
    if not wanted:
        return df, labels
    out, labels = df.copy(), dict(labels)
    ref = dm.set_index("USUBJID")
    for qnam, q in wanted.items():
        if q["rule"] != "treatment_emergent":
            raise ValueError(f"mappings/study.yaml derived_qualifiers.{domain}.{qnam}: unknown rule '{q['rule']}' "
                             "(known: treatment_emergent)")
        window = load_analysis()["adverse_events"]["trtem_window_days"]
        missing = pd.Series(pd.NA, index=out.index, dtype="string")     # a spec that maps no dates
        flag = treatment_emergent(out.get(f"{domain}STDTC", missing), out.get(f"{domain}ENDTC", missing),
                                  full_date(out["USUBJID"].map(ref["RFXSTDTC"])),
                                  full_date(out["USUBJID"].map(ref["RFXENDTC"])), window)
        known = out["USUBJID"].isin(set(ref.index))          # a subject missing from DM: unknown, no record
        out[SUPP_COL + qnam] = pd.Series(np.where(flag, "Y", "N"), index=out.index, dtype="string").where(known)
        labels[qnam] = (q["label"], q.get("origin", "Derived"))
    return out, labels


def assign_sequence(df: pd.DataFrame, domain: str) -> pd.DataFrame:
    """--SEQ 1..n within USUBJID in a stable, content-based order (same input, same numbers)."""
    keys = ["USUBJID", *[k for k in SEQ_ORDER.get(domain, []) if k in df], SRC_FILE, SRC_SHEET, SRC_ROW, SRC_COLUMN]
    sorted_ = df.sort_values(keys, kind="stable", na_position="last").reset_index(drop=True)
    sorted_[f"{domain}SEQ"] = sorted_.groupby("USUBJID").cumcount() + 1
    return sorted_


def build_supp(df: pd.DataFrame, domain: str, labels: dict[str, tuple[str, str]]) -> pd.DataFrame:
    """SUPPxx records for the SUPP: columns of a domain, linked by --SEQ (DM: by USUBJID)."""
    cols = [c for c in df.columns if c.startswith(SUPP_COL)]
    parts = []
    for c in cols:
        qnam = c[len(SUPP_COL):]
        sel = df[df[c].notna()]
        if sel.empty:
            continue
        val = sel[c]
        qval = number_text(val) if pd.api.types.is_numeric_dtype(val) else val.astype("string")
        label, origin = labels[qnam]
        parts.append(pd.DataFrame({
            "STUDYID": sel["STUDYID"], "RDOMAIN": domain, "USUBJID": sel["USUBJID"],
            "IDVAR": pd.NA if domain == "DM" else f"{domain}SEQ",
            "IDVARVAL": pd.NA if domain == "DM" else sel[f"{domain}SEQ"].astype("string"),
            "QNAM": qnam, "QLABEL": label, "QVAL": qval, "QORIG": origin, "QEVAL": pd.NA,
            SRC_FILE: sel[SRC_FILE], SRC_SHEET: sel[SRC_SHEET], SRC_ROW: sel[SRC_ROW], SRC_COLUMN: sel[SRC_COLUMN]}))
    if not parts:
        return pd.DataFrame()
    supp = pd.concat(parts, ignore_index=True)
    supp["_seq"] = pd.to_numeric(supp["IDVARVAL"], errors="coerce")
    return supp.sort_values(["USUBJID", "_seq", "QNAM"], kind="stable").drop(columns="_seq").reset_index(drop=True)


def order_variables(df: pd.DataFrame, domain: str) -> pd.DataFrame:
    """SDTMIG 3.4 variable order: every Req and Exp variable, and Perm variables that carry data."""
    meta = sdtm_variables(domain)
    keep = [v for v, core in zip(meta["name"], meta["core"])
            if core in ("Req", "Exp") or (v in df and df[v].notna().any())]
    cols = {v: df[v] if v in df else pd.Series(pd.NA, index=df.index, dtype="string") for v in keep}
    if df.index.is_unique:              # the frame built once, not a column at a time
        return pd.DataFrame(cols, index=df.index)
    out = pd.DataFrame(index=df.index)
    for v, col in cols.items():
        out[v] = col
    return out


def trace(df: pd.DataFrame, domain: str, seq: str) -> pd.DataFrame:
    """Where each SDTM record came from: raw file, sheet, row and column."""
    return pd.DataFrame({"DOMAIN": domain, "USUBJID": df["USUBJID"],
                         "SEQ": pd.to_numeric(df[seq], errors="coerce").astype("Int64"),
                         "QNAM": df.get("QNAM", pd.Series(pd.NA, index=df.index, dtype="string")),
                         "file": df[SRC_FILE], "sheet": df[SRC_SHEET], "row": df[SRC_ROW].astype("Int64"),
                         "column": df[SRC_COLUMN]})


def trace_cells(df: pd.DataFrame, domain: str, seq: str) -> pd.DataFrame:
    """Where each collected value of each record came from: one row per (record, variable) with the raw file,
    sheet, row, the site's own heading and the cell's text (an empty cell too: a missing value is a query)."""
    seqs = pd.to_numeric(df[seq], errors="coerce").astype("Int64") if seq in df else pd.Series(pd.NA, index=df.index)
    names, rows, refs, raws = [], [], [], []
    for col in [c for c in df.columns if c.startswith(CELL_COL)]:
        ref = df[col].astype("string")
        at = np.flatnonzero(ref.notna().to_numpy(dtype=bool))
        if not len(at):
            continue
        var = col[len(CELL_COL):]
        names.append(var)
        rows.append(at)
        refs.append(ref.iloc[at])
        raws.append(df[RAW_COL + var].astype("string").iloc[at])
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype="string") for c in CELL_COLUMNS})
    at = np.concatenate(rows)               # the records of each variable in turn, taken once per column
    cells = pd.DataFrame({"DOMAIN": domain, "USUBJID": df["USUBJID"].astype("string").iloc[at].reset_index(drop=True),
                          "SEQ": seqs.iloc[at].reset_index(drop=True),
                          "VARIABLE": pd.Series(np.repeat(np.array(names, dtype=object), [len(r) for r in rows])),
                          "raw": pd.concat(raws, ignore_index=True)})
    places = cell_places(df[[SRC_FILE, SRC_SHEET, SRC_ROW]].iloc[at].reset_index(drop=True),
                         pd.concat(refs, ignore_index=True))       # once for every variable of the domain
    cells = cells.assign(**{c: places[c] for c in ("file", "sheet", "row", "heading")})
    return cells.loc[places["heading"].notna(), CELL_COLUMNS].reset_index(drop=True)   # a record with no row names no cell


def assemble(records: dict[str, pd.DataFrame], supp_labels: dict[str, dict[str, tuple[str, str]]],
             issues: Issues) -> tuple[dict[str, pd.DataFrame], pd.DataFrame, pd.DataFrame]:
    """Build the SDTM domains (and SUPPxx), the trial design and subject visit/element datasets (design.py),
    the trace table from mapped records per domain, and the trace of each collected value to its raw cell.
    `records` is emptied as its frames are taken (the mapped frames are not kept beside the domains made of them)."""
    from .design import add_design_domains

    study = load_study()
    prepared = {d: derive_visitnum(add_identifiers(records.pop(d), d)) for d in list(records)}
    ex = prepared.get("EX", pd.DataFrame(columns=["USUBJID", "EXSTDTC", "EXENDTC"]))
    if "EX" in prepared:
        ex = ex.assign(EXTRT=study["treatment"]["EXTRT"])
        prepared["EX"] = ex
    dm = derive_age(reject_duplicate_subjects(prepared["DM"], issues), issues)
    dm = complete_end_of_participation(derive_dm(dm, ex), prepared.get("DS"))
    prepared["DM"] = dm
    if "LB" in prepared:
        prepared["LB"] = derive_reference_indicator(standardize_results(prepared["LB"], "LB", lab_tests(), issues))
    if "VS" in prepared:
        prepared["VS"] = standardize_results(prepared["VS"], "VS", vital_signs(), issues)
    if "QS" in prepared:
        prepared["QS"] = standardize_questionnaires(prepared["QS"], issues)
    out: dict[str, pd.DataFrame] = {}
    traces, cells = [], []
    for domain in [d for d in DOMAIN_ORDER if d in prepared]:
        df = prepared.pop(domain)
        if domain != "DM":
            df = derive_epoch(derive_study_days(df, domain, dm), domain, dm)
        if domain == "LB":
            df = flag_last_before_exposure(df, "LB", ["USUBJID", "LBTESTCD", "LBSPEC"], dm)
        if domain == "QS":
            df = flag_last_before_exposure(df, "QS", ["USUBJID", "QSCAT", "QSTESTCD"], dm)
        if domain == "VS":
            df = flag_last_before_exposure(df, "VS", ["USUBJID", "VSTESTCD"], dm)
        df, labels = add_derived_qualifiers(df, domain, dm, supp_labels.get(domain, {}))
        df = assign_sequence(df, domain)
        supp = build_supp(df, domain, labels)
        out[domain] = order_variables(df, domain)
        traces.append(trace(df, domain, f"{domain}SEQ" if domain != "DM" else "USUBJID"))
        cells.append(trace_cells(df, domain, f"{domain}SEQ"))
        if not supp.empty:
            out[f"SUPP{domain}"] = order_variables(supp, "SUPPQUAL")
            traces.append(trace(supp, f"SUPP{domain}", "IDVARVAL"))
    out = add_design_domains(out)
    cells = as_categories(pd.concat(cells, ignore_index=True), CELL_CATEGORIES)
    return out, as_categories(pd.concat(traces, ignore_index=True), TRACE_CATEGORIES), cells
