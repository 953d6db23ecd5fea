"""Site layouts as specs, tried on small workbooks shaped unlike the samples: blocks merged into other blocks'
records, clashes, AGE from a birth date, not-done results, translations, duplicate subjects, and the
accountability of every sheet and file of a transfer."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml
from openpyxl import Workbook
from typer.testing import CliRunner

from cdisc_il2.cli import app
from cdisc_il2.convert import map_transfer
from cdisc_il2.errors import InputError

DEMOGRAPHY = ["编号", "出生日期", "性别", "知情同意日期"]
END_OF_STUDY = ["编号", "状态", "结束日期", "原因"]


def _workbook(path: Path, sheets: dict[str, list[list[object]]], hidden: tuple[str, ...] = ()) -> Path:
    wb = Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(row)
        if name in hidden:
            ws.sheet_state = "hidden"
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


def _spec(folder: Path, blocks: list[dict], **top) -> Path:
    doc = {"spec_version": 1, "site": "09", "files": "site09_*.xlsx",
           "date_patterns": ["YYYY.M.D", "YYYY年M月D日", "YYYY年M月", "YYYY年", "iso"],
           "synonyms": {"SEX": {"男": "M", "女": "F"}}, "blocks": blocks, **top}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "site09.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return folder


DM_BLOCK = {"name": "demography", "domain": "DM", "sheet": "人口学",
            "variables": {"SUBJID": {"column": "编号", "required": True},
                          "BRTHDTC": {"column": "出生日期", "date": True},
                          "SEX": {"column": "性别", "codelist": "SEX"},
                          "RFICDTC": {"column": "知情同意日期", "date": True},
                          "AGE": {"derive": "age"}, "AGEU": {"value": "YEARS"}}}
EOS_BLOCK = {"name": "end of study", "domain": "DM", "sheet": "研究结束", "merge": {"by": ["SUBJID"]},
             "variables": {"SUBJID": {"column": "编号", "required": True},
                           "RFPENDTC": {"column": "结束日期", "date": True}}}


def _demography(rows):
    return [DEMOGRAPHY, *rows]


def test_age_from_full_and_partial_birth_dates(tmp_path):
    _workbook(tmp_path / "t" / "site09_a.xlsx", {"人口学": _demography([
        ["001", "1975年1月1日", "女", "2014.03.18"],      # full: 39
        ["002", "1975年6月", "男", "2014.03.18"],         # month known, consent in another month: 38
        ["003", "1975年3月", "女", "2014.03.18"],         # consent in the birth month: 38 or 39, not derived
        ["004", "1975年", "女", "2014.03.18"],            # year only: 38 or 39
        ["005", "1976年3月18日", "女", "2014.03.18"],     # birthday on the reference date counts: 38
    ])})
    res = map_transfer(tmp_path / "t", _spec(tmp_path / "s", [DM_BLOCK]))
    dm = res.domains["DM"].set_index("SUBJID")
    assert dm.loc[["001", "002", "005"], "AGE"].tolist() == [39, 38, 38]
    assert dm.loc[["003", "004"], "AGE"].isna().all()
    assert dm.loc["002", "BRTHDTC"] == "1975-06" and dm.loc["004", "BRTHDTC"] == "1975"
    why = res.rejects[res.rejects["reason"].str.contains("AGE cannot be derived")]
    assert sorted(why["row"].tolist()) == [4, 5] and "38 or 39 years" in why["reason"].iloc[0]


def test_age_midpoint_imputation_is_a_spec_choice(tmp_path):
    _workbook(tmp_path / "t" / "site09_a.xlsx", {"人口学": _demography([["004", "1975年", "女", "2014.03.18"]])})
    block = {**DM_BLOCK, "variables": {**DM_BLOCK["variables"], "AGE": {"derive": "age", "partial_birth": "midpoint"}}}
    dm = map_transfer(tmp_path / "t", _spec(tmp_path / "s", [block])).domains["DM"]
    assert dm["AGE"].tolist() == [38]                  # born 1 July 1975 by imputation


def test_end_of_study_sheet_adds_to_demography_and_disposition(tmp_path):
    _workbook(tmp_path / "t" / "site09_a.xlsx", {
        "人口学": _demography([["001", "1975年1月1日", "女", "2014.03.18"], ["002", "1980年2月2日", "男", "2014.03.20"]]),
        "研究结束": [END_OF_STUDY, ["001", "完成", "2014.07.01", None], ["002", "提前退出", "2014.05.02", "疗效不佳"],
                  ["099", "完成", "2014.07.09", None]]})
    ds_block = {"name": "disposition", "domain": "DS", "sheet": "研究结束",
                "variables": {"SUBJID": {"column": "编号", "required": True},
                              "DSCAT": {"value": "DISPOSITION EVENT"},
                              "DSTERM": {"column": "原因", "translate": "reasons",
                                         "otherwise": {"column": "状态", "map": {"完成": "COMPLETED"}}},
                              "DSDECOD": {"column": "原因", "translate": "reasons", "codelist": "NCOMPLT",
                                          "otherwise": {"column": "状态", "map": {"完成": "COMPLETED"}}},
                              "DSSTDTC": {"column": "结束日期", "date": True}}}
    res = map_transfer(tmp_path / "t", _spec(tmp_path / "s", [DM_BLOCK, EOS_BLOCK, ds_block],
                                             translations={"reasons": {"疗效不佳": "Lack of efficacy"}}))
    dm = res.domains["DM"].set_index("SUBJID")
    assert dm.loc[["001", "002"], "RFPENDTC"].tolist() == ["2014-07-01", "2014-05-02"]
    ds = res.domains["DS"].set_index("USUBJID")
    assert ds.loc["IL2-SLE-01-09-002", ["DSTERM", "DSDECOD"]].tolist() == ["Lack of efficacy", "LACK OF EFFICACY"]
    assert ds.loc["IL2-SLE-01-09-001", ["DSTERM", "DSDECOD"]].tolist() == ["COMPLETED", "COMPLETED"]
    # subject 099 is in no demography row: rejected by the merge and listed, accountability still balances
    rej = res.rejects[(res.rejects["sheet"] == "研究结束") & (res.rejects["block"] == "end of study")]
    assert rej["row"].tolist() == [4] and "no DM record" in rej["reason"].iloc[0]
    acc = res.accountability.set_index("block")
    assert acc.loc["end of study", ["rows_read", "rows_mapped", "rows_rejected"]].tolist() == [3, 2, 1]
    assert res.accountability.loc[res.accountability["block"].notna() & (res.accountability["block"] != ""),
                                  "balanced"].all()


def test_a_clash_between_blocks_names_both_places_and_values(tmp_path):
    _workbook(tmp_path / "t" / "site09_a.xlsx", {
        "人口学": _demography([["001", "1975年1月1日", "女", "2014.03.18"]]),
        "研究结束": [END_OF_STUDY, ["001", "完成", "2014.07.01", None]]})
    clash = {**EOS_BLOCK, "variables": {**EOS_BLOCK["variables"], "RFICDTC": {"column": "结束日期", "date": True}}}
    with pytest.raises(InputError) as err:
        map_transfer(tmp_path / "t", _spec(tmp_path / "s", [DM_BLOCK, clash]))
    msg = str(err.value)
    for part in ("site09.yaml", "block 'end of study'", "RFICDTC", "SUBJID 001", "'2014-03-18'", "'2014-07-01'",
                 "sheet '人口学', row 2", "sheet '研究结束', row 2"):
        assert part in msg, part


def test_not_done_lab_result_sets_lbstat(tmp_path):
    _workbook(tmp_path / "t" / "site09_a.xlsx", {
        "人口学": _demography([["001", "1975年1月1日", "女", "2014.03.18"]]),
        "化验": [["编号", "日期", "C3 (g/L)"], ["001", "2014.03.18", "0.8"], ["001", "2014.04.01", "未查"]]})
    lb_block = {"name": "labs", "domain": "LB", "sheet": "化验",
                "unpivot": {"value_column": "result", "columns": {"C3 (g/L)": {"test": "C3", "unit": "g/L"}}},
                "variables": {"SUBJID": {"column": "编号", "required": True}, "LBDTC": {"column": "日期", "date": True},
                              "LBTESTCD": {"column": "test"},
                              "LBORRES": {"column": "result", "not_done": {"values": ["未查"],
                                                                          "reason": {"value": "SAMPLE NOT TAKEN"}}},
                              "LBORRESU": {"column": "unit", "codelist": "UNIT"}}}
    res = map_transfer(tmp_path / "t", _spec(tmp_path / "s", [DM_BLOCK, lb_block]))
    lb = res.domains["LB"].sort_values("LBDTC")
    assert lb["LBSTAT"].tolist()[1] == "NOT DONE" and pd.isna(lb["LBSTAT"].tolist()[0])
    assert lb["LBREASND"].tolist()[1] == "SAMPLE NOT TAKEN" and pd.isna(lb["LBORRES"].tolist()[1])
    assert lb["LBSTRESN"].tolist()[0] == pytest.approx(0.8)
    assert res.rejects.empty


def test_untranslated_site_language_term_is_reported_and_kept(tmp_path):
    _workbook(tmp_path / "t" / "site09_a.xlsx", {
        "人口学": _demography([["001", "1975年1月1日", "女", "2014.03.18"]]),
        "不良事件": [["编号", "事件"], ["001", "头痛"], ["001", "眩晕"], ["001", "Nausea"]]})
    ae_block = {"name": "ae", "domain": "AE", "sheet": "不良事件",
                "variables": {"SUBJID": {"column": "编号", "required": True},
                              "AETERM": {"column": "事件", "translate": "terms"}}}
    res = map_transfer(tmp_path / "t", _spec(tmp_path / "s", [DM_BLOCK, ae_block],
                                             translations={"terms": {"头痛": "Headache"}}))
    assert sorted(res.domains["AE"]["AETERM"]) == ["Headache", "Nausea", "眩晕"]
    coding_query = res.rejects["disposition"].eq("coding query: MedDRA variables left empty")
    assert res.rejects[coding_query]["value"].tolist() == ["眩晕"]       # nor is it coded (study.yaml's release)
    rej = res.rejects[~coding_query]
    assert rej["value"].tolist() == ["眩晕"] and "translations.terms" in rej["reason"].iloc[0]


def test_every_sheet_and_file_is_accounted_for(tmp_path):
    _workbook(tmp_path / "t" / "site09_a.xlsx", {
        "人口学": _demography([["001", "1975年1月1日", "女", "2014.03.18"]]),
        "说明": [["填写说明"], ["请用 YYYY.MM.DD"], ["每位受试者一行"]],
        "旧数据": [["编号"], ["001"], ["002"]]}, hidden=("旧数据",))
    (tmp_path / "t" / "site09_old.xls").write_bytes(b"\xd0\xcf\x11\xe0 old excel")
    (tmp_path / "t" / "labs.csv").write_text("id,value\n1,2\n")
    specs = _spec(tmp_path / "s", [DM_BLOCK])
    acc = map_transfer(tmp_path / "t", specs).accountability
    notes = acc.set_index("sheet")["note"]
    assert "not read by any spec block" in notes["说明"] and "2 non-blank row(s)" in notes["说明"]
    assert "(hidden sheet)" in notes["旧数据"]
    files = acc[acc["sheet"].fillna("") == ""].set_index("file")["note"]
    assert "no mapping spec matches this file" in files["labs.csv"]
    # site09_old.xls matches the spec's pattern? no: the pattern is site09_*.xlsx, so it is listed as unmatched
    assert "site09_old.xls" in files.index
    res = CliRunner().invoke(app, ["convert", str(tmp_path / "t"), "--out", str(tmp_path / "o"),
                                   "--mappings", str(specs)])
    out = " ".join(res.output.split())
    assert res.exit_code == 0 and "not read by any spec block" in out and "labs.csv" in out


def test_a_site_whose_files_are_missing_is_an_error_unless_allowed(tmp_path):
    _workbook(tmp_path / "t" / "site09_a.xlsx", {"人口学": _demography([["001", "1975年1月1日", "女", "2014.03.18"]])})
    specs = _spec(tmp_path / "s", [DM_BLOCK])
    other = yaml.safe_load((specs / "site09.yaml").read_text(encoding="utf-8"))
    other.update(site="08", files="site08_*.xlsx")
    (specs / "site08.yaml").write_text(yaml.safe_dump(other, allow_unicode=True), encoding="utf-8")
    args = ["convert", str(tmp_path / "t"), "--out", str(tmp_path / "o"), "--mappings", str(specs)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 3 and "site 08: no file matching 'site08_*.xlsx'" in " ".join(res.output.split())
    res = CliRunner().invoke(app, [*args, "--allow-missing-site"])
    assert res.exit_code == 0, res.output
    acc = pd.read_csv(tmp_path / "o" / "accountability.csv")
    assert acc["note"].fillna("").str.contains("site 08 sent nothing").any()


def test_a_repeated_subject_is_rejected_and_named_not_a_crash(tmp_path):
    _workbook(tmp_path / "t" / "site09_a.xlsx", {"人口学": _demography([
        ["001", "1975年1月1日", "女", "2014.03.18"], ["002", "1980年1月1日", "男", "2014.03.18"],
        ["001", "1975年1月1日", "女", "2014.03.18"]])})
    res = map_transfer(tmp_path / "t", _spec(tmp_path / "s", [DM_BLOCK]))
    assert res.domains["DM"]["SUBJID"].tolist() == ["001", "002"]
    rej = res.rejects[res.rejects["reason"].str.contains("already has a demography record")]
    assert rej["row"].tolist() == [4] and "row 2" in rej["reason"].iloc[0]
    acc = res.accountability.iloc[0]
    assert (acc["rows_read"], acc["rows_mapped"], acc["rows_rejected"], acc["balanced"]) == (3, 2, 1, True)


def test_text_xpt_cannot_hold_leaves_that_xpt_out_and_says_so(tmp_path):
    from cdisc_il2.formats import read_folder

    src = tmp_path / "sdtm"
    src.mkdir()
    ae = pd.DataFrame({"STUDYID": "S", "DOMAIN": "AE", "USUBJID": ["S-1", "S-2"], "AESEQ": [1, 1],
                       "AETERM": ["Headache", "眩晕"], "AEDECOD": ["Headache", None]})
    ae.to_csv(src / "ae.csv", index=False)
    pd.DataFrame({"STUDYID": "S", "DOMAIN": "DM", "USUBJID": ["S-1", "S-2"], "SUBJID": ["1", "2"]}).to_csv(
        src / "dm.csv", index=False)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "ae.xpt").write_bytes(b"an old file from an earlier run")
    res = CliRunner().invoke(app, ["export", str(src), "--out", str(tmp_path / "out")])
    out = " ".join(res.output.split())
    assert res.exit_code == 5, res.output
    assert "ae.xpt not written" in out and "AETERM record 2 (S-2) '眩晕'" in out and "package is incomplete" in out
    assert not (tmp_path / "out" / "ae.xpt").exists()            # no stale file left where a good one was
    assert (tmp_path / "out" / "dm.xpt").is_file()
    assert read_folder(tmp_path / "out", {"AE"}, prefer=("json",))["AE"].frame["AETERM"].tolist() == ["Headache", "眩晕"]
    from cdisc_il2.validate import validate_folder

    found = validate_folder(src).findings
    hit = found[(found["rule_id"] == "FMT-ASCII-01")]
    assert hit["severity"].tolist() == ["Error"] and hit["usubjid"].tolist() == ["S-2"]
