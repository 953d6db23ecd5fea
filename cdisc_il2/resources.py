"""Locate and load the data the package ships: schemas/ (metadata, CT, JSON Schemas) and mappings/."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

_PKG = Path(__file__).resolve().parent
_FAST_LOADER = getattr(yaml, "CSafeLoader", None)      # libyaml's parser, when PyYAML was built with it
MAX_YAML_DEPTH = 64                                     # nesting of mappings and lists in any YAML we read


class YamlTooDeep(ValueError):
    """YAML nested deeper than MAX_YAML_DEPTH: refused before anything recurses into it."""


def _depth_problem(text: str, loader: type) -> str | None:
    """Where a YAML text nests deeper than MAX_YAML_DEPTH, from its event stream (no recursion); None if not."""
    depth = 0
    for event in yaml.parse(text, Loader=loader):
        if isinstance(event, (yaml.ScalarEvent, yaml.AliasEvent, yaml.CollectionStartEvent)):
            if depth + 1 > MAX_YAML_DEPTH:         # each node counts, as PyYAML's composer nests them
                return (f"line {event.start_mark.line + 1}: nested more than {MAX_YAML_DEPTH} levels deep "
                        "(limit MAX_YAML_DEPTH)")
            depth += isinstance(event, yaml.CollectionStartEvent)
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
    return None


def yaml_node(text: str) -> yaml.Node | None:
    """The node tree of one YAML document with the safe loader, depth checked first (YamlTooDeep).

    libyaml's parser where PyYAML has it (ten times faster than the pure-Python one); on a syntax error the text
    is read again by PyYAML's own parser, whose messages say more, so that the error a user sees is the same."""
    for loader in ((_FAST_LOADER, yaml.SafeLoader) if _FAST_LOADER else (yaml.SafeLoader,)):
        try:
            problem = _depth_problem(text, loader)
            if problem:
                raise YamlTooDeep(problem)
            return loader(text).get_single_node()
        except yaml.YAMLError:
            if loader is yaml.SafeLoader:
                raise
    return None


def yaml_document(node: yaml.Node | None) -> Any:
    """Python values (safe types only) of a node tree from yaml_node."""
    if node is None:
        return None
    constructor = yaml.SafeLoader("")
    try:
        return constructor.construct_document(node)
    finally:
        constructor.dispose()


def load_yaml(text: str) -> Any:
    """A YAML text's values with the safe loader, depth checked (YamlTooDeep): what yaml.safe_load gives."""
    return yaml_document(yaml_node(text))


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
    return load_yaml((data_dir("mappings") / "study.yaml").read_text(encoding="utf-8"))


@lru_cache(maxsize=None)
def load_analysis() -> dict:
    """The analysis definitions (visit windows, treatment emergence, endpoints) from mappings/analysis.yaml."""
    return load_yaml((data_dir("mappings") / "analysis.yaml").read_text(encoding="utf-8"))
