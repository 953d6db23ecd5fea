"""A WHODrug Global release folder in the B3 text format as UMC distributes it (the user's own licensed copy; we
ship none).

The B3 files are fixed-width text, one record a line (LAYOUT below, as the CDISC CORE engine reads them):
DD.txt the drug names by drug code (drug record number, sequence numbers 1 and 2), DDA.txt the ATC codes assigned
to each drug, INA.txt the ATC codes' text and level. The preferred name of a drug code is the name of the record
with the same drug record number and sequence number 1 and sequence number 2 '001'. The version is the first line
of the folder's version.txt (UMC supplies one with each release), else the folder's name. Files are bounded in
size before reading; errors name the file, the line and what is valid.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError

# (field, start, end) of each file's fixed-width record; the last field runs to the end of the line
LAYOUT: dict[str, tuple[tuple[str, int, int | None], ...]] = {
    "DD.txt": (("drug_record_number", 0, 6), ("seq1", 6, 8), ("seq2", 8, 11), ("check_digit", 11, 12),
               ("drug_name", 30, None)),
    "DDA.txt": (("drug_record_number", 0, 6), ("seq1", 6, 8), ("seq2", 8, 11), ("check_digit", 11, 12),
                ("atc_code", 12, 19)),
    "INA.txt": (("atc_code", 0, 7), ("level", 7, 8), ("atc_text", 8, None)),
}
MIN_WIDTH = {"DD.txt": 31, "DDA.txt": 13, "INA.txt": 9}
# the SDTM variables a WHODrug coding fills (SDTMIG Interventions: standardized name, class and class code)
WHODRUG_SUFFIXES = ("DECOD", "CLAS", "CLASCD")
MAX_FILE_BYTES = 2 * 1024 * 1024 * 1024     # a whole B3 DD.txt is a few hundred MB
MAX_NAME = 1500                              # B3 drug names are at most 1,500 characters
PREFERRED_SEQ2 = "001"


@dataclass(frozen=True)
class CodedDrug:
    """One drug code's coding: the preferred name (--DECOD) and the ATC class text and code (--CLAS, --CLASCD)."""

    drug_code: str
    preferred_name: str
    atc_code: str
    atc_text: str


@dataclass
class WhodrugRelease:
    """Drug names by drug code, ATC codes by drug (record number + sequence number 1), ATC texts by code."""

    version: str
    source: str
    names: dict[str, str] = field(default_factory=dict)                  # 11-character drug code -> drug name
    atc: dict[str, set[str]] = field(default_factory=dict)               # record number + seq1 -> ATC codes
    atc_text: dict[str, tuple[int, str]] = field(default_factory=dict)   # ATC code -> (level, text)

    @property
    def label(self) -> str:
        """'WHODrug Global B3 Mar 1, 2026' as the release names itself."""
        return self.version if self.version.upper().startswith("WHODRUG") else f"WHODrug {self.version}"

    def preferred(self, drug_code: str) -> str | None:
        """The preferred name of a drug code: the name of its record number + seq1 with seq2 '001'."""
        return self.names.get(drug_code[:8] + PREFERRED_SEQ2)

    def code(self, drug_code: str, atc_code: str = "") -> tuple[CodedDrug | None, str]:
        """The coding of a drug code with the ATC code the coder chose (needed when the drug has several), or
        None and why it cannot be coded (unknown code, no preferred name, ATC not assigned to the drug)."""
        if drug_code not in self.names:
            return None, f"drug code {drug_code} is not in {self.label}"
        name = self.preferred(drug_code)
        if name is None:
            return None, f"drug code {drug_code} has no preferred name (sequence number 2 001) in {self.label}"
        assigned = sorted(self.atc.get(drug_code[:8], ()))
        if not atc_code:
            if len(assigned) != 1:
                choice = ", ".join(assigned) if assigned else "none assigned in DDA.txt"
                return None, f"drug code {drug_code} '{name}': choose its ATC code ({choice}) in the coding list"
            atc_code = assigned[0]
        if atc_code not in assigned:
            return None, (f"ATC code {atc_code} is not assigned to drug code {drug_code} '{name}' in {self.label} "
                          f"({', '.join(assigned) or 'none'})")
        if atc_code not in self.atc_text:
            return None, f"ATC code {atc_code} has no text in INA.txt of {self.label}"
        return CodedDrug(drug_code, name, atc_code, self.atc_text[atc_code][1]), ""


def _file(folder: Path, name: str) -> Path:
    """The release file of that name in any case (DD.txt, dd.TXT), or an InputError naming the three files."""
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.name.lower() == name.lower():
            size = p.stat().st_size
            if size > MAX_FILE_BYTES:
                raise InputError(f"{p}: {size:,} bytes, over the {MAX_FILE_BYTES:,} a WHODrug file can be: not read")
            return p
    raise InputError(f"{folder}: no {name}: a WHODrug B3 release folder holds " + ", ".join(LAYOUT)
                     + " (fixed-width text, as UMC distributes it)")


def _lines(path: Path):
    """(line number, text) of each non-blank line: UTF-8 (a BOM tolerated), else Windows-1252 per line."""
    with open(path, "rb") as fh:
        for i, raw in enumerate(fh, start=1):
            raw = raw.rstrip(b"\r\n")
            if i == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            if not raw.strip():
                continue
            try:
                yield i, raw.decode("utf-8")
            except UnicodeDecodeError:
                yield i, raw.decode("cp1252", errors="replace")


def read_records(folder: Path, name: str):
    """The records of one B3 file as field -> text (stripped), each line checked for its width and codes."""
    path = _file(Path(folder), name)
    for i, line in _lines(path):
        if len(line) < MIN_WIDTH[name]:
            raise InputError(f"{path}: line {i}: {len(line)} characters, a {name} record has at least "
                             f"{MIN_WIDTH[name]} ({', '.join(f'{f} {a + 1}-{b or chr(8230)}' for f, a, b in LAYOUT[name])})")
        rec = {f: line[a:b].strip() for f, a, b in LAYOUT[name]}
        if "drug_record_number" in rec and not (rec["drug_record_number"].isdigit() and len(rec["seq1"]) == 2
                                                and len(rec["seq2"]) == 3):
            raise InputError(f"{path}: line {i}: '{line[:11]}' is not a drug code (6-digit drug record number, "
                             "2-character sequence number 1, 3-character sequence number 2)")
        if name == "INA.txt" and not rec["level"].isdigit():
            raise InputError(f"{path}: line {i}: ATC level '{rec['level']}' (character 8) is not a digit")
        if len(rec.get("drug_name", "")) > MAX_NAME:
            raise InputError(f"{path}: line {i}: drug name of {len(rec['drug_name'])} characters, B3 has at most "
                             f"{MAX_NAME}")
        yield i, rec


def _version(folder: Path) -> str:
    """The first line of version.txt (any case), else the folder's name."""
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.name.lower() == "version.txt" and p.stat().st_size < 4096:
            for _, line in _lines(p):
                return line.strip()
    return folder.name


def read_release(folder: Path) -> WhodrugRelease:
    """Read a WHODrug B3 release folder (DD.txt, DDA.txt, INA.txt; version.txt); an InputError names the file and
    line of anything malformed."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"WHODrug release folder '{folder}' does not exist or is not a folder")
    paths = {n: _file(folder, n) for n in LAYOUT}          # all three present before any is read
    rel = WhodrugRelease(_version(folder), str(folder))
    for _, r in read_records(folder, "DD.txt"):
        rel.names.setdefault(r["drug_record_number"] + r["seq1"] + r["seq2"], r["drug_name"])
    for i, r in read_records(folder, "INA.txt"):
        rel.atc_text[r["atc_code"]] = (int(r["level"]), r["atc_text"])
    for i, r in read_records(folder, "DDA.txt"):
        if not r["atc_code"]:
            raise InputError(f"{paths['DDA.txt']}: line {i}: no ATC code (characters 13-19)")
        rel.atc.setdefault(r["drug_record_number"] + r["seq1"], set()).add(r["atc_code"])
    return rel


def release_from_terms(terms: dict, source: str = "(terms)") -> WhodrugRelease:
    """A release from terms given as data (rule cases, the synthetic writer): `version`, `drugs`: [drug code, name,
    [ATC codes]], `atc`: {code: [level, text]}."""
    rel = WhodrugRelease(str(terms.get("version", "TEST")), source)
    for code, name, atcs in terms["drugs"]:
        rel.names[str(code)] = str(name)
        rel.atc.setdefault(str(code)[:8], set()).update(str(a) for a in atcs)
    rel.atc_text = {str(c): (int(lv), str(t)) for c, (lv, t) in terms["atc"].items()}
    return rel


def write_release(folder: Path, terms: dict, note: str = "") -> list[Path]:
    """Write terms (as release_from_terms takes them) as a B3 release folder in the official fixed-width layout:
    for tests and the bundled sample's synthetic dictionary, never for WHODrug content."""
    from . import write_release_files

    rel = release_from_terms(terms)

    def fixed(values: dict[str, str], name: str) -> str:
        line = ""
        for f, a, b in LAYOUT[name]:
            line = line.ljust(a) + values.get(f, "")
        return line.rstrip()

    dd, dda = [], []
    for code, name in sorted(rel.names.items()):
        parts = {"drug_record_number": code[:6], "seq1": code[6:8], "seq2": code[8:11], "check_digit": "0"}
        dd.append(fixed({**parts, "drug_name": name}, "DD.txt"))
    for base, atcs in sorted(rel.atc.items()):
        for atc in sorted(atcs):
            dda.append(fixed({"drug_record_number": base[:6], "seq1": base[6:8], "seq2": PREFERRED_SEQ2,
                              "check_digit": "0", "atc_code": atc}, "DDA.txt"))
    ina = [fixed({"atc_code": c, "level": str(lv), "atc_text": t}, "INA.txt")
           for c, (lv, t) in sorted(rel.atc_text.items())]
    return write_release_files(folder, {"DD.txt": dd, "DDA.txt": dda, "INA.txt": ina, "version.txt": [rel.version]},
                               note)
