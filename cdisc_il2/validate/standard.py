"""The SDTMIG version a package declares in its Define-XML (1.0, 2.0 or 2.1)."""
from __future__ import annotations

KNOWN_IG = ("3.1.2", "3.1.3", "3.2", "3.3", "3.4")


def package_standard(define: dict | None) -> str | None:
    """The SDTMIG version ('3.1.2' ... '3.4') a define.xml read by `read_define` declares, or None when there
    is no define or it names no SDTMIG version we know."""
    return next((v for v in (define or {}).get("ig_versions", []) if v in KNOWN_IG), None)
