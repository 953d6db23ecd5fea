"""The catalogue of bad inputs (tests/bad_inputs/README.md): each case gives one line naming the file and the place
in it, a documented exit code, and writes nothing it should not; nothing is lost or executed."""
from __future__ import annotations

import datetime as dt
import json
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from bad_inputs.build import (AE, AE_BLOCK, DEMOGRAPHY, DM_BLOCK, DOSING, EX_BLOCK, blank_tail, cache_formulas,
                              rewrite_part, spec, workbook, zip_bomb)
from cdisc_il2 import ingest
from cdisc_il2.cli import app
from cdisc_il2.errors import InputError, SpecError
from cdisc_il2.formats import read_dataset
from cdisc_il2.formats import xpt as xptmod
from cdisc_il2.formats.model import ColumnMeta, Dataset
from cdisc_il2.io import escape_formulas, unescape_formulas
from cdisc_il2.mapping.spec import load_spec

WHEN = dt.datetime(2015, 6, 30, 12)
DM_ROWS = [DEMOGRAPHY, ["001", "F", "2014-03-18"]]


def _convert(tmp_path: Path, specs: Path, transfer: str = "t"):
    return CliRunner().invoke(app, ["convert", str(tmp_path / transfer), "--out", str(tmp_path / "out"),
                                    "--mappings", str(specs)])


def _said(res) -> str:
    """The command's output with white space normalised (the terminal may wrap long lines)."""
    return " ".join(res.output.split())


def _rejects(tmp_path: Path) -> pd.DataFrame:
    return pd.read_csv(tmp_path / "out" / "rejects.csv", dtype="string", keep_default_na=False)


def _outputs_text(folder: Path) -> str:
    return "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in sorted(folder.rglob("*")) if p.is_file())


# ------------------------------------------------------------------ 1. the 1904 date system

def test_1904_workbook_gives_the_dates_of_the_1900_one(tmp_path):
    rows = {1900: [["001", "F", dt.datetime(2014, 3, 18)], ["002", "M", 41716], ["003", "F", "2014-03-18"]],
            1904: [["001", "F", dt.datetime(2014, 3, 18)], ["002", "M", 40254], ["003", "F", "2014-03-18"]]}
    dates = {}
    for system, data in rows.items():
        workbook(tmp_path / str(system) / "site09_a.xlsx", {"Demography": [DEMOGRAPHY, *data]},
                 date1904=system == 1904)
        res = CliRunner().invoke(app, ["convert", str(tmp_path / str(system)), "--out", str(tmp_path / f"o{system}"),
                                       "--mappings", str(spec(tmp_path / "s", [DM_BLOCK]))])
        assert res.exit_code == 0, res.output
        dm = pd.read_csv(tmp_path / f"o{system}" / "sdtm" / "dm.csv", dtype="string")
        dates[system] = dm["RFICDTC"].tolist()
    assert dates[1900] == dates[1904] == ["2014-03-18"] * 3
    acc = pd.read_csv(tmp_path / "o1904" / "accountability.csv", dtype="string")
    assert acc["note"].tolist()[0] == ("sheet 'Demography': dates and Excel serial numbers read in the 1904 date "
                                       "system of site09_a.xlsx")
    assert "1904 date system" in _said(res)          # printed as a warning by convert


def test_explicit_excel1904_pattern_keeps_its_meaning(tmp_path):
    workbook(tmp_path / "t" / "site09_a.xlsx", {"Demography": [DEMOGRAPHY, ["002", "M", 40254]]})
    res = _convert(tmp_path, spec(tmp_path / "s", [DM_BLOCK], date_patterns=["iso", "excel1904"]))
    assert res.exit_code == 0, res.output
    assert pd.read_csv(tmp_path / "out" / "sdtm" / "dm.csv")["RFICDTC"].tolist() == ["2014-03-18"]


# ------------------------------------------------------------------ 2. zip bombs and size limits

def test_zip_bomb_is_refused_before_it_is_expanded(tmp_path):
    bomb = zip_bomb(tmp_path / "t" / "site09_bomb.xlsx", 64 * 1024 ** 2)
    part = zipfile.ZipFile(bomb).getinfo("xl/worksheets/sheet1.xml")
    tracemalloc.start()
    res = _convert(tmp_path, spec(tmp_path / "s", [DM_BLOCK]))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < part.file_size / 4                  # refused from the zip directory, never expanded
    ratio = part.file_size / part.compress_size
    assert res.exit_code == 3
    assert (f"error: site09_bomb.xlsx: refused before reading: part 'xl/worksheets/sheet1.xml' expands {ratio:,.0f} "
            f"times ({part.compress_size:,} to {part.file_size:,} bytes), more than the 100:1 a real sheet reaches "
            "(a zip bomb?) (limit MAX_PART_RATIO)") in _said(res)
    assert not (tmp_path / "out").exists()


def test_workbook_expanding_beyond_the_total_limit_is_refused(tmp_path, monkeypatch):
    path = workbook(tmp_path / "t" / "site09_a.xlsx", {"Demography": DM_ROWS})
    total = sum(p.file_size for p in zipfile.ZipFile(path).infolist())
    monkeypatch.setattr(ingest, "MAX_XLSX_EXPANDED", 10 * 1024)
    res = _convert(tmp_path, spec(tmp_path / "s", [DM_BLOCK]))
    assert res.exit_code == 3
    assert (f"error: site09_a.xlsx: refused before reading: its parts expand to {total / 1024 ** 2:,.0f} MiB, more "
            "than the 0 MiB allowed for one workbook (limit MAX_XLSX_EXPANDED; split the workbook)") in _said(res)
    assert not (tmp_path / "out").exists()


def test_200000_trailing_blank_rows_are_skipped_quickly(tmp_path):
    path = workbook(tmp_path / "t" / "site09_a.xlsx", {"Demography": DM_ROWS})
    blank_tail(path, "xl/worksheets/sheet1.xml", 200_000, 3)
    sheet = ingest.Workbook(path).sheet("Demography")
    assert len(sheet.frame) == 1 and sheet.blank_rows == 200_000
    res = _convert(tmp_path, spec(tmp_path / "s", [DM_BLOCK]))
    assert res.exit_code == 0, res.output
    acc = pd.read_csv(tmp_path / "out" / "accountability.csv")
    assert acc[["rows_read", "rows_mapped", "blank_rows_skipped", "balanced"]].values.tolist() == [[1, 1, 200000, True]]


def test_encrypted_workbook_or_old_xls_named_xlsx(tmp_path):
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "site09_a.xlsx").write_bytes(ingest.OLE2_MAGIC + b"\x00" * 504)
    res = _convert(tmp_path, spec(tmp_path / "s", [DM_BLOCK]))
    assert res.exit_code == 3
    assert ("error: site09_a.xlsx: an encrypted (password-protected) workbook or an old binary .xls, not an .xlsx: "
            "remove the password, or save it as .xlsx (Excel Workbook), and send it again") in _said(res)
    assert not (tmp_path / "out").exists()


def test_corrupted_workbook(tmp_path):
    path = workbook(tmp_path / "t" / "site09_a.xlsx", {"Demography": DM_ROWS})
    path.write_bytes(path.read_bytes()[:-300])       # cut short: the zip directory is gone
    res = _convert(tmp_path, spec(tmp_path / "s", [DM_BLOCK]))
    assert res.exit_code == 3
    assert "error: site09_a.xlsx: cannot be read as an Excel workbook (File is not a zip file)" in _said(res)


# ------------------------------------------------------------------ workbook shape: sheets, headings, cells

@pytest.mark.parametrize("sheets, message", [
    ({"Demographics": DM_ROWS}, "site09_a.xlsx: no sheet 'Demography' (sheets: Demographics)"),
    ({"Demography": [["Subject ID", "Sex", "sex"], ["001", "F", "F"]]},
     "site09_a.xlsx, sheet 'Demography': heading 'sex' appears twice in row 1"),
    ({"Demography": [[None], ["Site 09 export"], DEMOGRAPHY, ["001", "F", "2014-03-18"]]},
     "site09_a.xlsx, sheet 'Demography': row 1 holds no headings (the first non-blank row is 2: if the headings are "
     "there, set header_row: 2 in the spec block)"),
    ({"Demography": [], "Other": [["x"]]},
     "site09_a.xlsx, sheet 'Demography': row 1 holds no headings (the sheet is empty)"),
    ({"Demography": [DEMOGRAPHY, ["001", "F", "2014-03-18", "stray note"]]},
     "site09_a.xlsx, sheet 'Demography', row 2: value 'stray note' in a column without a heading"),
])
def test_sheet_shape_problems_are_named(tmp_path, sheets, message):
    workbook(tmp_path / "t" / "site09_a.xlsx", sheets)
    res = _convert(tmp_path, spec(tmp_path / "s", [DM_BLOCK]))
    assert res.exit_code == 3
    assert f"error: {message}" in _said(res)
    assert not (tmp_path / "out").exists()


ENTITIES = '<!ENTITY lol "lol">' + "".join(f'<!ENTITY lol{i} "' + (f"&lol{i - 1};" if i > 1 else "&lol;") * 10 + '">'
                                           for i in range(1, 10))


@pytest.mark.parametrize("dtd, ref, why", [
    (f"<!DOCTYPE worksheet [{ENTITIES}]>", "&lol9;", "unrecognized entity `&lol9;`"),
    ('<!DOCTYPE worksheet [<!ENTITY xxe SYSTEM "file:///etc/hostname">]>', "&xxe;", "unrecognized entity `&xxe;`"),
])
def test_xml_entity_bomb_or_external_entity_in_a_sheet_is_refused(tmp_path, dtd, ref, why):
    path = workbook(tmp_path / "t" / "site09_a.xlsx", {"Demography": DM_ROWS})
    rewrite_part(path, "xl/worksheets/sheet1.xml",
                 lambda xml: dtd.encode() + xml.replace(b"<t>001</t>", f"<t>{ref}</t>".encode()))
    res = _convert(tmp_path, spec(tmp_path / "s", [DM_BLOCK]))
    assert res.exit_code == 3
    said = _said(res)        # the cell reader never expands or resolves an entity: it refuses the sheet
    assert "error: site09_a.xlsx, sheet 'Demography': damaged or hostile sheet XML, refused (" in said and why in said
    assert not (tmp_path / "out").exists()


def test_impossible_date_is_listed_with_its_cell_and_kept(tmp_path):
    workbook(tmp_path / "t" / "site09_a.xlsx", {"Demography": [DEMOGRAPHY, ["001", "F", "2014-02-30"]]})
    (tmp_path / "t" / "site09_old.xls").write_bytes(ingest.OLE2_MAGIC + b"\x00" * 504)
    res = _convert(tmp_path, spec(tmp_path / "s", [DM_BLOCK]))
    assert res.exit_code == 0, res.output
    rej = _rejects(tmp_path)
    assert rej[["row", "column", "value", "reason", "disposition"]].values.tolist() == [
        ["2", "Consent date", "2014-02-30", "impossible calendar date (2014-02-30)", "value kept as collected"]]
    acc = pd.read_csv(tmp_path / "out" / "accountability.csv").set_index("file")
    assert acc.loc["site09_old.xls", "note"] == ("site09_old.xls: no mapping spec matches this file (patterns: "
                                                 "'site09_*.xlsx'): it was not read")


def test_a_full_disk_names_the_file_and_leaves_no_half_file(tmp_path, monkeypatch):
    import errno

    import cdisc_il2.io as cio

    workbook(tmp_path / "t" / "site09_a.xlsx", {"Demography": DM_ROWS})
    real = Path.write_bytes

    def full(self, data):
        if self.name.startswith(".dm.csv."):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, data)

    class FullFile:                        # a file on a full disk: opening works, the first write fails
        def __init__(self, fh):
            self.fh = fh

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.fh, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

    def full_open(path, mode="r", *args, **kwargs):
        fh = open(path, mode, *args, **kwargs)
        return FullFile(fh) if "w" in mode and Path(path).name.startswith(".dm.csv.") else fh

    monkeypatch.setattr(Path, "write_bytes", full)          # files written whole
    monkeypatch.setattr(cio, "open", full_open, raising=False)     # and files streamed (write_with)
    res = _convert(tmp_path, spec(tmp_path / "s", [DM_BLOCK]))
    assert res.exit_code == 3
    assert f"error: {tmp_path / 'out' / 'sdtm' / 'dm.csv'}: No space left on device" in _said(res)
    assert not list((tmp_path / "out").rglob("*.tmp")) and not (tmp_path / "out" / "sdtm" / "dm.csv").exists()


# ------------------------------------------------------------------ 3. XPT: truncated, not XPT, too large

def _xpt(tmp_path: Path, rows: int = 40, name: str = "dm") -> Path:
    frame = pd.DataFrame({"STUDYID": ["IL2-SLE-01"] * rows, "DOMAIN": ["DM"] * rows,
                          "USUBJID": [f"IL2-SLE-01-01-{i:03d}" for i in range(rows)],
                          "AGE": np.arange(rows, dtype="float64") + 20})
    path = tmp_path / f"{name}.xpt"
    xptmod.write_xpt(Dataset(name.upper(), "Demographics", frame, []), path, WHEN)
    return path


def _obs_start(path: Path) -> int:
    data = path.read_bytes()
    return data.find(xptmod.OBS_HEADER) + xptmod.RECORD


def test_xpt_cut_inside_a_record(tmp_path):
    path = _xpt(tmp_path)
    path.write_bytes(path.read_bytes()[:-37])
    with pytest.raises(InputError) as err:
        read_dataset(path)
    size = path.stat().st_size
    assert str(err.value) == (f"dm.xpt: truncated SAS transport file: {size} bytes is not a whole number of 80-byte "
                              "records (the file was cut short or damaged in transfer)")


def test_xpt_cut_on_a_record_boundary_inside_an_observation(tmp_path):
    path = _xpt(tmp_path)
    start = _obs_start(path)
    rowlen = 10 + 2 + 17 + 8
    cut = start + 27 * rowlen + (-(27 * rowlen)) % 80            # a record boundary after 27 observations
    assert (cut - start) % rowlen                                  # ... inside the 28th
    path.write_bytes(path.read_bytes()[:cut])
    with pytest.raises(InputError) as err:
        read_dataset(path)
    part = (cut - start) % rowlen
    assert str(err.value) == (f"dm.xpt: truncated SAS transport file: the last observation is incomplete ({part} of "
                              f"its {rowlen} bytes)")


def test_xpt_cut_in_its_headers(tmp_path):
    path = _xpt(tmp_path)
    path.write_bytes(path.read_bytes()[:9 * 80])                  # inside the variable descriptions
    with pytest.raises(InputError) as err:
        read_dataset(path)
    assert str(err.value) == ("dm.xpt: truncated SAS transport file: it ends inside the variable descriptions "
                              "(4 variables) (byte 720; 1,200 needed)")


def test_xpt_cut_on_an_observation_and_record_boundary_cannot_be_told(tmp_path):
    # XPT v5 stores no record count: a cut that falls on an observation boundary that is also a record boundary
    # (here every 80 observations of 37 bytes) leaves a valid shorter file; the manifest's SHA-256 and record
    # counts are how a package is checked whole
    path = _xpt(tmp_path, rows=160)
    path.write_bytes(path.read_bytes()[:_obs_start(path) + 80 * 37])
    assert len(read_dataset(path).frame) == 80


def test_not_xpt_one_gigabyte_sparse_file_is_refused_unread(tmp_path):
    path = tmp_path / "lb.xpt"
    with open(path, "wb") as fh:
        fh.truncate(1024 ** 3)                                   # sparse: no disk used, 1 GiB of zeros
    import tracemalloc

    tracemalloc.start()
    with pytest.raises(InputError) as err:
        read_dataset(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert str(err.value) == "lb.xpt: not a SAS transport (XPORT v5) file: the library header is missing"
    assert peak < 5 * 1024 ** 2


def test_xpt_larger_than_the_limit_is_refused_before_reading(tmp_path, monkeypatch):
    path = _xpt(tmp_path)
    with open(path, "r+b") as fh:
        fh.truncate(1024 ** 3)                                   # a valid header, then 1 GiB (sparse)
    monkeypatch.setattr(xptmod, "MAX_XPT_BYTES", 512 * 1024 ** 2)
    with pytest.raises(InputError) as err:
        read_dataset(path)
    assert str(err.value) == ("dm.xpt: refused: 1.0 GiB is more than the 0.5 GiB allowed for one dataset file (limit "
                              "MAX_XPT_BYTES; the FDA asks for datasets over 5 GB to be split)")


def test_xpt_writer_names_a_number_beyond_ibm_range(tmp_path):
    ds = Dataset("EX", None, pd.DataFrame({"EXDOSE": [1.0, 1e300]}), [ColumnMeta("EXDOSE", type="Num")])
    with pytest.raises(xptmod.XptValueError) as err:
        xptmod.write_xpt(ds, tmp_path / "ex.xpt", WHEN)
    assert str(err.value) == ("EX.EXDOSE, record 2: 1e+300 is beyond the range of the IBM floating point XPT v5 "
                              "stores (about 7.2E+75)")
    assert not (tmp_path / "ex.xpt").exists()


# ------------------------------------------------------------------ 4. CSV, NDJSON, Dataset-JSON read by the validator

def _dataset_json(name: str, columns: list[dict], rows: list[list], **meta) -> dict:
    return {"datasetJSONCreationDateTime": "2015-06-30T12:00:00", "datasetJSONVersion": "1.1.0",
            "itemGroupOID": f"IG.{name}", "records": len(rows), "name": name, "label": name,
            "columns": columns, "rows": rows, **meta}


AE_COLUMNS = [{"itemOID": "IT.AE.STUDYID", "name": "STUDYID", "label": "Study Identifier", "dataType": "string"},
              {"itemOID": "IT.AE.USUBJID", "name": "USUBJID", "label": "Unique Subject Identifier",
               "dataType": "string"},
              {"itemOID": "IT.AE.AESEQ", "name": "AESEQ", "label": "Sequence Number", "dataType": "integer"}]

# dataset file name -> (content, the exact one-line reason it is not read)
UNREADABLE = {
    "ae.csv": (b"", "ae.csv: empty file (0 bytes): a CSV dataset needs a header row of variable names"),
    "cm.csv": (b"  \n\t\n", "cm.csv: only white space: a CSV dataset needs a header row of variable names"),
    "ds.csv": ("STUDYID,DOMAIN,USUBJID,DSTERM\nIL2,DS,IL2-001,受试者撤回知情同意书\n".encode("gbk"),
               "ds.csv: not UTF-8 text: byte 0xCA at byte 46 (line 2) is not UTF-8; save the CSV as UTF-8 "
               "(encodings such as GBK or Latin-1 are not guessed)"),
    "ex.csv": (b"STUDYID,DOMAIN,USUBJID\nIL2,EX,IL2-001\nIL2,EX,IL2-002,extra\n",
               "ex.csv: cannot be read as CSV: line 3 has 4 fields, the header has 3 (a comma in a value that is "
               "not quoted?)"),
    "lb.ndjson": ("\n".join(json.dumps(x) for x in [
        {k: v for k, v in _dataset_json("LB", AE_COLUMNS, [["IL2", "IL2-001", 1]] * 3).items() if k != "rows"},
        ["IL2", "IL2-001", 1], ["IL2", "IL2-001"], ["IL2", "IL2-001", 3]]).encode(),
        "lb.ndjson: row 2 (line 3) has 2 values, the columns say 3"),
    "tv.ndjson": ("\n".join(json.dumps(x) for x in [
        {k: v for k, v in _dataset_json("TV", AE_COLUMNS, [["IL2", "IL2-001", 1]] * 40).items() if k != "rows"},
        *([["IL2", "IL2-001", 1]] * 27)]).encode(),
        "tv.ndjson: the header says 40 records but the file holds 27 rows (cut short, or records not updated)"),
    "mh.json": (json.dumps(_dataset_json("MH", AE_COLUMNS, [["IL2", "IL2-001", "one"]])).encode(),
                "mh.json: row 1, column AESEQ: 'one' is not a number (dataType integer)"),
    "pr.xpt": (b"HEADER RECORD*******LIBRARY HEADER RECORD!!!!!!!" + b"0" * 32 + b" " * 160,
               "pr.xpt: truncated SAS transport file: it ends inside the member header record (byte 240; 320 "
               "needed)"),
}


# dataset file name -> (content, the deviation the reader reports while it reads the rows all the same)
READ_WITH_DEVIATION = {
    "qs.json": (json.dumps(_dataset_json("QS", [{**AE_COLUMNS[0], "dataType": "text"}], [["IL2"]])).encode(),
                "not valid Dataset-JSON v1.1: at columns[0].dataType: 'text' is not one of ['string', "
                "'integer', 'decimal', 'float', 'double', 'boolean', 'datetime', 'date', 'time', 'URI']"),
    "sv.json": (json.dumps({k: v for k, v in _dataset_json("SV", AE_COLUMNS, [["IL2", "IL2-001", 1]]).items()
                            if k != "itemGroupOID"}).encode(),
                "not valid Dataset-JSON v1.1: at (top): 'itemGroupOID' is a required property"),
    "ae.json": (json.dumps(_dataset_json("AE", AE_COLUMNS, [["IL2", "IL2-001", 1]], dbLastModifiedDateTime="2026-01-07T19:18",
                                         sourceSystemName="R")).encode(),
                "not valid Dataset-JSON v1.1: at (top): Additional properties are not allowed ('sourceSystemName' was "
                "unexpected)"),
}


@pytest.mark.parametrize("name", sorted(READ_WITH_DEVIATION))
def test_a_header_deviation_is_a_finding_and_the_rows_are_read(tmp_path, name):
    content, deviation = READ_WITH_DEVIATION[name]
    (tmp_path / name).write_bytes(content)
    ds = read_dataset(tmp_path / name)
    assert len(ds.frame) == 1 and ds.frame.iloc[0, 0] == "IL2"
    assert deviation in [d["message"] for d in ds.deviations]
    res = CliRunner().invoke(app, ["validate", str(tmp_path), "--json", str(tmp_path / "f.json")])
    assert res.exit_code in (0, 1), res.output
    doc = json.loads((tmp_path / "f.json").read_text(encoding="utf-8"))
    found = [f for f in doc["findings"] if f["rule_id"] == "FMT-DSJ-01"]
    assert deviation in [f["message"] for f in found]
    summary = {d["dataset"]: d for d in doc["datasets"]}
    assert summary[Path(name).stem.upper()]["rules_checked"] > 0


def test_a_datetime_without_seconds_is_one_deviation_with_its_value(tmp_path):
    path = tmp_path / "adsl.json"
    path.write_bytes(READ_WITH_DEVIATION["ae.json"][0])
    got = [d for d in read_dataset(path).deviations if d["where"] == "dbLastModifiedDateTime"]
    assert len(got) == 1 and got[0]["value"] == "2026-01-07T19:18"


@pytest.fixture(scope="module")
def unreadable_package(tmp_path_factory):
    """A folder with a good DM and every unreadable dataset file above, validated once by the CLI."""
    folder = tmp_path_factory.mktemp("package")
    (folder / "dm.csv").write_text("STUDYID,DOMAIN,USUBJID,SUBJID,SITEID,SEX\nIL2,DM,IL2-001,001,01,F\n",
                                   encoding="utf-8")
    for name, (content, _) in UNREADABLE.items():
        (folder / name).write_bytes(content)
    res = CliRunner().invoke(app, ["validate", str(folder), "--json", str(folder / "findings.json")])
    return folder, res, json.loads((folder / "findings.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(UNREADABLE))
def test_unreadable_dataset_is_named_and_the_others_are_validated(unreadable_package, name):
    folder, res, findings = unreadable_package
    reason = UNREADABLE[name][1]
    with pytest.raises(InputError) as err:
        read_dataset(folder / name)
    assert str(err.value) == reason
    assert res.exit_code == 3
    assert f"error: {reason}" in _said(res)
    datasets = {d["dataset"]: d for d in findings["datasets"]}
    assert datasets[Path(name).stem.upper()]["standard"] == f"not read: {reason}"
    assert datasets["DM"]["rules_checked"] > 0                   # the good dataset is still validated
    assert f"error: {len(UNREADABLE)} dataset(s) could not be read; the others were validated and reported" \
        in _said(res)


def test_csv_with_a_byte_order_mark_reads_like_one_without(tmp_path):
    text = "STUDYID,DOMAIN,USUBJID,AESEQ,AETERM\nIL2,AE,IL2-001,1,头痛\n"
    (tmp_path / "ae.csv").write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "ae.csv").write_text(text, encoding="utf-8")
    bom, plain = read_dataset(tmp_path / "ae.csv").frame, read_dataset(tmp_path / "plain" / "ae.csv").frame
    assert list(bom.columns) == ["STUDYID", "DOMAIN", "USUBJID", "AESEQ", "AETERM"]
    pd.testing.assert_frame_equal(bom, plain)


def test_dataset_json_header_schema_is_the_official_one():
    from conftest import REFERENCE
    from cdisc_il2.formats.datasetjson import HEADER_SCHEMA

    path = REFERENCE / "dataset-json" / "dataset.schema.json"
    if not path.is_file():
        pytest.skip("../shared/reference is absent (a clone on its own); CI has it")
    official = json.loads(path.read_text(encoding="utf-8-sig"))
    defs = official["$defs"]
    assert HEADER_SCHEMA["required"] == official["required"]
    assert set(HEADER_SCHEMA["properties"]) == set(official["properties"])
    col = HEADER_SCHEMA["properties"]["columns"]["items"]
    assert col["required"] == defs["Column"]["required"] and set(col["properties"]) == set(defs["Column"]["properties"])
    assert col["properties"]["dataType"]["enum"] == defs["DataTypesEnum"]["enum"]
    assert col["properties"]["targetDataType"]["enum"] == defs["TargetDataTypesEnum"]["enum"]
    for key in ("datasetJSONCreationDateTime", "datasetJSONVersion", "dbLastModifiedDateTime"):
        assert HEADER_SCHEMA["properties"][key]["pattern"] == official["properties"][key]["pattern"]


# ------------------------------------------------------------------ 5. formulas: cached values, never text

def test_formula_cells_give_their_cached_value_and_are_listed(tmp_path):
    path = workbook(tmp_path / "t" / "site09_a.xlsx", {
        "Demography": DM_ROWS,
        "AE": [AE, ["001", '=HYPERLINK("http://evil.example","Headache")', "=1+1"],
               ["001", "=cmd|' /C calc'!A0", "=1/0"], ["001", "Nausea", None]]})
    cache_formulas(path, "xl/worksheets/sheet2.xml", {"B2": ("Headache", "str"), "B3": ("Rash", "str")})
    res = _convert(tmp_path, spec(tmp_path / "s", [DM_BLOCK, AE_BLOCK]))
    assert res.exit_code == 0, res.output                   # C2 (no cached value) and C3 are in no mapped column
    ae = pd.read_csv(tmp_path / "out" / "sdtm" / "ae.csv")
    assert sorted(ae["AETERM"]) == ["Headache", "Nausea", "Rash"]
    rej = _rejects(tmp_path)
    assert rej[["row", "column", "value", "reason", "disposition"]].values.tolist() == [
        ["2", "Adverse event", "Headache", "formula cell B2: its cached value is used (the formula is not evaluated "
         "and its text is not kept)", "cached value used (formula not evaluated)"],
        ["3", "Adverse event", "Rash", "formula cell B3: its cached value is used (the formula is not evaluated and "
         "its text is not kept)", "cached value used (formula not evaluated)"]]
    written = _outputs_text(tmp_path / "out")
    for text in ("HYPERLINK", "cmd|", "evil.example", "1+1", "1/0"):
        assert text not in written                             # no formula text in any output


def test_formula_without_cached_value_in_a_mapped_column_stops_the_run(tmp_path):
    workbook(tmp_path / "t" / "site09_a.xlsx", {"Demography": DM_ROWS,
                                                "AE": [AE, ["001", "Nausea", None], ["001", "=B2", None]]})
    res = _convert(tmp_path, spec(tmp_path / "s", [DM_BLOCK, AE_BLOCK]))
    assert res.exit_code == 3
    assert ("error: site09_a.xlsx, sheet 'AE', cell B3 (row 3, column 'Adverse event'): formula without a cached "
            "value: formulas are never evaluated; open and save the workbook in Excel (which stores each formula's "
            "value) or type the value") in _said(res)
    assert not (tmp_path / "out").exists()


def test_formula_with_an_error_result_is_left_empty_and_listed(tmp_path):
    path = workbook(tmp_path / "t" / "site09_a.xlsx", {"Demography": DM_ROWS, "Dosing": [
        DOSING, ["001", "2014-03-18", "=1/0"], ["001", "2014-03-20", 1000000]]})
    cache_formulas(path, "xl/worksheets/sheet2.xml", {"C2": ("#DIV/0!", "e")})
    res = _convert(tmp_path, spec(tmp_path / "s", [DM_BLOCK, EX_BLOCK]))
    assert res.exit_code == 0, res.output
    ex = pd.read_csv(tmp_path / "out" / "sdtm" / "ex.csv").sort_values("EXSTDTC")
    assert ex["EXDOSE"].isna().tolist() == [True, False]
    rej = _rejects(tmp_path)
    assert rej[["row", "column", "value", "reason", "disposition"]].values.tolist() == [
        ["2", "Dose (IU)", "#DIV/0!", "formula cell C2: its cached result is the error #DIV/0!; left empty (formulas "
         "are never evaluated)", "value left empty"]]


def test_text_that_a_spreadsheet_would_run_is_neutralised_in_csv_and_kept_in_data(tmp_path):
    danger = ["=cmd|' /C calc'!A0", "+SUM(1)", "@x", "-2+3"]      # (ingest strips a leading tab or CR)
    workbook(tmp_path / "t" / "site09_a.xlsx", {"Demography": DM_ROWS,
                                                "AE": [AE, *[["001", d, None] for d in danger]]},
             text_cells={"AE": [f"B{i}" for i in range(2, 2 + len(danger))]})
    res = _convert(tmp_path, spec(tmp_path / "s", [DM_BLOCK, AE_BLOCK]))
    assert res.exit_code == 0, res.output
    raw = pd.read_csv(tmp_path / "out" / "sdtm" / "ae.csv", dtype="string", keep_default_na=False)
    assert sorted(raw["AETERM"]) == sorted("'" + d for d in danger)
    assert sorted(read_dataset(tmp_path / "out" / "sdtm" / "ae.csv").frame["AETERM"]) == sorted(danger)


def test_escape_formulas_touches_text_only_and_round_trips():
    frame = pd.DataFrame({
        "TEXT": ["=1+1", "-5", "--12-15", "-P2D", "+cmd|x", "@SUM(A1)", "\tx", "\rx", "'=x", "'-5", "abc", None, "-abc"],
        "NUM": np.arange(13) - 7.0,
        "MIXED": pd.Series([-1, "x", "=y", 2.5, None, "-inf", "a", "b", "c", "d", "e", "f", "g"], dtype=object)})
    out = escape_formulas(frame)
    assert out["TEXT"].tolist()[:11] == ["'=1+1", "-5", "--12-15", "-P2D", "'+cmd|x", "'@SUM(A1)", "'\tx", "'\rx",
                                         "''=x", "'-5", "abc"]
    assert out["TEXT"].tolist()[12] == "'-abc"
    assert out["NUM"].equals(frame["NUM"]) and out["MIXED"].tolist()[:4] == [-1, "x", "'=y", 2.5]
    pd.testing.assert_frame_equal(unescape_formulas(out), frame)


# ------------------------------------------------------------------ 6. numbers

def test_numbers_with_separators_limits_nd_and_na(tmp_path):
    doses = ["1,234.5", "0,85", "1.234,5", "1,234", "<0.5", "ND", "NA", "1e308", "12.5"]
    workbook(tmp_path / "t" / "site09_a.xlsx", {"Demography": DM_ROWS,
                                                "Dosing": [DOSING, *[["001", "2014-03-18", d] for d in doses]]})
    res = _convert(tmp_path, spec(tmp_path / "s", [DM_BLOCK, EX_BLOCK]))
    assert res.exit_code == 0, res.output
    ex = pd.read_csv(tmp_path / "out" / "sdtm" / "ex.csv")
    trace = pd.read_csv(tmp_path / "out" / "trace.csv")
    rows = trace[trace["DOMAIN"] == "EX"].set_index("SEQ")["row"]
    dose = dict(zip(ex["EXSEQ"].map(rows), ex["EXDOSE"]))
    assert [dose[r] for r in (2, 3, 4, 10)] == [1234.5, 0.85, 1234.5, 12.5]
    assert all(np.isnan(dose[r]) for r in range(5, 10))
    rej = _rejects(tmp_path)
    assert rej[["row", "column", "value", "reason", "disposition"]].values.tolist() == [
        ["5", "Dose (IU)", "1,234", "ambiguous: one separator before three digits is a thousands separator or a "
         "decimal mark (1,234 is 1234 or 1.234): write the number without a thousands separator", "value left empty"],
        ["6", "Dose (IU)", "<0.5", "a value reported against a limit (< or >), not a number", "value left empty"],
        ["7", "Dose (IU)", "ND", "not a number (valid: a number such as 12.5, -3, 1.5E3, 1,234.5 or 0,85)",
         "value left empty"],
        ["8", "Dose (IU)", "NA", "not a number (valid: a number such as 12.5, -3, 1.5E3, 1,234.5 or 0,85)",
         "value left empty"],
        ["9", "Dose (IU)", "1e308", "beyond the range of numbers SAS XPT v5 holds (about 7.2E+75)",
         "value left empty"]]


def test_decimal_comma_spec_option_reads_one_group_as_decimals():
    from cdisc_il2.mapping.engine import parse_numbers

    text = pd.Series(["1,234", "1.234", "0,85", "1.234,5"], dtype="string")
    num, why = parse_numbers(text, decimal_comma=True)
    assert num.tolist()[0] == pytest.approx(1.234) and pd.isna(num.tolist()[1])
    assert num.tolist()[2:] == [pytest.approx(0.85), pytest.approx(1234.5)]
    assert why.tolist()[1].startswith("ambiguous")


# ------------------------------------------------------------------ 7. spaces, merged cells, hidden rows and sheets

def test_subject_id_with_trailing_spaces_is_trimmed(tmp_path):
    workbook(tmp_path / "t" / "site09_a.xlsx", {"Demography": [DEMOGRAPHY, ["001  ", "F", "2014-03-18"]],
                                                "AE": [AE, [" 001\u00a0", "Nausea", None]]})
    res = _convert(tmp_path, spec(tmp_path / "s", [DM_BLOCK, AE_BLOCK]))
    assert res.exit_code == 0, res.output
    dm, ae = (pd.read_csv(tmp_path / "out" / "sdtm" / f"{d}.csv") for d in ("dm", "ae"))
    assert dm["USUBJID"].tolist() == ae["USUBJID"].tolist() == ["IL2-SLE-01-09-001"]


def test_merged_cells_are_filled_from_their_first_cell_and_listed(tmp_path):
    workbook(tmp_path / "t" / "site09_a.xlsx", {"Demography": DM_ROWS, "Dosing": [
        DOSING, ["001", "2014-03-18", 100], ["001", None, 200], ["001", None, 300], [None, None, None],
        ["001", "2014-03-25", 400]]}, merged={"Dosing": ["B2:B5"]})
    res = _convert(tmp_path, spec(tmp_path / "s", [DM_BLOCK, EX_BLOCK]))
    assert res.exit_code == 0, res.output
    ex = pd.read_csv(tmp_path / "out" / "sdtm" / "ex.csv").sort_values("EXDOSE")
    assert ex["EXSTDTC"].tolist() == ["2014-03-18"] * 3 + ["2014-03-25"]
    rej = _rejects(tmp_path)
    why = "cell in merged range B2:B5: the value of B2 is used, as the sheet shows it"
    assert rej[["row", "column", "value", "reason", "disposition"]].values.tolist() == [
        ["3", "Date", "2014-03-18", why, "value filled from the merged cell"],
        ["4", "Date", "2014-03-18", why, "value filled from the merged cell"]]
    acc = pd.read_csv(tmp_path / "out" / "accountability.csv").set_index("block")
    assert acc.loc["dosing", ["rows_read", "blank_rows_skipped", "balanced"]].tolist() == [4, 1, True]


def test_hidden_rows_and_sheets_are_read_and_noted(tmp_path):
    workbook(tmp_path / "t" / "site09_a.xlsx", {
        "Demography": [DEMOGRAPHY, ["001", "F", "2014-03-18"], ["002", "M", "2014-03-19"]],
        "Dosing": [DOSING, ["001", "2014-03-18", 100]], "Old": [["Subject ID"], ["001"], ["002"]]},
        states={"Dosing": "hidden", "Old": "veryHidden"}, hidden_rows={"Demography": [3]})
    res = _convert(tmp_path, spec(tmp_path / "s", [DM_BLOCK, EX_BLOCK]))
    assert res.exit_code == 0, res.output
    assert len(pd.read_csv(tmp_path / "out" / "sdtm" / "dm.csv")) == 2
    notes = pd.read_csv(tmp_path / "out" / "accountability.csv").set_index("sheet")["note"]
    assert notes["Demography"] == ("1 hidden row(s) of sheet 'Demography' read and mapped like the others (rows 3)")
    assert notes["Dosing"] == "sheet 'Dosing' of site09_a.xlsx is hidden in the workbook: read and mapped"
    assert notes["Old"] == ("sheet 'Old' (veryHidden sheet) of site09_a.xlsx with 2 non-blank row(s) below its first "
                            "row: not read by any spec block")
    said = _said(res)
    assert "warning: 1 hidden row(s) of sheet 'Demography'" in said and "(veryHidden sheet)" in said


# ------------------------------------------------------------------ 8, 9. specs: YAML bombs, empty, file patterns

def _spec_text(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s" / "site09.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_yaml_alias_bomb_is_refused(tmp_path):
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    path = _spec_text(tmp_path, "\n".join(lines) + "\n")
    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert str(err.value) == ("site09.yaml: at (top): refused: aliases expand it to more than 100,000 values (an "
                              "alias bomb?) (limit MAX_SPEC_NODES)")
    workbook(tmp_path / "t" / "site09_a.xlsx", {"Demography": DM_ROWS})
    res = _convert(tmp_path, path.parent)
    assert res.exit_code == 3 and f"error: {err.value}" in _said(res) and not (tmp_path / "out").exists()


@pytest.mark.parametrize("text, message", [
    ("", "site09.yaml: at (top): the file is empty: a spec needs spec_version, site, files and blocks"),
    ("# only a comment\n", "site09.yaml: at (top): the file is empty: a spec needs spec_version, site, files and "
                           "blocks"),
    ("a: &x [1, *x]\n", "site09.yaml: at (top): refused: line 1: an alias refers to a node that contains it"),
    ("a: " + "[" * 100 + "]" * 100 + "\n", "site09.yaml: at (top): refused: line 1: nested more than 64 levels deep "
                                           "(limit MAX_YAML_DEPTH)"),
])
def test_empty_self_referring_or_deep_spec(tmp_path, text, message):
    with pytest.raises(SpecError) as err:
        load_spec(_spec_text(tmp_path, text))
    assert str(err.value) == message


@pytest.mark.parametrize("pattern, message", [
    ("/data/site09_*.xlsx", "site09.yaml: at files: '/data/site09_*.xlsx' is an absolute path: write a pattern "
                            "relative to the transfer folder (e.g. 'site01_*.xlsx')"),
    ("C:\\data\\*.xlsx", "site09.yaml: at files: 'C:\\data\\*.xlsx' is an absolute path: write a pattern relative "
                         "to the transfer folder (e.g. 'site01_*.xlsx')"),
    ("../outside/*.xlsx", "site09.yaml: at files: '../outside/*.xlsx' climbs out of the transfer folder: a pattern "
                          "names files inside it, without '..' (e.g. 'site01_*.xlsx' or 'site01/*.xlsx')"),
    ("site09/../../x.xlsx", "site09.yaml: at files: 'site09/../../x.xlsx' climbs out of the transfer folder: a "
                            "pattern names files inside it, without '..' (e.g. 'site01_*.xlsx' or 'site01/*.xlsx')"),
])
def test_files_pattern_must_stay_inside_the_transfer(tmp_path, pattern, message):
    folder = spec(tmp_path / "s", [DM_BLOCK], files=pattern)
    with pytest.raises(SpecError) as err:
        load_spec(folder / "site09.yaml")
    assert str(err.value) == message
    workbook(tmp_path / "outside" / "site09_a.xlsx", {"Demography": DM_ROWS})
    (tmp_path / "t").mkdir()
    res = _convert(tmp_path, folder)
    assert res.exit_code == 3 and f"error: {message}" in _said(res) and not (tmp_path / "out").exists()


def test_subfolder_pattern_inside_the_transfer_still_works(tmp_path):
    workbook(tmp_path / "t" / "site09" / "site09_a.xlsx", {"Demography": DM_ROWS})
    res = _convert(tmp_path, spec(tmp_path / "s", [DM_BLOCK], files="site09/*.xlsx"))
    assert res.exit_code == 0, res.output


def test_spec_yaml_limits_leave_real_specs_alone():
    from conftest import ROOT

    for path in sorted((ROOT / "mappings" / "sites").glob("*.yaml")):
        assert load_spec(path).doc["blocks"]
    assert yaml.safe_load("a: &x {b: 1}\nc: *x\n") == {"a": {"b": 1}, "c": {"b": 1}}


def test_every_shipped_yaml_reads_as_pyyaml_reads_it():
    """The fast reader (libyaml, depth checked) gives yaml.safe_load's values on every YAML file we ship, and
    PyYAML's own message on a syntax error."""
    from conftest import ROOT
    from cdisc_il2.resources import load_yaml

    paths = sorted(p for folder in ("mappings", "schemas", "cdisc_il2") for p in (ROOT / folder).rglob("*.yaml"))
    assert len(paths) > 10
    for path in paths:
        text = path.read_text(encoding="utf-8")
        assert load_yaml(text) == yaml.safe_load(text), path
    for bad in ("a: b: c\n", "a: [1, 2\n", "a: 1\n---\nb: 2\n"):
        with pytest.raises(yaml.YAMLError) as ours:
            load_yaml(bad)
        with pytest.raises(yaml.YAMLError) as theirs:
            yaml.safe_load(bad)
        assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize("name", ["justifications.yaml", "date-patterns.yaml"])
def test_deep_yaml_in_the_mappings_is_refused_by_name(tmp_path, name, monkeypatch):
    """A mappings file nested beyond the limit is a SpecError naming it, never a recursion error."""
    from cdisc_il2 import dates
    from cdisc_il2.transfers.triage import load_justifications

    path = tmp_path / name
    path.write_text("a: " + "[" * 200 + "]" * 200 + "\n", encoding="utf-8")
    with pytest.raises(SpecError) as err:
        if name == "justifications.yaml":
            load_justifications(path)
        else:
            monkeypatch.setattr(dates, "data_dir", lambda _: tmp_path)
            dates.pattern_groups.cache_clear()
            try:
                dates.pattern_groups()
            finally:
                dates.pattern_groups.cache_clear()
    assert str(err.value) == f"{name}: at (top): refused: line 1: nested more than 64 levels deep (limit MAX_YAML_DEPTH)"
