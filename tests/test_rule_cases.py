"""Every rule's own examples (schemas/rules/**.yaml `cases`): it flags exactly the records named, and stays
silent where none are. Rules are found by reading the catalogue, never listed here."""
from __future__ import annotations

import pytest

from cdisc_il2.validate import functions  # noqa: F401  (registers rule functions and operators)
from cdisc_il2.validate import checks  # noqa: F401
from cdisc_il2.validate.cases import run_case
from cdisc_il2.validate.engine import load_rules

WITH_CASES = [r for r in load_rules() if r.cases]


@pytest.mark.parametrize("rule", WITH_CASES, ids=[f"{r.group}:{r.id}" for r in WITH_CASES])
def test_rule_cases(rule):
    fires = [c for c in rule.cases if any(c["expect"].values())]
    silent = [c for c in rule.cases if not any(c["expect"].values())]
    assert fires and silent, f"{rule.id}: needs a case where it fires and one where it stays silent"
    for i, case in enumerate(rule.cases):
        expected, got, errors = run_case(rule, case)
        assert not errors, f"{rule.id} case {i + 1}: {errors}"
        assert got == expected, f"{rule.id} case {i + 1} ({case.get('note', '')}): expected {expected}, got {got}"


def test_rules_pinnacle21_waives_for_an_ongoing_study_are_waived_by_ts_ongosind():
    """Pinnacle 21 describes some rules as not for an ongoing study (TS ONGOSIND = Y): each of ours that carries
    such a P21 id has unless_ongoing, and no other does; one of them shows it in a case."""
    from cdisc_il2.resources import load_json

    xref = load_json("rule-xref.json")["rules"]
    waived = {i for i, x in xref.items() if "ONGOSIND" in x.get("description", "")
              and "ONGOSIND" not in x.get("message", "")}
    assert waived
    for r in load_rules():
        if r.p21 in waived:
            assert r.params.get("unless_ongoing") is True, r.id
        else:
            assert not r.params.get("unless_ongoing"), r.id
    assert any(r.params.get("unless_ongoing") and any("TS" in c["data"] for c in r.cases) for r in load_rules())
