"""CT version honesty: which CDISC CT release each terminology finding was checked against, which release the
package declares (define.xml def:Standard Type="CT", TS TSVCDVER for CDISC), and, given that release's file,
whether a flagged value is a term there: a change between releases, not a data error."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..frames import as_text
from ..metadata import CtRelease, codelist, ct_versions
from ..resources import load_json
from .engine import Study

CDISC_REFS = {"CDISC", "CDISC CT", "CDISC/NCI", "NCI", "CDISC TERMINOLOGY"}


def declared_ct(define_ct: list[dict], study: Study) -> list[dict]:
    """The CT releases a package declares: define.xml's (read_define's ct_versions, per publishing set) and
    TS's (TSVCDVER of parameters coded by CDISC), each with where it was read."""
    out = [{"set": d.get("set") or "SDTM", "version": d["version"], "source": "define.xml"}
           for d in define_ct if d.get("set", "").upper() != "DEFINE-XML"]
    ts = study.datasets.get("TS")
    if ts is not None and {"TSVCDREF", "TSVCDVER"} <= set(ts.frame.columns):
        ref = as_text(ts.frame["TSVCDREF"]).str.strip().str.upper()
        ver = as_text(ts.frame["TSVCDVER"]).str.strip()
        for v in sorted(set(ver[ref.isin(CDISC_REFS).fillna(False) & ver.notna() & (ver != "")])):
            out.append({"set": "SDTM", "version": v, "source": "TS"})
    return out


def _ours(standard: str) -> str:
    """The shipped CT release a dataset of this standard (SDTM, ADaM) is checked against."""
    return next((v for v in ct_versions() if v.upper().startswith(standard.upper())), ct_versions()[0])


def _date(version: str) -> str:
    return version.split()[-1]


def _codelist_of(study: Study, name: str, variable: str, row) -> tuple[str | None, str | None]:
    """The codelist (C-code) and its release for one finding's variable (value-level ones by the selecting
    variable of the record), or (None, None) when the variable takes no CDISC codelist."""
    from .checks import value_level_ct, value_level_selectors, variable_metadata

    levels = value_level_ct().get(variable)
    try:
        if levels and name in study.datasets and levels["by"] in study.frame(name) and not pd.isna(row):
            key = str(study.frame(name)[levels["by"]].iloc[int(row) - 1]).strip().upper()
            code = next((c for keys, c in value_level_selectors(levels) if key in keys), None)
        else:
            meta = variable_metadata(study, name)
            hit = meta.loc[meta["name"] == variable, "codelist"]
            code = hit.iloc[0] if len(hit) and isinstance(hit.iloc[0], str) else None
        cl = codelist(code) if code else None
    except Exception:  # noqa: BLE001 - a dataset with no standard metadata: the finding keeps the default release
        return None, None
    return (cl.code, cl.source) if cl is not None and cl.code else (None, None)


def annotate(findings: pd.DataFrame, study: Study, declared: list[dict], releases: list[CtRelease]) -> pd.DataFrame:
    """Terminology findings with `ct` (the release they were checked against) and `ct_note`: when the package
    declares another release, whether the flagged value is a term of that release's codelist (a change between
    releases) or not (a data error either way), or that it could not be told without that release's file."""
    findings = findings.assign(ct=pd.Series(pd.NA, index=findings.index, dtype="string"),
                               ct_note=pd.Series(pd.NA, index=findings.index, dtype="string"))
    xref = load_json("rule-xref.json")["rules"]
    terminology = findings["p21_id"].map(lambda p: xref.get(p, {}).get("category") == "Terminology") | \
        findings["rule_id"].astype(str).str.startswith("CT")
    if not terminology.any():
        return findings
    ct = np.full(len(findings), None, dtype=object)
    note = np.full(len(findings), None, dtype=object)
    given = {r.standard: r for r in releases}
    for i in np.flatnonzero(terminology.to_numpy()):
        f = findings.iloc[i]
        name = str(f["dataset"])
        standard = "ADaM" if name in study.datasets and study.kind(name) in ("ADSL", "BDS", "ADAM") else "SDTM"
        code, used = _codelist_of(study, name, str(f["variable"]), f["row"])
        used = used or _ours(standard)
        ct[i] = used
        theirs = [d for d in declared if d["set"].upper() == standard.upper()]
        release = given.get(standard)
        version = release.version if release else (theirs[0]["version"] if theirs else None)
        if version is None or version == _date(used):
            continue
        where = "given" if release and not any(d["version"] == version for d in theirs) else "the package's"
        value = f["value"]
        if release is None:
            note[i] = (f"the package declares CDISC CT {version}; checked against {used} (validate with "
                       f"--ct-release and that release's file to tell a change between releases from a data error)")
        elif code is None or pd.isna(value):
            note[i] = f"checked against {used}; {where} CDISC CT {version} not compared (no codelist value)"
        else:
            has = release.has_term(code, str(value))
            note[i] = (f"codelist {code} is not in {where} CDISC CT {version}" if has is None else
                       f"'{value}' is a term of {code} in {where} CDISC CT {version}, not in {used}: a change "
                       "between releases, not a data error" if has else
                       f"'{value}' is not a term of {code} in {where} CDISC CT {version} either")
    findings["ct"] = pd.array(ct, dtype="string")
    findings["ct_note"] = pd.array(note, dtype="string")
    return findings


def release_changes(findings: pd.DataFrame) -> int:
    """How many terminology findings are terms of the package's own CT release (changes between releases)."""
    if "ct_note" not in findings:
        return 0
    return int(findings["ct_note"].str.contains("a change between releases", regex=False).fillna(False).sum())
