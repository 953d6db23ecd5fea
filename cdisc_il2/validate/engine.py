"""Execute the declarative rule catalogue column-wise over a set of datasets; findings are values.

A rule (schemas/rules/*.yaml) names its check, the datasets it applies to and its parameters.
Generic checks live here; a rule that needs code names a registered function (checks.py).
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import pickle
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from ..dates import full_date
from ..errors import SpecError
from ..formats.model import Dataset
from ..frames import as_text, filled, fullmatch, key_text, printable_ascii, to_number
from ..resources import data_dir, load_json

FINDING_COLUMNS = ["rule_id", "p21_id", "core_id", "severity", "dataset", "variable", "row", "usubjid", "seq",
                   "value", "message"]
SEVERITY_ORDER = {"Error": 3, "Warning": 2, "Notice": 1}
SDTM_CLASSES = {"EVENTS": "Events", "FINDINGS": "Findings", "INTERVENTIONS": "Interventions",
                "SPECIAL-PURPOSE": "Special-Purpose", "FINDINGS ABOUT": "Findings About",
                "TRIAL DESIGN": "Trial Design", "RELATIONSHIP": "Relationship", "STUDY REFERENCE": "Study Reference"}
# Classes whose datasets hold subject records: what a rule for ALL datasets means.
SUBJECT_CLASSES = ("Events", "Findings", "Interventions", "Special-Purpose", "Findings About")
DEFAULT_IG = "3.4"


class NotApplicable(Exception):
    """The rule does not apply to this dataset (a variable it needs is absent)."""


class _RuleLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """YAML as written: dates in rule cases stay ISO 8601 text, as they are in datasets."""


_RuleLoader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}

RULE_KEYS = {"id", "p21", "severity", "datasets", "check", "message", "description", "each", "core", "cases",
             "versions"}


@dataclass(frozen=True)
class Rule:
    """One catalogue entry, with its Pinnacle 21, CDISC CORE and publisher cross-references."""

    id: str
    severity: str
    datasets: tuple[str, ...]
    check: str
    params: dict
    message: str
    description: str
    p21: str | None = None
    core: tuple[str, ...] = ()
    publisher: tuple[str, ...] = ()
    each: tuple[str, ...] = ()
    scope: str = "standard"            # standard | study (runs only on this trial's data)
    group: str = ""                    # the catalogue file, e.g. sdtm/events
    cases: tuple = ()                  # examples: data and the records the rule must flag
    versions: tuple[str, ...] = ()     # IG versions the rule belongs to (empty: all)


CATALOGUE_CACHE_FORMAT = 1      # bump when what load_rules builds changes without the rule files changing


def cache_dir() -> Path:
    """Where compiled artefacts (the checked rule catalogue) are cached between runs: $CDISC_IL2_CACHE, else
    $XDG_CACHE_HOME/cdisc-il2, else ~/.cache/cdisc-il2."""
    if os.environ.get("CDISC_IL2_CACHE"):
        return Path(os.environ["CDISC_IL2_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "cdisc-il2"


def _catalogue_files() -> tuple[Path, list[Path]]:
    root = data_dir("schemas") / "rules"
    return root, sorted(root.rglob("*.yaml"))


def _catalogue_key(root: Path, paths: list[Path]) -> str:
    """SHA-256 over every input of the catalogue (rule files, their schema, the P21/CORE cross-reference) and the
    shape of `Rule`: a cached catalogue is used only when nothing it was built from has changed."""
    h = hashlib.sha256(f"{CATALOGUE_CACHE_FORMAT}|{[f.name for f in dataclasses.fields(Rule)]}".encode())
    schemas = data_dir("schemas")
    for path in [schemas / "rules.schema.json", schemas / "rule-xref.json", *paths]:
        h.update(path.relative_to(schemas).as_posix().encode() + b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


@lru_cache(maxsize=None)
def load_rules() -> tuple[Rule, ...]:
    """Every rule of schemas/rules/, checked and joined with the generated P21/CORE cross-reference.

    Checking ~870 rules (YAML, then JSON Schema including every rule's cases) takes about a second and a half, so
    the checked catalogue is cached (pickled, under cache_dir()) keyed by the SHA-256 of every file it is built
    from; any change to a rule file, the schema or the cross-reference builds and checks it again."""
    root, paths = _catalogue_files()
    key = _catalogue_key(root, paths)
    cached = cache_dir() / f"rules-{key[:32]}.pickle"
    try:
        with open(cached, "rb") as fh:
            rules = pickle.load(fh)
        if isinstance(rules, tuple) and all(isinstance(r, Rule) for r in rules):
            return rules
    except Exception:  # noqa: BLE001 - no cache, an unreadable or stale one: build the catalogue
        pass
    rules = _build_rules(root, paths)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_name(f".{cached.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            pickle.dump(rules, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, cached)
        # keep the few latest catalogues (several checkouts may share the cache), drop older ones
        older = sorted(cached.parent.glob("rules-*.pickle"), key=lambda q: q.stat().st_mtime, reverse=True)[4:]
        for old in older:
            old.unlink(missing_ok=True)
    except OSError:
        pass                        # a read-only home: the catalogue is simply built each time
    return rules


def _build_rules(root: Path, paths: list[Path]) -> tuple[Rule, ...]:
    """Load and check every rule file (YAML, JSON Schema), joined with the generated P21/CORE cross-reference."""
    import jsonschema

    schema = load_json("rules.schema.json")
    validator = jsonschema.Draft202012Validator(schema)
    xref = load_json("rule-xref.json")["rules"]
    rules: list[Rule] = []
    seen: set[str] = set()
    for path in paths:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_RuleLoader)
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.path)))
        if errors:
            e = errors[0]
            raise SpecError(str(path.relative_to(root)), ".".join(map(str, e.absolute_path)), e.message)
        for i, r in enumerate(doc["rules"]):
            if r["id"] in seen:
                raise SpecError(path.name, f"rules[{i}].id", f"duplicate rule id {r['id']}")
            seen.add(r["id"])
            p21 = r.get("p21", r["id"] if r["id"] in xref else None)
            x = xref.get(p21, {}) if p21 else {}
            if p21 and not x:
                raise SpecError(path.name, f"rules[{i}].p21", f"{p21} is not in the Pinnacle 21 catalogue")
            params = {k: v for k, v in r.items() if k not in RULE_KEYS}
            rules.append(Rule(r["id"], r["severity"], tuple(r["datasets"]), r["check"], params,
                              r.get("message") or x.get("message", r["id"]),
                              r.get("description") or x.get("description", ""), p21,
                              tuple(r.get("core", x.get("core_ids", []))), tuple(x.get("publisher_ids", [])),
                              tuple(r.get("each", [])), doc.get("scope", "standard"),
                              path.relative_to(root).with_suffix("").as_posix(), tuple(r.get("cases", [])),
                              tuple(str(v) for v in r.get("versions", []))))
    return tuple(rules)


@dataclass
class Study:
    """The datasets under validation, the standard they follow, and per-column caches of parsed dates."""

    datasets: dict[str, Dataset]
    extras: dict = field(default_factory=dict)
    standard: str = DEFAULT_IG          # SDTMIG version of the package (from define.xml, --standard, or ours)
    study_rules: bool = True            # whether this trial's own rules (scope: study) run
    checked: frozenset | None = None    # the datasets under validation; others are references (None: all)
    _dates: dict[tuple[str, str], pd.Series] = field(default_factory=dict)
    _conv: dict[tuple[str, str, str], pd.Series] = field(default_factory=dict)
    _joins: dict[tuple, pd.DataFrame] = field(default_factory=dict)
    _join_cols: dict[tuple, pd.Series] = field(default_factory=dict)
    _joined_dates: dict[tuple, tuple] = field(default_factory=dict)
    _joined_ids: set[int] = field(default_factory=set)
    _lookup: dict[tuple, object] = field(default_factory=dict)
    _domains: dict[str, str | None] = field(default_factory=dict)
    _siblings: dict[str, tuple[str, ...]] = field(default_factory=dict)
    _combined: dict[str, tuple[pd.DataFrame, np.ndarray, np.ndarray]] = field(default_factory=dict)

    def frame(self, name: str) -> pd.DataFrame:
        """The records of a dataset (or of a split domain combined by `combine`, under the domain's name)."""
        ds = self.datasets.get(name)
        if ds is None and name in self._combined:
            return self._combined[name][0]
        return self.datasets[name].frame

    def ongoing(self) -> bool:
        """Whether the package declares the study ongoing: TS has ONGOSIND = Y."""
        if ("ongoing",) not in self._lookup:
            ts = self.datasets.get("TS")
            f = ts.frame if ts is not None else None
            self._lookup[("ongoing",)] = bool(
                f is not None and {"TSPARMCD", "TSVAL"} <= set(f.columns)
                and (f["TSPARMCD"].astype("string").str.upper().eq("ONGOSIND")
                     & f["TSVAL"].astype("string").str.upper().str.strip().eq("Y")).fillna(False).any())
        return bool(self._lookup[("ongoing",)])

    def siblings(self, name: str) -> tuple[str, ...]:
        """The datasets holding the domain of an SDTM dataset, in package order: for a split dataset (SDTMIG 4.1.7:
        LBCH, LBHE...) all of them, which the IG judges as one domain; otherwise just the dataset."""
        if name not in self._siblings:
            dom = self.domain(name) if self.kind(name) == "SDTM" else None
            sibs = tuple(n for n in self.datasets if self.kind(n) == "SDTM" and self.domain(n) == dom) if dom else ()
            self._siblings[name] = sibs if len(sibs) > 1 else (name,)
        return self._siblings[name]

    def combine(self, names: list[str]) -> str:
        """The records of the split datasets of one domain as one frame, held under the domain's name until
        release(): what rules judging the domain (--SEQ unique, a baseline per subject) run on. Columns a part
        lacks are missing there; a column typed differently across parts is compared as text."""
        dom = self.domain(names[0])
        if dom not in self._combined:
            frames = [self.datasets[n].frame for n in names]
            cols = list(dict.fromkeys(c for f in frames for c in f.columns))
            parts = []
            for f in frames:
                part = {}
                for c in cols:
                    kinds = {str(g[c].dtype) for g in frames if c in g.columns}
                    if c in f.columns:
                        part[c] = f[c] if len(kinds) == 1 else as_text(f[c]).astype("string")
                    else:
                        like = next(g[c] for g in frames if c in g.columns)
                        dtype = like.dtype if len(kinds) == 1 else "string"
                        part[c] = pd.Series(pd.NA if dtype != np.float64 else np.nan, index=f.index, dtype=dtype)
                parts.append(pd.DataFrame(part, index=f.index))
            combined = pd.concat(parts, ignore_index=True)
            origin = np.repeat(np.array(names, dtype=object), [len(f) for f in frames])
            local = np.concatenate([np.arange(len(f)) for f in frames]) if frames else np.array([], dtype=int)
            self._combined[dom] = (combined, origin, local)
        return dom

    def to_parts(self, found: pd.DataFrame, dom: str, names: list[str]) -> pd.DataFrame:
        """Findings on a combined split domain pointed back at the split dataset and record they are in; a
        finding on a variable as a whole goes to the first of the datasets that has the variable."""
        if not len(found):
            return found
        _, origin, local = self._combined[dom]
        found = found.copy()
        rows = pd.to_numeric(found["row"], errors="coerce")
        has = rows.notna().to_numpy()
        pos = rows[has].astype(np.int64).to_numpy() - 1
        dataset = found["dataset"].astype(object).to_numpy().copy()
        row = np.full(len(found), np.nan)
        dataset[has] = origin[pos]
        row[has] = local[pos] + 1
        for i in np.flatnonzero(~has):
            var = found["variable"].iloc[i]
            dataset[i] = next((n for n in names if var in self.datasets[n].frame.columns), names[0])
        found["dataset"] = dataset
        found["row"] = pd.array(row, dtype="Int64") if has.any() else found["row"]
        return found

    def release(self) -> None:
        """Drop the per-column caches (parsed dates, conversions, joined frames and columns): validation runs
        every rule on one dataset, then releases them, so only one dataset's derived columns are held at once.
        They are pure functions of the data: a later rule that needs one again computes it again."""
        for cache in (self._dates, self._conv, self._joins, self._join_cols, self._joined_ids, self._lookup,
                      self._joined_dates, self._combined, self.__dict__.get("_pandera", {})):
            cache.clear()
        import pyarrow as pa

        pa.default_memory_pool().release_unused()       # Arrow's allocator would keep the freed memory

    def first_selected(self, rule: "Rule", name: str) -> bool:
        """Whether `name` is the first dataset under validation the rule selects: package-level findings
        (a dataset or a define.xml missing) are reported once, there."""
        return name == min(n for n in self.under_validation() if self.selects(n, rule.datasets))

    def has_domain(self, domain: str) -> bool:
        """Whether the package holds a domain, as itself or as split datasets (LB as LBCH, LBHE...)."""
        return domain in self.datasets or any(self.domain(n) == domain for n in self.datasets)

    def under_validation(self) -> list[str]:
        """The datasets rules run on: all, or those named in `checked` (the others, e.g. SDTM DM, AE and EX
        beside an ADaM package, are references for cross-dataset rules only)."""
        return [n for n in self.datasets if self.checked is None or n in self.checked]

    def domain(self, name: str) -> str | None:
        """The SDTMIG domain whose metadata and rules a dataset takes: itself, or for a split dataset
        (SDTMIG 4.1.7: LBCH, QSPH...) the domain in its DOMAIN variable / first two letters; None if custom."""
        if name not in self._domains:
            self._domains[name] = _domain_of(name, self.frame(name))
        return self._domains[name]

    def kind(self, name: str) -> str:
        """SDTM, SUPP, ADSL, BDS, ADAM or OTHER (a dataset no standard structure fits)."""
        if name.startswith("SUPP"):
            return "SUPP"
        if name == "ADSL":
            return "ADSL"
        if name.startswith("AD"):
            return "BDS" if "PARAMCD" in self.frame(name) else "ADAM"
        if self.domain(name) is not None or self.sdtm_class(name) is not None:
            return "SDTM"
        return "OTHER"

    def sdtm_class(self, name: str) -> str | None:
        """The SDTM class of a dataset: its domain's in SDTMIG, else the general class its variables show."""
        dom = self.domain(name)
        if dom is not None:
            return sdtm_class_of(dom)
        return _class_from_variables(name, self.frame(name).columns)

    def standard_name(self, name: str) -> str:
        """The standard a dataset is checked against, for the report."""
        kind = self.kind(name)
        if kind in ("ADSL", "BDS"):
            return f"ADaMIG 1.3 {'ADSL' if kind == 'ADSL' else 'BDS'}"
        if kind == "ADAM":
            return "ADaMIG 1.3 (other class: general ADaM rules)"
        if kind == "SUPP":
            return f"SDTMIG {self.standard} SUPPQUAL"
        dom = self.domain(name)
        if dom == name:
            return f"SDTMIG {self.standard} {dom}"
        if dom is not None:
            return f"SDTMIG {self.standard} {dom} (split dataset)"
        if kind == "SDTM":
            return f"SDTM model, {self.sdtm_class(name)} class (custom domain, not in SDTMIG {self.standard})"
        return "none: not an SDTM or ADaM structure"

    def date(self, name: str, column: str, frame: pd.DataFrame | None = None) -> pd.Series:
        """Full-date parse of a column, cached per dataset and column (a joined DM.* column of `frame`: per
        joined column)."""
        key = (name, column)
        if frame is not None and column.startswith("DM."):
            return self.any_date(frame, column)
        if key not in self._dates:
            self._dates[key] = full_date(self.frame(name)[column])
        return self._dates[key]

    def any_date(self, frame: pd.DataFrame, column: str) -> pd.Series:
        """Full-date parse of any column of `frame`, cached per column storage: a DM.* column joined once is
        parsed once, whichever rule's joined frame holds it (the array is held, so its id is not reused)."""
        values = frame[column]
        arr = values.array
        key = (column, id(arr))
        hit = self._joined_dates.get(key)
        if hit is None or hit[0] is not arr or not hit[1].index.equals(values.index):
            hit = (arr, full_date(values))
            self._joined_dates[key] = hit
        return hit[1]

    def cached(self, name: str, df: pd.DataFrame, var: str, kind: str, make: Callable[[pd.Series], pd.Series]) -> pd.Series:
        """A conversion (numeric, text) of a dataset column, computed once when `df` is the dataset itself."""
        if var not in df.columns:
            return make(column(df, var, name))
        base = self.frame(name)
        if df is not base and id(df) not in self._joined_ids:
            return make(df[var])
        key = (name if df is base else f"{name}@{id(df)}", var, kind)
        if key not in self._conv:
            self._conv[key] = make(df[var])
        return self._conv[key]

    def selects(self, name: str, selectors: tuple[str, ...]) -> bool:
        """Whether a rule's dataset selectors cover this dataset (by name, domain, kind or SDTM class)."""
        kind = self.kind(name)
        dom = self.domain(name) if kind == "SDTM" else None
        cls = self.sdtm_class(name) if kind == "SDTM" else None
        for s in selectors:
            if s == name or (dom is not None and s == dom) or s == kind or s == "ANY":
                return True
            if s == "ALL" and kind == "SDTM" and cls in SUBJECT_CLASSES:
                return True
            if s == "ADAM" and kind in ("ADSL", "BDS", "ADAM"):
                return True
            if s in SDTM_CLASSES and cls == SDTM_CLASSES[s]:
                return True
        return False


def sdtm_class_of(domain: str) -> str | None:
    """The SDTMIG class of a standard domain."""
    meta = load_json("sdtm-metadata.json")["datasets"]
    return meta.get(domain, {}).get("class")


def _domain_of(name: str, frame: pd.DataFrame) -> str | None:
    """Standard domain of a dataset name: itself, or the parent domain of a split dataset."""
    if name.startswith("SUPP") or name.startswith("AD"):
        return None
    known = load_json("sdtm-metadata.json")["datasets"]
    if name in known:
        return name
    if "DOMAIN" in frame.columns and len(frame):
        values = frame["DOMAIN"].dropna().astype(str).unique()
        if len(values) == 1 and values[0] in known and name.startswith(values[0]):
            return values[0]
    if len(name) > 2 and name[:2] in known and known[name[:2]].get("class") in SUBJECT_CLASSES:
        return name[:2]
    if name.startswith("AP") and name[2:] in known:          # associated persons (SDTMIG-AP): APEG, APDM...
        return name[2:]
    return None


def _class_from_variables(name: str, columns) -> str | None:
    """The general observation class a custom domain's variables show (--TESTCD, --TRT, --TERM)."""
    cols = set(columns)
    code = name[:2]
    if "USUBJID" not in cols:
        return None
    for suffix, cls in (("TESTCD", "Findings"), ("TRT", "Interventions"), ("TERM", "Events")):
        if code + suffix in cols:
            return cls
    return None


def prefix(name: str) -> str:
    """The --variable prefix of a dataset (its domain code; associated-persons APxx datasets use xx's)."""
    if name.startswith("AP") and len(name) == 4 and name[2:] in load_json("sdtm-metadata.json")["datasets"]:
        return name[2:]
    return name[:2]


def resolve(var: str, name: str, each: str | None = None) -> str:
    """Replace {V} with the expanded variable and -- with the domain prefix."""
    if each is not None:
        var = var.replace("{V}", each)
    return var.replace("--", prefix(name))


def _resolve_tree(obj, name: str, each: str | None):
    if isinstance(obj, str):
        return resolve(obj, name, each)
    if isinstance(obj, list):
        return [_resolve_tree(o, name, each) for o in obj]
    if isinstance(obj, dict):
        return {k: (_resolve_tree(v, name, each) if k not in ("value", "values", "pattern") else v)
                for k, v in obj.items()}
    return obj


def need(df: pd.DataFrame, *cols: str) -> None:
    """Raise NotApplicable when the dataset lacks a variable a rule needs."""
    for c in cols:
        if c not in df.columns and c not in VIRTUAL:
            raise NotApplicable(c)


def _change(df: pd.DataFrame) -> pd.Series:
    need(df, "AVAL", "BASE")
    return _num(df["AVAL"]) - _num(df["BASE"])


def _pchg(df: pd.DataFrame) -> pd.Series:
    base = _num(df["BASE"])
    return (_change(df) / base * 100).where(base != 0)


# Values computed from other variables, usable in conditions like a variable.
VIRTUAL: dict[str, Callable[[pd.DataFrame, str], pd.Series]] = {
    "_DATASET_": lambda df, name: pd.Series(name, index=df.index, dtype="string"),
    # the domain code a dataset's DOMAIN carries: its name, or for a split dataset (SDTMIG 4.1.7: at most four
    # characters, the first two the domain code: QSPH, LBCH) the first two characters
    "_DOMAIN_CODE_": lambda df, name: pd.Series(name[:2] if 3 <= len(name) <= 4 and not name.startswith("AP") else name,
                                                index=df.index, dtype="string"),
    "_PARENT_": lambda df, name: pd.Series(_domain_of(name[4:], pd.DataFrame()) or name[4:], index=df.index,
                                           dtype="string"),
    "_AVAL_MINUS_BASE_": lambda df, name: _change(df),
    "_DOMAIN_LABEL_": lambda df, name: pd.Series(_domain_label(name), index=df.index, dtype="string"),
    "_PCHG_": lambda df, name: _pchg(df),
}


def _domain_label(name: str) -> str | None:
    """The SDTMIG label of a dataset's domain (LB: 'Laboratory Test Results')."""
    meta = load_json("sdtm-metadata.json")["datasets"]
    dom = _domain_of(name, pd.DataFrame())
    return meta[dom]["label"] if dom in meta else None


def column(df: pd.DataFrame, var: str, name: str) -> pd.Series:
    """A dataset variable, or a virtual one computed from others."""
    if var in VIRTUAL:
        return VIRTUAL[var](df, name)
    need(df, var)
    return df[var]


def _num(s: pd.Series) -> pd.Series:
    return to_number(s)


def _close(a: pd.Series, b: pd.Series) -> pd.Series:
    """Numeric equality with a relative tolerance for values computed in floating point."""
    scale = np.maximum(np.maximum(a.abs(), b.abs()), 1.0)
    return ((a - b).abs() <= 1e-9 * scale).fillna(False)


def present(s: pd.Series) -> pd.Series:
    """frames.filled (a value, not blank text) with Arrow's kernels straight on Arrow text: the same
    whitespace trim pandas' str.strip uses, without pandas' per-operation cost."""
    arr = getattr(s.array, "_pa_array", None) if isinstance(s.dtype, pd.StringDtype) else None
    if arr is None:
        return filled(s)
    import pyarrow.compute as pc

    ok = pc.and_kleene(pc.is_valid(arr), pc.not_equal(pc.utf8_trim_whitespace(arr), ""))
    return pd.Series(np.asarray(pc.fill_null(ok, False).to_numpy(zero_copy_only=False), dtype=bool), index=s.index,
                     name=s.name)


def text_per_distinct(s: pd.Series, fn: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """A text-to-text function of a column (string dtype) computed once per distinct value."""
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    out = fn(pd.Series(uniques, dtype=s.dtype))
    return pd.Series(out.array.take(codes, allow_fill=True), index=s.index, name=s.name)


def _text(s: pd.Series) -> pd.Series:
    """A column as string dtype; a float column is converted once per distinct value (bit pattern, so -0.0 stays
    '-0.0'), which is ten times faster than converting every record."""
    if s.dtype == np.float64 and len(s) > 1000:
        codes, uniques = pd.factorize(s.to_numpy().view(np.int64))
        text = pd.Series(uniques.view(np.float64)).astype("string")
        return pd.Series(text.array.take(codes, allow_fill=True), index=s.index, name=s.name)
    return as_text(s)


def _on_distinct(s: pd.Series, fn: Callable[[pd.Series], pd.Series], missing: bool) -> pd.Series:
    """A per-value boolean function of a long column computed once per distinct value (`missing` for nulls)."""
    if len(s) < 5000:
        return fn(s)
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    hit = fn(pd.Series(uniques, dtype=s.dtype)).to_numpy(dtype=bool, na_value=missing)
    return pd.Series(np.append(hit, missing)[codes], index=s.index)


def _variables(cond) -> list[str]:
    """Variables a condition tree reads (outside `any`, whose alternatives may be absent)."""
    if isinstance(cond, list):
        return [v for c in cond for v in _variables(c)]
    if "all" in cond:
        return _variables(cond["all"])
    if "not" in cond:
        return _variables(cond["not"])
    if "var" in cond:
        return [cond["var"]] + ([cond["ref"]] if isinstance(cond.get("ref"), str) else [])
    return []


def _check_applicable(df: pd.DataFrame, rest: list) -> None:
    """Raise NotApplicable when a condition not evaluated needs a variable the dataset lacks."""
    need(df, *[v for v in _variables(rest) if not v.startswith(("DM.", "ADSL.")) or v in df.columns])


def evaluate(df: pd.DataFrame, cond: dict, study: Study, name: str) -> pd.Series:
    """Evaluate a condition tree column-wise; True where the rule is violated."""
    if "all" in cond:
        out = pd.Series(True, index=df.index)
        for i, c in enumerate(cond["all"]):
            out &= evaluate(df, c, study, name)
            if not out.any() and i + 1 < len(cond["all"]):
                # nothing can hold any more; the rest still decides whether the rule applies at all
                _check_applicable(df, cond["all"][i + 1:])
                return out
        return out
    if "any" in cond:
        out = pd.Series(False, index=df.index)
        usable = 0
        for c in cond["any"]:
            try:
                out |= evaluate(df, c, study, name)
                usable += 1
            except NotApplicable:
                continue      # an alternative on an absent variable is simply not met
        if not usable:
            raise NotApplicable("no alternative applies")
        return out
    if "not" in cond:
        return ~evaluate(df, cond["not"], study, name)
    if "present" in cond:
        return pd.Series(cond["present"] in df.columns, index=df.index)
    if "absent" in cond:
        return pd.Series(cond["absent"] not in df.columns, index=df.index)
    var, op = cond["var"], cond["op"]
    col = column(df, var, name)

    def num(v: str) -> pd.Series:
        return study.cached(name, df, v, "num", _num)

    def text(v: str) -> pd.Series:
        return study.cached(name, df, v, "text", _text)

    def upper(v: str) -> pd.Series:
        return study.cached(name, df, v, "upper", lambda s: _text(s).str.upper())
    notna = study.cached(name, df, var, "notna", present)
    if op == "empty":
        return ~notna
    if op == "not_empty":
        return notna
    if op in ("eq", "ne"):
        if "ref" in cond:
            other, other_num = column(df, cond["ref"], name), num(cond["ref"])
            other_text = other if pd.api.types.is_numeric_dtype(other) else text(cond["ref"])
        else:
            literal = cond.get("value")
            other = pd.Series(literal is not None, index=df.index)  # only its notna() is used below
            other_text = str(literal)
            try:
                other_num = float(literal)
            except (TypeError, ValueError):
                other_num = float("nan")
        if cond.get("case") == "insensitive":
            if not isinstance(other_text, pd.Series):
                other_text = str(other_text).upper()
            elif pd.api.types.is_numeric_dtype(other):
                other_text = other_text.str.upper()         # numbers have no case: fails as it always has
            else:
                other_text = upper(cond["ref"])
        num_same = _close(num(var), other_num) if isinstance(other_num, pd.Series) else \
            ((num(var) - other_num).abs() <= 1e-9 * max(1.0, abs(other_num))).fillna(False)
        both_numeric = pd.api.types.is_numeric_dtype(col) and (
            pd.api.types.is_numeric_dtype(other) if "ref" in cond else isinstance(cond.get("value"), (int, float)))
        if both_numeric:                # numbers compare as numbers: no text needed
            same = num_same
        else:
            mine = upper(var) if cond.get("case") == "insensitive" else text(var)
            same = (mine == other_text).fillna(False) | num_same
        eq = (same | num_same) & notna
        return eq if op == "eq" else notna & other.notna() & ~eq
    if op in ("in", "not_in"):
        if cond.get("case") == "insensitive":
            member = upper(var).isin([str(v).upper() for v in cond["values"]]).fillna(False)
        else:
            member = text(var).isin([str(v) for v in cond["values"]]).fillna(False)
        return member & notna if op == "in" else notna & ~member
    if op in ("gt", "ge", "lt", "le"):
        a = num(var)
        b = num(cond["ref"]) if "ref" in cond else float(cond["value"])
        res = {"gt": a > b, "ge": a >= b, "lt": a < b, "le": a <= b}[op]
        return res.fillna(False).astype(bool)
    if op in ("date_gt", "date_ge", "date_lt", "date_le"):
        a = study.date(name, var, df) if var in study.frame(name) else \
            (study.any_date(df, var) if var in df.columns else full_date(col))
        ref = cond["ref"]
        need(df, ref)
        b = study.any_date(df, ref) if ref not in study.frame(name) else study.date(name, ref)
        a, b = a.reindex(df.index), b.reindex(df.index)
        res = {"date_gt": a > b, "date_ge": a >= b, "date_lt": a < b, "date_le": a <= b}[op]
        return res.fillna(False).astype(bool)
    if op in ("matches", "not_matches"):
        m = _on_distinct(text(var), lambda u: fullmatch(u, cond["pattern"]), False)
        return notna & (m if op == "matches" else ~m)
    if op == "longer_than":
        return (text(var).str.len() > cond["value"]).fillna(False).astype(bool)
    if op in ("numeric", "not_numeric"):
        isnum = num(var).notna()
        return notna & (isnum if op == "numeric" else ~isnum)
    if op == "full_date":
        return full_date(col).notna()
    if op == "not_ascii":
        return notna & ~printable_ascii(text(var)).fillna(True).astype(bool)
    if op in OPERATORS:
        return OPERATORS[op](df, cond, study, name).reindex(df.index, fill_value=False).fillna(False).astype(bool)
    raise ValueError(f"unknown condition operator {op}")


# Condition operators that rule-function modules add (cdisc_il2/validate/functions/): op name -> f(df, cond, study, name).
OPERATORS: dict[str, Callable[[pd.DataFrame, dict, "Study", str], pd.Series]] = {}


def operator(name: str):
    """Register a condition operator usable as {var: X, op: name, ...} in any rule."""
    def deco(fn):
        OPERATORS[name] = fn
        return fn
    return deco


# ---------------------------------------------------------------- generic checks -> boolean masks

def check_condition(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.Series:
    """Rows where the `when` condition holds."""
    return evaluate(df, p["when"], study, name)


def check_unique(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.Series:
    """Rows whose key values repeat an earlier row's (`flag: all`: every row of a repeated key, as CORE does;
    `nulls: match`: empty key values count as equal, e.g. IDVAR of subject-level SUPPQUAL records)."""
    need(df, *p["keys"])
    keys = df[p["keys"] + [k for k in p.get("optional_keys", []) if k in df.columns and k not in p["keys"]]]
    complete = pd.Series(True, index=df.index) if p.get("nulls") == "match" else keys.notna().all(axis=1)
    return complete & keys.duplicated(keep=False if p.get("flag") == "all" else "first")


def check_duplicates(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.Series:
    """Rows identical to an earlier row in every column except the excluded ones."""
    cols = [c for c in df.columns if c not in set(p.get("exclude", []))]
    # identical rows share their identifying columns: compare whole rows only among those candidates
    keys = [c for c in ("USUBJID", f"{prefix(name)}TESTCD", f"{prefix(name)}TERM", f"{prefix(name)}TRT", "VISITNUM",
                        f"{prefix(name)}DTC", f"{prefix(name)}STDTC", "QNAM", "IDVARVAL") if c in cols]
    if not keys:
        return df[cols].duplicated(keep="first")
    candidates = df.duplicated(keys, keep=False)
    out = pd.Series(False, index=df.index)
    if candidates.any():
        out[candidates] = df.loc[candidates, cols].duplicated(keep="first")
    return out


def check_consistent(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.Series:
    """Rows of key groups in which the value variable takes more than one value (`optional_key` variables
    join the key where the dataset has them, e.g. BASETYPE)."""
    need(df, *p["key"], p["value_var"])
    key = p["key"] + [k for k in p.get("optional_key", []) if k in df.columns]
    sel = df[key + [p["value_var"]]].dropna(subset=p["key"])
    if p.get("nulls") == "ignore":       # a missing value is not another value (BASE on a record without AVAL)
        sel = sel[filled(sel[p["value_var"]])]
    if p.get("flag") == "differing_from_first":     # as Pinnacle 21 counts: the records unlike the group's first
        return _differs_from_first(sel, key, p["value_var"]).reindex(df.index, fill_value=False)
    n = _nunique(sel, key, p["value_var"])
    return (n > 1).reindex(df.index, fill_value=False)


def _differs_from_first(sel: pd.DataFrame, key: list[str], value: str) -> pd.Series:
    """Rows whose `value` (missing counts as a value) differs from that of the first row of their `key` group."""
    group = sel.groupby([key_text(sel[k]) for k in key], sort=False, dropna=False).ngroup().to_numpy()
    vcodes = pd.factorize(key_text(sel[value]), use_na_sentinel=False)[0]
    _, first = np.unique(group, return_index=True)
    first_code = np.empty(len(first), dtype=vcodes.dtype)
    first_code[group[first]] = vcodes[first]
    return pd.Series(vcodes != first_code[group], index=sel.index)


def _nunique(sel: pd.DataFrame, key: list[str], value: str) -> pd.Series:
    """Distinct values (missing counts as a value) of `value` within `key` groups, aligned to rows."""
    group = sel.groupby([key_text(sel[k]) for k in key], sort=False, dropna=False).ngroup().to_numpy().astype(np.int64)
    vcodes = pd.factorize(key_text(sel[value]), use_na_sentinel=False)[0].astype(np.int64)
    width = int(vcodes.max()) + 1 if len(vcodes) else 1
    pairs = np.unique(group * width + vcodes)
    per_group = np.bincount(pairs // width, minlength=int(group.max()) + 1 if len(group) else 0)
    return pd.Series(per_group[group], index=sel.index)


def check_at_most_one(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.Series:
    """Rows meeting `when` in groups where more than one row meets it."""
    need(df, *p["by"])
    hit = evaluate(df, p["when"], study, name)
    count = hit.groupby([df[b] for b in p["by"]], dropna=False).transform("sum")
    return hit & (count > 1)


def check_at_least_one(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.Series:
    """The first row of each group (among rows meeting `among`) where no row meets `when`."""
    need(df, *p["by"])
    among = evaluate(df, p["among"], study, name) if "among" in p else pd.Series(True, index=df.index)
    hit = evaluate(df, p["when"], study, name) & among
    any_hit = hit.groupby([df[b] for b in p["by"]], dropna=False).transform("any")
    sub = df[among]
    first = pd.Series(False, index=df.index)
    first.loc[sub.index[~sub[p["by"]].duplicated(keep="first").to_numpy()]] = True
    return first & ~any_hit


def check_exists_in(rule: Rule, df: pd.DataFrame, p: dict, study: Study, name: str) -> pd.Series:
    """Rows whose keys have no match in another dataset (optionally only rows meeting `where`)."""
    target = p["dataset"]
    need(df, *p["keys"])
    if target not in study.datasets or name == target:
        raise NotApplicable(target)
    other = study.frame(target)
    tkeys = p.get("target_keys", p["keys"])
    if any(k not in other for k in tkeys):
        raise NotApplicable(target)
    if "target_where" in p:
        other = other[evaluate(other, p["target_where"], study, target)]
    rows = evaluate(df, p["where"], study, name) if "where" in p else pd.Series(True, index=df.index)
    if len(p["keys"]) == 1:
        missing = ~isin_text(key_text(df[p["keys"][0]]), key_text(other[tkeys[0]]))
    else:       # key tuples compared as text, as a MultiIndex of the keys as strings would, through integer codes
        left, right = _tuple_codes([df[k] for k in p["keys"]], [other[k] for k in tkeys])
        missing = ~pd.Series(left).isin(right).to_numpy()
    return rows & pd.Series(missing, index=df.index) & df[p["keys"]].notna().all(axis=1)


def isin_text(left: pd.Series, right: pd.Series, dropna: bool = True) -> np.ndarray:
    """left.isin(right.dropna().unique()) (with `dropna` False: left.isin(right), where a missing value is in when
    right has one) for Arrow text, by Arrow's is_in on the Arrow arrays: pandas would first turn every value of
    right into a Python string. Anything but Arrow text on both sides goes through pandas."""
    la = getattr(left.array, "_pa_array", None) if isinstance(left.dtype, pd.StringDtype) else None
    ra = getattr(right.array, "_pa_array", None) if isinstance(right.dtype, pd.StringDtype) else None
    if la is None or ra is None:
        return (left.isin(right.dropna().unique()) if dropna else left.isin(right)).to_numpy()
    import pyarrow.compute as pc

    values = pc.unique(pc.drop_null(ra) if dropna else ra).cast(la.type)
    return np.asarray(pc.is_in(la, value_set=values).to_numpy(zero_copy_only=False), dtype=bool)


def _tuple_codes(left: list[pd.Series], right: list[pd.Series], na_equal: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """One integer per row of each side for its tuple of key values as text: equal exactly when every value is
    equal; rows with a missing value get a code no other row has (-1 left, -2 right), or with `na_equal` a missing
    value equals a missing value (as in MultiIndex.isin)."""
    n = len(left[0])
    lcode, rcode = np.zeros(n, dtype=np.int64), np.zeros(len(right[0]), dtype=np.int64)
    lmiss, rmiss = np.zeros(n, dtype=bool), np.zeros(len(right[0]), dtype=bool)
    for a, b in zip(left, right):
        both = pd.concat([key_text(a), key_text(b)], ignore_index=True)
        codes, uniques = pd.factorize(both, use_na_sentinel=not na_equal)
        lmiss |= codes[:n] < 0
        rmiss |= codes[n:] < 0
        width = len(uniques) + 1
        pairs = np.concatenate([lcode * width + codes[:n] + 1, rcode * width + codes[n:] + 1])
        dense, _ = pd.factorize(pairs)          # renumbered densely, so the codes never overflow
        lcode, rcode = dense[:n].astype(np.int64), dense[n:].astype(np.int64)
    lcode[lmiss] = -1
    rcode[rmiss] = -2
    return lcode, rcode


# Checks whose question is about a domain, not a file: split datasets (SDTMIG 4.1.7) are judged together unless
# the rule says `across: dataset` (any other rule can say `across: domain`).
DOMAIN_CHECKS = frozenset({"unique", "duplicates", "at_most_one", "at_least_one"})
CHECKS: dict[str, Callable] = {"condition": check_condition, "unique": check_unique, "duplicates": check_duplicates,
                               "consistent": check_consistent, "at_most_one": check_at_most_one,
                               "at_least_one": check_at_least_one, "exists_in": check_exists_in}
FUNCTIONS: dict[str, Callable] = {}


def register(name: str):
    """Register a rule function: f(rule, df, params, study, name) -> mask, or a findings frame."""
    def deco(fn):
        FUNCTIONS[name] = fn
        return fn
    return deco


def _with_join(df: pd.DataFrame, p: dict, study: Study) -> pd.DataFrame:
    """Bring variables of another dataset (DM, ADSL) in as 'DM.VAR' columns, matched on keys."""
    j = p.get("join")
    if not j:
        return df
    if j["dataset"] not in study.datasets:
        raise NotApplicable(j["dataset"])
    need(df, *j.get("on", ["USUBJID"]))
    need(study.frame(j["dataset"]), *j.get("on", ["USUBJID"]))
    key = (id(df), j["dataset"], tuple(j.get("on", ["USUBJID"])), tuple(j["vars"]))
    if key in study._joins:
        return study._joins[key]
    other = study.frame(j["dataset"])
    keys = j.get("on", ["USUBJID"])
    vars_ = [v for v in j["vars"] if v in other]
    if len(vars_) < len(j["vars"]):
        raise NotApplicable(j["dataset"])
    right = other[keys + vars_].drop_duplicates(subset=keys)
    if len(keys) == 1:
        # a lookup by one key: map the few columns needed instead of merging whole frames
        ckey = (id(df), j["dataset"], keys[0])
        if ckey not in study._lookup:
            study._lookup[ckey] = pd.Index(right[keys[0]]).get_indexer(df[keys[0]])
        codes = study._lookup[ckey]
        new = {}
        for v in vars_:     # taken in the column's own storage (Arrow text stays Arrow); no match -> missing
            vkey = (*ckey, v)          # one copy of each joined column, shared by every rule's joined frame
            if vkey not in study._join_cols:
                study._join_cols[vkey] = pd.Series(right[v].array.take(codes, allow_fill=True), index=df.index)
            new[f"{j['dataset']}.{v}"] = study._join_cols[vkey]
        merged = df.assign(**new)
    else:
        right = right.rename(columns={v: f"{j['dataset']}.{v}" for v in vars_})
        merged = df.merge(right, on=keys, how="left")
        merged.index = df.index
    study._joins[key] = merged
    study._joined_ids.add(id(merged))
    return merged


_NO_FINDINGS: list[pd.DataFrame] = []


def empty_findings() -> pd.DataFrame:
    """A frame with the finding columns and no rows (a copy of one made once: building it costs half a
    millisecond, and most (rule, dataset) pairs find nothing; copy-on-write keeps the original empty)."""
    if not _NO_FINDINGS:
        _NO_FINDINGS.append(pd.DataFrame(columns=FINDING_COLUMNS))
    return _NO_FINDINGS[0].copy(deep=False)


def findings_frame(rule: Rule, name: str, df: pd.DataFrame, mask: pd.Series, variable: str | None,
                   message: str) -> pd.DataFrame:
    """Findings for the rows where `mask` holds (built from the flagged rows' positions, column by column)."""
    seq_col = f"{prefix(name)}SEQ"
    flags = (mask if mask.index is df.index else mask.reindex(df.index, fill_value=False)).to_numpy()
    if flags.dtype != bool:
        flags = np.asarray(flags, dtype=bool)
    pos = np.flatnonzero(flags)
    n = len(pos)
    if not n:
        return empty_findings()
    has_var = bool(variable) and variable in df.columns
    value = (df[variable].iloc[pos].astype("string").to_numpy() if has_var
             else np.full(n, pd.NA, dtype=object))
    if "{value}" in message:
        head, _, tail = message.partition("{value}")
        msg = _join_text(head, value, tail)
    else:
        msg = np.full(n, message, dtype=object)
    return pd.DataFrame({
        "rule_id": rule.id, "p21_id": rule.p21 or "", "core_id": ", ".join(rule.core), "severity": rule.severity,
        "dataset": name, "variable": variable or "", "row": df.index.to_numpy()[pos] + 1,
        "usubjid": df["USUBJID"].iloc[pos].astype("string").to_numpy() if "USUBJID" in df.columns else pd.NA,
        "seq": _num(df[seq_col].iloc[pos]).to_numpy() if seq_col in df.columns else pd.NA,
        "value": value, "message": msg}, index=range(n))


def _join_text(head: str, values: np.ndarray, tail: str) -> np.ndarray:
    """head + value + tail for every value (a missing one written '(null)'), in bulk: object array of str."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pa.large_string()
    arr = pc.fill_null(pa.array(values, type=text, from_pandas=True), "(null)")
    return pc.binary_join_element_wise(pa.scalar(head, text), arr, pa.scalar(tail, text),
                                       pa.scalar("", text)).to_numpy(zero_copy_only=False)


RULE_ERROR_COLUMNS = ["rule_id", "dataset", "error"]


def not_in_configuration(rule: Rule, standard: str) -> bool:
    """Whether the Pinnacle 21 configuration for this SDTMIG version leaves the rule out (rule-xref.json holds
    the rules of the configurations we know, e.g. 3.1.2); our own IL2 rules and unknown versions run."""
    configs = load_json("rule-xref.json").get("configurations", {})
    return bool(rule.p21 and rule.p21 == rule.id and standard in configs
                and rule.p21 not in _config_set(standard))


@lru_cache(maxsize=None)
def _config_set(standard: str) -> frozenset:
    return frozenset(load_json("rule-xref.json")["configurations"][standard])


def applies(rule: Rule, study: Study) -> bool:
    """Whether a rule belongs to this package: its IG version, and study rules only on the study's data."""
    if rule.scope == "study" and not study.study_rules:
        return False
    if rule.params.get("unless_ongoing") and study.ongoing():
        return False
    if rule.params.get("dictionary") and rule.params["dictionary"] not in study.extras:
        return False            # a rule of a licensed dictionary (MedDRA) runs only when the user gives it
    return not rule.versions or study.standard in rule.versions


def run_rule(rule: Rule, study: Study) -> tuple[pd.DataFrame, list[str], list[dict]]:
    """Run one rule on every dataset it selects, each (rule, dataset) pair isolated: findings, the datasets
    it was applied to, and the pairs that could not run (with the reason) instead of stopping the run."""
    if not applies(rule, study):
        return empty_findings(), [], []
    earlier = not_in_configuration(rule, study.standard)
    parts, applied, errors = [], [], []
    for name in study.under_validation():
        run_rule_on(rule, study, name, earlier, parts, applied, errors)
    found = pd.concat(parts, ignore_index=True) if parts else empty_findings()
    return found, sorted(set(applied)), errors


def run_rule_on(rule: Rule, study: Study, name: str, earlier: bool, parts: list, applied: list,
                errors: list) -> None:
    """One (rule, dataset) pair of run_rule (the rule applies to the package; `earlier`: Pinnacle 21 leaves it
    out of the package's SDTMIG): findings go to `parts`, the dataset to `applied` when the rule ran on it, and
    a failure to `errors`."""
    if not study.selects(name, rule.datasets):
        return
    excluded = rule.params.get("exclude_domains")
    if excluded and study.domain(name) in set(excluded):
        return
    if earlier and study.kind(name) in ("SDTM", "SUPP"):
        return          # Pinnacle 21 does not apply this rule under the package's (earlier) SDTMIG
    target, parts_of = name, [name]
    if rule.params.get("across", "domain" if rule.check in DOMAIN_CHECKS else "dataset") == "domain":
        mine = study.under_validation()
        sibs = [n for n in study.siblings(name) if n in mine and study.selects(n, rule.datasets)]
        if len(sibs) > 1 and study.domain(name) not in study.datasets:
            if name != sibs[0]:
                return          # judged with the first of its domain's datasets
            target, parts_of = study.combine(sibs), sibs
    for each in (rule.each or (None,)):
        p = _resolve_tree(rule.params, target, each)
        variable = p.get("variable")
        message = resolve_message(rule.message, target, each, variable)
        try:
            df = _with_join(study.frame(target), p, study)
            if rule.check == "function":
                out = FUNCTIONS[p["function"]](rule, df, p, study, target)
            else:
                out = CHECKS[rule.check](rule, df, p, study, target)
            if isinstance(out, pd.DataFrame):
                found = out
            elif out.any():
                found = findings_frame(rule, target, df, out, variable, message)
            else:
                found = None
        except NotApplicable:
            continue
        except Exception as exc:  # noqa: BLE001 - one rule never stops the others; the report names it
            errors.append({"rule_id": rule.id, "dataset": name,
                           "error": f"rule could not be run on this dataset: {type(exc).__name__}: {exc}"})
            continue
        applied.extend(parts_of)
        if found is not None and len(found):
            parts.append(study.to_parts(found, target, parts_of) if target != name else found)


def resolve_message(message: str, name: str, each: str | None, variable: str | None) -> str:
    """Message text with --, {V}, {dataset} and {variable} filled in (row values stay {value})."""
    text = message.replace("{V}", each or "").replace("{dataset}", name).replace("{variable}", variable or "")
    return re.sub(r"--(?=[A-Z])", prefix(name), text)


__all__ = ["Rule", "Study", "load_rules", "run_rule", "run_rule_on", "applies", "text_per_distinct", "isin_text", "RULE_ERROR_COLUMNS", "operator", "column", "register", "FINDING_COLUMNS", "findings_frame", "evaluate",
           "NotApplicable", "SEVERITY_ORDER"]
