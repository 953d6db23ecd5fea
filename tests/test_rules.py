"""Every rule of the catalogue: silent on a clean study, fires on a copy with one deliberate defect."""
from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from cdisc_il2.formats import ColumnMeta, Dataset
from cdisc_il2.metadata import sdtm_dataset_label, sdtm_variables
from cdisc_il2.validate import checks  # noqa: F401  (registers functions)
from cdisc_il2.validate.engine import Study, load_rules, run_rule

RULES = {r.id: r for r in load_rules()}
# Findings that are true on our own clean output, with the reason they cannot be mended in the mapping.
TRUE_ON_OUR_OUTPUT = {
    "SD1461": "AEBODSYS comes from the sponsor's synonym dictionary, not MedDRA: there is no licensed SOC code "
              "to put in AEBDSYCD (CG0082 / CORE-000024 rightly reports it)",
    "SD1149": "Expected variables without data are kept as empty columns, as SDTMIG 4.1.2 asks (MedDRA codes: no "
              "licensed dictionary; ARMNRS/ACTARMUD: every subject treated as planned); P21 reminds that Define-XML "
              "should say why",
    "SD1449": "the MedDRA variables are empty: the sponsor dictionary is not MedDRA (as SD1461)",
    "SD1097": "no treatment-emergent flag in SUPPAE (FDA business rule FDAB001): the flag is derived in ADAE "
              "(TRTEMFL); issue 10's disposition and trial design work is where SUPPAE.AETRTEM would come from",
}
# VS is not collected in this trial: Pinnacle 21's 'Missing VS dataset' rightly says so.
TRUE_ON_OUR_OUTPUT["SD1108"] = "vital signs are not collected in this trial"
# (rule, dataset, variable) findings that are true on our output and explained
TRUE_ON_OUR_VARIABLES = {("CT2002", "TS", "TSVCDREF"): "SDTMIG's TS examples name ISO 8601 (durations) and "
                         "ClinicalTrials.gov (REGID) as the reference, and Pinnacle 21 SD2244 asks for ISO 3166-1 "
                         "alpha-3 (FCNTRY): the extensible DICTNAM list has none of them"}
SAS_EPOCH = pd.Timestamp("1960-01-01")
ADAM_LABELS = {"ADSL": "Subject-Level Analysis Dataset", "ADLB": "Laboratory Analysis Dataset"}


def _adam(dm: pd.DataFrame, lb: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """A small, correct ADSL and ADLB derived by hand from DM and LB (an oracle independent of derive)."""
    adsl = dm[["STUDYID", "USUBJID", "SUBJID", "SITEID", "AGE", "AGEU", "SEX", "RACE", "ARM"]].copy()
    adsl["TRT01P"] = adsl["ARM"]
    adsl["TRT01A"] = adsl["ARM"]
    adsl["TRTSDT"] = (pd.to_datetime(dm["RFXSTDTC"]) - SAS_EPOCH).dt.days.astype("float64")
    adsl["TRTEDT"] = (pd.to_datetime(dm["RFXENDTC"]) - SAS_EPOCH).dt.days.astype("float64")
    adsl["SAFFL"] = "Y"
    lab = lb[lb["LBSTRESN"].notna()].copy()
    adlb = pd.DataFrame({"STUDYID": lab["STUDYID"], "USUBJID": lab["USUBJID"], "PARAMCD": lab["LBTESTCD"],
                         "PARAM": lab["LBTEST"] + " (" + lab["LBSTRESU"] + ")", "AVAL": lab["LBSTRESN"].astype(float),
                         "TRTA": lab["USUBJID"].map(dm.set_index("USUBJID")["ARM"]), "AVISIT": lab["VISIT"], "AVISITN": lab["VISITNUM"].astype(float), "ANRIND": lab["LBNRIND"],
                         "ABLFL": lab["LBLOBXFL"]})
    base = adlb[adlb["ABLFL"] == "Y"][["USUBJID", "PARAMCD", "AVAL", "ANRIND"]].rename(
        columns={"AVAL": "BASE", "ANRIND": "BNRIND"})
    adlb = adlb.merge(base, on=["USUBJID", "PARAMCD"], how="left")
    adlb["CHG"] = (adlb["AVAL"] - adlb["BASE"]).where(adlb["AVISITN"] > 2)
    adlb["PCHG"] = (adlb["CHG"] / adlb["BASE"] * 100).where(adlb["BASE"] != 0)
    return {"ADSL": adsl.reset_index(drop=True), "ADLB": adlb.reset_index(drop=True)}


@pytest.fixture(scope="session")
def clean(tmp_path_factory) -> dict[str, Dataset]:
    """A clean 8-subject study (generator without problems, converted), plus hand-made ADSL/ADLB."""
    from cdisc_il2.convert import map_transfer
    from cdisc_il2.samples import generate

    folder = tmp_path_factory.mktemp("clean")
    generate(8, 5, folder, problems=False)
    frames = dict(map_transfer(folder).domains)
    frames.update(_adam(frames["DM"], frames["LB"]))
    out = {}
    for name, df in frames.items():
        cols = []
        if not name.startswith("AD"):
            meta = sdtm_variables(name).set_index("name")
            cols = [ColumnMeta(c, meta["label"].get(c), meta["type"].get(c, "Char")) for c in df.columns]
        label = sdtm_dataset_label(name) if not name.startswith("AD") else ADAM_LABELS[name]
        out[name] = Dataset(name, label, df.reset_index(drop=True), cols)
    return out


class Case:
    """A mutable copy of the clean study with small editing helpers."""

    def __init__(self, clean: dict[str, Dataset]) -> None:
        self.ds = {k: Dataset(v.name, v.label, v.frame.copy(), list(v.columns)) for k, v in clean.items()}
        self.extras: dict = {}

    def f(self, name: str) -> pd.DataFrame:
        return self.ds[name].frame

    def set(self, name: str, row, **values) -> "Case":
        df = self.f(name)
        for k, v in values.items():
            if k not in df:
                df[k] = pd.Series(pd.NA, index=df.index, dtype="object")
            if v is not pd.NA and not isinstance(v, str) and not pd.api.types.is_numeric_dtype(df[k]):
                df[k] = df[k].astype("object")
            if isinstance(v, str) and pd.api.types.is_numeric_dtype(df[k]):
                df[k] = df[k].astype("object")
            df.loc[row, k] = v
        return self

    def append(self, name: str, row: int, **values) -> "Case":
        df = self.f(name)
        new = df.iloc[[row]].copy()
        for k, v in values.items():
            new[k] = v
        self.ds[name].frame = pd.concat([df, new], ignore_index=True)
        return self

    def drop(self, name: str, *cols: str) -> "Case":
        self.ds[name].frame = self.f(name).drop(columns=list(cols))
        return self

    def first(self, name: str, **where) -> int:
        df = self.f(name)
        mask = pd.Series(True, index=df.index)
        for k, v in where.items():
            mask &= df[k] == v if not callable(v) else v(df[k])
        return int(mask[mask].index[0])


def _flip(c: Case, testcd: str) -> Case:
    i = c.first("QS", QSTESTCD=testcd, VISITNUM=2)
    qs = c.f("QS")
    weight = {"SLED20": 2, "SLED21": 2, "SLED23": 1, "SLED24": 1, "SLED13": 4}[testcd]
    new = weight - qs.at[i, "QSSTRESN"]
    return c.set("QS", i, QSSTRESN=new, QSSTRESC=str(int(new)))


def _seq_dup(c: Case) -> Case:
    return c.append("AE", 0, AETERM="Another event")


def _two_flags(c: Case, var: str) -> Case:
    lb = c.f("LB")
    i = c.first("LB", LBLOBXFL="Y")
    j = int(lb[(lb["USUBJID"] == lb.at[i, "USUBJID"]) & (lb["LBTESTCD"] == lb.at[i, "LBTESTCD"])].index.difference([i])[0])
    return c.set("LB", [i, j], **{var: "Y"})


def _ex_after(c: Case):
    return c.set("EX", 0, EXSTDTC="2030-01-01")


def _normal_row(c: Case) -> int:
    return c.first("LB", LBNRIND="NORMAL")


def _full_end(c: Case) -> int:
    return c.first("AE", AEENDTC=lambda s: s.astype("string").str.len() == 10)


def _full_start_after_dose(c: Case) -> int:
    ae = c.f("AE")
    dm = c.f("DM").set_index("USUBJID")
    ok = ae["AESTDTC"].astype("string").str.len().eq(10) & (ae["AESTDTC"] >= ae["USUBJID"].map(dm["RFXSTDTC"]))
    return int(ok[ok.fillna(False)].index[0])


def _screening_lb(c: Case) -> int:
    return c.first("LB", EPOCH="SCREENING")


def _criteria(c: Case) -> Case:
    for v in ("AESCAN", "AESCONG", "AESDISAB", "AESDTH", "AESHOSP", "AESLIFE", "AESOD", "AESMIE"):
        c.set("AE", slice(None), **{v: "N"})
    return c.set("AE", 0, AESER="Y")


def _same_term(c: Case, var: str) -> Case:
    ae = c.f("AE")
    return c.set("AE", 1, AETERM=ae.at[0, "AETERM"], **{var: "Other " + var})


def _drop_subject(c: Case, name: str) -> Case:
    subj = c.f("DM").at[0, "USUBJID"]
    c.ds[name].frame = c.f(name)[c.f(name)["USUBJID"] != subj].reset_index(drop=True)
    return c


def _clear_baseline(c: Case) -> Case:
    subj = c.f("LB").at[0, "USUBJID"]
    lb = c.f("LB")
    lb.loc[lb["USUBJID"] == subj, "LBLOBXFL"] = pd.NA
    return c


def _bds_base(c: Case) -> int:
    return c.first("ADLB", ABLFL="Y")


def _bds_post(c: Case) -> int:
    return c.first("ADLB", CHG=lambda s: s.notna() & (s != 0))


def _rejects(disposition: str):
    def mutate(c: Case) -> Case:
        c.extras["rejects"] = pd.DataFrame([{"file": "site.xlsx", "sheet": "AE log", "row": 7, "column": "Grade",
                                             "value": "G9", "reason": "not a term of AESEV", "disposition": disposition,
                                             "spec": "s.yaml", "block": "ae", "domain": "AE"}])
        return c
    return mutate


def _declared(name: str, var: str, kind: str):
    def mutate(c: Case) -> Case:
        ds = c.ds[name]
        ds.columns = [ColumnMeta(m.name, m.label, kind if m.name == var else m.type) for m in ds.columns]
        return c
    return mutate


def _label(name: str, var: str, label: str, dataset_label: str | None = None):
    def mutate(c: Case) -> Case:
        ds = c.ds[name]
        ds.columns = [ColumnMeta(m.name, label if m.name == var else m.label) for m in ds.columns]
        if dataset_label:
            ds.label = dataset_label
        return c
    return mutate


CASES = {
    # metadata
    "SD0056": lambda c: c.drop("AE", "AETERM"),
    "SD0057": lambda c: c.drop("AE", "AESER"),
    "SD0058": lambda c: c.set("AE", slice(None), AEFOO="x"),
    "SD0002": lambda c: c.set("AE", 0, AETERM=pd.NA),
    "GEN-NUM-01": lambda c: c.set("DM", 0, AGE="forty"),
    "SD0055": lambda c: _declared("AE", "AESEQ", "Char")(c),
    "CT2001": lambda c: c.set("DM", 0, SEX="X"),
    "CT2002": lambda c: c.set("EX", 0, EXROUTE="INTRADERMAL-ISH"),
    "SD0003": lambda c: c.set("AE", 0, AESTDTC="2014/03/05"),
    "FMT-ASCII-01": lambda c: c.set("AE", 0, AETERM="Céphalée"),
    "SD1029": lambda c: c.set("LB", 0, LBTEST="Hémoglobine"),
    "FMT-XPT-05": lambda c: c.set("AE", 0, AETERM="x" * 201),
    "GEN-LBL-01": _label("AE", "AETERM", "Reported term"),
    "SD0001": lambda c: setattr(c.ds["AE"], "frame", c.f("AE").iloc[0:0]) or c,
    "FMT-XPT-04": _label("AE", "AETERM", "Reported Term for the Adverse Event", "x" * 41),
    "AD0047": lambda c: c.drop("ADSL", "SITEID"),
    "AD0196": lambda c: c.set("ADSL", 0, SITEID=pd.NA),
    # keys and identifiers
    "SD0004": lambda c: c.set("AE", 0, DOMAIN="XX"),
    "SD0005": _seq_dup,
    "SD0083": lambda c: c.append("DM", 0),
    "SD1001": lambda c: c.set("DM", 1, SUBJID=c.f("DM").at[0, "SUBJID"]),
    "GEN-DUP-01": lambda c: c.append("LB", 0, LBSEQ=999),
    "SD1117": lambda c: c.append("LB", 0, LBSEQ=999, LBORRES="7.7", LBSTRESC="7.7"),
    "SD0064": lambda c: c.set("AE", 0, USUBJID="NOPE"),
    "SD1349": lambda c: c.set("AE", 0, STUDYID="OTHER"),
    # timing
    "SD0013": lambda c: c.set("AE", 0, AESTDTC="2015-01-10", AEENDTC="2015-01-01"),
    "SD0012": lambda c: c.set("AE", 0, AESTDY=10, AEENDY=5),
    "SD0038": lambda c: c.set("LB", 0, LBDY=0),
    "SD1086": lambda c: c.set("LB", 0, LBDY=c.f("LB").at[0, "LBDY"] + 5),
    "SD1090": lambda c: c.set("AE", (i := _full_start_after_dose(c)), AESTDY=c.f("AE").at[i, "AESTDY"] + 3),
    "SD1094": lambda c: c.set("AE", (i := _full_end(c)), AEENDY=c.f("AE").at[i, "AEENDY"] + 3),
    "SD1084": lambda c: c.set("LB", 0, LBDY=pd.NA),
    "SD1088": lambda c: c.set("AE", _full_start_after_dose(c), AESTDY=pd.NA),
    "SD1202": lambda c: c.set("AE", 0, AESTDTC="2030-01-01"),
    "SD1203": lambda c: c.set("LB", 0, LBDTC="2030-01-01"),
    "SD1204": lambda c: c.set("AE", 0, AEENDTC="2030-01-01"),
    "SD1339": lambda c: c.set("LB", 0, EPOCH=pd.NA),
    "IL2-EPOCH-01": lambda c: c.set("LB", _screening_lb(c), EPOCH="TREATMENT"),
    "IL2-EPOCH-02": lambda c: c.set("AE", _full_start_after_dose(c), EPOCH="SCREENING"),
    # visits and findings
    "SD0051": lambda c: c.set("LB", 0, VISIT="WEEK 99"),
    "SD0052": lambda c: c.set("LB", 0, VISITNUM=42),
    "SD0040": lambda c: c.set("LB", 0, LBTEST="Something else"),
    "SD1043": lambda c: c.set("LB", 0, LBTESTCD="XYZ"),
    "SD0018": lambda c: c.set("LB", 0, LBTESTCD="1BAD"),
    "SD0017": lambda c: c.set("LB", 0, LBTEST="x" * 41),
    "SD0007": lambda c: c.set("LB", 0, LBSTRESU="mg/L"),
    "SD0026": lambda c: c.set("LB", 0, LBORRESU=pd.NA),
    "SD0027": lambda c: c.set("LB", 0, LBORRES=pd.NA),
    "SD0029": lambda c: c.set("LB", 0, LBSTRESU=pd.NA),
    "SD0030": lambda c: c.set("LB", 0, LBSTRESC=pd.NA),
    "SD0036": lambda c: c.set("LB", 0, LBSTRESC=pd.NA),
    "SD0047": lambda c: c.set("LB", 0, LBORRES=pd.NA),
    "SD1212": lambda c: c.set("LB", 0, LBSTRESN=c.f("LB").at[0, "LBSTRESN"] + 1),
    "SD1448": lambda c: c.set("LB", 0, LBSTRESC="POSITIVE"),
    "SD1122": lambda c: c.set("LB", 0, LBSTRESN=np.nan),
    "SD0028": lambda c: c.set("LB", 0, LBSTNRHI=c.f("LB").at[0, "LBSTNRLO"] - 1),
    "SD1137": lambda c: c.set("QS", c.first("QS", QSDRVFL="Y"), QSORRES="12"),
    "SD0016": lambda c: c.set("QS", c.first("QS", QSDRVFL="Y"), QSSTRESC=pd.NA),
    "SD1445": lambda c: _two_flags(c, "LBLOBXFL"),
    "SD1439": lambda c: _two_flags(c, "LBBLFL"),
    "SD1371": lambda c: c.set("LB", c.first("LB", LBLOBXFL="Y"), LBORRES=pd.NA),
    "SD1372": lambda c: c.set("LB", c.first("LB", LBLOBXFL="Y"), LBSTRESC=pd.NA),
    "GEN-LB-01": lambda c: c.set("LB", _normal_row(c), LBNRIND="HIGH"),
    "GEN-LB-02": lambda c: c.set("LB", _normal_row(c), LBNRIND=pd.NA),
    "IL2-LB-03": lambda c: c.set("LB", 0, LBSTRESU="mg/L"),
    "IL2-LB-04": lambda c: c.set("LB", 0, LBSTRESC="<0.5", LBSTRESN=np.nan),
    # exposure
    "SD0014": lambda c: c.set("EX", 0, EXDOSE=-1),
    "SD0035": lambda c: c.set("EX", 0, EXDOSU=pd.NA),
    "SD1047": lambda c: c.set("EX", 0, EXDOSTXT="1 MIU"),
    "IL2-EX-01": lambda c: c.set("EX", 0, EXDOSU="mg"),
    "IL2-EX-02": lambda c: c.set("EX", 0, EXROUTE="INTRAVENOUS"),
    "IL2-EX-03": lambda c: c.set("EX", 0, EXDOSE=500000),
    "GEN-EX-04": lambda c: c.set("EX", c.first("EX", EXDOSFRQ="ONCE"), EXENDTC="2030-01-02"),
    "IL2-EX-05": lambda c: c.set("EX", 0, EXDOSFRM="TABLET"),
    "SD1205": lambda c: c.set("EX", 0, EXSTDTC="2000-01-01"),
    "SD1206": _ex_after,
    "SD1207": lambda c: c.set("EX", 0, EXENDTC="2030-01-01"),
    "SD1340": lambda c: c.set("DM", 0, ACTARMCD=pd.NA),
    # adverse events
    "SD0009": _criteria,
    "GEN-AE-01": lambda c: c.set("AE", 0, AESER="Y"),
    "SD1332": lambda c: c.set("AE", 0, AEOUT="NOT RECOVERED/NOT RESOLVED", AEENDTC="2014-12-01"),
    "SD1333": lambda c: c.set("AE", 0, AEOUT="RECOVERED/RESOLVED", AEENDTC=pd.NA),
    "SD0090": lambda c: c.set("AE", slice(None), AESDTH="N").set("AE", 0, AEOUT="FATAL"),
    "SD1440": lambda c: _same_term(c, "AEDECOD"),
    "SD1443": lambda c: _same_term(c, "AEBODSYS"),
    "GEN-AE-03": lambda c: c.set("AE", 0, AESTDTC=pd.NA),
    # demographics
    "SD0084": lambda c: c.set("DM", 0, AGE=0),
    "SD1121": lambda c: c.set("DM", 0, AGE=np.nan),
    "SD1002": lambda c: c.set("DM", 0, RFSTDTC="2030-01-01"),
    "SD1208": lambda c: c.set("DM", 0, RFXSTDTC="2030-01-01"),
    "SD1209": lambda c: c.set("DM", 0, RFXENDTC=pd.NA),
    "SD1342": lambda c: c.set("DM", 0, RFXSTDTC=pd.NA),
    "SD1334": lambda c: c.set("DM", 0, RFICDTC="2030-01-01"),
    "SD1335": lambda c: c.set("DM", 0, RFICDTC="2030-01-01"),
    "SD1210": lambda c: c.set("DM", 0, RFICDTC=pd.NA),
    "SD1213": lambda c: c.set("DM", 0, RFSTDTC=pd.NA),
    "SD1361": lambda c: c.set("DM", 0, ARMCD=pd.NA),
    "SD1362": lambda c: c.set("DM", 0, ACTARMCD=pd.NA),
    "SD1358": lambda c: c.set("DM", 0, ACTARMCD=pd.NA, ACTARM=pd.NA, ARMNRS=pd.NA),
    "SD1360": lambda c: c.set("DM", 0, ARMNRS="X"),
    "SD1033": lambda c: c.set("DM", 0, ARM="Other arm"),
    "SD1034": lambda c: c.set("DM", 0, ARMCD="OTHER"),
    "SD0070": lambda c: _drop_subject(c, "EX"),
    # supplemental qualifiers
    "SD1022": lambda c: c.set("SUPPAE", 0, QNAM="1BAD"),
    "SD1049": lambda c: c.set("SUPPAE", 0, QLABEL="x" * 41),
    "SD0046": lambda c: c.set("SUPPEX", 0, QLABEL="Other label"),
    "SD0086": lambda c: c.append("SUPPAE", 0),
    "SD0072": lambda c: c.set("SUPPAE", 0, RDOMAIN="LB"),
    "SD0075": lambda c: c.set("SUPPAE", 0, IDVAR="AEXXX"),
    "SD0077": lambda c: c.set("SUPPAE", 0, IDVARVAL="999"),
    "SD1265": lambda c: c.set("SUPPAE", 0, QORIG="ASSIGNED"),
    # ADaM
    "AD0001": lambda c: c.ds.pop("ADSL") and c,
    "AD0054": lambda c: c.append("ADSL", 0),
    "AD0053": lambda c: c.set("ADSL", 0, USUBJID="NOT-IN-DM"),
    "AD0143": lambda c: c.set("ADLB", 0, PARAMCD="1BAD"),
    "AD0141": lambda c: c.set("ADLB", 0, PARAM="Other"),
    "AD0142": lambda c: c.set("ADLB", 0, PARAMCD="ZZZ"),
    "AD0154": lambda c: c.set("ADLB", slice(None), BASETYPE="LAST").set("ADLB", _bds_post(c), ABLFL="Y"),
    "GEN-ADAM-02": lambda c: c.set("ADLB", _bds_post(c), ABLFL="Y"),
    "AD0176": lambda c: c.set("ADLB", _bds_post(c), ABLFL="N"),
    "AD0129": lambda c: c.set("ADLB", (i := _bds_post(c)), BASE=c.f("ADLB").at[i, "BASE"] + 1),
    "AD0130": lambda c: c.set("ADLB", slice(None), BASEC="1").set("ADLB", 0, BASEC="2"),
    "AD0223": lambda c: c.set("ADLB", (i := _bds_post(c)), CHG=c.f("ADLB").at[i, "CHG"] + 1),
    "AD0225": lambda c: c.set("ADLB", (i := _bds_post(c)), PCHG=c.f("ADLB").at[i, "PCHG"] + 1),
    "AD0225A": lambda c: c.set("ADLB", _bds_post(c), BASE=0.0, CHG=np.nan, PCHG=5.0),
    "AD0152": lambda c: c.set("ADLB", (i := _bds_base(c)), BASE=c.f("ADLB").at[i, "AVAL"] + 1),
    "AD0168": lambda c: c.set("ADLB", (i := _bds_base(c)), BNRIND="HIGH" if c.f("ADLB").at[i, "ANRIND"] != "HIGH" else "LOW"),
    "AD0127": lambda c: c.set("ADLB", _bds_base(c), ABLFL=pd.NA),
    "AD0198": lambda c: c.drop("ADLB", "AVAL"),
    "AD0058": lambda c: c.set("ADSL", 0, TRTSDT="2014-03-01"),
    "AD0204": lambda c: c.set("ADSL", 0, AGE=c.f("ADSL").at[0, "AGE"] + 1),
    "AD0205": lambda c: c.set("ADSL", 0, AGEU="MONTHS"),
    "AD0206": lambda c: c.set("ADSL", 0, SEX="M" if c.f("ADSL").at[0, "SEX"] == "F" else "F"),
    "AD0207": lambda c: c.set("ADSL", 0, RACE="WHITE"),
    "AD0208": lambda c: c.set("ADSL", 0, SUBJID="X"),
    "AD0209": lambda c: c.set("ADSL", 0, SITEID="99"),
    "AD0210": lambda c: c.set("ADSL", 0, ARM="Other"),
    # study-specific
    "IL2-QS-01": lambda c: c.set("QS", (i := c.first("QS", QSTESTCD="SLEDTOT")), QSSTRESN=c.f("QS").at[i, "QSSTRESN"] + 1),
    "IL2-QS-02": lambda c: c.set("QS", c.first("QS", QSTESTCD="SLED09"), QSSTRESN=3),
    "IL2-QS-03": lambda c: _flip(c, "SLED20"),
    "IL2-QS-04": lambda c: _flip(c, "SLED21"),
    "IL2-QS-05": lambda c: _flip(c, "SLED23"),
    "IL2-QS-06": lambda c: _flip(c, "SLED24"),
    "IL2-QS-07": lambda c: _flip(c, "SLED13"),
    "IL2-QS-08": lambda c: c.set("QS", c.first("QS", QSTESTCD="PGA01"), QSSTRESN=4),
    "IL2-QS-09": lambda c: c.set("QS", c.first("QS", QSTESTCD="BILAG01"), QSSTRESC="F"),
    "IL2-QS-10": lambda c: c.set("QS", c.first("QS", QSTESTCD="SLEDTOT"), QSSTRESN=120),
    "IL2-MAP-01": _rejects("row rejected"),
    "IL2-MAP-02": _rejects("value kept as collected"),
}


def test_every_rule_has_a_case_and_the_catalogue_is_large():
    assert set(CASES) <= set(RULES), f"cases for rules not in the catalogue: {set(CASES) - set(RULES)}"
    untested = sorted(r for r in RULES if r not in CASES and not RULES[r].cases)
    assert not untested, f"rules with neither a defect case here nor `cases` in their YAML: {untested}"
    assert len(RULES) >= 80
    # a rule carries its Pinnacle 21 id, or one of ours: IL2- for this trial's (scope: study), FMT- (file formats)
    # and GEN- (data) for our own general rules
    assert all(r.p21 or r.id.startswith(("IL2-", "FMT-", "GEN-")) for r in RULES.values())
    assert all(r.scope == "study" for r in RULES.values() if r.id.startswith("IL2-") and not r.p21)


def test_clean_study_has_no_findings(clean):
    from cdisc_il2.validate import validate_datasets

    result = validate_datasets(clean)
    f = result.findings
    known = pd.Series([(r, d, v) in TRUE_ON_OUR_VARIABLES for r, d, v in zip(f["rule_id"], f["dataset"], f["variable"])],
                      index=f.index, dtype=bool)
    found = f[~f["rule_id"].isin(TRUE_ON_OUR_OUTPUT) & ~known]
    assert found.empty, found[["rule_id", "dataset", "message"]].head(20).to_string()
    assert result.errors.empty, result.errors.to_string()


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_passes_clean_and_fires_on_defect(clean, rule_id):
    rule = RULES[rule_id]
    ok, _, errors = run_rule(rule, Study(Case(clean).ds))
    ok = ok[[(r, d, v) not in TRUE_ON_OUR_VARIABLES for r, d, v in zip(ok["rule_id"], ok["dataset"], ok["variable"])]]
    assert ok.empty and not errors, (ok.head().to_string(), errors)
    case = CASES[rule_id](Case(clean))
    found, applied, errors = run_rule(rule, Study(case.ds, extras=case.extras))
    assert not errors, errors
    assert len(found) >= 1, f"{rule_id} did not fire (checked in {applied})"
    assert set(found["rule_id"]) == {rule_id}
    assert found["message"].notna().all() and found["severity"].eq(rule.severity).all()
