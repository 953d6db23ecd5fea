"""Load mapping specs: YAML parsed safely, checked with schemas/mapping.schema.json, then against metadata."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import yaml

from ..dates import DatePatternError, compile_pattern, expand_patterns
from ..errors import SpecError
from ..metadata import codelist, dictionary, sdtm_variables
from ..resources import data_dir, load_json

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


def load_spec(path: Path) -> Spec:
    """Read and check one spec; any problem raises SpecError naming the file and the path inside it."""
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SpecError(path.name, "", f"cannot be read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SpecError(path.name, where, f"not valid YAML: {getattr(exc, 'problem', exc)}") from None
    schema = load_json("mapping.schema.json")
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(doc), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        err = errors[0]
        if err.context:
            err = min(err.context, key=lambda e: len(e.absolute_path))
        more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
        raise SpecError(path.name, _json_path(err.absolute_path), err.message + more)
    _check_semantics(path.name, doc)
    return Spec(path, doc)


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
                if pivot and "column" in rule and rule["column"] in pivot["columns"]:
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
