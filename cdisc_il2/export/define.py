"""Define-XML 2.1 for an SDTM or ADaM package, built with lxml from the one metadata source (schemas/,
the mapping specs, mappings/define.yaml and the data actually written)."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
from lxml import etree

from .. import __version__
from ..config import define_config
from ..dictionaries.meddra import MEDDRA_SUFFIXES
from ..dictionaries.whodrug import WHODRUG_SUFFIXES
from ..formats.model import Dataset
from ..frames import byte_lengths, distinct_text
from ..io import write_bytes
from ..metadata import adam_datasets, adam_structure, codelist, ct_versions, dataset_variables, load_json
from ..resources import load_study

ODM = "http://www.cdisc.org/ns/odm/v1.3"
DEF = "http://www.cdisc.org/ns/def/v2.1"
XLINK = "http://www.w3.org/1999/xlink"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
NSMAP = {None: ODM, "def": DEF, "xlink": XLINK}
VLM_BY = {"LB": ("LBTESTCD", ["LBORRES", "LBORRESU", "LBSTRESN", "LBSTRESU"]),
          "QS": ("QSTESTCD", ["QSORRES", "QSSTRESN"]), "SUPP": ("QNAM", ["QVAL"]),
          "BDS": ("PARAMCD", ["AVAL", "AVALC"])}
SDTM_CLASS = {"Special-Purpose": "SPECIAL PURPOSE", "Events": "EVENTS", "Interventions": "INTERVENTIONS",
              "Findings": "FINDINGS", "Relationship": "RELATIONSHIP", "Findings About": "FINDINGS ABOUT"}


def _d(tag: str) -> str:
    return f"{{{DEF}}}{tag}"


def _text(parent, tag: str, text: str):
    el = etree.SubElement(parent, tag)
    tt = etree.SubElement(el, "TranslatedText")
    tt.set(XML_LANG, "en")
    tt.text = text
    return el


def _kind(name: str) -> str:
    """SUPP, SDTM, or the ADaM structure (ADSL, OCCDS, BDS) of a dataset."""
    if name.startswith("SUPP"):
        return "SUPP"
    if name.startswith("AD"):
        return adam_structure(name)
    return "SDTM"


def _meta(name: str) -> pd.DataFrame | None:
    try:
        return dataset_variables(name)
    except KeyError:
        return None


def _method_text(methods: dict, name: str, var: str) -> str | None:
    if f"{name}.{var}" in methods:
        return methods[f"{name}.{var}"]
    if f"*.{var}" in methods:
        return methods[f"*.{var}"]
    for suffix in ("SEQ", "DY", "LOBXFL"):
        if var.endswith(suffix) and len(var) == 2 + len(suffix) and f"*.{suffix}" in methods:
            return methods[f"*.{suffix}"]
    return None


def _sources(specs) -> dict[tuple[str, str], list[str]]:
    """(domain, variable) -> where each site collects it ('site01.yaml: sheet Labs, column Result'), or ['=value']."""
    out: dict[tuple[str, str], list[str]] = {}
    for spec in specs or []:
        for block in spec.doc["blocks"]:
            pivot = block.get("unpivot", {})
            for section in ("variables", "supp"):
                for var, rule in block.get(section, {}).items():
                    key = (block["domain"] if section == "variables" else f"SUPP{block['domain']}",
                           var if section == "variables" else f"QVAL.{var}")
                    if "column" in rule:
                        col = rule["column"]
                        heading = col if isinstance(col, str) else " / ".join(col)
                        where = ("columns " + ", ".join(pivot["columns"]) if isinstance(col, str) and col in _pivot_names(pivot)
                                 else f"column '{heading}'")
                        out.setdefault(key, []).append(f"{spec.name}: sheet '{block['sheet']}', {where}")
                    elif "value" in rule:
                        out.setdefault(key, []).append(f"={rule['value']}")
    return out


def _pivot_names(pivot: dict) -> set[str]:
    if not pivot:
        return set()
    return {pivot["value_column"], *{k for a in pivot["columns"].values() for k in a}}


def _data_type(values: pd.Series, meta_type: str | None, var: str, display: str | None) -> tuple[str, int | None, int | None]:
    """Define-XML DataType, Length and SignificantDigits from the values written (each distinct value once)."""
    if meta_type == "Num" or pd.api.types.is_numeric_dtype(values):
        num = pd.unique(pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype="float64"))
        sign = 1 if (num < 0).any() else 0
        whole = len(str(int(np.abs(num).max()))) if len(num) else 1
        digits = next((d for d in range(0, 9) if np.allclose(np.round(num, d), num, rtol=0, atol=1e-9)), 8)
        if display or digits == 0:
            return "integer", whole + sign, None
        return "float", whole + digits + 1 + sign, digits
    text = distinct_text(values).dropna()
    length = int(max(1, byte_lengths(text).max())) if len(text) else 1
    if var.endswith("DTC") and len(text):
        if text.str.fullmatch(r"\d{4}-\d{2}-\d{2}").all():
            return "date", None, None
        if text.str.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?").all():
            return "datetime", None, None
        return "partialDatetime", None, None
    return "text", length, None


def build_define(datasets: dict[str, Dataset], standard: str, specs=None, when: str = "2000-01-01T00:00:00",
                 leaf_suffix: str = ".xpt", coding: dict[str, str] | None = None) -> bytes:
    """Define-XML 2.1 bytes for the datasets of one standard ('SDTM' or 'ADaM'); `coding`: domain -> the version
    of the dictionary it was coded with (AE --LLT ... --SOCCD: MedDRA; CM --DECOD, --CLAS, --CLASCD: WHODrug)."""
    cfg = define_config()
    study = load_study()
    methods = cfg["methods"]
    sources = _sources(specs)
    ct_sdtm, ct_adam = ct_versions()
    root = etree.Element("ODM", nsmap=NSMAP)
    root.set("FileType", "Snapshot")
    root.set("FileOID", f"{study['studyid']}.{standard}.define")
    root.set("ODMVersion", "1.3.2")
    root.set("CreationDateTime", when)
    root.set("Originator", "cdisc-il2")
    root.set("SourceSystem", "cdisc-il2")
    root.set("SourceSystemVersion", __version__)
    root.set(_d("Context"), "Submission")
    st = etree.SubElement(root, "Study", OID=study["studyid"])
    gv = etree.SubElement(st, "GlobalVariables")
    etree.SubElement(gv, "StudyName").text = cfg["study"]["name"]
    etree.SubElement(gv, "StudyDescription").text = cfg["study"]["description"]
    etree.SubElement(gv, "ProtocolName").text = cfg["study"]["protocol"]
    ig_name = "SDTMIG" if standard == "SDTM" else "ADaMIG"
    ig_version = "3.4" if standard == "SDTM" else "1.3"
    mdv = etree.SubElement(st, "MetaDataVersion", OID=f"MDV.{study['studyid']}.{ig_name}.{ig_version}",
                           Name=f"{study['studyid']} {standard} metadata", Description=f"{standard} datasets of "
                           f"{study['studyid']} written by cdisc-il2 {__version__}")
    mdv.set(_d("DefineVersion"), "2.1.0")
    stds = etree.SubElement(mdv, _d("Standards"))
    etree.SubElement(stds, _d("Standard"), OID="STD.IG", Name=ig_name, Type="IG", Version=ig_version, Status="Final")
    etree.SubElement(stds, _d("Standard"), OID="STD.CT.SDTM", Name="CDISC/NCI", Type="CT", PublishingSet="SDTM",
                     Version=re.sub(r"^SDTM CT ", "", ct_sdtm), Status="Final")
    if standard == "ADaM":
        etree.SubElement(stds, _d("Standard"), OID="STD.CT.ADAM", Name="CDISC/NCI", Type="CT", PublishingSet="ADaM",
                         Version=re.sub(r"^ADaM CT ", "", ct_adam), Status="Final")

    vlds, wcs, igs, items, cls, mts, coms = [], [], [], [], {}, {}, []
    for name, ds in sorted(datasets.items(), key=lambda kv: (kv[0].startswith("SUPP"), kv[0])):
        kind = _kind(name)
        meta = _meta(name)
        mrow = meta.set_index("name") if meta is not None else pd.DataFrame()
        df = ds.frame
        keys = cfg["keys"].get(name) or cfg["keys"].get(kind) or []
        ig = etree.Element("ItemGroupDef", OID=f"IG.{name}", Name=name, Repeating="No" if name in ("DM", "ADSL") else "Yes",
                           IsReferenceData="No", SASDatasetName=name,
                           Purpose="Tabulation" if standard == "SDTM" else "Analysis")
        if kind in ("SDTM", "SUPP"):
            ig.set("Domain", name[4:] if kind == "SUPP" else name)
        ds_meta = load_json("sdtm-metadata.json")["datasets"].get("SUPPQUAL" if kind == "SUPP" else name, {})
        structure = ds_meta.get("structure") or adam_datasets().get(name, {}).get(
            "records", "One record per subject, parameter and analysis visit")
        ig.set(_d("Structure"), structure)
        ig.set(_d("StandardOID"), "STD.IG")
        ig.set(_d("ArchiveLocationID"), f"LF.{name}")
        notes = _dataset_notes(specs, name)
        if notes:
            coms.append((f"COM.{name}", notes))
            ig.set(_d("CommentOID"), f"COM.{name}")
        _text(ig, "Description", ds.label or name)
        for order, col in enumerate(df.columns, start=1):
            oid = f"IT.{name}.{col}"
            ref = etree.SubElement(ig, "ItemRef", ItemOID=oid, OrderNumber=str(order))
            core = mrow["core"].get(col) if len(mrow) and col in mrow.index else None
            ref.set("Mandatory", "Yes" if core == "Req" else "No")
            if col in keys:
                ref.set("KeySequence", str(keys.index(col) + 1))
            text = _method_text(methods, name, col)
            if coding and name in coding and name in CODED and col[len(name):] in CODED[name][1]:
                label = {"MEDDRA": "MedDRA", "WHODRUG": "WHODrug"}[CODED[name][0]]
                release = coding[name] if coding[name].lower().startswith(label.lower()) else f"{label} {coding[name]}"
                text = cfg["coded_methods"][CODED[name][0]].format(release=release)
            origin_sources = sources.get((name, col), [])
            collected = [s for s in origin_sources if not s.startswith("=")]
            if text and not collected:
                mts.setdefault(f"MT.{name}.{col}", (f"Algorithm for {name}.{col}", text))
                ref.set("MethodOID", f"MT.{name}.{col}")
            role = mrow["role"].get(col) if "role" in mrow and col in mrow.index else None
            if role and isinstance(role, str) and standard == "SDTM":
                ref.set("Role", role)
            items.append(_item_def(ds, name, col, mrow, standard, text, origin_sources, cls))
            if coding and name in coding and name in CODED and col[len(name):] in CODED[name][1]:
                _dictionary_ref(items[-1], CODED[name][0], col[len(name):], coding[name], cls)
            by = VLM_BY.get(kind if kind in ("SUPP", "BDS") else name)
            if by and col in by[1] and by[0] in df:
                vld, wc_list, vitems = _value_list(ds, name, col, by[0], methods, sources, standard)
                vlds.append(vld)
                wcs.extend(wc_list)
                items.extend(vitems)
                items[-len(vitems) - 1].append(etree.Element(_d("ValueListRef"), ValueListOID=f"VL.{name}.{col}"))
        cls_el = etree.SubElement(ig, _d("Class"))
        cls_el.set("Name", _class_name(name, kind, ds_meta))
        if adam_datasets().get(name, {}).get("subclass"):
            etree.SubElement(cls_el, _d("SubClass"), Name=adam_datasets()[name]["subclass"])
        leaf = etree.SubElement(ig, _d("leaf"), ID=f"LF.{name}")
        leaf.set(f"{{{XLINK}}}href", f"{name.lower()}{leaf_suffix}")
        etree.SubElement(leaf, _d("title")).text = f"{name.lower()}{leaf_suffix}"
        igs.append(ig)
    for el in vlds + _unique(wcs) + igs + _unique(items):
        mdv.append(el)
    for oid in sorted(cls):
        mdv.append(cls[oid])
    for oid, (title, text) in sorted(mts.items()):
        m = etree.SubElement(mdv, "MethodDef", OID=oid, Name=title[:128], Type="Computation")
        _text(m, "Description", text)
    for oid, text in coms:
        c = etree.SubElement(mdv, _d("CommentDef"), OID=oid)
        _text(c, "Description", text)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


# the dictionary each coded domain's variables (by suffix) refer to: Define-XML ExternalCodeList Dictionary
CODED = {"AE": ("MEDDRA", MEDDRA_SUFFIXES), "CM": ("WHODRUG", WHODRUG_SUFFIXES)}
# each external codelist: suffix -> (OID part, name, data type)
EXTERNAL_LISTS = {"MEDDRA": {"": ("TERM", "MedDRA terms", "text"), "CD": ("CODE", "MedDRA codes", "integer")},
                  "WHODRUG": {"DECOD": ("DRUG", "WHODrug preferred names", "text"),
                              "CLAS": ("ATC", "WHODrug ATC classes", "text"),
                              "CLASCD": ("ATCCD", "WHODrug ATC codes", "text")}}


def _dictionary_ref(item: etree._Element, dictionary: str, suffix: str, version: str, cls: dict) -> None:
    """Refer a coded item to the external codelist of its dictionary's version (MedDRA names text, codes integer;
    WHODrug preferred names, ATC texts and ATC codes)."""
    lists = EXTERNAL_LISTS[dictionary]
    part, name, dtype = lists.get(suffix) or lists["CD" if suffix.endswith("CD") else ""]
    oid = f"CL.{dictionary}.{part}"
    if oid not in cls:
        el = etree.Element("CodeList", OID=oid, Name=name, DataType=dtype)
        etree.SubElement(el, "ExternalCodeList", Dictionary=dictionary, Version=version)
        cls[oid] = el
    item.insert(1, etree.Element("CodeListRef", CodeListOID=oid))


def _unique(elements: list) -> list:
    seen, out = set(), []
    for el in elements:
        oid = el.get("OID")
        if oid not in seen:
            seen.add(oid)
            out.append(el)
    return out


def _class_name(name: str, kind: str, ds_meta: dict) -> str:
    if kind == "SUPP":
        return "RELATIONSHIP"
    if kind == "SDTM":
        return SDTM_CLASS.get(ds_meta.get("class", ""), "SPECIAL PURPOSE")
    return {"ADSL": "SUBJECT LEVEL ANALYSIS DATASET", "OCCDS": "OCCURRENCE DATA STRUCTURE"}.get(kind, "BASIC DATA STRUCTURE")


def _dataset_notes(specs, name: str) -> str:
    notes = []
    for spec in specs or []:
        for block in spec.doc["blocks"]:
            if block["domain"] == name and block.get("notes"):
                notes.append(f"{spec.name} ({block['sheet']}): {block['notes']}")
    return " ".join(notes)


def _origin(parent, standard: str, name: str, col: str, text: str | None, sources: list[str]) -> None:
    collected = [s for s in sources if not s.startswith("=")]
    if collected:
        o = etree.SubElement(parent, _d("Origin"), Type="Collected", Source="Vendor" if name == "LB" else "Investigator")
        _text(o, "Description", "; ".join(sorted(set(collected))))
    elif text:
        etree.SubElement(parent, _d("Origin"), Type="Derived", Source="Sponsor")
    elif sources:
        o = etree.SubElement(parent, _d("Origin"), Type="Assigned", Source="Sponsor")
        _text(o, "Description", "Assigned: " + ", ".join(sorted({s[1:] for s in sources})))
    elif standard == "ADaM":
        o = etree.SubElement(parent, _d("Origin"), Type="Predecessor")
        src = adam_datasets().get(name, {}).get("predecessor", "ADSL")
        _text(o, "Description", f"{src}.{col}")
    else:
        o = etree.SubElement(parent, _d("Origin"), Type="Assigned", Source="Sponsor")
        _text(o, "Description", "Assigned by cdisc-il2 from the study definition")


def _item_def(ds: Dataset, name: str, col: str, mrow: pd.DataFrame, standard: str, text: str | None,
              sources: list[str], cls: dict) -> etree._Element:
    values = ds.frame[col]
    meta_col = ds.column(col)
    mtype = mrow["type"].get(col) if len(mrow) and col in mrow.index else (meta_col.type if meta_col else None)
    display = meta_col.display_format if meta_col else None
    if standard == "ADaM" and col.endswith("DT") and pd.api.types.is_numeric_dtype(values):
        display = display or "DATE9."
    dtype, length, digits = _data_type(values, mtype, col, display)
    it = etree.Element("ItemDef", OID=f"IT.{name}.{col}", Name=col, DataType=dtype)
    if length is not None:
        it.set("Length", str(length))
    if digits is not None:
        it.set("SignificantDigits", str(digits))
    it.set("SASFieldName", col)
    if display:
        it.set(_d("DisplayFormat"), display)
    label = (mrow["label"].get(col) if len(mrow) and col in mrow.index else None) or (meta_col.label if meta_col else col)
    _text(it, "Description", label)
    code = mrow["codelist"].get(col) if len(mrow) and col in mrow.index and "codelist" in mrow else None
    if isinstance(code, str):
        oid = _codelist(code, col, values, cls)
        if oid:
            etree.SubElement(it, "CodeListRef", CodeListOID=oid)
    _origin(it, standard, name, col, text, sources)
    return it


def _codelist(code: str, var: str, values: pd.Series, cls: dict) -> str | None:
    """A CodeList element for a CDISC codelist: all terms when non-extensible, used terms when extensible."""
    try:
        cl = codelist(code)
    except KeyError:
        return None
    used = _distinct_text(values)
    oid = f"CL.{cl.name}" if not cl.extensible else f"CL.{cl.name}.{var}"
    if oid in cls and not cl.extensible:
        return oid
    if oid in cls:
        # the same variable in another dataset (EPOCH, RDOMAIN...): the list holds the terms used in all of them
        used |= {item.get("CodedValue") for item in cls[oid].iter("{*}EnumeratedItem")}
    terms = sorted(cl.values) if not cl.extensible else sorted(used)
    if not terms:
        return None
    el = etree.Element("CodeList", OID=oid, Name=f"{cl.name} ({var})" if cl.extensible else cl.name, DataType="text")
    el.set(_d("StandardOID"), "STD.CT.ADAM" if cl.source.startswith("ADaM") else "STD.CT.SDTM")
    for i, t in enumerate(terms, start=1):
        item = etree.SubElement(el, "EnumeratedItem", CodedValue=t, OrderNumber=str(i))
        if t in cl.nci_codes:
            etree.SubElement(item, "Alias", Context="nci:ExtCodeID", Name=cl.nci_codes[t])
        else:
            item.set(_d("ExtendedValue"), "Yes")
    if cl.code:
        etree.SubElement(el, "Alias", Context="nci:ExtCodeID", Name=cl.code)
    cls[oid] = el
    return oid


def _distinct_text(values: pd.Series) -> set[str]:
    """The distinct present values as text; text columns are reduced to their distinct values first."""
    present = values.dropna()
    if isinstance(present.dtype, pd.StringDtype):
        present = pd.Series(present.unique(), dtype=present.dtype)
    return set(present.astype(str))


def _value_list(ds: Dataset, name: str, col: str, by: str, methods: dict, sources: dict, standard: str):
    """ValueListDef and WhereClauseDefs describing `col` separately for each value of `by`."""
    label_src = {"LBTESTCD": "LBTEST", "QSTESTCD": "QSTEST", "QNAM": "QLABEL", "PARAMCD": "PARAM"}.get(by)
    df = ds.frame[list(dict.fromkeys(c for c in (by, col, label_src) if c in ds.frame))]   # the columns it reads
    vld = etree.Element(_d("ValueListDef"), OID=f"VL.{name}.{col}")
    wcs, vitems = [], []
    for i, (key, grp) in enumerate(sorted(df.groupby(by, dropna=True), key=lambda kv: str(kv[0])), start=1):
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", str(key))
        wc_oid = f"WC.{name}.{by}.{safe}"
        it_oid = f"IT.{name}.{col}.{safe}"
        ref = etree.SubElement(vld, "ItemRef", ItemOID=it_oid, OrderNumber=str(i), Mandatory="No")
        etree.SubElement(ref, _d("WhereClauseRef"), WhereClauseOID=wc_oid)
        wc = etree.Element(_d("WhereClauseDef"), OID=wc_oid)
        rc = etree.SubElement(wc, "RangeCheck", Comparator="EQ", SoftHard="Soft")
        rc.set(_d("ItemOID"), f"IT.{name}.{by}")
        etree.SubElement(rc, "CheckValue").text = str(key)
        wcs.append(wc)
        dtype, length, digits = _data_type(grp[col], None, col, None)
        if grp[col].isna().all():
            dtype, length = "text", 1
        it = etree.Element("ItemDef", OID=it_oid, Name=col, DataType=dtype)
        if length is not None:
            it.set("Length", str(length))
        if digits is not None:
            it.set("SignificantDigits", str(digits))
        it.set("SASFieldName", col)
        label = grp[label_src].dropna().iloc[0] if label_src in grp and grp[label_src].notna().any() else str(key)
        _text(it, "Description", f"{col} for {label}")
        kind_sources = sources.get((name, f"QVAL.{key}"), []) if by == "QNAM" else sources.get((name, col), [])
        _origin(it, standard, name, col, _method_text(methods, name, col), kind_sources)
        vitems.append(it)
    return vld, wcs, vitems


def write_define(path: Path, xml: bytes) -> None:
    """Write Define-XML bytes atomically."""
    write_bytes(path, xml)
