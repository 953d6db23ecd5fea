"""Read a Define-XML file (1.0, 2.0 or 2.1) parsed with entity resolution and network off: study OIDs, the
declared standard, datasets with their label, keys and variables (label, type, length, codelist), codelists."""
from __future__ import annotations

from pathlib import Path

from lxml import etree

from ..errors import InputError

ODM = "http://www.cdisc.org/ns/odm/v1.3"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def safe_parser() -> etree.XMLParser:
    """An XML parser that never resolves entities, loads DTDs or touches the network."""
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def _attrs(el) -> dict[str, str]:
    """Attributes by local name, whatever the def: namespace version."""
    return {etree.QName(k).localname: v for k, v in el.attrib.items()}


def _children(el, name: str) -> list:
    return [c for c in el if isinstance(c.tag, str) and etree.QName(c).localname == name]


def _text(el) -> str | None:
    """Description/TranslatedText (2.x), else the def:Label attribute (1.0)."""
    for d in _children(el, "Description"):
        for t in _children(d, "TranslatedText"):
            return t.text
    return _attrs(el).get("Label")


def read_define(path: Path) -> dict:
    """Study OIDs and, per dataset, per variable: itemOID, label, dataType, length, keySequence, displayFormat,
    codelist; dataset labels and key variables; codelists (coded values, or external dictionary)."""
    try:
        root = etree.parse(str(path), safe_parser()).getroot()
    except (OSError, etree.XMLSyntaxError) as exc:
        raise InputError(f"{Path(path).name}: cannot be read as Define-XML ({exc})") from None
    study = next(iter(_children(root, "Study")), None)
    mdv = next(iter(_children(study, "MetaDataVersion")), None) if study is not None else None
    if mdv is None:
        raise InputError(f"{Path(path).name}: not Define-XML (no Study/MetaDataVersion)")
    items = {}
    for it in _children(mdv, "ItemDef"):
        a = _attrs(it)
        ref = next(iter(_children(it, "CodeListRef")), None)
        items[a.get("OID")] = {"name": a.get("Name"), "dataType": a.get("DataType"),
                               "length": int(a["Length"]) if a.get("Length", "").strip().isdigit() else None,
                               "label": _text(it), "displayFormat": a.get("DisplayFormat"),
                               "codelist": ref.get("CodeListOID") if ref is not None else None}
    codelists = {}
    for cl in _children(mdv, "CodeList"):
        a = _attrs(cl)
        values = [c.get("CodedValue") for c in _children(cl, "CodeListItem") + _children(cl, "EnumeratedItem")]
        codelists[a.get("OID")] = {"name": a.get("Name"), "values": values,
                                   "external": bool(_children(cl, "ExternalCodeList"))}
    datasets, labels, keys = {}, {}, {}
    for ig in _children(mdv, "ItemGroupDef"):
        a = _attrs(ig)
        name = a.get("Name")
        labels[name] = _text(ig)
        cols, seq = {}, []
        for ref in _children(ig, "ItemRef"):
            r = _attrs(ref)
            item = items.get(r.get("ItemOID"), {})
            ks = int(r["KeySequence"]) if r.get("KeySequence", "").strip().isdigit() else None
            cols[item.get("name")] = {"itemOID": r.get("ItemOID"), "label": item.get("label"),
                                      "dataType": _json_type(item.get("dataType")), "length": item.get("length"),
                                      "displayFormat": item.get("displayFormat"), "keySequence": ks,
                                      "defineType": item.get("dataType"), "codelist": item.get("codelist")}
            if ks is not None:
                seq.append((ks, item.get("name")))
        datasets[name] = cols
        keys[name] = [n for _, n in sorted(seq)] or [k.strip() for k in a.get("DomainKeys", "").split(",") if k.strip()]
    return {"fileOID": root.get("FileOID"), "studyOID": study.get("OID"), "metaDataVersionOID": mdv.get("OID"),
            "datasets": datasets, "labels": labels, "keys": keys, "codelists": codelists,
            "ig_versions": _ig_versions(root, mdv), "ct_versions": _ct_versions(root)}


def _ct_versions(root) -> list[dict]:
    """The controlled terminology releases a define declares (Define-XML 2.1 def:Standard Type="CT"): publishing
    set (SDTM, ADaM, DEFINE-XML) and version (release date)."""
    return [{"set": a.get("PublishingSet", ""), "version": a.get("Version", "")}
            for a in (_attrs(el) for el in root.iter("{*}Standard")) if a.get("Type") == "CT" and a.get("Version")]


def _ig_versions(root, mdv) -> list[str]:
    """The non-ADaM implementation guide versions a define declares: def:Standard (2.1) or the
    MetaDataVersion's StandardName/StandardVersion (1.0, 2.0)."""
    out = []
    for el in root.iter("{*}Standard"):
        a = _attrs(el)
        if a.get("Type") == "IG" and "ADAM" not in a.get("Name", "").upper():
            out.append(a.get("Version", ""))
    a = _attrs(mdv)
    if "StandardVersion" in a and "ADAM" not in a.get("StandardName", "").upper():
        out.append(a["StandardVersion"])
    return out


def _json_type(define_type: str | None) -> str | None:
    from .datasetjson import JSON_TYPES

    return JSON_TYPES.get(define_type or "", None)
