"""CDISC CORE's own published test cases (../shared/reference/core-rule-cases/): every rule of ours that carries
a CORE id is silent on that id's positive cases and flags exactly the expected records on its negative ones.

Cases we are convinced are wrong are listed, with our result and the reason, in tests/core_case_exceptions.csv;
nothing is skipped silently. Rules and cases are found by reading the catalogue and the folder."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml

from cdisc_il2.validate import checks, functions  # noqa: F401  (registers rule functions and operators)
from cdisc_il2.validate.cases import flagged, load_core_case
from cdisc_il2.validate.engine import load_rules

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT.parent / "shared" / "reference" / "core-rule-cases"
EXCEPTIONS = {(r["core_id"], r["case"]): r for r in csv.DictReader(open(ROOT / "tests" / "core_case_exceptions.csv"))}


def _pairs() -> list[tuple]:
    """(our rules carrying a CORE id, the id, one of its cases): a CORE rule may be split over several P21 rules
    (CG0397: SD0036 and SD0016), so the findings of all our rules with that id together are compared."""
    if not CASES.is_dir():
        return []
    by_core: dict[str, list] = {}
    for rule in load_rules():
        for core in rule.core:
            by_core.setdefault(core, []).append(rule)
    out = []
    for core, rules in sorted(by_core.items()):
        folder = CASES / core
        if not folder.is_dir():
            continue
        for case in sorted(p for kind in ("positive", "negative") for p in (folder / kind).glob("*") if p.is_dir()):
            out.append((tuple(rules), core, case))
    return out


PAIRS = _pairs()


def _scope(rule_yml: Path):
    """Whether a dataset is in a CORE rule's scope (Scope.Domains Include/Exclude; SUPP-- and ALL as CORE reads
    them): a P21 rule split into CORE parts by dataset (SD0075: SUPP--, RELREC, CO) is compared part by part."""
    doc = yaml.safe_load(rule_yml.read_text()) if rule_yml.is_file() else {}
    domains = (doc.get("Scope") or {}).get("Domains") or {}
    include, exclude = domains.get("Include") or ["ALL"], domains.get("Exclude") or []

    def hit(name: str, patterns) -> bool:
        return any(p == "ALL" or p == name or (p == "SUPP--" and name.startswith("SUPP")) for p in patterns)
    return lambda name: hit(name, include) and not hit(name, exclude)


@pytest.mark.skipif(not CASES.is_dir(), reason="../shared/reference/core-rule-cases is absent (a clone on its own)")
@pytest.mark.parametrize("rule,core,case", PAIRS,
                         ids=[f"{'+'.join(r.id for r in rs)}-{c}-{p.parent.name}{p.name}" for rs, c, p in PAIRS])
def test_core_case(rule, core, case):
    key = (core, f"{case.parent.name}/{case.name}")
    datasets, version, expected, product = load_core_case(case)
    if product != "SDTMIG":
        pytest.skip(f"{product} case: cdisc-il2 validates SDTMIG, not SEND")
    in_scope = _scope(case.parents[1] / "rule.yml")
    got: dict[str, set] = {}
    for r in rule:
        found, errors = flagged(r, datasets, version, variable_position=True)
        assert not errors, errors
        for name, recs in found.items():
            if in_scope(name):
                got.setdefault(name, set()).update(recs)
    # CORE reports a finding about a dataset the study lacks on 'STUDY'
    if "STUDY" in expected:
        for n in [n for n in got if n not in datasets and n != "STUDY"]:
            got.setdefault("STUDY", set()).update({"dataset"} if got.pop(n) else set())
    # CORE reports some rules once per dataset ('dataset'); any finding in that dataset matches it
    result = {n: ("dataset" if expected.get(n) == ["dataset"] else sorted(v, key=str)) for n, v in got.items()}
    want = {n: ("dataset" if v == ["dataset"] else v) for n, v in expected.items()}
    ids = "+".join(r.id for r in rule)
    if key in EXCEPTIONS:
        ex = EXCEPTIONS[key]
        assert ex["rule_id"] == ids and str(result) == ex["our_result"], \
            f"{key}: the exception table says {ex['rule_id']} gives {ex['our_result']}, {ids} now gives {result}"
        return
    assert result == want, f"{ids} on {core} {key[1]}: expected {want}, got {result}"


def test_every_exception_names_a_case_we_run():
    run = {(c, f"{p.parent.name}/{p.name}") for _, c, p in PAIRS}
    if CASES.is_dir():
        assert set(EXCEPTIONS) <= run, set(EXCEPTIONS) - run
    assert all(r["reason"].strip() for r in EXCEPTIONS.values())
