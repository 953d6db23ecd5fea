"""Column-wise conversions shared by mapping and validation, fast on Arrow-backed text."""
from __future__ import annotations

import numpy as np
import pandas as pd

NUMBER = r"\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\s*"


def to_number(values: pd.Series) -> pd.Series:
    """Text to float64 (NaN where not a number); numeric input is returned as float64."""
    if pd.api.types.is_numeric_dtype(values):
        return values.astype("float64")
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    text = pd.Series(uniques, dtype="string")
    ok = fullmatch(text, NUMBER).to_numpy()
    parsed = np.full(len(text), np.nan)
    if ok.any():
        parsed[ok] = text[ok].str.strip().astype("float64").to_numpy()
    out = np.where(codes >= 0, parsed[np.maximum(codes, 0)] if len(parsed) else np.nan, np.nan)
    return pd.Series(out, index=values.index, dtype="float64")


def number_text(values: pd.Series) -> pd.Series:
    """Numbers as submission text: no trailing '.0', at most 6 decimals, missing stays missing."""
    num = pd.to_numeric(values, errors="coerce").round(6)
    text = num.astype("string").str.replace(r"\.0$", "", regex=True)
    return text.mask(num.isna())


def distinct_text(values: pd.Series) -> pd.Series:
    """The distinct values of a column as text, missing included once (of a categorical, the categories its
    records use): what a check over every value needs to look at only once."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy()
        used = np.flatnonzero(np.bincount(codes[codes >= 0], minlength=len(values.cat.categories)))
        return pd.Series(values.cat.categories[used], dtype="string")
    return pd.Series(pd.unique(values.astype("string")), dtype="string")


def as_text(values: pd.Series) -> pd.Series:
    """A column as string dtype (no copy when it already is)."""
    return values if isinstance(values.dtype, pd.StringDtype) else values.astype("string")


def comparable_text(values: pd.Series) -> pd.Series:
    """Values as text that compares equal across sources: stripped, a whole number without its '.0' (2.0 and
    '2' agree), empty text missing."""
    text = as_text(values).str.strip().str.replace(r"\.0+$", "", regex=True)
    return text.mask(text == "")


KEY_DECIMALS = 9        # numeric keys agree to 1e-9: VISITNUM 1.2000000000000002 (a float sum) is visit 1.2
_FLOAT_NOISE = r"^-?\d+\.\d{10,}$"


def key_text(values: pd.Series) -> pd.Series:
    """Key values as text that compare equal whatever produced them: numbers rounded to KEY_DECIMALS places, so
    binary float noise (9.299999999999999 for 9.3) does not make two keys differ; other text as it is."""
    if values.dtype == "float64":                 # each distinct value (by bit pattern: -0.0 stays -0.0) once
        rounded = values.round(KEY_DECIMALS).to_numpy(dtype=np.float64)
        codes, uniques = pd.factorize(rounded.view(np.int64))
        texts = pd.Series(uniques.view(np.float64)).astype("string").array
        return pd.Series(texts.take(codes, allow_fill=True), index=values.index, name=values.name)
    if pd.api.types.is_float_dtype(values.dtype):
        return values.round(KEY_DECIMALS).astype("string")
    text = as_text(values)
    noisy = fullmatch(text, _FLOAT_NOISE)
    if not noisy.any():
        return text
    fixed = pd.to_numeric(text[noisy]).round(KEY_DECIMALS).astype("string")
    return text.mask(noisy, fixed)


def filled(values: pd.Series) -> pd.Series:
    """True where a value is present: not null and, for text, not blank."""
    if not isinstance(values.dtype, pd.StringDtype) and values.dtype != object:
        return values.notna()
    return (values.notna() & (as_text(values).str.strip() != "")).fillna(False).astype(bool)


def fullmatch(values: pd.Series, pattern: str) -> pd.Series:
    """True where text matches the regular expression entirely (Arrow regex engine); NA is False."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = as_text(values)
    arr = pa.array(text.to_numpy(dtype=object, na_value=None), type=pa.large_string()) \
        if text.dtype.storage != "pyarrow" else text.array._pa_array
    hit = pc.match_substring_regex(arr, f"^(?:{pattern})$")
    return pd.Series(hit.to_numpy(zero_copy_only=False), index=values.index).fillna(False).astype(bool)


def printable_ascii(values: pd.Series) -> pd.Series:
    """True where text has only printable ASCII characters (what SAS XPT v5 and submissions expect)."""
    import pyarrow.compute as pc

    text = as_text(values)
    arr = text.array._pa_array if getattr(text.dtype, "storage", "") == "pyarrow" else None
    if arr is None:
        return ~text.str.contains(r"[^\x20-\x7E]", regex=True).fillna(False)
    ok = pc.and_kleene(pc.string_is_ascii(arr), pc.utf8_is_printable(arr))
    return pd.Series(pc.fill_null(ok, True).to_numpy(zero_copy_only=False), index=values.index)


def byte_lengths(values: pd.Series) -> pd.Series:
    """UTF-8 byte length of each text value (NA for missing), computed by Arrow in bulk."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = as_text(values)
    arr = text.array._pa_array if getattr(text.dtype, "storage", "") == "pyarrow" else \
        pa.array(text.to_numpy(dtype=object, na_value=None), type=pa.large_string())
    lengths = pc.binary_length(arr.cast(pa.large_binary()) if not isinstance(arr, pa.ChunkedArray)
                               else arr.cast(pa.large_binary()))
    return pd.Series(lengths.to_numpy(zero_copy_only=False), index=values.index, dtype="float64")


def as_categories(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The frame with the given text columns as categoricals of their distinct values (sorted): a table with a
    row per raw cell repeats a few files, sheets, headings and subjects millions of times. Values are unchanged,
    and text written from it (io.write_csv, io.text_frame) is the same."""
    return frame.assign(**{c: frame[c].astype("category") for c in columns if c in frame})
