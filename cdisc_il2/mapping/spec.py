"""Load mapping specs: YAML parsed safely, checked with schemas/mapping.schema.json, then against metadata."""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import jsonschema
import yaml

from ..dates import DatePatternError, compile_pattern, expand_patterns
from ..errors import SpecError
from ..metadata import codelist, dictionary, sdtm_variables
from ..resources import YamlTooDeep, data_dir, load_json, yaml_document, yaml_node

_PLACEHOLDER = re.compile(r"\{([A-Z][A-Z0-9]{0,7})\}")


@dataclass(frozen=True)
class Spec:
    """A validated site mapping spec."""

    path: Path
    doc: dict

    @property
    def name(self) -> str:
        """The spec's file name, used in messages."""
        return self.path.name

    @property
    def site(self) -> str:
        """SITEID declared by the spec."""
        return self.doc["site"]


def _json_path(parts) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


MAX_SPEC_BYTES = 1024 ** 2       # a site spec is a few kilobytes
MAX_SPEC_NODES = 100_000         # YAML nodes once aliases are expanded (an alias bomb expands to billions)


class _Limit(Exception):
    """A spec beyond the YAML limits: the message says which."""


def _expanded_size(root: yaml.Node) -> int:
    """Nodes of a YAML document with every alias expanded, computed once per node; a node inside itself (an
    alias to its own ancestor) or an expansion beyond MAX_SPEC_NODES raises _Limit."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_nodes:
            raise _Limit(f"line {node.start_mark.line + 1}: an alias refers to a node that contains it")
        open_nodes.add(key)
        if isinstance(node, yaml.MappingNode):
            total = 1 + sum(size(k) + size(v) for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            total = 1 + sum(size(v) for v in node.value)
        else:
            total = 1
        open_nodes.discard(key)
        if total > MAX_SPEC_NODES:
            raise _Limit(f"aliases expand it to more than {MAX_SPEC_NODES:,} values (an alias bomb?) "
                         "(limit MAX_SPEC_NODES)")
        sizes[key] = total
        return total

    return size(root)


def _read_text(path: Path) -> str:
    """A spec file's text, within MAX_SPEC_BYTES and UTF-8; SpecError naming the file otherwise."""
    try:
        size = path.stat().st_size
        if size > MAX_SPEC_BYTES:
            raise SpecError(path.name, "", f"{size:,} bytes is more than the {MAX_SPEC_BYTES:,} a spec may have "
                                           "(limit MAX_SPEC_BYTES)")
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(path.name, "", f"cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise SpecError(path.name, "", f"not UTF-8 text (byte {exc.start + 1}); save the spec as UTF-8") from None
    return text


@lru_cache(maxsize=64)
def _parse_yaml(name: str, text: str) -> object:
    """Parse a spec text with the safe loader under the limits, once per process (keyed by the text; failures are
    not cached): callers copy the document before changing it."""
    try:
        node = yaml_node(text)
        if node is None:
            return None
        _expanded_size(node)
        return yaml_document(node)
    except YamlTooDeep as exc:
        raise SpecError(name, "", f"refused: {exc}") from None
    except _Limit as exc:
        raise SpecError(name, "", f"refused: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SpecError(name, where, f"not valid YAML: {getattr(exc, 'problem', None) or exc}") from None


def _check_files_pattern(name: str, pattern: str) -> None:
    """A spec's file pattern names files inside the transfer folder: relative, without '..'."""
    parts = re.split(r"[\\/]+", pattern)
    if pattern.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", pattern) or Path(pattern).is_absolute():
        raise SpecError(name, "files", f"'{pattern}' is an absolute path: write a pattern relative to the transfer "
                                       "folder (e.g. 'site01_*.xlsx')")
    if ".." in parts:
        raise SpecError(name, "files", f"'{pattern}' climbs out of the transfer folder: a pattern names files inside "
                                       "it, without '..' (e.g. 'site01_*.xlsx' or 'site01/*.xlsx')")


def load_spec(path: Path) -> Spec:
    """Read and check one spec; any problem raises SpecError naming the file and the path inside it."""
    path = Path(path)
    text = _read_text(path)
    doc = copy.deepcopy(_parse_yaml(path.name, text))
    if doc is None:
        raise SpecError(path.name, "", "the file is empty: a spec needs spec_version, site, files and blocks")
    problem = _schema_problem(path.name, text)
    if problem is not None:
        raise SpecError(path.name, *problem)
    _check_files_pattern(path.name, doc["files"])
    _check_semantics(path.name, doc)
    return Spec(path, doc)


@lru_cache(maxsize=64)
def _schema_problem(name: str, text: str) -> tuple[str, str] | None:
    """The first problem of a parsed spec text against schemas/mapping.schema.json (path inside the spec, message),
    or None; checked once per text in a process."""
    doc = _parse_yaml(name, text)
    validator = jsonschema.Draft202012Validator(load_json("mapping.schema.json"))
    errors = sorted(validator.iter_errors(doc), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if not errors:
        return None
    err = errors[0]
    if err.context:
        err = min(err.context, key=lambda e: len(e.absolute_path))
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    return _json_path(err.absolute_path), err.message + more


def _check_semantics(name: str, doc: dict) -> None:
    """Checks the JSON Schema cannot express: date patterns, variables, codelists, dictionaries, templates."""
    for i, entry in enumerate(doc.get("date_patterns", [])):
        try:
            for pattern in expand_patterns([entry]):
                compile_pattern(pattern)
        except DatePatternError as exc:
            raise SpecError(name, f"date_patterns[{i}]", f"'{entry}': {exc}") from None
    for codelist_name in doc.get("synonyms", {}):
        try:
            cl = codelist(codelist_name)
        except KeyError:
            raise SpecError(name, f"synonyms.{codelist_name}", f"unknown codelist '{codelist_name}'") from None
        for raw, value in doc["synonyms"][codelist_name].items():
            if value not in cl.values and not cl.extensible:
                raise SpecError(name, f"synonyms.{codelist_name}.{raw}",
                                f"'{value}' is not a submission value of {codelist_name}")
    for i, block in enumerate(doc["blocks"]):
        domain = block["domain"]
        known = set(sdtm_variables(domain)["name"])
        pivot = block.get("unpivot")
        assigned: set[str] = set()
        if "SUBJID" not in block["variables"]:
            raise SpecError(name, f"blocks[{i}].variables", "SUBJID must be assigned (it identifies the subject)")
        for section in ("variables", "supp"):
            for var, rule in block.get(section, {}).items():
                where = f"blocks[{i}].{section}.{var}"
                if section == "variables" and var not in known and var != "SUBJID":
                    raise SpecError(name, where, f"'{var}' is not an SDTMIG 3.4 variable of {domain}")
                if section == "supp" and var in known:
                    raise SpecError(name, where, f"'{var}' is a standard {domain} variable: map it under variables")
                _check_rule(name, doc, domain, var, rule, where, known)
                for ref in _PLACEHOLDER.findall(rule.get("template", "")):
                    if ref not in assigned:
                        raise SpecError(name, f"{where}.template", f"'{{{ref}}}' is not a variable assigned before {var}")
                if pivot and isinstance(rule.get("column"), str) and rule["column"] in pivot["columns"]:
                    raise SpecError(name, f"{where}.column", f"'{rule['column']}' is unpivoted: use its attributes")
                assigned.add(var)
        for j, key in enumerate(block.get("merge", {}).get("by", [])):
            if key not in assigned:
                raise SpecError(name, f"blocks[{i}].merge.by[{j}]", f"'{key}' is not a variable this block assigns")


def _check_rule(name: str, doc: dict, domain: str, var: str, rule: dict, where: str, known: set[str]) -> None:
    """Codelists, dictionaries, translation tables, derivations and not-done spellings of one assignment."""
    if "codelist" in rule:
        try:
            codelist(rule["codelist"])
        except KeyError:
            raise SpecError(name, f"{where}.codelist", f"unknown codelist '{rule['codelist']}'") from None
    if "dictionary" in rule:
        try:
            dictionary(rule["dictionary"]["name"])
        except KeyError:
            raise SpecError(name, f"{where}.dictionary.name",
                            f"no dictionary '{rule['dictionary']['name']}' in mappings/dictionaries") from None
    if "translate" in rule and rule["translate"] not in doc.get("translations", {}):
        tables = ", ".join(doc.get("translations", {})) or "none declared"
        raise SpecError(name, f"{where}.translate", f"no table '{rule['translate']}' under translations ({tables})")
    if "derive" in rule:
        if (domain, var) != ("DM", "AGE"):
            raise SpecError(name, f"{where}.derive", f"'{rule['derive']}' derives DM.AGE only, not {domain}.{var}")
        ref = rule.get("reference", "RFICDTC")
        if ref not in sdtm_variables("DM")["name"].tolist() or not ref.endswith("DTC"):
            raise SpecError(name, f"{where}.reference", f"'{ref}' is not a DM date variable (e.g. RFICDTC, RFSTDTC)")
    if "not_done" in rule and f"{domain}STAT" not in known:
        raise SpecError(name, f"{where}.not_done", f"{domain} has no {domain}STAT variable to record NOT DONE")
    if "otherwise" in rule:
        _check_rule(name, doc, domain, var, rule["otherwise"], f"{where}.otherwise", known)


def find_specs(folder: Path | None = None) -> list[Spec]:
    """Load every site spec (*.yaml) of a folder, default the shipped mappings/sites."""
    folder = Path(folder) if folder else data_dir("mappings") / "sites"
    paths = sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml"))
    if not paths:
        raise SpecError(str(folder), "", "no mapping specs (*.yaml) found")
    specs = [load_spec(p) for p in paths]
    sites = [s.site for s in specs]
    dup = {s for s in sites if sites.count(s) > 1}
    if dup:
        raise SpecError(str(folder), "", f"site {sorted(dup)[0]} is declared by more than one spec")
    return specs
