"""WHODrug coding from the user's own release: the B3 reader, CM coding to the preferred name and the ATC class,
coding queries, Define-XML's dictionary version, the WHODrug rules (run only with a release) and the rescue rule
on WHODrug's ATC codes.

Every release here is synthetic: written by the tests in the B3 fixed-width layout with invented drugs and codes.
"""
from __future__ import annotations

import copy
import csv
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from cdisc_il2.cli import app
from cdisc_il2.dictionaries.whodrug import LAYOUT, read_release, write_release
from cdisc_il2.errors import InputError
from cdisc_il2.mapping import coding as coding_mod
from cdisc_il2.sample_dictionaries import DRUG_NOTE, sample_drug_terms

TRADE_NAME = "INVENTED TRADE NAME"


def _test_terms(present: list[str]) -> tuple[dict, list[dict], dict]:
    """The sample's invented release made stranger for the drugs the transfer's CM has: the first drug's
    verbatims coded to a trade-name record (sequence number 2 '002'), the second drug given a second ATC code
    while its coding rows name none, the third's verbatims without a code, the fourth's coded to an ATC code
    that is not the drug's."""
    terms, rows = sample_drug_terms()
    terms = copy.deepcopy(terms)
    code_of = {name: code for code, name, _ in terms["drugs"]}
    trade, two_atc, missing, wrong_atc = (code_of[n] for n in present[:4])
    trade_code = trade[:8] + "002"
    terms["drugs"].append([trade_code, TRADE_NAME, []])
    terms["atc"]["Z99AZ"] = [4, "INVENTED SECOND CLASS"]
    for d in terms["drugs"]:
        if d[0] == two_atc:
            d[2] = [*d[2], "Z99AZ"]
    out = []
    for r in rows:
        if r["drug_code"] == missing:
            continue
        if r["drug_code"] == trade:
            r = dict(r, drug_code=trade_code)
        elif r["drug_code"] == two_atc:
            r = dict(r, atc_code="")
        elif r["drug_code"] == wrong_atc:
            r = dict(r, atc_code="Z99AZ")
        out.append(r)
    return terms, out, {"trade": trade, "trade_code": trade_code, "two_atc": two_atc, "missing": missing,
                        "wrong_atc": wrong_atc, "names": present[:4]}


@pytest.fixture(scope="module")
def uncoded(small_transfer):
    """The small generated transfer converted without a WHODrug release (the sponsor medication list only)."""
    from cdisc_il2.convert import map_transfer

    mp = pytest.MonkeyPatch()
    mp.setattr(coding_mod, "configured_whodrug", lambda release: (None, Path("unused.csv")))
    try:
        result = map_transfer(small_transfer)
    finally:
        mp.undo()           # not active beyond the conversion (session fixtures)
    yield result


@pytest.fixture(scope="module")
def release(tmp_path_factory, uncoded) -> tuple[Path, Path, dict, dict]:
    folder = tmp_path_factory.mktemp("whodrug") / "WHODrug B3"
    present = list(uncoded.domains["CM"]["CMDECOD"].dropna().value_counts().sort_index().index)
    assert len(present) >= 4, present
    terms, rows, codes = _test_terms(present)
    write_release(folder, terms, "synthetic test release")
    coding = folder.parent / "cm-coding.csv"
    with open(coding, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, ["verbatim", "drug_code", "atc_code"])
        w.writeheader()
        w.writerows(rows)
    return folder, coding, terms, codes


@pytest.fixture(scope="module")
def coded(release, small_transfer):
    """The small generated transfer converted with the test release and coding list."""
    from cdisc_il2.convert import map_transfer

    folder, coding, _, _ = release
    mp = pytest.MonkeyPatch()
    mp.setattr(coding_mod, "configured_whodrug", lambda release: (Path(release), coding))
    try:
        result = map_transfer(small_transfer, whodrug=folder)
    finally:
        mp.undo()           # not active beyond the conversion (session fixtures)
    yield result


def test_reader_reads_the_three_files_and_the_version(release):
    folder, _, terms, codes = release
    rel = read_release(folder)
    assert rel.version == terms["version"] and rel.label == f"WHODrug {terms['version']}"
    assert {p.name for p in folder.iterdir()} >= set(LAYOUT) | {"version.txt"}
    assert rel.preferred(codes["trade_code"]) == codes["names"][0]          # seq2 001 of the same drug
    assert rel.names[codes["trade_code"]] == TRADE_NAME
    got, why = rel.code(codes["two_atc"])
    assert got is None and "choose its ATC code" in why and "Z99AZ" in why
    assert rel.code(codes["wrong_atc"], "Z99AZ")[0] is None
    assert rel.code("12345678901")[0] is None and "not in WHODrug" in rel.code("12345678901")[1]
    # the version falls back to the folder's name without version.txt
    (folder / "version.txt").rename(folder / "version.bak")
    try:
        assert read_release(folder).version == folder.name
    finally:
        (folder / "version.bak").rename(folder / "version.txt")


def test_cm_coded_to_the_preferred_name_and_atc_class(coded, release, uncoded):
    folder, _, terms, codes = release
    rel = read_release(folder)
    cm = coded.domains["CM"]
    assert coded.whodrug == f"WHODrug {terms['version']}" and coded.drug_release is not None
    ok = cm[cm["CMCLASCD"].notna()]
    assert len(ok) > 0
    names = {name for _, name, _ in terms["drugs"]} - {TRADE_NAME}
    assert set(ok["CMDECOD"]) <= names                       # preferred names only, never the trade name
    for _, r in ok.drop_duplicates(["CMDECOD", "CMCLASCD"]).iterrows():
        assert r["CMCLASCD"] in rel.atc.get(next(c[:8] for c, n, _ in terms["drugs"] if n == r["CMDECOD"]), ())
        assert r["CMCLAS"] == rel.atc_text[r["CMCLASCD"]][1]
    # the trade-name coding gives the drug's preferred name, as the sponsor list does
    first = uncoded.domains["CM"]["CMDECOD"].eq(codes["names"][0])
    assert first.any() and cm.loc[first[first].index, "CMDECOD"].eq(codes["names"][0]).all()
    # SDTMIG order: CMCLASCD right after CMCLAS
    cols = list(cm.columns)
    assert cols.index("CMCLASCD") == cols.index("CMCLAS") + 1


def test_uncodable_medications_are_coding_queries_never_guessed(coded, uncoded, release):
    _, _, _, codes = release
    cm, q = coded.domains["CM"], coded.coding_queries
    q = q[q["domain"].eq("CM")]
    queried = cm[cm["CMDECOD"].isna()]
    expected = uncoded.domains["CM"]["CMDECOD"].isin(codes["names"][1:4])
    assert len(queried) == int(expected.sum()) == len(q) > 0
    assert queried[coding_mod.CM_WHODRUG].isna().all().all()
    assert q["file"].notna().all() and q["sheet"].notna().all() and q["row"].notna().all()
    assert q["heading"].notna().all()
    reasons = set(q["reason"])
    assert any("choose its ATC code" in r for r in reasons)
    assert any("Z99AZ is not assigned" in r for r in reasons)
    assert any("has no drug code in cm-coding.csv" in r for r in reasons)
    rej = coded.rejects[coded.rejects["disposition"].eq(coding_mod.DRUG_CODING_QUERY)]
    assert len(rej) == len(q) and set(rej["domain"]) == {"CM"}
    cells = coded.cells
    terms = cells[cells["VARIABLE"].eq("CMTRT")]
    rows = set(zip(terms["file"], terms["sheet"], terms["row"].astype(int)))
    assert all((r["file"], r["sheet"], int(r["row"])) in rows for _, r in q.iterrows())


def test_without_a_release_cm_stays_as_today(uncoded):
    cm = uncoded.domains["CM"]
    assert uncoded.whodrug == "" and uncoded.drug_release is None
    assert "CMCLASCD" not in cm and cm["CMDECOD"].notna().all()
    assert not uncoded.rejects["disposition"].eq(coding_mod.DRUG_CODING_QUERY).any()


def test_malformed_release_is_one_clear_line_exit_3(release, small_transfer, tmp_path):
    folder, _, terms, _ = release
    bad = tmp_path / "bad"
    write_release(bad, terms)
    lines = (bad / "DD.txt").read_text(encoding="utf-8").splitlines()
    lines[1] = lines[1][:20]
    (bad / "DD.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"DD\.txt: line 2: 20 characters"):
        read_release(bad)
    res = CliRunner().invoke(app, ["convert", str(small_transfer), "--out", str(tmp_path / "o"), "--whodrug", str(bad)])
    assert res.exit_code == 3, res.output
    assert "DD.txt: line 2" in res.output and "Traceback" not in res.output
    write_release(bad, terms)
    (bad / "INA.txt").unlink()
    with pytest.raises(InputError, match="no INA.txt"):
        read_release(bad)
    write_release(bad, terms)
    (bad / "DDA.txt").write_text("ABCDEF01001 Z99AA\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"DDA\.txt: line 1: 'ABCDEF01001' is not a drug code"):
        read_release(bad)
    with pytest.raises(InputError, match="does not exist"):
        read_release(tmp_path / "nowhere")


def test_coding_list_errors_name_the_line(tmp_path):
    p = tmp_path / "cm-coding.csv"
    p.write_text("verbatim,drug_code\nAspirinol,123\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"line 2: drug_code '123' is not a WHODrug code"):
        coding_mod.read_drug_coding_list(p)
    p.write_text("verbatim,drug_code\nA,12345601001\na,12345601002\n", encoding="utf-8")
    with pytest.raises(InputError, match="line 3: 'a' coded 12345601002/, earlier 12345601001/"):
        coding_mod.read_drug_coding_list(p)
    p.write_text("name,code\nA,1\n", encoding="utf-8")
    with pytest.raises(InputError, match="needs verbatim and drug_code"):
        coding_mod.read_drug_coding_list(p)


def test_define_names_the_whodrug_version(coded, tmp_path):
    from cdisc_il2.convert import write_outputs
    from cdisc_il2.export import export_folder

    write_outputs(coded, tmp_path)
    version = coded.drug_release.version
    export_folder(tmp_path / "sdtm", tmp_path / "x", formats=("json",), coding={"CM": version})
    xml = (tmp_path / "x" / "define.xml").read_text(encoding="utf-8")
    assert xml.count(f'<ExternalCodeList Dictionary="WHODRUG" Version="{version}"/>') == 3
    for oid in ("CL.WHODRUG.DRUG", "CL.WHODRUG.ATC", "CL.WHODRUG.ATCCD"):
        assert f'CodeListOID="{oid}"' in xml
    assert "MEDDRA" not in xml
    assert pd.read_csv(tmp_path / "coding_queries.csv")["domain"].eq("CM").sum() == \
        coded.coding_queries["domain"].eq("CM").sum()
    assert '"CM": "' in (tmp_path / "coding.json").read_text(encoding="utf-8")


def test_whodrug_rules_run_only_with_a_release(coded, tmp_path):
    from cdisc_il2.convert import write_outputs
    from cdisc_il2.validate import validate_folder

    write_outputs(coded, tmp_path)
    cm_path = tmp_path / "sdtm" / "cm.csv"
    cm = pd.read_csv(cm_path, dtype=str)
    first = cm.index[cm["CMDECOD"].notna()][0]
    cm.loc[first, "CMDECOD"] = "NOT A DRUG OF THE RELEASE"
    cm.loc[first, "CMCLASCD"] = "Z99ZZ"
    cm.to_csv(cm_path, index=False)
    ids = {"SD1344", "SD1345", "SD1346"}
    without = validate_folder(tmp_path / "sdtm", prefer=("csv",))
    assert not without.findings["rule_id"].isin(ids).any()
    rules = without.rules.set_index("rule_id")
    assert rules.loc["SD1344", "checked_in"] == "" and rules.loc["SD1344", "fired"] == "not applicable"
    with_release = validate_folder(tmp_path / "sdtm", prefer=("csv",), whodrug=coded.drug_release)
    f = with_release.findings
    got = f[f["rule_id"].isin(ids)]
    assert set(zip(got["rule_id"], got["row"])) == {("SD1344", first + 1), ("SD1346", first + 1)}
    assert with_release.rules.set_index("rule_id").loc["SD1345", "checked_in"] == "CM"


def test_rescue_rule_on_whodrug_atc_codes():
    """prohibited_new with `atc`: a drug under a listed ATC code is new after the first dose, whatever its CMCLAS."""
    from cdisc_il2.derive.adcm import new_prohibited_medication

    adcm = pd.DataFrame({"USUBJID": ["S1", "S1", "S1"], "CMSEQ": [1, 2, 3],
                         "CMTRT": ["Zorbex", "Quix", "Zorbex"], "CMDECOD": ["ZORBAMYCIN", "QUIXOL", "ZORBAMYCIN"],
                         "CMCLAS": ["ZORB SUPPRESSANTS", "QUIX AGENTS", "ZORB SUPPRESSANTS"],
                         "CMCLASCD": ["Z01AA", "Z02AA", "Z01AA"], "CMSTDTC": ["2015-02-01", "2015-02-01", "2014-12-01"],
                         "ASTDT": [20120, 20120, 20058], "AENDT": [None, None, 20060]})
    adsl = pd.DataFrame({"USUBJID": ["S1"], "TRTSDT": [20100]})
    hit = new_prohibited_medication(adcm, adsl, {"atc": ["Z01A"], "after": "first_dose"})
    assert hit["SRCSEQ"].tolist() == [1] and hit["RESCREAS"].str.contains("zorb suppressants").all()
    assert new_prohibited_medication(adcm, adsl, {"classes": ["NONE"]}).empty
    assert new_prohibited_medication(adcm, adsl, {"classes": ["QUIX AGENTS"]})["SRCSEQ"].tolist() == [2]


def test_shipped_sample_whodrug_dictionary_is_the_generators():
    """samples/dictionaries/whodrug and mappings/dictionaries/cm-coding.csv are what the generator writes."""
    root = Path(__file__).resolve().parents[1]
    terms, rows = sample_drug_terms()
    shipped = pd.read_csv(root / "mappings" / "dictionaries" / "cm-coding.csv", dtype=str, keep_default_na=False)
    assert shipped.to_dict("records") == rows
    folder = root / "samples" / "dictionaries" / "whodrug"
    rel = read_release(folder)
    assert "SYNTHETIC" in rel.version and (folder / "README.txt").read_text(encoding="utf-8") == DRUG_NOTE
    assert all(rel.code(r["drug_code"], r["atc_code"])[0] for r in rows)
    assert all(code.startswith("Z") for code in rel.atc_text)            # invented, outside the ATC groups

