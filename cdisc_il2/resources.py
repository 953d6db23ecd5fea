"""Locate and load the data the package ships: schemas/ (metadata, CT, JSON Schemas) and mappings/."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

_PKG = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """Return the shipped `schemas` or `mappings` folder (inside the wheel, or the source tree)."""
    for cand in (_PKG / "_data" / name, _PKG.parent / name):
        if cand.is_dir():
            return cand
    raise FileNotFoundError(f"cdisc-il2 data folder '{name}' is missing from the installation")


@lru_cache(maxsize=None)
def load_json(name: str) -> Any:
    """Load a JSON file from schemas/ once per process."""
    return json.loads((data_dir("schemas") / name).read_text(encoding="utf-8"))


@lru_cache(maxsize=None)
def load_study() -> dict:
    """The study definition (trial design, visit schedule, tests, units) from mappings/study.yaml."""
    return yaml.safe_load((data_dir("mappings") / "study.yaml").read_text(encoding="utf-8"))


@lru_cache(maxsize=None)
def load_analysis() -> dict:
    """The analysis definitions (visit windows, treatment emergence, endpoints) from mappings/analysis.yaml."""
    return yaml.safe_load((data_dir("mappings") / "analysis.yaml").read_text(encoding="utf-8"))
