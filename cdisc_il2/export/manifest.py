"""manifest.json: what a data manager archives with a transfer: inputs, specs, outputs with hashes and counts."""
from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

from .. import __version__
from ..io import write_text


def sha256(path: Path) -> str:
    """SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


RECORDS = frozenset({"records"})


def _records(path: Path) -> int | None:
    if path.suffix == ".csv":           # lines after the header, counted in 1 MiB chunks
        lines, last = 0, b"\n"
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                lines, last = lines + chunk.count(b"\n"), chunk[-1:]
        return max(0, lines + (last != b"\n") - 1)
    if path.suffix in (".json", ".ndjson") and path.name not in ("findings.json", "adam-findings.json", "transfer.json"):
        from ..formats.datasetjson import read_header
        try:
            return int(read_header(path, RECORDS).get("records"))
        except (TypeError, ValueError, KeyError):
            return None
    return None


@lru_cache(maxsize=4096)
def _described(path: str, size: int, mtime_ns: int, inode: int) -> tuple[str, int | None]:
    """A file's hash and record count, once per version of the file (a run builds its manifest twice, before and
    after report.html: the other files are not read again)."""
    return sha256(Path(path)), _records(Path(path))


def build_manifest(out: Path, inputs: list[Path], specs: list, transfer_time: str, validation: dict) -> dict:
    """The manifest document for an output folder (paths relative to it, sorted, no clock time)."""
    out = Path(out)
    outputs = []
    for p in sorted(q for q in out.rglob("*") if q.is_file() and q.name != "manifest.json" and not q.name.startswith(".")):
        st = p.stat()
        digest, records = _described(str(p.resolve()), st.st_size, st.st_mtime_ns, st.st_ino)
        outputs.append({"path": p.relative_to(out).as_posix(), "sha256": digest, "bytes": st.st_size,
                        "records": records})
    return {"tool": "cdisc-il2", "version": __version__, "transfer_time": transfer_time,
            "inputs": [{"file": p.name, "sha256": sha256(p), "bytes": p.stat().st_size} for p in sorted(inputs)],
            "mapping_specs": [{"file": s.name, "site": s.site, "sha256": sha256(s.path)} for s in specs],
            "validation": validation, "outputs": outputs}


def write_manifest(out: Path, manifest: dict) -> None:
    """Write OUT/manifest.json atomically."""
    write_text(Path(out) / "manifest.json", json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
