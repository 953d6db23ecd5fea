"""The sponsor's settings in mappings/ as every stage reads them: the analysis settings (analysis.yaml) and the
Define-XML settings (define.yaml: study description, dataset keys, labels, derivation methods, the SRI's method
in words), here so that no stage reads them through another stage."""
from __future__ import annotations

import copy
import re
from functools import lru_cache

from .resources import data_dir, load_analysis, load_yaml


def analysis_config() -> dict:
    """mappings/analysis.yaml: windows, AE conventions, BILAG scores, SRI settings (a fresh copy each call)."""
    return copy.deepcopy(load_analysis())              # parsed once per process (resources.load_analysis)


def define_config() -> dict:
    """mappings/define.yaml: study description, dataset keys, derivation methods (a fresh copy each call)."""
    return copy.deepcopy(_define_yaml())


@lru_cache(maxsize=1)
def _define_yaml() -> dict:
    """mappings/define.yaml with the method texts filled in, built once per process."""
    cfg = load_yaml((data_dir("mappings") / "define.yaml").read_text(encoding="utf-8"))
    cfg["methods"] = {k: _fill_analysis(v) for k, v in cfg["methods"].items()}
    text = sri_method_text(analysis_config())
    cfg["methods"]["ADRS.AVALC"] = text
    cfg["methods"]["ADRS.AVAL"] = "1 when AVALC is Y, 0 when N. " + text
    return cfg


def _fill_analysis(text: str) -> str:
    """Method texts quote the analysis settings they follow: '{analysis:sri.primary_visit}' -> 'WEEK 10'."""
    def value(m: re.Match) -> str:
        node = analysis_config()
        for part in m.group(1).split("."):
            node = node[part]
        return str(node)
    return re.sub(r"\{analysis:([A-Za-z0-9_.]+)\}", value, text)


def sri_method_text(cfg: dict) -> str:
    """The SRI as configured in analysis.yaml, in words for a reviewer (Define-XML's method for ADRS)."""
    sri = cfg["sri"]
    k = sri["sledai_reduction"]
    total = ("the SLEDAI-2K total derived as the sum of the 24 descriptor scores" if sri["sledai_total"] == "derived"
             else "the SLEDAI-2K total collected on the form (derived from the descriptors where a site collects none)")
    missing_item = ("an assessment with any descriptor missing has no total" if sri["sledai_missing_descriptor"] ==
                    "not_assessable" else "a missing descriptor scores 0")
    parts = [f"A subject is a responder (SRI-{k}) at an analysis visit when, compared with baseline (the last "
             f"assessment on or before the first dose): (1) {total} fell by at least {k} points ({missing_item});"]
    if sri["bilag_required"]:
        domains = ("all nine BILAG-2004 organ domains must be graded at baseline and at the visit, otherwise the "
                   "criterion is not met" if sri["bilag_missing_domain"] == "not_assessable"
                   else "only the domains graded at the visit are compared")
        parts.append(f"(2) no BILAG-2004 domain is newly graded A and at most {sri['max_new_bilag_b']} is newly "
                     f"graded B (from C, D or E at baseline); {domains};")
    parts.append(f"({3 if sri['bilag_required'] else 2}) the Physician Global Assessment rose by less than "
                 f"{sri['pga_worsening_limit']} (a rise of exactly {sri['pga_worsening_limit']} is a worsening).")
    parts.append(f"The analysis set is every treated subject ({sri['analysis_set']}). A subject-visit where any "
                 "criterion cannot be assessed (missing visit, missing component, after discontinuation) counts as a "
                 "non-response (DTYPE WC, the reason in NRIREAS); so does every visit on or after the start of rescue "
                 "therapy as defined in the analysis plan (RESCREAS).")
    parts.append(f"The primary endpoint is the response at {sri['primary_visit']} (ANL02FL = Y).")
    return " ".join(parts)
