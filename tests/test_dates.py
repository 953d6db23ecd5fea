import re

import pandas as pd
import pytest

from cdisc_il2.dates import DatePatternError, compile_pattern, expand_patterns, parse_dates, pattern_groups, study_day


@pytest.mark.parametrize("raw,iso", [
    ("2014-03-05", "2014-03-05"), ("2014/03/05", "2014-03-05"), ("05MAR2014", "2014-03-05"),
    ("5-Mar-14", "2014-03-05"), ("41703", "2014-03-05"), ("41703.5", "2014-03-05T12:00"),
    ("2014-03", "2014-03"), ("UNK-MAR-2014", "2014-03"), ("UNK-UNK-2014", "2014"), ("2014", "2014"),
    ("5-Mar-62", "1962-03-05"), ("2014-03-05T08:30", "2014-03-05T08:30"),
])
def test_styles_and_partial_dates(raw, iso):
    out, err = parse_dates(pd.Series([raw]))
    assert out.iloc[0] == iso
    assert pd.isna(err.iloc[0])


@pytest.mark.parametrize("raw,reason", [
    ("2014/02/30", "impossible calendar date"), ("31APR2014", "impossible calendar date"),
    ("2014-13", "impossible calendar date"), ("yesterday", "not a recognised date"),
])
def test_bad_dates_are_reported_not_invented(raw, reason):
    out, err = parse_dates(pd.Series([raw]))
    assert pd.isna(out.iloc[0])
    assert err.iloc[0].startswith(reason)


@pytest.mark.parametrize("raw,valid", [
    ("2000-02-29", True), ("1600-02-29", True), ("2016-02-29", True), ("1900-02-29", False),
    ("2100-02-29", False), ("2015-02-29", False), ("2014-04-30", True), ("2014-04-31", False),
    ("2014-12-31", True), ("2014-00-10", False), ("2014-01-00", False),
])
def test_leap_years_and_month_lengths_are_the_gregorian_calendar(raw, valid):
    out, err = parse_dates(pd.Series([raw]))
    assert (out.iloc[0] == raw) if valid else (pd.isna(out.iloc[0]) and err.iloc[0].startswith("impossible"))


def test_styles_are_restricted_per_site():
    out, err = parse_dates(pd.Series(["05MAR2014", "2014-03-05"]), patterns=("iso",))
    assert pd.isna(out.iloc[0]) and "declared patterns: iso" in err.iloc[0]
    assert out.iloc[1] == "2014-03-05"


SITE_PATTERNS = ["YYYY.MM.DD", "YYYY年M月D日", "YYYY年M月", "YYYY", "DD-MON-YYYY", "UNK-MON-YYYY", "MON-YYYY", "EXCEL"]


@pytest.mark.parametrize("raw,patterns,iso", [
    ("2014.03.18", SITE_PATTERNS, "2014-03-18"),
    ("1975年1月1日", SITE_PATTERNS, "1975-01-01"),
    ("2014年6月", SITE_PATTERNS, "2014-06"),
    ("2014", SITE_PATTERNS, "2014"),
    ("18-Mar-2014", SITE_PATTERNS, "2014-03-18"),
    ("UNK-MAR-2014", SITE_PATTERNS, "2014-03"),
    ("unk-mar-2014", SITE_PATTERNS, "2014-03"),
    ("MAR-2014", SITE_PATTERNS, "2014-03"),
    ("41716", SITE_PATTERNS, "2014-03-18"),
    ("41716.75", ["EXCEL"], "2014-03-18T18:00"),
    ("40254", ["EXCEL1904"], "2014-03-18"),
    ("18/03/2014", ["DD/MM/YYYY"], "2014-03-18"),
    ("03/18/2014", ["MM/DD/YYYY"], "2014-03-18"),
    ("3/8/2014", ["M/D/YYYY"], "2014-03-08"),
    ("18 March 2014", ["DD MONTH YYYY"], "2014-03-18"),
    ("18  march 2014", ["DD MONTH YYYY"], "2014-03-18"),
    ("18MAR14", ["DDMONYY"], "2014-03-18"),
    ("18MAR62", ["DDMONYY"], "1962-03-18"),
    ("140318", ["YYMMDD"], "2014-03-18"),
    ("2014-03", ["YYYY-MM[-DD[Thh:mm[:ss]]]"], "2014-03"),
    ("2014-03-18T09:30", ["YYYY-MM-DD[Thh:mm[:ss]]"], "2014-03-18T09:30"),
    ("2014-03-18T09:30:15", ["YYYY-MM-DD[Thh:mm[:ss]]"], "2014-03-18T09:30:15"),
    ("2014-03-18T09:30:15.250", ["YYYY-MM-DDThh:mm:ss.f"], "2014-03-18T09:30:15"),
    ("18.3.2014 9:05", ["D.M.YYYY h:mm"], "2014-03-18T09:05"),
    ("2014-UNK-UNK", ["YYYY-UNK-UNK"], "2014"),
    ("2014-03-XX", ["YYYY-MM-UNK"], "2014-03"),
    ("2014-UN-18", ["YYYY-UNK-DD"], "2014"),            # an unknown month drops the known day
    ("2014-03 10:30", ["iso"], "2014-03"),               # a time needs a complete date
    ("05 MAR 2014", ["dmy_mon"], "2014-03-05"),
    ("2014-03-18", ["dmy_slash", "iso"], "2014-03-18"),  # group names and patterns mix
    ("2014/3/18", ["YYYY\\/M\\/D"], "2014-03-18"),   # \ makes a literal of any character
])
def test_declared_patterns(raw, patterns, iso):
    out, err = parse_dates(pd.Series([raw]), patterns)
    assert out.iloc[0] == iso
    assert pd.isna(err.iloc[0])


@pytest.mark.parametrize("raw,patterns,reason", [
    ("2014.02.30", SITE_PATTERNS, "impossible calendar date (2014-02-30)"),
    ("2014.13.01", SITE_PATTERNS, "impossible calendar date (2014-13-01)"),
    ("2014年13月", SITE_PATTERNS, "impossible calendar date (2014-13)"),
    ("2014-03-18T25:00", ["YYYY-MM-DD[Thh:mm]"], "impossible time of day (25:00)"),
    ("18/03/2014", SITE_PATTERNS, "not a recognised date (declared patterns: " + ", ".join(SITE_PATTERNS) + ")"),
    ("03/18/2014", ["DD/MM/YYYY"], "impossible calendar date (2014-18-03)"),  # the first match wins, no guessing
    ("99999", ["EXCEL"], "not a recognised date (declared patterns: EXCEL)"),
])
def test_declared_patterns_reject(raw, patterns, reason):
    out, err = parse_dates(pd.Series([raw]), patterns)
    assert pd.isna(out.iloc[0])
    assert err.iloc[0] == reason


def test_first_declared_pattern_wins_column_wise():
    values = pd.Series(["05/03/2014", "05/03/2014", None, "2014-03-05", ""], index=[10, 11, 12, 13, 14])
    out, err = parse_dates(values, ["DD/MM/YYYY", "MM/DD/YYYY", "iso"])
    assert out.tolist() == ["2014-03-05", "2014-03-05", pd.NA, "2014-03-05", pd.NA]
    assert err.isna().all() and list(out.index) == [10, 11, 12, 13, 14]


@pytest.mark.parametrize("pattern,message", [
    ("DD/MM", "no year token"),
    ("dd/mm/yyyy", "tokens are case-sensitive"),
    ("[YYYY]-MM", "must not be inside an optional part"),
    ("YYYY-MM[-DD", "'[' at position 8 is never closed"),
    ("YYYY-MM]", "']' without its '['"),
    ("MMM YYYY", "'MMM' at position 1 is not a token (did you mean MON?)"),
    ("YYYY-DD", "a day (DD, D) needs a month"),
    ("YYYY-MM-DD hh", "hh needs mm"),
    ("YYYYMD", "M and D are written next to each other"),
    ("YYYY-MM-YY", "more than one year token"),
    ("EXCEL YYYY", "EXCEL and EXCEL1904 must be the whole pattern"),
])
def test_bad_patterns_are_refused(pattern, message):
    with pytest.raises(DatePatternError, match=re.escape(message)):
        compile_pattern(pattern)


def test_letters_that_are_not_tokens_are_literals():
    out, _ = parse_dates(pd.Series(["Q2014-03-18"]), ["QYYYY-MM-DD"])
    assert out.iloc[0] == "2014-03-18"


def test_groups_live_in_the_mappings_data():
    groups = pattern_groups()
    assert {"iso", "ymd_slash", "dmy_mon", "excel", "excel1904", "dmy_slash", "mdy_slash", "default"} <= set(groups)
    assert groups["default"] == groups["iso"] + groups["ymd_slash"] + groups["dmy_mon"] + groups["excel"]
    assert expand_patterns(["excel", "YYYY.MM.DD"]) == ("EXCEL", "YYYY.MM.DD")


def test_study_day_has_no_day_zero():
    ref = pd.Series(["2014-03-05"] * 5)
    dtc = pd.Series(["2014-03-04", "2014-03-05", "2014-03-06T10:00", "2014-03", None])
    assert study_day(dtc, ref).tolist() == [-1, 1, 2, pd.NA, pd.NA]


def test_a_column_of_empty_dates_parses_to_empty_values():
    """A block whose date column is empty on every row (a small transfer: no end dates yet) is not an error."""
    iso, err = parse_dates(pd.Series([None, None, ""], dtype="string"))
    assert iso.isna().all() and err.isna().all() and len(iso) == 3
    iso, err = parse_dates(pd.Series([None, "2014-03-01", None], dtype="string"))
    assert iso.tolist()[1] == "2014-03-01" and iso.isna().tolist() == [True, False, True] and err.isna().all()
