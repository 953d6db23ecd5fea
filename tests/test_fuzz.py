"""Properties under fuzzing (hypothesis): ISO 8601 dates, numbers, CSV formula escaping, spec YAML, XPT and
Dataset-JSON round trips, and a validator that never raises. Bounded to about a minute in all."""
from __future__ import annotations

import atexit
import datetime as dt
import shutil
import tempfile
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from cdisc_il2.dates import DatePatternError, compile_pattern, parse_dates
from cdisc_il2.errors import SpecError
from cdisc_il2.formats.datasetjson import read_dataset_json, write_dataset_json
from cdisc_il2.formats.model import ColumnMeta, Dataset
from cdisc_il2.formats.xpt import read_xpt, write_xpt
from cdisc_il2.io import CSV_FLOAT, escape_formulas, float_text, unescape_formulas
from cdisc_il2.mapping.engine import CELL_SEP, parse_numbers, split_cell_refs

# hypothesis keeps its caches in a temporary folder, never a .hypothesis folder in the clone; no example database:
# CI explores afresh each time
_HOME = tempfile.mkdtemp(prefix="hypothesis-")
set_hypothesis_home_dir(_HOME)
atexit.register(shutil.rmtree, _HOME, True)
WHEN = dt.datetime(2015, 6, 30, 12)
QUICK = settings(max_examples=100, deadline=None, database=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture])
SLOW = settings(max_examples=40, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
HEADER = {"created": "2015-06-30T12:00:00", "modified": "2015-06-30T12:00:00", "fileOID": "F", "version": "0",
          "studyOID": "S", "metaDataVersionOID": "M"}


# ------------------------------------------------------------------ ISO 8601 dates

@st.composite
def iso_dates(draw) -> str:
    """A complete or partial ISO 8601 date, with a time only on a complete date."""
    day = draw(st.dates(min_value=dt.date(1000, 1, 1), max_value=dt.date(2999, 12, 31)))
    precision = draw(st.sampled_from(["year", "month", "day", "minute", "second"]))
    if precision == "year":
        return f"{day.year:04d}"
    if precision == "month":
        return f"{day.year:04d}-{day.month:02d}"
    text = day.isoformat()
    if precision == "day":
        return text
    t = draw(st.times())
    return f"{text}T{t:%H:%M}" if precision == "minute" else f"{text}T{t:%H:%M:%S}"


@settings(max_examples=50, deadline=None, database=None)
@given(st.lists(iso_dates(), min_size=1, max_size=40))
def test_iso_dates_come_back_identical(values):
    iso, err = parse_dates(pd.Series(values, dtype="string"), ["iso"])
    assert iso.tolist() == values and err.isna().all()


@settings(max_examples=40, deadline=None, database=None)
@given(st.lists(st.one_of(st.text(max_size=30), st.from_regex(r"[0-9UNK\-/.: T]{1,20}", fullmatch=True)),
                min_size=1, max_size=40),
       st.sampled_from([["iso"], ["default"], ["YYYY.M.D", "UNK-MON-YYYY", "EXCEL"], ["EXCEL1904", "dmy_mon"]]))
def test_random_text_never_breaks_the_date_parser(values, patterns):
    iso, err = parse_dates(pd.Series(values, dtype="string"), patterns)
    assert len(iso) == len(err) == len(values)
    assert not (iso.notna() & err.notna()).any()               # a value is either a date or a reason


@QUICK
@given(st.text(max_size=25))
def test_date_pattern_compiler_only_raises_its_own_error(pattern):
    try:
        compile_pattern(pattern)
    except DatePatternError:
        pass


# ------------------------------------------------------------------ numbers and CSV escaping

@QUICK
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e70, max_value=1e70), max_size=20))
def test_numbers_written_plainly_parse_exactly(values):
    num, why = parse_numbers(pd.Series([repr(v) for v in values], dtype="string"))
    assert why.isna().all() and num.astype("float64").tolist() == [v + 0.0 for v in values]


@QUICK
@given(st.lists(st.one_of(st.floats(), st.sampled_from([0.0, -0.0, 1e-300, 2.0])), max_size=30))
def test_floats_are_written_as_pandas_float_format_writes_them(values):
    """write_csv's per-distinct-value formatting gives the bytes of to_csv(float_format=CSV_FLOAT), -0.0 and
    NaN included."""
    import io

    frame = pd.DataFrame({"A": pd.Series(values, dtype="float64"), "B": 1})
    by_pandas, ours = io.StringIO(), io.StringIO()
    frame.to_csv(by_pandas, index=False, lineterminator="\n", float_format=CSV_FLOAT)
    frame.assign(A=float_text(frame["A"])).to_csv(ours, index=False, lineterminator="\n")
    assert ours.getvalue() == by_pandas.getvalue()


_TEXT = st.one_of(st.none(), st.just(""), st.text(max_size=10),
                  st.text(alphabet="=+-@'\t\r\n 0123456789.,\"PT:é", max_size=8),
                  st.sampled_from(["NA", "null", "N/A", "nan", "None", "<NA>", " NA"]))
_FLOAT = st.one_of(st.none(), st.floats(), st.sampled_from([0.0, -0.0, 1e-300, 2.0, 1 / 3]))
_COLUMNS = {           # (column name in LB or ADLB: a numeric variable, a text one, one the standards do not know)
    "text": (_TEXT, "string"), "object": (st.one_of(st.none(), st.text(max_size=6)), object),
    "float": (_FLOAT, "float64"), "Float64": (_FLOAT.filter(lambda v: v is None or v == v), "Float64"),
    "Int64": (st.one_of(st.none(), st.integers(-10 ** 12, 10 ** 12)), "Int64"),
    "int": (st.integers(-10 ** 12, 10 ** 12), "int64"), "bool": (st.booleans(), bool),
}
# and text held as categoricals (the trace of raw cells), written and read back as its text
_WRITTEN_COLUMNS = {**_COLUMNS, "category": (_TEXT, "category")}


@QUICK
@given(st.sampled_from(["LB", "ADLB", "XX"]), st.data())
def test_a_frame_handed_on_in_memory_is_the_frame_its_csv_reads_back_as(name, data):
    """csv_dataset (what one stage hands the next) equals read_csv_dataset of the file write_csv writes, value
    for value and type for type, for every kind of column a stage makes, under every kind of variable name."""
    from cdisc_il2.formats import csv_dataset, read_csv_dataset
    from cdisc_il2.io import write_csv

    n = data.draw(st.integers(1, 12))
    frame = pd.DataFrame({})
    names = {"LB": ["LBSTRESN", "LBORRES", "LBXX"], "ADLB": ["AVAL", "PARAM", "ZZNAME"], "XX": ["A1", "B2", "C3"]}[name]
    for i, kind in enumerate(data.draw(st.lists(st.sampled_from(sorted(_COLUMNS)), min_size=1, max_size=4))):
        values, dtype = _COLUMNS[kind]
        frame[f"{names[i % 3]}{i // 3 or ''}"] = pd.Series(data.draw(st.lists(values, min_size=n, max_size=n)),
                                                             dtype=dtype)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name.lower()}.csv"
        write_csv(path, frame)
        read = read_csv_dataset(path)
    made = csv_dataset(name, frame, path)
    pd.testing.assert_frame_equal(made.frame, read.frame, check_exact=True)
    assert made.columns == read.columns
    for c in read.frame.columns:
        if read.frame[c].dtype == "float64":                     # -0.0 read back as it reads
            assert np.array_equal(np.signbit(made.frame[c].to_numpy()), np.signbit(read.frame[c].to_numpy()))


@QUICK
@given(st.data())
def test_csv_is_written_byte_for_byte_as_pandas_writes_it(data):
    """write_frame_csv's per-distinct-value fields give the bytes of pandas' to_csv (the csv module's minimal
    quoting: commas, quotes, line feeds; a one-column record that would be empty), for every kind of column, and
    write_csv streams those bytes into the file whatever the chunk of records written at a time."""
    import io
    from unittest import mock

    import cdisc_il2.io as cio
    from cdisc_il2.io import pandas_csv, write_frame_csv

    n = data.draw(st.integers(0, 10))
    frame = pd.DataFrame({})
    for i, kind in enumerate(data.draw(st.lists(st.sampled_from(sorted(_WRITTEN_COLUMNS)), min_size=1, max_size=4))):
        values, dtype = _WRITTEN_COLUMNS[kind]
        name = data.draw(st.sampled_from(["A", "B,C", 'say "x"', "", "L\nF", "=SUM(1)"])) + str(i)
        frame[name] = pd.Series(data.draw(st.lists(values, min_size=n, max_size=n)), dtype=dtype)
    text = frame.astype("string")
    assume(not any(text[c].str.contains("\r", regex=False).any() for c in text.columns))   # all quoted: pandas' path
    for c in frame.columns:              # a category no record uses (a subset of the trace) changes nothing
        if isinstance(frame[c].dtype, pd.CategoricalDtype) and "\r=unused" not in frame[c].cat.categories:
            frame[c] = frame[c].cat.add_categories(["\r=unused"])
    ours, by_pandas = io.StringIO(), io.StringIO()
    chunk = data.draw(st.sampled_from([1, 3, cio.CSV_CHUNK]))         # records are written a chunk at a time
    with mock.patch.object(cio, "CSV_CHUNK", chunk), tempfile.TemporaryDirectory() as tmp:
        write_frame_csv(ours, frame)
        cio.write_csv(Path(tmp) / "f.csv", frame)
        written = (Path(tmp) / "f.csv").read_bytes()
    pandas_csv(by_pandas, escape_formulas(frame))
    assert ours.getvalue() == by_pandas.getvalue()
    assert written == by_pandas.getvalue().encode("utf-8")
    as_text = {c: frame[c].astype("string") for c in frame if isinstance(frame[c].dtype, pd.CategoricalDtype)}
    if as_text:                               # categories are escaped as the same text in a string column would be
        plain = io.StringIO()
        pandas_csv(plain, escape_formulas(frame.assign(**as_text)))
        assert ours.getvalue() == plain.getvalue()


@QUICK
@given(st.lists(st.text(max_size=12), max_size=20))
def test_number_parser_never_raises_and_gives_a_reason_for_each_failure(values):
    num, why = parse_numbers(pd.Series(values, dtype="string"))
    present = pd.Series(values, dtype="string").str.strip().replace("", pd.NA).notna()
    assert (num.notna() | why.notna() | ~present).all()
    assert not (num.notna() & why.notna()).any()
    assert np.isfinite(num.dropna().astype("float64")).all()


_PART = st.text(alphabet=st.sampled_from(["a", "é", "1", "0", " ", "\n", "\t", CELL_SEP, "-", "ß", "語"]), max_size=6)


@QUICK
@given(st.lists(st.one_of(st.none(), _PART, st.lists(_PART, min_size=1, max_size=6).map(CELL_SEP.join)), max_size=25))
def test_cell_references_split_as_python_splits_them(values):
    """split_cell_refs is str.split(CELL_SEP, 3) of each reference: a part it lacks is missing; the row a number
    when it is digits only."""
    got = split_cell_refs(pd.Series(values, dtype="string", index=pd.RangeIndex(len(values)) * 2 + 5))
    assert list(got.index) == [2 * i + 5 for i in range(len(values))]
    for (_, row), value in zip(got.iterrows(), values):
        parts = [] if value is None else value.split(CELL_SEP, 3)
        parts += [None] * (4 - len(parts))
        number = int(parts[2]) if parts[2] is not None and parts[2].isascii() and parts[2].isdigit() else None
        as_read = [None if pd.isna(v) else v for v in (row["file"], row["sheet"], row["row"], row["heading"])]
        assert as_read == [parts[0], parts[1], number, parts[3]]


_NAME = st.text(alphabet=st.sampled_from(["a", "é", "1", " ", "-", "語"]), max_size=6)      # files, sheets


@QUICK
@given(st.lists(st.tuples(_NAME, _NAME, st.integers(1, 10 ** 6), st.one_of(st.none(), _PART, _PART.map("({})".format))),
                min_size=1, max_size=12), st.booleans())
def test_a_cell_is_placed_where_it_was_read_whatever_its_heading_holds(cells, moved):
    """cell_refs names a cell by its heading (in the record's own file, sheet and row; a heading holding
    CELL_SEP in full), and cell_places gives back file, sheet, row and heading, also once full_cell_refs has
    named them for a merge that moves the value to a record of another row; a heading in parentheses (a
    constant or template) or none is no cell."""
    from cdisc_il2.mapping.engine import SRC_FILE, SRC_ROW, SRC_SHEET, cell_places, cell_refs, full_cell_refs

    frame = pd.DataFrame({SRC_FILE: [c[0] for c in cells], SRC_SHEET: [c[1] for c in cells],
                          SRC_ROW: [c[2] for c in cells]})
    heading = pd.Series([c[3] for c in cells], dtype="object")
    refs, _ = cell_refs(frame, heading, heading)
    if moved:                             # the records the values moved to are in another file's rows
        refs = full_cell_refs(frame, refs)
        frame = frame.assign(**{SRC_FILE: "other.xlsx", SRC_ROW: 0})
    places = cell_places(frame, refs)
    for (_, got), (file, sheet, row, head) in zip(places.iterrows(), cells):
        read = [None if pd.isna(v) else v for v in got[["file", "sheet", "row", "heading"]]]
        assert read == ([None] * 4 if head is None or head.startswith("(") else [file, sheet, row, head])


@QUICK
@given(st.lists(st.one_of(st.none(), st.text(max_size=15),
                          st.text(alphabet="=+-@'\t\r0123456789.PT:", max_size=8)), min_size=1, max_size=20))
def test_formula_escaping_round_trips_and_leaves_nothing_runnable(values):
    """In a column of objects, of text (whose columns without a formula lead are skipped in one Arrow pass) and
    of categories (escaped once per category): the same text escaped, undone exactly, nothing runnable left."""
    escaped = None
    for dtype in ("object", "string", "category"):
        frame = pd.DataFrame({"TEXT": pd.Series(values, dtype=dtype), "NUM": np.arange(len(values)) - 3.0})
        out = escape_formulas(frame)
        pd.testing.assert_frame_equal(unescape_formulas(out), frame)
        assert out["NUM"].equals(frame["NUM"])
        text = out["TEXT"].astype("string").fillna("\0").tolist()
        assert escaped is None or text == escaped, dtype
        escaped = text
        risky = out["TEXT"].dropna().astype(str)
        starts = risky[risky.str[:1].isin(list("=+-@\t\r"))]
        assert starts.str.fullmatch(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|-[-0-9T:.]*|"
                                    r"[+-]?P[0-9YMWDTHS.,]+").all()


# ------------------------------------------------------------------ mapping spec YAML

@SLOW
@given(st.text(alphabet="ab:[]{}&*-, \n'\"!#|>%@0", max_size=80))
def test_random_yaml_is_a_spec_error_never_a_crash(tmp_path, text):
    from cdisc_il2.mapping.spec import load_spec

    path = tmp_path / "site.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        load_spec(path)
    except SpecError:
        pass


# ------------------------------------------------------------------ XPT and Dataset-JSON round trips

TEXT = st.one_of(st.none(), st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1,
                                    max_size=200).map(str.rstrip).filter(bool))
NUMBER = st.one_of(st.none(), st.just(0.0),
                   st.floats(allow_nan=False, allow_infinity=False, min_value=1e-70, max_value=1e70),
                   st.floats(allow_nan=False, allow_infinity=False, min_value=-1e70, max_value=-1e-70))


@st.composite
def frames(draw) -> tuple[pd.DataFrame, list[ColumnMeta]]:
    """A frame of 0-12 rows with 1-5 text or numeric columns."""
    n = draw(st.integers(0, 12))
    kinds = draw(st.lists(st.sampled_from(["Char", "Num"]), min_size=1, max_size=5))
    data, meta = {}, []
    for i, kind in enumerate(kinds):
        name = f"V{i}"
        values = draw(st.lists(TEXT if kind == "Char" else NUMBER, min_size=n, max_size=n))
        data[name] = (pd.Series(values, dtype="string") if kind == "Char"
                      else pd.Series([np.nan if v is None else v for v in values], dtype="float64"))
        meta.append(ColumnMeta(name, f"Label {i}", kind))
    return pd.DataFrame(data), meta


def _same(read: pd.DataFrame, frame: pd.DataFrame, meta: list[ColumnMeta]) -> None:
    assert list(read.columns) == list(frame.columns) and len(read) == len(frame)
    for m in meta:
        a, b = read[m.name], frame[m.name]
        if m.type == "Num":
            x, y = a.astype("float64").to_numpy(), b.to_numpy()
            assert (np.isnan(x) == np.isnan(y)).all()
            ok = ~np.isnan(y)
            assert (x[ok] == y[ok]).all()
        else:
            assert a.astype("string").fillna("\0").tolist() == b.fillna("\0").tolist()


@SLOW
@given(frames())
def test_xpt_round_trip(tmp_path, case):
    frame, meta = case
    # XPT v5 stores no record count: trailing all-blank rows of an all-character dataset that fit in the last
    # record's blank padding cannot be told from it (SAS reads them the same way)
    assume(not (len(frame) and all(m.type == "Char" for m in meta) and frame.iloc[-1].isna().all()))
    path = tmp_path / "fz.xpt"
    write_xpt(Dataset("FZ", "Fuzz", frame, meta), path, WHEN)
    _same(read_xpt(path).frame, frame, meta)
    from unittest import mock

    import cdisc_il2.formats.xpt as xpt

    with mock.patch.object(xpt, "XPT_CHUNK", 2):           # observations are written a chunk at a time
        write_xpt(Dataset("FZ", "Fuzz", frame, meta), tmp_path / "chunked.xpt", WHEN)
    assert (tmp_path / "chunked.xpt").read_bytes() == path.read_bytes()


@SLOW
@given(frames(), st.sampled_from(["json", "ndjson", "dsjc"]))
def test_dataset_json_round_trip(tmp_path, case, kind):
    frame, meta = case
    ds = Dataset("FZ", "Fuzz", frame, meta)
    path = tmp_path / f"fz.{'ndjson' if kind != 'json' else 'json'}"
    write_dataset_json(ds, path, HEADER, ndjson=kind != "json")
    if kind == "dsjc":
        packed = tmp_path / "fz.dsjc"
        packed.write_bytes(zlib.compress(path.read_bytes()))
        path = packed
    _same(read_dataset_json(path).frame, frame, meta)            # every float exactly, in JSON as in NDJSON
    if kind == "json":                                           # rows are written a chunk at a time
        from unittest import mock

        import cdisc_il2.formats.datasetjson as dsj

        with mock.patch.object(dsj, "JSON_CHUNK", 2):
            write_dataset_json(ds, tmp_path / "chunked.json", HEADER)
        assert (tmp_path / "chunked.json").read_bytes() == path.read_bytes()


@SLOW
@given(frames(), st.sampled_from([[], [0.0, -0.0, np.nan, 1 / 3], [2.0 ** 53, -1.0, 5.0]]))
def test_ndjson_lines_are_the_json_encoders_of_each_row(tmp_path, case, extra):
    """NDJSON rows encoded once per distinct value per column give, line for line, the bytes of the JSON
    encoder on each row's values (-0.0, NaN as null, integers and text included)."""
    import json

    from cdisc_il2.formats.datasetjson import _rows_of, column_definitions, value_frame

    frame, meta = case
    if extra and len(frame):
        frame = frame.assign(X=pd.Series((extra * len(frame))[:len(frame)], dtype="float64"))
        meta = [*meta, ColumnMeta("X", "Extra", "Num")]
    ds = Dataset("FZ", "Fuzz", frame, meta)
    path = tmp_path / "fz.ndjson"
    write_dataset_json(ds, path, HEADER, ndjson=True)
    enc = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
    expected = [enc.encode(r) for r in _rows_of(value_frame(frame, column_definitions(ds)))]
    assert path.read_text(encoding="utf-8").split("\n")[1:-1] == expected


JSON_TEXT = st.one_of(st.none(), st.text(max_size=12),
                      st.sampled_from(["a/b", "\\/", "\x00", "\x01", "\u2028", "é\n\r\t\"", "\x7f", "\ud7ff"]))
JSON_NUMBER = st.one_of(NUMBER, st.sampled_from([-0.0, 1 / 3, 2.0 ** 53, 1e15, 1e16 + 2, 1.2345678e-15,
                                                 1.0000000000000002, 123456789012345.6, -5.0]))


def _whole_frame_json(cells: pd.DataFrame) -> bytes:
    """The rows as the writer once made them, the reference: pandas' to_json of the whole frame, the floats it
    would round carried as marked text and unmarked after (Python's encoder when a text holds a mark)."""
    import json

    import pyarrow as pa

    from cdisc_il2.formats.datasetjson import _lossy, _rows_of

    lossy = {c: _lossy(cells[c].to_numpy(dtype="float64")) for c in cells.columns if cells[c].dtype == "float64"}
    lossy = {c: m for c, m in lossy.items() if m.any()}
    texts = [c for c in cells.columns if isinstance(cells[c].dtype, pd.StringDtype)]
    if not lossy:
        return cells.to_json(orient="values", double_precision=15, force_ascii=False).encode("utf-8")
    if any(cells[c].str.contains(m, regex=False).any() for c in texts for m in ("\x00", "\x01")):
        return json.dumps(_rows_of(cells), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    marked = cells.copy()
    for c, mask in lossy.items():
        col = cells[c].astype(object)
        exact = pa.array(cells[c].to_numpy(dtype="float64")[mask]).cast(pa.string())
        col[mask] = ("\x00" + pd.Series(pd.arrays.ArrowStringArray(exact)) + "\x01").to_numpy(dtype=object)
        marked[c] = col
    text = marked.to_json(orient="values", double_precision=15, force_ascii=False).encode("utf-8")
    return text.replace(b'"\\u0000', b"").replace(b'\\u0001"', b"")


@SLOW
@given(st.integers(0, 9).flatmap(lambda n: st.tuples(
    st.lists(JSON_TEXT, min_size=n, max_size=n), st.lists(JSON_NUMBER, min_size=n, max_size=n),
    st.lists(st.one_of(st.none(), st.integers(-2 ** 53, 2 ** 53)), min_size=n, max_size=n))), st.integers(1, 4))
def test_json_rows_are_the_bytes_of_pandas_writing_the_whole_frame(case, chunk):
    """Rows encoded once per distinct value per column and joined by Arrow, a chunk at a time, give the bytes of
    pandas' writer on the whole frame with the exact floats spliced in (the writer's earlier way): '/' as '\\/',
    -0.0, 1e16, text with quotes, line breaks and the marks included."""
    from unittest import mock

    import cdisc_il2.formats.datasetjson as dsj

    text, number, whole = case
    cells = pd.DataFrame({"T": pd.Series(text, dtype="string").fillna(""),
                          "N": pd.Series([np.nan if v is None else v for v in number], dtype="float64"),
                          "I": pd.Series(whole, dtype="Int64")})
    with mock.patch.object(dsj, "JSON_CHUNK", chunk):
        got = b"".join(dsj._json_rows(cells))
    assert got == _whole_frame_json(cells)


@SLOW
@given(st.lists(st.one_of(JSON_NUMBER, st.just(float("nan")), st.floats(allow_nan=False, allow_infinity=True)),
                max_size=12))
def test_a_float_key_is_the_text_of_the_value_rounded_whatever_repeats(values):
    """frames.key_text makes each distinct float's text once (by bit pattern): the text pandas gives each
    record's rounded value (-0.0, NaN as missing, infinities included), index and name kept."""
    from cdisc_il2.frames import KEY_DECIMALS, key_text

    column = pd.Series([np.nan if v is None else v for v in values * 2], dtype="float64", name="VISITNUM",
                       index=range(100, 100 + 2 * len(values)))
    pd.testing.assert_series_equal(key_text(column), column.round(KEY_DECIMALS).astype("string"))


# ------------------------------------------------------------------ the validator never raises

ANY_TEXT = st.one_of(st.none(), st.text(max_size=20), st.sampled_from(["", "2014-02-30", "UNK", "-1", "1e400", "NaN",
                                                                       "=1+1", "AE", "IL2-SLE-01"]))


@settings(max_examples=8, deadline=None, database=None)
@given(st.integers(1, 6).flatmap(lambda n: st.fixed_dictionaries(
    {c: st.lists(ANY_TEXT, min_size=n, max_size=n)
     for c in ("STUDYID", "DOMAIN", "USUBJID", "AESEQ", "AETERM", "AEDECOD", "AESTDTC", "AEENDTC", "AESER")})))
def test_validator_never_raises_on_sdtm_shaped_text(columns):
    from cdisc_il2.validate import validate_datasets

    frame = pd.DataFrame({c: pd.Series(v, dtype="string") for c, v in columns.items()})
    dm = pd.DataFrame({"STUDYID": frame["STUDYID"], "DOMAIN": "DM", "USUBJID": frame["USUBJID"]})
    result = validate_datasets({"AE": Dataset("AE", None, frame, []), "DM": Dataset("DM", None, dm, [])})
    assert {"rule_id", "dataset"} <= set(result.findings.columns)      # findings and rule errors are fine


def test_validator_reads_a_folder_of_random_csvs_without_raising(tmp_path):
    from cdisc_il2.validate import validate_folder

    rng = np.random.default_rng(13)
    junk = ["", "x", "-1", "1e999", "2014-13-45", "=cmd|' /C calc'!A0", "头痛", "NaN", '"', "a,b"]
    frame = pd.DataFrame({c: rng.choice(junk, 30) for c in ("STUDYID", "DOMAIN", "USUBJID", "AESEQ", "AETERM",
                                                               "AESTDTC")})
    frame.to_csv(tmp_path / "ae.csv", index=False)
    frame.assign(DOMAIN="DM").drop(columns=["AESEQ", "AETERM", "AESTDTC"]).to_csv(tmp_path / "dm.csv", index=False)
    result = validate_folder(tmp_path)
    assert not result.unreadable and len(result.findings)


@QUICK
@given(st.data())
def test_a_frame_handed_to_the_report_is_its_csv_read_back_as_text(data):
    """io.text_frame (what the run hands the report) equals pd.read_csv(dtype="string", keep_default_na=False)
    of the file write_csv writes, and io.read_back_frame (what it hands the comparison) equals pd.read_csv(
    dtype="string"), for every kind of column a stage makes (formulas, CR, NaN, -0.0, 'NA', 'null' included)."""
    from cdisc_il2.io import read_back_frame, text_frame, write_csv

    n = data.draw(st.integers(0, 12))
    frame = pd.DataFrame({})
    for i, kind in enumerate(data.draw(st.lists(st.sampled_from(sorted(_WRITTEN_COLUMNS)), min_size=1, max_size=4))):
        values, dtype = _WRITTEN_COLUMNS[kind]
        frame[f"C{i}"] = pd.Series(data.draw(st.lists(values, min_size=n, max_size=n)), dtype=dtype)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.csv"
        write_csv(path, frame)
        read = pd.read_csv(path, dtype="string", keep_default_na=False)
        read_default = pd.read_csv(path, dtype="string") if len(frame.columns) > 1 else None
    pd.testing.assert_frame_equal(text_frame(frame), read, check_exact=True)
    if read_default is not None:        # one column: read_csv's defaults skip a line of blanks as an empty line
        pd.testing.assert_frame_equal(read_back_frame(frame), read_default, check_exact=True)
