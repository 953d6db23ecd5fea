"""The SDTMIG version a package declares in its Define-XML (1.0, 2.0 or 2.1), read without resolving entities."""
from __future__ import annotations

from pathlib import Path

from lxml import etree

from ..export.define_read import safe_parser

KNOWN_IG = ("3.1.2", "3.1.3", "3.2", "3.3", "3.4")


def package_standard(define: Path) -> str | None:
    """The SDTMIG version declared by a define.xml ('3.1.2' ... '3.4'), or None when there is none or it
    names no SDTMIG version we know."""
    path = Path(define)
    if not path.is_file():
        return None
    try:
        root = etree.parse(str(path), safe_parser()).getroot()
    except (OSError, etree.XMLSyntaxError):
        return None
    versions = []
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        local = etree.QName(el).localname
        attrs = {etree.QName(k).localname: v for k, v in el.attrib.items()}
        if local == "Standard" and attrs.get("Type") == "IG" and "ADAM" not in attrs.get("Name", "").upper():
            versions.append(attrs.get("Version", ""))           # Define-XML 2.1
        elif local == "MetaDataVersion" and "StandardVersion" in attrs:
            if "ADAM" not in attrs.get("StandardName", "").upper():
                versions.append(attrs["StandardVersion"])      # Define-XML 1.0 / 2.0
    for v in versions:
        if v in KNOWN_IG:
            return v
    return None
