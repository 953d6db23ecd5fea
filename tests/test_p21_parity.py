"""Pinnacle 21 parity on a real package: our findings on the CDISC pilot SDTM against the Pinnacle 21 Community
4.0.2 report beside it, by rule, dataset and record. Every difference is explained in tests/p21_parity.csv
(rule, dataset, P21 count, our count, which side is right and why, an example); a new or changed difference,
or an explanation of a difference that is gone, fails here."""
from __future__ import annotations

import csv

import pytest

from conftest import PACKAGES, ROOT, needs_reference

PILOT = PACKAGES / "cdiscpilot01-sdtm"
TABLE = ROOT / "tests" / "p21_parity.csv"


REPORT = PILOT / "pinnacle21-report-4.0.2.xlsx"


def _present() -> set[str]:
    return {p.stem.upper() for p in PILOT.glob("*.xpt")}


@pytest.fixture(scope="module")
def pilot_result():
    from cdisc_il2.validate import validate_folder

    return validate_folder(PILOT)


@pytest.fixture(scope="module")
def comparison(pilot_result):
    from cdisc_il2.validate.p21 import compare_with_p21

    return compare_with_p21(pilot_result, REPORT, _present())


@needs_reference
def test_agreement_figures_account_for_every_finding_and_each_disagreement_is_explained(pilot_result):
    """Our findings on the pilot split exactly into: on a pair the report has, of a rule it did not run, and
    disagreements (a rule it ran and did not report on that dataset), each of which tests/p21_parity.csv explains."""
    from cdisc_il2.validate.p21 import agreement, read_p21_report, read_p21_rules

    f = agreement(pilot_result, REPORT, _present())
    assert f["on_reference_pairs"] + f["rule_reference_lacks"] + f["disagreement"] == f["our_findings"] > 0
    assert 0 < f["pairs_found"] <= f["reference_pairs"] and 0 < f["records_in_common"] <= f["reference_records"]
    summary, _ = read_p21_report(REPORT)
    ran, pairs = read_p21_rules(REPORT), set(zip(summary["rule"], summary["dataset"]))
    ours = pilot_result.findings[pilot_result.findings["dataset"].isin(_present())]
    disagreeing = {(r, d) for r, d in zip(ours["p21_id"], ours["dataset"]) if r in ran and (r, d) not in pairs}
    assert len(disagreeing) > 0 and disagreeing <= set(_explained()), sorted(disagreeing - set(_explained()))


def _explained() -> dict[tuple[str, str], dict]:
    return {(r["rule"], r["dataset"]): r for r in csv.DictReader(open(TABLE, encoding="utf-8"))}


@needs_reference
def test_every_difference_with_pinnacle21_is_explained(comparison):
    explained = _explained()
    differs = comparison[comparison["status"] == "differs"]
    unexplained, changed = [], []
    for r in differs.itertuples(index=False):
        e = explained.get((r.rule, r.dataset))
        if e is None:
            unexplained.append(f"{r.rule} {r.dataset}: P21 {r.p21_count}, ours {r.our_count} ({r.p21_example} | {r.our_example})")
        elif (int(e["p21_count"]), int(e["our_count"])) != (r.p21_count, r.our_count):
            changed.append(f"{r.rule} {r.dataset}: table says P21 {e['p21_count']}/ours {e['our_count']}, "
                           f"now P21 {r.p21_count}/ours {r.our_count}")
    assert not unexplained, "differences with Pinnacle 21 not in tests/p21_parity.csv:\n" + "\n".join(unexplained)
    assert not changed, "explained differences that changed:\n" + "\n".join(changed)
    gone = set(explained) - {(r.rule, r.dataset) for r in differs.itertuples(index=False)}
    assert not gone, f"tests/p21_parity.csv explains differences that are gone (remove them): {sorted(gone)}"


def test_explanations_are_complete():
    for key, e in _explained().items():
        assert e["right"] in {"P21", "ours", "both", "neither"}, key
        assert e["reason"].strip() and e["example"].strip(), key


@needs_reference
def test_rules_we_share_with_pinnacle21_agree_somewhere(comparison):
    """The comparison is not vacuous: rules both sides report agree exactly on some datasets."""
    assert (comparison["status"] == "same").sum() >= 3
