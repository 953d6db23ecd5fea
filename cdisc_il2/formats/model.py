"""The in-memory dataset every reader returns and every writer takes: a frame plus its metadata."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd


@dataclass(frozen=True)
class ColumnMeta:
    """A variable's metadata as the file carries it (or as our metadata defines it)."""

    name: str
    label: str | None = None
    type: str = "Char"          # Char | Num
    length: int | None = None
    display_format: str | None = None
    data_type: str | None = None   # Dataset-JSON dataType when read from Dataset-JSON


@dataclass
class Dataset:
    """One dataset: name, label, records and column metadata, and where it came from."""

    name: str
    label: str | None
    frame: pd.DataFrame
    columns: list[ColumnMeta] = field(default_factory=list)
    source: Path | None = None
    created: str | None = None
    # where the file departs from its format's specification but could still be read (a Dataset-JSON header
    # field against the v1.1 schema): each {"where", "value", "message"}, reported by the validator as a finding
    deviations: list[dict] = field(default_factory=list)

    def column(self, name: str) -> ColumnMeta | None:
        """Metadata of one column by name, if the file had it."""
        return next((c for c in self.columns if c.name == name), None)
