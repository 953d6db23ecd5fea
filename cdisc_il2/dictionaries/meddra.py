"""A MedDRA ASCII release folder as MSSO distributes it (the user's own licensed copy; we ship none).

Files are `$`-delimited, one record a line, each ending in `$`, with the fields of the MedDRA ASCII file
specification (FIELDS below). The reader checks every file is present and every record has its fields, and
bounds file sizes before reading. Errors name the file, the line and what is valid.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError

# field order of each file (MedDRA ASCII distribution file format); a trailing `$` ends every record
FIELDS: dict[str, tuple[str, ...]] = {
    "llt.asc": ("llt_code", "llt_name", "pt_code", "llt_whoart_code", "llt_harts_code", "llt_costart_sym",
                "llt_icd9_code", "llt_icd9cm_code", "llt_icd10_code", "llt_currency", "llt_jart_code"),
    "pt.asc": ("pt_code", "pt_name", "null_field", "pt_soc_code", "pt_whoart_code", "pt_harts_code",
               "pt_costart_sym", "pt_icd9_code", "pt_icd9cm_code", "pt_icd10_code", "pt_jart_code"),
    "hlt.asc": ("hlt_code", "hlt_name", "hlt_whoart_code", "hlt_harts_code", "hlt_costart_sym", "hlt_icd9_code",
                "hlt_icd9cm_code", "hlt_icd10_code", "hlt_jart_code"),
    "hlt_pt.asc": ("hlt_code", "pt_code"),
    "hlgt.asc": ("hlgt_code", "hlgt_name", "hlgt_whoart_code", "hlgt_harts_code", "hlgt_costart_sym",
                 "hlgt_icd9_code", "hlgt_icd9cm_code", "hlgt_icd10_code", "hlgt_jart_code"),
    "hlgt_hlt.asc": ("hlgt_code", "hlt_code"),
    "soc.asc": ("soc_code", "soc_name", "soc_abbrev", "soc_whoart_code", "soc_harts_code", "soc_costart_sym",
                "soc_icd9_code", "soc_icd9cm_code", "soc_icd10_code", "soc_jart_code"),
    "soc_hlgt.asc": ("soc_code", "hlgt_code"),
    "mdhier.asc": ("pt_code", "hlt_code", "hlgt_code", "soc_code", "pt_name", "hlt_name", "hlgt_name", "soc_name",
                   "soc_abbrev", "null_field", "pt_soc_code", "primary_soc_fg"),
    "meddra_release.asc": ("version", "language", "null_field_1", "null_field_2", "null_field_3"),
}
CODES = {"llt.asc": ("llt_code", "pt_code"), "pt.asc": ("pt_code",), "hlt.asc": ("hlt_code",),
         "hlt_pt.asc": ("hlt_code", "pt_code"), "hlgt.asc": ("hlgt_code",), "hlgt_hlt.asc": ("hlgt_code", "hlt_code"),
         "soc.asc": ("soc_code",), "soc_hlgt.asc": ("soc_code", "hlgt_code"),
         "mdhier.asc": ("pt_code", "hlt_code", "hlgt_code", "soc_code", "pt_soc_code")}
# the SDTM variables a MedDRA coding fills (--LLT ... --SOCCD, SDTMIG Events), in hierarchy order
MEDDRA_SUFFIXES = ("LLT", "LLTCD", "DECOD", "PTCD", "HLT", "HLTCD", "HLGT", "HLGTCD", "BODSYS", "BDSYCD", "SOC",
                   "SOCCD")
MAX_FILE_BYTES = 64 * 1024 * 1024      # a whole English release's llt.asc is about 10 MB
MAX_NAME = 100                          # term names are at most 100 characters (MedDRA)


@dataclass(frozen=True)
class Path5:
    """One path of the hierarchy, LLT up to SOC, with names and codes (codes as text, as SDTM carries them)."""

    llt_code: str
    llt_name: str
    pt_code: str
    pt_name: str
    hlt_code: str
    hlt_name: str
    hlgt_code: str
    hlgt_name: str
    soc_code: str
    soc_name: str


@dataclass
class MeddraRelease:
    """The terms of one release by level (code -> name), LLT currency, and the PT -> HLT -> HLGT -> SOC paths."""

    version: str
    language: str
    source: str
    llt: dict[str, tuple[str, str, bool]] = field(default_factory=dict)   # code -> (name, pt_code, current)
    pt: dict[str, str] = field(default_factory=dict)
    hlt: dict[str, str] = field(default_factory=dict)
    hlgt: dict[str, str] = field(default_factory=dict)
    soc: dict[str, str] = field(default_factory=dict)
    paths: list[tuple[str, str, str, str, bool]] = field(default_factory=list)  # pt, hlt, hlgt, soc, primary

    @property
    def label(self) -> str:
        """'MedDRA 27.0' (with the language when it is not English)."""
        lang = "" if self.language.lower() in ("", "english") else f" {self.language}"
        return f"MedDRA {self.version}{lang}"

    def primary(self, pt_code: str) -> tuple[str, str, str] | None:
        """(hlt, hlgt, soc) codes of the PT's primary SOC path (mdhier primary_soc_fg = Y), None if it has none."""
        return self.primary_paths().get(pt_code)

    def primary_paths(self) -> dict[str, tuple[str, str, str]]:
        """PT code -> (hlt, hlgt, soc) codes of its primary SOC path."""
        cached = self.__dict__.get("_primary_cache")
        if cached is None:
            cached = {p: (h, g, s) for p, h, g, s, prim in self.paths if prim}
            self.__dict__["_primary_cache"] = cached
        return cached

    def code(self, llt_code: str) -> tuple[Path5 | None, str]:
        """The primary path of an LLT code, or None and why it cannot be coded (unknown, not current, no path)."""
        entry = self.llt.get(llt_code)
        if entry is None:
            return None, f"LLT code {llt_code} is not in {self.label}"
        name, pt, current = entry
        if not current:
            return None, f"LLT {llt_code} '{name}' is not current in {self.label} (llt_currency N): recode it"
        up = self.primary(pt)
        if pt not in self.pt or up is None:
            return None, f"PT {pt} of LLT {llt_code} has no primary SOC path in {self.label} (mdhier.asc)"
        h, g, s = up
        return Path5(llt_code, name, pt, self.pt[pt], h, self.hlt.get(h, ""), g, self.hlgt.get(g, ""), s,
                     self.soc.get(s, "")), ""

    def path_set(self) -> set[tuple[str, str, str, str]]:
        """Every (pt, hlt, hlgt, soc) code path of the release, primary or not."""
        return {(p, h, g, s) for p, h, g, s, _ in self.paths}


def _decode(data: bytes, path: Path) -> str:
    """UTF-8 (as current releases ship; a BOM tolerated), else Windows-1252 (older English releases)."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    for encoding in ("utf-8", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InputError(f"{path}: neither UTF-8 nor Windows-1252 text: not a MedDRA ASCII file")


def read_records(folder: Path, name: str) -> list[dict[str, str]]:
    """The records of one release file as field -> text, every line checked for its number of fields."""
    path = Path(folder) / name
    if not path.is_file():
        raise InputError(f"{folder}: no {name}: a MedDRA ASCII release folder holds "
                         + ", ".join(FIELDS) + " (as MSSO distributes it, e.g. MedAscii/)")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise InputError(f"{path}: {size:,} bytes, over the {MAX_FILE_BYTES:,} a MedDRA file can be: not read")
    names = FIELDS[name]
    codes = CODES.get(name, ())
    out = []
    for i, line in enumerate(_decode(path.read_bytes(), path).splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split("$")
        if parts and parts[-1] == "":
            parts = parts[:-1]
        if len(parts) < len(names) and name != "meddra_release.asc" or len(parts) > len(names):
            raise InputError(f"{path}: line {i}: {len(parts)} '$'-delimited field(s), {name} has {len(names)}: "
                             + "$".join(names) + "$")
        rec = dict(zip(names, (p.strip() for p in parts)))
        for c in codes:
            if not rec.get(c, "").isdigit():
                raise InputError(f"{path}: line {i}: {c} '{rec.get(c, '')}' is not a MedDRA code (digits)")
        for k, v in rec.items():
            if k.endswith("_name") and len(v) > MAX_NAME:
                raise InputError(f"{path}: line {i}: {k} is {len(v)} characters, MedDRA names have at most {MAX_NAME}")
        out.append(rec)
    return out


def read_release(folder: Path) -> MeddraRelease:
    """Read a MedDRA ASCII release folder (llt, pt, hlt, hlt_pt, hlgt, hlgt_hlt, soc, soc_hlgt, mdhier,
    meddra_release .asc); an InputError names the file and line of anything malformed."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"MedDRA release folder '{folder}' does not exist or is not a folder")
    release = read_records(folder, "meddra_release.asc")
    if not release or not release[0].get("version"):
        raise InputError(f"{folder / 'meddra_release.asc'}: line 1: no version (version$language$...$)")
    rel = MeddraRelease(release[0]["version"], release[0].get("language", ""), str(folder))
    for r in read_records(folder, "llt.asc"):
        currency = r["llt_currency"].upper()
        if currency not in ("Y", "N"):
            raise InputError(f"{folder / 'llt.asc'}: LLT {r['llt_code']}: llt_currency '{r['llt_currency']}' "
                             "is not Y or N")
        rel.llt[r["llt_code"]] = (r["llt_name"], r["pt_code"], currency == "Y")
    rel.pt = {r["pt_code"]: r["pt_name"] for r in read_records(folder, "pt.asc")}
    rel.hlt = {r["hlt_code"]: r["hlt_name"] for r in read_records(folder, "hlt.asc")}
    rel.hlgt = {r["hlgt_code"]: r["hlgt_name"] for r in read_records(folder, "hlgt.asc")}
    rel.soc = {r["soc_code"]: r["soc_name"] for r in read_records(folder, "soc.asc")}
    links = {n: {(r[FIELDS[n][0]], r[FIELDS[n][1]]) for r in read_records(folder, n)}
             for n in ("hlt_pt.asc", "hlgt_hlt.asc", "soc_hlgt.asc")}
    for i, r in enumerate(read_records(folder, "mdhier.asc"), start=1):
        flag = r["primary_soc_fg"].upper()
        if flag not in ("Y", "N"):
            raise InputError(f"{folder / 'mdhier.asc'}: record {i}: primary_soc_fg '{r['primary_soc_fg']}' is not Y or N")
        p, h, g, s = r["pt_code"], r["hlt_code"], r["hlgt_code"], r["soc_code"]
        for level, code, known in (("pt", p, rel.pt), ("hlt", h, rel.hlt), ("hlgt", g, rel.hlgt), ("soc", s, rel.soc)):
            if code not in known:
                raise InputError(f"{folder / 'mdhier.asc'}: record {i}: {level}_code {code} is not in {level}.asc")
        if (h, p) not in links["hlt_pt.asc"] or (g, h) not in links["hlgt_hlt.asc"] \
                or (s, g) not in links["soc_hlgt.asc"]:
            raise InputError(f"{folder / 'mdhier.asc'}: record {i}: path {s}>{g}>{h}>{p} is not linked in "
                             "soc_hlgt.asc, hlgt_hlt.asc and hlt_pt.asc")
        rel.paths.append((p, h, g, s, flag == "Y"))
    return rel


def release_from_terms(terms: dict, source: str = "(terms)") -> MeddraRelease:
    """A release from terms given as data (rule cases, the synthetic writer): `version`, `llt`: [code, name,
    pt_code, current], `pt`: {code: name}, `paths`: [pt, hlt, hlt_name, hlgt, hlgt_name, soc, soc_name, primary]."""
    rel = MeddraRelease(str(terms.get("version", "0.0")), str(terms.get("language", "English")), source)
    rel.llt = {str(c): (str(n), str(p), bool(cur)) for c, n, p, cur in terms["llt"]}
    rel.pt = {str(c): str(n) for c, n in terms["pt"].items()}
    for p, h, hn, g, gn, s, sn, prim in terms["paths"]:
        rel.hlt[str(h)], rel.hlgt[str(g)], rel.soc[str(s)] = str(hn), str(gn), str(sn)
        rel.paths.append((str(p), str(h), str(g), str(s), bool(prim)))
    return rel


def write_release(folder: Path, terms: dict, note: str = "") -> list[Path]:
    """Write terms (as release_from_terms takes them) as a MedDRA ASCII release folder in the official layout:
    for tests and the bundled sample's synthetic dictionary, never for MedDRA content."""
    from . import write_release_files

    rel = release_from_terms(terms)
    abbrev = {s: "".join(w[0] for w in n.split() if w[0].isalpha())[:5].capitalize() for s, n in rel.soc.items()}
    primary_soc = {p: s for p, h, g, s, prim in rel.paths if prim}

    def line(*values: str) -> str:
        return "$".join(values) + "$"

    blank7 = [""] * 7
    files = {
        "meddra_release.asc": [line(rel.version, rel.language, "", "", "")],
        "llt.asc": [line(c, n, p, *[""] * 6, "Y" if cur else "N", "") for c, (n, p, cur) in sorted(rel.llt.items())],
        "pt.asc": [line(c, n, "", primary_soc.get(c, ""), *blank7) for c, n in sorted(rel.pt.items())],
        "hlt.asc": [line(c, n, *blank7) for c, n in sorted(rel.hlt.items())],
        "hlgt.asc": [line(c, n, *blank7) for c, n in sorted(rel.hlgt.items())],
        "soc.asc": [line(c, n, abbrev[c], *blank7) for c, n in sorted(rel.soc.items())],
        "hlt_pt.asc": sorted({line(h, p) for p, h, g, s, _ in rel.paths}),
        "hlgt_hlt.asc": sorted({line(g, h) for p, h, g, s, _ in rel.paths}),
        "soc_hlgt.asc": sorted({line(s, g) for p, h, g, s, _ in rel.paths}),
        "mdhier.asc": [line(p, h, g, s, rel.pt[p], rel.hlt[h], rel.hlgt[g], rel.soc[s], abbrev[s], "",
                            primary_soc.get(p, ""), "Y" if prim else "N") for p, h, g, s, prim in sorted(rel.paths)],
    }
    return write_release_files(folder, files, note)
