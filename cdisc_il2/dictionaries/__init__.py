"""Licensed coding dictionaries the user supplies (MedDRA, WHODrug): readers shared by mapping and validation."""
from __future__ import annotations

from pathlib import Path


def write_release_files(folder: Path, files: dict[str, list[str]], note: str = "") -> list[Path]:
    """Write a synthetic release's files (name -> lines, CRLF as the distributions ship them) and its README.txt
    note: for tests and the bundled sample, never for licensed content."""
    from ..io import write_text

    folder = Path(folder)
    written = []
    for name, lines in files.items():
        write_text(folder / name, "\r\n".join(lines) + "\r\n")
        written.append(folder / name)
    if note:
        write_text(folder / "README.txt", note.rstrip() + "\n")
        written.append(folder / "README.txt")
    return written
