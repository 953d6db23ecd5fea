"""MedDRA coding from the user's own release: the ASCII reader, AE coding along the primary SOC path, coding
queries, Define-XML's dictionary version, and the MedDRA rules (run only with a release).

Every release here is synthetic: written by the tests in the official file layout with invented terms and codes.
"""
from __future__ import annotations

import copy
import csv
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from cdisc_il2.cli import app
from cdisc_il2.dictionaries.meddra import FIELDS, read_release, write_release
from cdisc_il2.errors import InputError
from cdisc_il2.mapping import coding as coding_mod
from cdisc_il2.sample_dictionaries import NOTE, sample_terms

SECOND_SOC = "91999999"          # an invented SOC under which a PT is also placed, not as its primary


def _test_terms(present: list[str]) -> tuple[dict, list[dict], dict]:
    """The sample's invented release made stranger for the PTs the transfer's AEs have: the first PT also under a
    second SOC (not primary, listed first in mdhier), the second's verbatims coded to an LLT that is not current,
    and the third's verbatims without a code."""
    terms, rows = sample_terms()
    terms = copy.deepcopy(terms)
    by_name = {n: c for c, n in terms["pt"].items()}
    two, stale, missing = (by_name[n] for n in present[:3])
    terms["paths"].insert(0, [two, "93999999", "Invented head signs", "92999999", "Invented head conditions",
                              SECOND_SOC, "Invented secondary disorders", False])
    terms["llt"].append(["95000001", "Invented old term", stale, False])
    rows = [dict(r, llt_code="95000001") if r["llt_code"] == stale else r for r in rows if r["llt_code"] != missing]
    return terms, rows, {"two_socs": two, "stale": stale, "missing": missing, "names": present[:3]}


@pytest.fixture(scope="module")
def uncoded(small_transfer):
    """The small generated transfer converted without a release (today's behaviour)."""
    from cdisc_il2.convert import map_transfer

    mp = pytest.MonkeyPatch()
    mp.setattr(coding_mod, "configured", lambda meddra: (None, Path("unused.csv")))
    try:
        result = map_transfer(small_transfer)
    finally:
        mp.undo()           # not active beyond the conversion (session fixtures)
    yield result


@pytest.fixture(scope="module")
def release(tmp_path_factory, uncoded) -> tuple[Path, Path, dict, dict]:
    folder = tmp_path_factory.mktemp("meddra") / "MedAscii"
    present = list(uncoded.domains["AE"]["AEDECOD"].dropna().value_counts().sort_index().index)
    assert len(present) >= 3, present
    terms, rows, codes = _test_terms(present)
    write_release(folder, terms, "synthetic test release")
    coding = folder.parent / "ae-coding.csv"
    with open(coding, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, ["verbatim", "llt_code"])
        w.writeheader()
        w.writerows(rows)
    return folder, coding, terms, codes


@pytest.fixture(scope="module")
def coded(release, small_transfer):
    """The small generated transfer converted with the test release and coding list."""
    from cdisc_il2.convert import map_transfer

    folder, coding, _, _ = release
    mp = pytest.MonkeyPatch()
    mp.setattr(coding_mod, "configured", lambda meddra: (Path(meddra), coding))
    try:
        result = map_transfer(small_transfer, meddra=folder)
    finally:
        mp.undo()           # not active beyond the conversion (session fixtures)
    yield result


def test_reader_reads_every_file_and_the_primary_path(release):
    folder, _, terms, codes = release
    rel = read_release(folder)
    assert rel.version == terms["version"] and rel.label == f"MedDRA {terms['version']}"
    assert {p.name for p in folder.iterdir()} >= set(FIELDS)
    # the PT under two SOCs: mdhier lists the secondary path first; the primary one (flag Y) is chosen
    path, why = rel.code(codes["two_socs"])
    assert why == "" and path.soc_code != SECOND_SOC and path.soc_name != "Invented secondary disorders"
    assert (codes["two_socs"], "93999999", "92999999", SECOND_SOC) in rel.path_set()
    assert rel.code("95000001")[0] is None and "not current" in rel.code("95000001")[1]
    assert rel.code("99999999")[0] is None and "not in MedDRA" in rel.code("99999999")[1]


def test_every_ae_variable_from_the_release(coded, release):
    _, _, terms, codes = release
    ae = coded.domains["AE"]
    assert coded.meddra == f"MedDRA {terms['version']}"
    rel = coded.release
    ok = ae[ae["AELLTCD"].notna()]
    assert len(ok) > 0
    for _, r in ok.iterrows():
        p, _ = rel.code(str(r["AELLTCD"]))
        assert (r["AELLT"], r["AEDECOD"], str(r["AEPTCD"]), r["AEHLT"], str(r["AEHLTCD"]), r["AEHLGT"],
                str(r["AEHLGTCD"]), r["AEBODSYS"], str(r["AEBDSYCD"]), r["AESOC"], str(r["AESOCCD"])) == (
            p.llt_name, p.pt_name, p.pt_code, p.hlt_name, p.hlt_code, p.hlgt_name, p.hlgt_code, p.soc_name,
            p.soc_code, p.soc_name, p.soc_code)
    assert not ok["AESOCCD"].astype(str).eq(SECOND_SOC).any()
    two = ae[ae["AEPTCD"].astype("string").eq(codes["two_socs"])]
    assert len(two) and two["AESOCCD"].eq(rel.primary(codes["two_socs"])[2]).all()
    # SDTMIG order: the hierarchy variables right after AETERM
    cols = list(ae.columns)
    assert cols[cols.index("AETERM") + 1: cols.index("AETERM") + 13] == coding_mod.AE_MEDDRA


def test_non_current_llt_and_missing_code_are_coding_queries(coded, uncoded, release):
    _, _, _, codes = release
    ae, q = coded.domains["AE"], coded.coding_queries
    queried = ae[ae["AELLTCD"].isna()]
    expected = uncoded.domains["AE"]["AEDECOD"].isin(codes["names"][1:3])
    assert len(queried) == int(expected.sum()) == len(q) > 0
    assert queried[coding_mod.AE_MEDDRA].isna().all().all()        # never guessed
    assert set(q.columns) == set(coding_mod.QUERY_COLUMNS)
    assert q["file"].notna().all() and q["sheet"].notna().all() and q["row"].notna().all()
    assert q["heading"].notna().all()
    reasons = set(q["reason"])
    assert any("not current" in r and "95000001" in r for r in reasons)
    assert any("has no LLT code in ae-coding.csv" in r for r in reasons)
    # the same queries in rejects.csv, with the raw cell
    rej = coded.rejects[coded.rejects["disposition"].eq(coding_mod.CODING_QUERY)]
    assert len(rej) == len(q) and set(rej["domain"]) == {"AE"}


def test_coding_query_names_the_raw_row(coded):
    """Each query's file, sheet and row are the AE record's own raw row (trace_cells.csv)."""
    cells = coded.cells
    terms = cells[cells["VARIABLE"].eq("AETERM")]
    rows = set(zip(terms["file"], terms["sheet"], terms["row"].astype(int)))
    for _, r in coded.coding_queries.iterrows():
        assert (r["file"], r["sheet"], int(r["row"])) in rows


def test_without_a_release_ae_stays_as_today(uncoded):
    res = uncoded
    ae = res.domains["AE"]
    assert res.meddra == "" and res.release is None
    codes = [v for v in coding_mod.AE_MEDDRA if v.endswith("CD") or v in ("AELLT", "AEHLT", "AEHLGT")]
    assert ae.reindex(columns=codes).isna().all().all() and ae["AEDECOD"].notna().all()
    assert not res.rejects["disposition"].eq(coding_mod.CODING_QUERY).any()


def test_malformed_release_is_one_clear_line_exit_3(release, small_transfer, tmp_path):
    folder, _, terms, _ = release
    bad = tmp_path / "bad"
    write_release(bad, terms)
    lines = (bad / "llt.asc").read_text(encoding="utf-8").splitlines()
    lines[1] = "$".join(lines[1].split("$")[:4]) + "$"
    (bad / "llt.asc").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"llt\.asc: line 2: 4 '\$'-delimited field\(s\), llt\.asc has 11"):
        read_release(bad)
    res = CliRunner().invoke(app, ["convert", str(small_transfer), "--out", str(tmp_path / "o"),
                                   "--meddra", str(bad)])
    assert res.exit_code == 3, res.output
    assert "llt.asc: line 2" in res.output and "Traceback" not in res.output
    (bad / "llt.asc").unlink()
    with pytest.raises(InputError, match="no llt.asc"):
        read_release(bad)
    write_release(bad, terms)
    (bad / "mdhier.asc").write_text("123$x$\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"mdhier\.asc: line 1: 2 '\$'-delimited"):
        read_release(bad)


def test_define_names_the_meddra_version(coded, tmp_path):
    from cdisc_il2.convert import write_outputs
    from cdisc_il2.export import export_folder

    write_outputs(coded, tmp_path)
    export_folder(tmp_path / "sdtm", tmp_path / "x", formats=("json",), coding={"AE": coded.release.version})
    xml = (tmp_path / "x" / "define.xml").read_text(encoding="utf-8")
    assert f'<ExternalCodeList Dictionary="MEDDRA" Version="{coded.release.version}"/>' in xml
    assert 'ItemDef OID="IT.AE.AEDECOD"' in xml and 'CodeListOID="CL.MEDDRA.TERM"' in xml
    assert 'CodeListOID="CL.MEDDRA.CODE"' in xml
    queries = pd.read_csv(tmp_path / "coding_queries.csv")
    assert len(queries) == len(coded.coding_queries)


def test_meddra_rules_run_only_with_a_release(coded, tmp_path):
    from cdisc_il2.convert import write_outputs
    from cdisc_il2.validate import validate_folder

    write_outputs(coded, tmp_path)
    ae = pd.read_csv(tmp_path / "sdtm" / "ae.csv", dtype=str, keep_default_na=False)
    first = ae.index[ae["AEDECOD"].ne("")][0]
    ae.loc[first, "AEDECOD"] = ae.loc[first, "AEDECOD"].upper()          # a PT in another case
    second = ae.index[ae["AEDECOD"].ne("")][1]
    ae.loc[second, "AEHLTCD"] = "93999999"                                # an HLT code off the PT's path
    ae.to_csv(tmp_path / "sdtm" / "ae.csv", index=False)
    meddra_ids = {"SD0008", "SD0008C", "SD2011", "GEN-MDR-01", "GEN-MDR-03"}
    without = validate_folder(tmp_path / "sdtm", prefer=("csv",))
    assert not without.findings["rule_id"].isin(meddra_ids).any()
    rules = without.rules.set_index("rule_id")
    assert rules.loc["SD0008", "checked_in"] == "" and rules.loc["SD0008", "fired"] == "not applicable"
    with_release = validate_folder(tmp_path / "sdtm", prefer=("csv",), meddra=coded.release)
    f = with_release.findings
    got = f[f["rule_id"].isin(meddra_ids | {"SD2016", "GEN-MDR-04"})]
    assert set(zip(got["rule_id"], got["row"])) == {("SD0008C", first + 1), ("GEN-MDR-03", second + 1)}
    assert with_release.rules.set_index("rule_id").loc["SD0008", "checked_in"] == "AE"


def test_shipped_sample_dictionaries_are_the_generators():
    """samples/dictionaries/meddra and mappings/dictionaries/ae-coding.csv are what the generator writes."""
    root = Path(__file__).resolve().parents[1]
    terms, rows = sample_terms()
    shipped = pd.read_csv(root / "mappings" / "dictionaries" / "ae-coding.csv", dtype=str)
    assert shipped.to_dict("records") == rows
    rel = read_release(root / "samples" / "dictionaries" / "meddra")
    assert "SYNTHETIC" in rel.version and (root / "samples" / "dictionaries" / "meddra" / "README.txt").read_text(
        encoding="utf-8") == NOTE
    assert rel.pt == terms["pt"] and all(rel.code(r["llt_code"])[0] for r in rows)
