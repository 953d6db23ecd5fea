"""Records' natural keys: each dataset's Define-XML keys without --SEQ (mappings/define.yaml), what identifies a
record from one run to the next; a record's key is its key values joined by '|' (transfers.compare writes it in
changes.csv), read by the report and the terminal beside the record's subject."""
from __future__ import annotations

from .config import define_config


def natural_keys(name: str) -> list[str]:
    """The dataset's Define-XML keys without --SEQ (renumbered between runs): what identifies a record."""
    keys = define_config()["keys"]
    base = "SUPP" if name.startswith("SUPP") else name
    key = keys.get(base, ["STUDYID", "USUBJID"])
    return [k for k in key if not k.endswith("SEQ") and k != "IDVARVAL"]


def record_label(key: object, usubjid: object) -> str:
    """A record's natural key as a person reads it beside its subject: without the study and subject parts."""
    parts = str(key or "").split("|")
    subject = str(usubjid or "")
    if subject and subject in parts:
        return "|".join(parts[parts.index(subject) + 1:]) or subject
    return "|".join(parts[1:]) if len(parts) > 1 else str(key or "")
