"""Read item metadata from a Define-XML 2.x file (XML parsed with entity resolution and network off)."""
from __future__ import annotations

from pathlib import Path

from lxml import etree

from ..errors import InputError

NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3", "def": "http://www.cdisc.org/ns/def/v2.1"}
DEF20 = "http://www.cdisc.org/ns/def/v2.0"


def safe_parser() -> etree.XMLParser:
    """An XML parser that never resolves entities, loads DTDs or touches the network."""
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def read_define(path: Path) -> dict:
    """Study OIDs and, per dataset, per variable: itemOID, label, dataType, length, keySequence, displayFormat."""
    try:
        root = etree.parse(str(path), safe_parser()).getroot()
    except (OSError, etree.XMLSyntaxError) as exc:
        raise InputError(f"{Path(path).name}: cannot be read as Define-XML ({exc})") from None
    ns = dict(NS)
    if root.nsmap.get("def") == DEF20:
        ns["def"] = DEF20
    study = root.find("odm:Study", ns)
    mdv = study.find("odm:MetaDataVersion", ns)
    items = {}
    for it in mdv.findall("odm:ItemDef", ns):
        text = it.find("odm:Description/odm:TranslatedText", ns)
        items[it.get("OID")] = {"name": it.get("Name"), "dataType": it.get("DataType"),
                                "length": int(it.get("Length")) if it.get("Length") else None,
                                "label": text.text if text is not None else None,
                                "displayFormat": it.get(f"{{{ns['def']}}}DisplayFormat")}
    datasets, labels = {}, {}
    for ig in mdv.findall("odm:ItemGroupDef", ns):
        desc = ig.find("odm:Description/odm:TranslatedText", ns)
        labels[ig.get("Name")] = desc.text if desc is not None else None
        cols = {}
        for ref in ig.findall("odm:ItemRef", ns):
            item = items.get(ref.get("ItemOID"), {})
            cols[item.get("name")] = {"itemOID": ref.get("ItemOID"), "label": item.get("label"),
                                      "dataType": _json_type(item.get("dataType")), "length": item.get("length"),
                                      "displayFormat": item.get("displayFormat"),
                                      "keySequence": int(ref.get("KeySequence")) if ref.get("KeySequence") else None,
                                      "defineType": item.get("dataType")}
        datasets[ig.get("Name")] = cols
    return {"fileOID": root.get("FileOID"), "studyOID": study.get("OID"), "metaDataVersionOID": mdv.get("OID"),
            "datasets": datasets, "labels": labels}


def _json_type(define_type: str | None) -> str | None:
    from ..formats.datasetjson import JSON_TYPES

    return JSON_TYPES.get(define_type or "", None)
