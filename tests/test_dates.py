import pandas as pd
import pytest

from cdisc_il2.dates import parse_dates, study_day


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


def test_styles_are_restricted_per_site():
    out, err = parse_dates(pd.Series(["05MAR2014", "2014-03-05"]), styles=("iso",))
    assert pd.isna(out.iloc[0]) and "accepted styles: iso" in err.iloc[0]
    assert out.iloc[1] == "2014-03-05"


def test_study_day_has_no_day_zero():
    ref = pd.Series(["2014-03-05"] * 5)
    dtc = pd.Series(["2014-03-04", "2014-03-05", "2014-03-06T10:00", "2014-03", None])
    assert study_day(dtc, ref).tolist() == [-1, 1, 2, pd.NA, pd.NA]
