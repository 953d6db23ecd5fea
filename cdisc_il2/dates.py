"""The one date parser: raw site date text to ISO 8601 (partial kept partial), and study days.

Accepted spellings are data, not code: a site spec declares `date_patterns` in a small pattern language
(YYYY YY MM M DD D MON MONTH UNK hh h mm ss f, [optional|alternative] parts, any other character literal;
EXCEL and EXCEL1904 for spreadsheet serial numbers) or names a group of patterns kept in
mappings/date-patterns.yaml. Each pattern is compiled once to a regular expression with named groups and
applied column-wise (pandas `.str.extract`) to the distinct values; the first declared pattern that
matches a value wins.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType

import numpy as np
import pandas as pd
import yaml

from .errors import SpecError
from .resources import YamlTooDeep, data_dir, load_yaml

MONTHS = {m: i + 1 for i, m in enumerate(
    ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"])}
MONTH_NAMES = {m: i + 1 for i, m in enumerate(
    ["JANUARY", "FEBRUARY", "MARCH", "APRIL", "MAY", "JUNE", "JULY", "AUGUST", "SEPTEMBER", "OCTOBER",
     "NOVEMBER", "DECEMBER"])}
UNKNOWN_MARKERS = ("UNK", "UN", "UK", "XX", "--")   # how sites write an unknown day or month
EXCEL_EPOCH = pd.Timestamp("1899-12-30")            # Excel 1900 date system (right from serial 61 on)
EXCEL1904_EPOCH = pd.Timestamp("1904-01-01")        # Excel 1904 date system (serial 0 = 1904-01-01)
TWO_DIGIT_YEAR_PIVOT = 30  # 00-30 -> 2000s, 31-99 -> 1900s
PATTERNS_FILE = "date-patterns.yaml"                # named pattern groups, in the mappings folder
DEFAULT_PATTERNS: tuple[str, ...] = ("default",)   # what a spec without date_patterns accepts

# token -> (kind of value it carries or None, regular expression of what it matches)
_TOKENS: dict[str, tuple[str | None, str]] = {
    "YYYY": ("y", "[0-9]{4}"),
    "YY": ("yy", "[0-9]{2}"),
    "MM": ("m", "[0-9]{2}"),
    "M": ("m", "[0-9]{1,2}"),
    "MON": ("mon", "|".join(MONTHS)),
    "MONTH": ("month", "|".join(MONTH_NAMES)),
    "DD": ("d", "[0-9]{2}"),
    "D": ("d", "[0-9]{1,2}"),
    "UNK": (None, "|".join(re.escape(u) for u in UNKNOWN_MARKERS)),
    "hh": ("hh", "[0-9]{2}"),
    "h": ("hh", "[0-9]{1,2}"),
    "mm": ("mi", "[0-9]{2}"),
    "ss": ("ss", "[0-9]{2}"),
    "f": (None, "[0-9]+"),
}
_WORDS = ("MONTH", "MON", "UNK")                     # tried before runs of one letter, longest first
_RUN_LETTERS = "YMDhmsf"                             # a run of one of these letters must be a token
_NUMERIC = {"YYYY", "YY", "MM", "M", "DD", "D", "hh", "h", "mm", "ss", "f"}
_VARIABLE_WIDTH = {"M", "D", "h", "f"}
_FIELD = {"YYYY": "year", "YY": "year", "MM": "month", "M": "month", "MON": "month", "MONTH": "month",
          "DD": "day", "D": "day", "hh": "hour", "h": "hour", "mm": "minute", "ss": "second", "f": "fraction"}
_EXCEL = {"EXCEL": EXCEL_EPOCH, "EXCEL1904": EXCEL1904_EPOCH}
_NEEDS = (("day", {"month", "unknown"}, "a day (DD, D) needs a month token (MM, M, MON, MONTH) or UNK"),
          ("hour", {"minute"}, "hh needs mm (hours and minutes go together)"),
          ("minute", {"hour"}, "mm is minutes (months are MM) and needs hh"),
          ("second", {"minute"}, "ss needs hh:mm"),
          ("fraction", {"second"}, "f (fraction of a second) needs ss"))
_MAX_EXPANSIONS = 4096
_MONTH_NUMBER = {name: str(n) for name, n in (*MONTHS.items(), *MONTH_NAMES.items())}
TOKEN_HELP = ("tokens (case-sensitive): YYYY YY MM M DD D MON MONTH UNK hh h mm ss f; EXCEL or EXCEL1904 as the "
              "whole pattern; [a] optional, [a|b] optional alternatives; \\ makes the next character literal; "
              "any other character is literal")


@lru_cache(maxsize=None)
def _compiled(regex: str) -> re.Pattern[str]:
    """A pattern's regular expression compiled once (letters match in either case)."""
    return re.compile(regex, re.IGNORECASE)


class DatePatternError(ValueError):
    """A date pattern that does not compile or cannot describe a date."""


@dataclass(frozen=True)
class DatePattern:
    """A compiled date pattern: its text, regular expression and which named group carries which value."""

    text: str
    regex: str
    groups: tuple[tuple[str, str], ...]       # (group name, kind: y yy m mon month d hh mi ss serial)
    excel_epoch: pd.Timestamp | None = None

    def extract_each(self, texts: Sequence[str]) -> list[dict[str, str | None] | None]:
        """Year/month/day/time parts (y m d hh mi ss, text or None) of each text, None where it does not match."""
        regex = _compiled(self.regex)
        if self.excel_epoch is not None:
            hits = [i for i, t in enumerate(texts) if regex.match(t)]
            out: list[dict[str, str | None] | None] = [None] * len(texts)
            if hits:
                serial = _serial_parts(pd.Series([texts[i] for i in hits], dtype="string"), self.excel_epoch)
                for i, row in zip(hits, serial.itertuples(index=False)):
                    if not pd.isna(row.y):
                        out[i] = {k: (None if pd.isna(v) else str(v)) for k, v in zip(serial.columns, row)}
            return out
        by_kind: dict[str, list[str]] = {}
        for group, kind in self.groups:       # a kind is in one group per alternative: the first one found wins
            by_kind.setdefault(kind, []).append(group)

        def pick(found: dict[str, str | None], kind: str) -> str | None:
            return next((found[g] for g in by_kind.get(kind, ()) if found[g] is not None), None)

        result: list[dict[str, str | None] | None] = []
        for t in texts:
            match = regex.match(t)
            found = match.groupdict() if match else None
            if not found or all(v is None for v in found.values()):
                result.append(None)
                continue
            yy = pick(found, "yy")
            year = pick(found, "y")
            if year is None and yy is not None:
                year = ("20" if int(yy) <= TWO_DIGIT_YEAR_PIVOT else "19") + yy
            named = pick(found, "mon")
            if named is None:
                named = pick(found, "month")
            month = pick(found, "m")
            if month is None and named is not None:
                month = _MONTH_NUMBER.get(named.upper())
            result.append({"y": year, "m": month, "d": pick(found, "d"), "hh": pick(found, "hh"),
                           "mi": pick(found, "mi"), "ss": pick(found, "ss")})
        return result


def _tokenize(pattern: str) -> list[tuple[str, str, int]]:
    """Split a pattern into (kind, text, position) items: token, literal, '[', '|', ']'."""
    items: list[tuple[str, str, int]] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            if i + 1 == len(pattern):
                raise DatePatternError("'\\' at the end of the pattern escapes nothing")
            items.append(("lit", pattern[i + 1], i))
            i += 2
            continue
        if ch in "[|]":
            items.append((ch, ch, i))
            i += 1
            continue
        word = next((w for w in _WORDS if pattern.startswith(w, i)), None)
        if word:
            items.append(("tok", word, i))
            i += len(word)
            continue
        if ch in _RUN_LETTERS:
            j = i
            while j < len(pattern) and pattern[j] == ch:
                j += 1
            run = pattern[i:j]
            if run in _TOKENS:
                items.append(("tok", run, i))
            elif ch == "f":
                items.append(("tok", "f", i))
            else:
                hint = " (did you mean MON?)" if ch == "M" else ""
                raise DatePatternError(f"'{run}' at position {i + 1} is not a token{hint}; {TOKEN_HELP}")
            i = j
            continue
        if pattern.startswith("EXCEL", i):
            raise DatePatternError("EXCEL and EXCEL1904 must be the whole pattern")
        items.append(("lit", ch, i))
        i += 1
    return items


def _parse(items: list[tuple[str, str, int]]) -> list:
    """Items to a tree: a sequence of ('tok', name), ('lit', char) and ('opt', [alternative sequences])."""
    pos = 0

    def sequence(inside: bool) -> list:
        """Nodes up to the end, or up to the ']' or '|' that closes the current optional part."""
        nonlocal pos
        seq: list = []
        while pos < len(items):
            kind, text, at = items[pos]
            if kind in "]|":
                if not inside:
                    what = "']' without its '['" if kind == "]" else "'|' outside [ ]"
                    raise DatePatternError(f"{what} at position {at + 1} (write \\{text} for a literal)")
                return seq
            pos += 1
            if kind == "[":
                alternatives = [sequence(True)]
                while pos < len(items) and items[pos][0] == "|":
                    pos += 1
                    alternatives.append(sequence(True))
                if pos == len(items):
                    raise DatePatternError(f"'[' at position {at + 1} is never closed by ']'")
                pos += 1
                if not any(alternatives):
                    raise DatePatternError(f"empty optional part '[]' at position {at + 1}")
                seq.append(("opt", alternatives))
            else:
                seq.append((kind, text))
        return seq

    return sequence(False)


def _expansions(seq: list) -> list[list]:
    """Every concrete sequence of tokens and literals a tree can match (optional parts in or out)."""
    out: list[list] = [[]]
    for node in seq:
        if node[0] == "opt":
            choices = [[]] + [e for alt in node[1] for e in _expansions(alt)]
        else:
            choices = [[node]]
        out = [a + b for a in out for b in choices]
        if len(out) > _MAX_EXPANSIONS:
            raise DatePatternError("too many combinations of optional parts")
    return out


def _check(pattern: str, seq: list) -> None:
    """Reject patterns that cannot describe one date: no or two years, a day without month, loose times."""
    for exp in _expansions(seq):
        toks = [n[1] for n in exp if n[0] == "tok"]
        fields = [_FIELD[t] for t in toks if t in _FIELD]
        shown = "".join(n[1] for n in exp) or "(nothing)"
        if "year" not in fields:
            if re.search(r"Y{2}", pattern):
                raise DatePatternError("the year (YYYY or YY) must not be inside an optional part [ ]")
            hint = " (tokens are case-sensitive: write YYYY, not yyyy)" if "yy" in pattern else ""
            raise DatePatternError(f"no year token (YYYY or YY){hint}; {TOKEN_HELP}")
        for field in dict.fromkeys(fields):
            if fields.count(field) > 1:
                raise DatePatternError(f"more than one {field} token in '{shown}'")
        present = set(fields) | ({"unknown"} if "UNK" in toks else set())
        for field, wanted, message in _NEEDS:
            if field in present and not present & wanted:
                raise DatePatternError(f"{message}, in '{shown}'")
        run: list[str] = []
        for node in exp + [("lit", "")]:
            if node[0] == "tok" and node[1] in _NUMERIC:
                run.append(node[1])
                continue
            loose = [t for t in run if t in _VARIABLE_WIDTH]
            if len(loose) > 1:
                raise DatePatternError(f"{' and '.join(loose)} are written next to each other in '{shown}' and "
                                       "each takes a varying number of digits: put a separator between them "
                                       "or use fixed widths (MM, DD, hh)")
            run = []


@lru_cache(maxsize=None)
def compile_pattern(pattern: str) -> DatePattern:
    """Compile one date pattern (cached); a pattern that does not describe a date raises DatePatternError."""
    if not isinstance(pattern, str) or not pattern.strip():
        raise DatePatternError("a date pattern must be non-empty text")
    if pattern in _EXCEL:
        return DatePattern(pattern, r"^(?P<serial>[0-9]{5}(?:\.[0-9]+)?)\Z", (("serial", "serial"),),
                           _EXCEL[pattern])
    tree = _parse(_tokenize(pattern))
    _check(pattern, tree)
    groups: list[tuple[str, str]] = []

    def regex(seq: list) -> str:
        """Regular expression of a sequence of nodes, numbering the named groups."""
        out = ""
        for node in seq:
            if node[0] == "opt":
                out += "(?:" + "|".join(regex(alt) for alt in node[1]) + ")?"
            elif node[0] == "lit":
                out += r"\s+" if node[1] == " " else re.escape(node[1])
            else:
                kind, expr = _TOKENS[node[1]]
                if kind is None:
                    out += f"(?:{expr})"
                else:
                    name = f"{kind}{len(groups)}"
                    groups.append((name, kind))
                    out += f"(?P<{name}>{expr})"
        return out

    return DatePattern(pattern, "^(?:" + regex(tree) + r")\Z", tuple(groups))


@lru_cache(maxsize=None)
def pattern_groups() -> Mapping[str, tuple[str, ...]]:
    """The named pattern groups of mappings/date-patterns.yaml, each expanded to patterns and compiled."""
    path = data_dir("mappings") / PATTERNS_FILE
    try:
        doc = load_yaml(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise SpecError(PATTERNS_FILE, "", f"not valid YAML: {getattr(exc, 'problem', exc)}") from None
    except YamlTooDeep as exc:
        raise SpecError(PATTERNS_FILE, "", f"refused: {exc}") from None
    if not isinstance(doc, dict):
        raise SpecError(PATTERNS_FILE, "", "must map group names to lists of date patterns")
    for name, entries in doc.items():
        if not (isinstance(name, str) and re.fullmatch(r"[a-z][a-z0-9_]*", name)):
            raise SpecError(PATTERNS_FILE, str(name), "a group name is lower-case letters, digits and '_'")
        if not (isinstance(entries, list) and entries and all(isinstance(e, str) for e in entries)):
            raise SpecError(PATTERNS_FILE, name, "must be a non-empty list of date patterns or group names")
    groups: dict[str, tuple[str, ...]] = {}

    def expand(name: str, trail: tuple[str, ...]) -> tuple[str, ...]:
        """A group's patterns, its group names replaced by their patterns; `trail` catches circles."""
        if name in trail:
            raise SpecError(PATTERNS_FILE, name, "groups name each other in a circle: " + " -> ".join(trail + (name,)))
        if name not in groups:
            out: list[str] = []
            for i, entry in enumerate(doc[name]):
                if entry in doc:
                    out += expand(entry, trail + (name,))
                    continue
                try:
                    compile_pattern(entry)
                except DatePatternError as exc:
                    raise SpecError(PATTERNS_FILE, f"{name}[{i}]", f"'{entry}': {exc}") from None
                out.append(entry)
            groups[name] = tuple(dict.fromkeys(out))
        return groups[name]

    for name in doc:
        expand(name, ())
    return MappingProxyType(groups)


def expand_patterns(entries: Sequence[str]) -> tuple[str, ...]:
    """Declared date_patterns entries to patterns: a group name of date-patterns.yaml becomes its patterns."""
    groups = pattern_groups()
    out: list[str] = []
    for entry in entries:
        out += groups.get(entry, (entry,))
    return tuple(dict.fromkeys(out))


_PARSED: dict[tuple[str, ...], pd.DataFrame] = {}     # patterns -> distinct raw text already parsed (iso, error)
_PARSED_LIMIT = 500_000


def parse_dates(values: pd.Series, patterns: Sequence[str] = DEFAULT_PATTERNS) -> tuple[pd.Series, pd.Series]:
    """Parse raw date text to ISO 8601; return (iso or NA, error reason or NA) aligned with `values`.

    Works on the distinct values, and remembers them per declared patterns: a site's visit dates come back in
    every block of its workbook, and are parsed once."""
    key = tuple(patterns)
    codes, uniques = pd.factorize(values.astype("string"), use_na_sentinel=True)
    uniques = pd.Index(uniques, dtype="string")
    known = _PARSED.get(key)
    new = uniques if known is None else uniques[~uniques.isin(known.index)]
    if len(new):
        iso_n, err_n = _parse_unique(pd.Series(new, dtype="string"), key)
        fresh = pd.DataFrame({"iso": iso_n.to_numpy(), "error": err_n.to_numpy()}, index=new).astype("string")
        known = fresh if known is None or len(known) > _PARSED_LIMIT else pd.concat([known, fresh])
        _PARSED[key] = known
    table = known.reindex(uniques) if len(uniques) else pd.DataFrame({"iso": [], "error": []}, dtype="string")
    # one NA row after the distinct values: an empty cell (code -1) picks it, even when every cell is empty
    iso = pd.Series(np.append(table["iso"].to_numpy(dtype=object), pd.NA)[codes], index=values.index, dtype="string")
    err = pd.Series(np.append(table["error"].to_numpy(dtype=object), pd.NA)[codes], index=values.index, dtype="string")
    return iso, err


def _parse_unique(values: pd.Series, patterns: tuple[str, ...]) -> tuple[pd.Series, pd.Series]:
    """parse_dates on distinct values: each pattern in declared order on the values not yet matched.

    Distinct values are few (dates repeat across records and blocks), so each is matched by Python's `re` and
    assembled in Python: a vectorised pass per pattern cost more in per-call overhead than in matching."""
    text = values.astype("string").str.strip()
    raw = [None if pd.isna(t) or t == "" else str(t) for t in text]
    parts: list[dict[str, str | None] | None] = [None] * len(raw)     # each value's parts, by the first match
    for pattern in (compile_pattern(p) for p in expand_patterns(patterns)):
        todo = [i for i, t in enumerate(raw) if t is not None and parts[i] is None]
        if not todo:
            break
        for i, found in zip(todo, pattern.extract_each([raw[i] for i in todo])):
            parts[i] = found
    recognised = "not a recognised date (declared patterns: " + ", ".join(patterns) + ")"
    iso: list[str | None] = []
    error: list[str | None] = []
    for t, p in zip(raw, parts):
        if p is None:
            iso.append(None)
            error.append(None if t is None else recognised)
        else:
            i, e = _assemble_one(p)
            iso.append(i)
            error.append(e)
    return (pd.Series(iso, index=values.index, dtype="string"),
            pd.Series(error, index=values.index, dtype="string"))


def _days_in_month(year: int, month: int) -> int:
    """Days of a month of the proleptic Gregorian calendar (year 0 a leap year, as numpy and pandas have it)."""
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _cat(*texts: str | None) -> str | None:
    """Texts joined, or None when any is missing (as pandas' string concatenation propagates NA)."""
    return None if any(t is None for t in texts) else "".join(texts)     # type: ignore[arg-type]


def _over(text: str | None, limit: int) -> bool:
    return text is not None and text.isdigit() and int(text) > limit


def _assemble_one(p: dict[str, str | None]) -> tuple[str | None, str | None]:
    """One value's parts (y m d hh mi ss) joined into ISO 8601, checking the calendar: (iso, error)."""
    y, m, hh, mi, ss = p["y"], p["m"], p["hh"], p["mi"], p["ss"]
    d = p["d"] if m is not None else None             # an unknown month drops the day
    m2 = m.zfill(2) if m is not None else None
    d2 = d.zfill(2) if d is not None else None
    bad_month = m2 is not None and m2.isdigit() and not 1 <= int(m2) <= 12
    full = y is not None and m2 is not None and d2 is not None
    bad_day = full and not (len(y) == 4 and y.isdigit() and len(m2) == 2 and m2.isdigit() and 1 <= int(m2) <= 12
                            and len(d2) == 2 and d2.isdigit() and 1 <= int(d2) <= _days_in_month(int(y), int(m2)))
    bad_time = _over(hh, 23) or _over(mi, 59) or _over(ss, 59)
    iso = _cat(y, "-", m2) if m2 is not None else y
    if full:
        iso = _cat(y, "-", m2, "-", d2)
    day_iso = iso
    clock = _cat(hh.zfill(2) if hh is not None else None, ":", mi.zfill(2) if mi is not None else None)
    if ss is not None:
        clock = _cat(clock, ":", ss.zfill(2))
    if full and hh is not None and mi is not None:
        iso = _cat(iso, "T", clock)
    error = None
    if bad_month or bad_day:
        error = _cat("impossible calendar date (", day_iso, ")")
    if bad_time:
        error = _cat("impossible time of day (", clock, ")")
    return (None if error is not None else iso), error


def _serial_parts(serial: pd.Series, epoch: pd.Timestamp = EXCEL_EPOCH) -> pd.DataFrame:
    """Excel serial numbers (days since `epoch`, fraction = time of day) to year/month/day/time parts."""
    num = pd.to_numeric(serial, errors="coerce")
    num = num.where((num >= 10000) & (num < 80000))
    ts = epoch + pd.to_timedelta(num.round(6), unit="D")
    out = pd.DataFrame(index=serial.index)
    out["y"] = ts.dt.strftime("%Y")
    out["m"] = ts.dt.strftime("%m")
    out["d"] = ts.dt.strftime("%d")
    has_time = (num % 1).round(6) > 0
    out["hh"] = ts.dt.strftime("%H").where(has_time)
    out["mi"] = ts.dt.strftime("%M").where(has_time)
    out["ss"] = pd.Series(pd.NA, index=serial.index, dtype="string")
    return out


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


def impute_partial_date(dtc: pd.Series, mode: str, min_dates: pd.Series | None = None) -> tuple[pd.Series, pd.Series]:
    """Impute partial ISO 8601 dates: mode 'first' (day 1 / January) or 'last' (month end / December).

    Returns the date and the imputation flag (*DTF): 'D' when the day was imputed, 'M' when month and day,
    'Y' when the year too (never here: a missing year stays missing). With mode 'first' and `min_dates`
    (e.g. treatment start), an imputed date in the same month/year as the minimum date becomes that date,
    so that an event of unknown day in the month of first dose is not moved before the first dose.
    """
    text = dtc.astype("string").str.slice(0, 10)
    parts = text.str.extract(r"^(?P<y>\d{4})(?:-(?P<m>\d{2}))?(?:-(?P<d>\d{2}))?$")
    y, m, d = parts["y"], parts["m"], parts["d"]
    flag = pd.Series(pd.NA, index=dtc.index, dtype="string")
    flag = flag.mask(y.notna() & m.notna() & d.isna(), "D").mask(y.notna() & m.isna(), "M")
    if mode == "first":
        filled = y + "-" + m.fillna("01") + "-" + d.fillna("01")
        out = pd.to_datetime(filled, format="%Y-%m-%d", errors="coerce")
        if min_dates is not None:
            md = pd.to_datetime(min_dates)
            same_month = flag.eq("D").fillna(False) & (out.dt.year == md.dt.year) & (out.dt.month == md.dt.month)
            same_year = flag.eq("M").fillna(False) & (out.dt.year == md.dt.year)
            later = (same_month | same_year) & (md > out)
            out = out.mask(later, md)
    else:
        start = pd.to_datetime(y + "-" + m.fillna("12") + "-01", format="%Y-%m-%d", errors="coerce")
        month_end = start + pd.offsets.MonthEnd(0)
        out = pd.to_datetime(y + "-" + m.fillna("12") + "-" + d.fillna("01"), format="%Y-%m-%d", errors="coerce")
        out = out.mask(d.isna(), month_end)
    return out, flag.where(out.notna())


def treatment_emergent(start_dtc: pd.Series, end_dtc: pd.Series, first_dose: pd.Series, last_dose: pd.Series,
                       window_days: int) -> pd.Series:
    """Whether each event is treatment-emergent, the one rule of SDTM SUPPAE AETRTEM and ADaM ADAE TRTEMFL: it
    starts (partial dates imputed to the first day, not before the first dose in its month) on or after the first
    dose and at most `window_days` after the last; an event of unknown start counts unless it ended before the
    first dose. False without a first dose."""
    first, last = pd.to_datetime(first_dose), pd.to_datetime(last_dose)
    start, _ = impute_partial_date(start_dtc, "first", min_dates=first)
    end, _ = impute_partial_date(end_dtc, "last")
    dated = (start >= first) & (start <= last + pd.to_timedelta(window_days, unit="D"))
    undated = start.isna() & (end.isna() | (end >= first))
    return (first.notna() & (dated | undated)).fillna(False).astype(bool)


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
