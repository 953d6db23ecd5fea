"""The one date parser: raw site date text to ISO 8601 (partial kept partial), and study days.

Works column-wise: each accepted style is a regular expression applied to the whole Series.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

MONTHS = {m: i + 1 for i, m in enumerate(
    ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"])}
_UNK = r"UNK|UN|UK|--|XX"
STYLES: dict[str, str] = {
    # 2014-03-05, 2014-03, 2014, 2014-03-05T10:30(:00), 2014-UNK-UNK
    "iso": rf"^(?P<y>\d{{4}})(?:-(?P<m>\d{{1,2}}|{_UNK})(?:-(?P<d>\d{{1,2}}|{_UNK}))?)?"
           r"(?:[T ](?P<hh>\d{2}):(?P<mi>\d{2})(?::(?P<ss>\d{2})(?:\.\d+)?)?)?$",
    # 2014/03/05
    "ymd_slash": r"^(?P<y>\d{4})/(?P<m>\d{1,2})/(?P<d>\d{1,2})$",
    # 05MAR2014, 5-Mar-14, UNK-MAR-2014, MAR2014, 05 MAR 2014
    "dmy_mon": rf"^(?:(?P<d>\d{{1,2}}|{_UNK})[- ]?)?(?P<mon>[A-Za-z]{{3}})[- ]?(?P<y>\d{{4}}|\d{{2}})$",
    # Excel serial day number (1900 date system), optional fraction of a day
    "excel": r"^(?P<serial>\d{5}(?:\.\d+)?)$",
    # 05/03/2014 day first; only when a spec declares it (ambiguous with month first)
    "dmy_slash": r"^(?P<d>\d{1,2})/(?P<m>\d{1,2})/(?P<y>\d{4})$",
    "mdy_slash": r"^(?P<m>\d{1,2})/(?P<d>\d{1,2})/(?P<y>\d{4})$",
}
DEFAULT_STYLES = ("iso", "ymd_slash", "dmy_mon", "excel")
EXCEL_EPOCH = pd.Timestamp("1899-12-30")
TWO_DIGIT_YEAR_PIVOT = 30  # 00-30 -> 2000s, 31-99 -> 1900s


def parse_dates(values: pd.Series, styles: Sequence[str] = DEFAULT_STYLES) -> tuple[pd.Series, pd.Series]:
    """Parse raw date text to ISO 8601; return (iso or NA, error reason or NA) aligned with `values`."""
    codes, uniques = pd.factorize(values.astype("string"), use_na_sentinel=True)
    iso_u, err_u = _parse_unique(pd.Series(uniques, dtype="string"), styles)
    iso = pd.Series(iso_u.to_numpy()[codes], index=values.index, dtype="string")
    err = pd.Series(err_u.to_numpy()[codes], index=values.index, dtype="string")
    missing = codes < 0
    return iso.mask(missing), err.mask(missing)


def _parse_unique(values: pd.Series, styles: Sequence[str]) -> tuple[pd.Series, pd.Series]:
    """parse_dates on distinct values."""
    text = values.astype("string").str.strip()
    text = text.mask(text == "")
    y = pd.Series(pd.NA, index=text.index, dtype="string")
    m, d, hh, mi, ss = (y.copy() for _ in range(5))
    matched = pd.Series(False, index=text.index)
    for style in styles:
        todo = text.notna() & ~matched
        if not todo.any():
            break
        parts = text[todo].str.upper().str.extract(STYLES[style])
        hit = parts.notna().any(axis=1)
        if style == "excel":
            parts = _serial_parts(parts["serial"])
            hit = parts["y"].notna()
        idx = hit[hit].index
        if style == "dmy_mon":
            mon = parts.loc[idx, "mon"].map({**MONTHS, "UNK": 0})
            ok = mon.notna()
            idx = ok[ok].index
            parts.loc[idx, "m"] = mon[idx].astype(int).astype(str).replace("0", "UNK")
            yy = parts.loc[idx, "y"]
            short = yy.str.len() == 2
            century = np.where(yy[short].astype(int) <= TWO_DIGIT_YEAR_PIVOT, "20", "19")
            parts.loc[short[short].index, "y"] = pd.Series(century, index=short[short].index) + yy[short]
        for col, target in (("y", y), ("m", m), ("d", d), ("hh", hh), ("mi", mi), ("ss", ss)):
            if col in parts:
                target.loc[idx] = parts.loc[idx, col].astype("string")
        matched.loc[idx] = True
    unk = {"UNK", "UN", "UK", "--", "XX"}
    m = m.mask(m.isin(unk))
    d = d.mask(d.isin(unk) | m.isna())
    iso, error = _assemble(y, m, d, hh, mi, ss)
    error = error.mask(text.notna() & ~matched, "not a recognised date (accepted styles: " + ", ".join(styles) + ")")
    iso = iso.mask(~matched)
    return iso, error


def _serial_parts(serial: pd.Series) -> pd.DataFrame:
    """Excel serial numbers to year/month/day/time parts."""
    num = pd.to_numeric(serial, errors="coerce")
    num = num.where((num >= 10000) & (num < 80000))
    ts = EXCEL_EPOCH + pd.to_timedelta(num.round(6), unit="D")
    out = pd.DataFrame(index=serial.index)
    out["y"] = ts.dt.strftime("%Y")
    out["m"] = ts.dt.strftime("%m")
    out["d"] = ts.dt.strftime("%d")
    has_time = (num % 1).round(6) > 0
    out["hh"] = ts.dt.strftime("%H").where(has_time)
    out["mi"] = ts.dt.strftime("%M").where(has_time)
    out["ss"] = pd.Series(pd.NA, index=serial.index, dtype="string")
    return out


def _assemble(y, m, d, hh, mi, ss) -> tuple[pd.Series, pd.Series]:
    """Join parts into ISO 8601, checking the calendar; impossible dates give an error."""
    error = pd.Series(pd.NA, index=y.index, dtype="string")
    m2 = m.str.zfill(2)
    d2 = d.str.zfill(2)
    mnum = pd.to_numeric(m2, errors="coerce")
    bad_month = mnum.notna() & ((mnum < 1) | (mnum > 12))
    full = y.notna() & m2.notna() & d2.notna()
    cal = pd.to_datetime(y + "-" + m2 + "-" + d2, format="%Y-%m-%d", errors="coerce")
    bad_day = full & cal.isna()
    hnum, minum = pd.to_numeric(hh, errors="coerce"), pd.to_numeric(mi, errors="coerce")
    bad_time = (hnum > 23) | (minum > 59)
    iso = y.copy()
    iso = iso.mask(m2.notna(), y + "-" + m2)
    iso = iso.mask(full, y + "-" + m2 + "-" + d2)
    timed = full & hh.notna()
    iso = iso.mask(timed, iso + "T" + hh.str.zfill(2) + ":" + mi.str.zfill(2))
    iso = iso.mask(timed & ss.notna(), iso + ":" + ss.str.zfill(2))
    error = error.mask(bad_month | bad_day, "impossible calendar date")
    error = error.mask(bad_time.fillna(False), "impossible time of day")
    iso = iso.mask(error.notna())
    return iso, error


def _on_uniques(values: pd.Series, fn) -> pd.Series:
    """Apply a column function to the distinct values only and spread the result back (dates repeat a lot)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    if not len(uniques):            # a column empty in every record: nothing to parse
        return pd.Series(pd.NA, index=values.index, dtype="object")
    res = fn(pd.Series(uniques, dtype="string"))
    out = res.to_numpy()[codes]
    return pd.Series(out, index=values.index).where(codes >= 0)


def full_date(dtc: pd.Series) -> pd.Series:
    """Datetime of the date part of ISO 8601 values that carry a complete date, else NaT."""
    def parse(u: pd.Series) -> pd.Series:
        s = u.str.slice(0, 10)
        return pd.to_datetime(s.where(s.str.fullmatch(r"\d{4}-\d{2}-\d{2}")), format="%Y-%m-%d", errors="coerce")
    out = _on_uniques(dtc.astype("string"), parse)
    return pd.to_datetime(out)


def study_day(dtc: pd.Series, reference: pd.Series) -> pd.Series:
    """SDTM --DY: days from the reference start date, day 1 on the reference date, no day 0."""
    days = (full_date(dtc) - full_date(reference)).dt.days
    dy = days.where(days < 0, days + 1)
    return dy.astype("Int64")


ISO_SHAPE = (r"\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01])(T([01]\d|2[0-3])(:[0-5]\d(:[0-5]\d(\.\d+)?)?)?)?)?)?")
# ISO 8601 as SDTMIG 4.4.2 also writes it: missing components as '-' ('2003---15', '--12-15') and a time zone
ISO_SHAPE_MISSING_PARTS = (
    r"(?:[0-9]{4}|-)(?:-(?:0[1-9]|1[0-2]|-)(?:-(?:0[1-9]|[12][0-9]|3[01]|-)"
    r"(?:T(?:[01][0-9]|2[0-3]|-)(?::(?:[0-5][0-9]|-)(?::(?:[0-5][0-9](?:[.][0-9]+)?|-))?)?"
    r"(?:Z|[+-][0-9]{2}(?::?[0-9]{2})?)?)?)?)?")


def is_iso8601(values: pd.Series, missing_parts: bool = False) -> pd.Series:
    """True where a value is a valid ISO 8601 date/datetime (complete or partial) or empty: the shape with
    field ranges by one regular expression (with `missing_parts`, components written as '-' too), then the
    calendar (30 February) for complete dates."""
    from .frames import fullmatch

    pattern = ISO_SHAPE_MISSING_PARTS if missing_parts else ISO_SHAPE

    def check(u: pd.Series) -> pd.Series:
        shape = fullmatch(u, pattern)
        day = u.str.slice(0, 10)
        day = day.where(shape & day.str.fullmatch(r"\d{4}-\d{2}-\d{2}").fillna(False))
        real = pd.to_datetime(day, format="%Y-%m-%d", errors="coerce").notna() | day.isna()
        return shape & real
    text = values.astype("string")
    ok = _on_uniques(text, check)
    return ok.fillna(True).astype(bool) | text.isna()
