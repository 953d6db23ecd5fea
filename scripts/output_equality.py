"""Before/after equality of what the tool writes: the same inputs through two versions of the code.

Runs, for each side, `run samples/transfer-01`, `run samples/transfer-02 --previous` that run, and `validate`
(JSON findings) on every package in ../shared/reference/packages/ (found by reading the folder); then compares
every file the two sides wrote, byte for byte, and prints each one that differs, is missing or is new. A side is
a git revision (checked out into a temporary worktree) or the working tree ("."); each runs in its own process
with its own code first on the path, so neither side's installed copy is used.

Files that record when or how long a run took (the run history, manifest.json's timings) are not compared; the
list is IGNORED below and is printed. An intended difference is named with --expect PATTERN (a glob on the
compared path, repeatable): the script exits 0 when every difference is expected, 1 otherwise.

    python scripts/output_equality.py --before HEAD~1 --after . [--expect 'run-01/sdtm/define.xml'] [--no-packages]
"""
from __future__ import annotations

import argparse
import fnmatch
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ROOT.parent / "shared" / "reference" / "packages"
# written per run and not a product of the inputs: the SQLite run history and the manifest (run time, duration)
IGNORED = ("history.sqlite", "*/manifest.json")


def _checkout(rev: str, where: Path) -> Path:
    """The code of `rev`: the working tree for '.', else a detached worktree of that revision under `where`."""
    if rev == ".":
        return ROOT
    target = where / f"code-{rev.replace('/', '_').replace('~', '_')}"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-f", str(target), rev], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return target


def _cli(code: Path, args: list[str], cwd: Path) -> int:
    """Run the CLI of the code at `code` (its own package first on the path) and return its exit code."""
    env = dict(os.environ, PYTHONPATH=str(code), PYTHONHASHSEED="0")
    cmd = [sys.executable, "-c", "import sys; from cdisc_il2.cli import main; sys.exit(main())", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE).returncode


def produce(code: Path, out: Path, packages: bool) -> dict[str, int]:
    """Everything one side writes into `out`; the exit code of each command."""
    out.mkdir(parents=True, exist_ok=True)
    samples = ROOT / "samples"             # the same inputs for both sides
    codes = {"run-01": _cli(code, ["run", str(samples / "transfer-01"), "--out", str(out / "run-01"), "--quiet",
                                   "--history", str(out / "history.sqlite")], out)}
    codes["run-02"] = _cli(code, ["run", str(samples / "transfer-02"), "--out", str(out / "run-02"), "--quiet",
                                  "--previous", str(out / "run-01"), "--history", str(out / "history.sqlite")], out)
    if packages and PACKAGES.is_dir():
        for pkg in sorted(p for p in PACKAGES.iterdir() if p.is_dir()):
            target = out / "packages" / pkg.name
            target.mkdir(parents=True, exist_ok=True)
            codes[f"validate {pkg.name}"] = _cli(code, ["validate", str(pkg), "--json",
                                                        str(target / "findings.json"), "--fail-on", "never"], out)
    return codes


def _digests(folder: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every file under `folder` that is compared."""
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if p.is_file() and not any(fnmatch.fnmatch(rel, g) or fnmatch.fnmatch(p.name, g) for g in IGNORED):
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def compare(before: Path, after: Path) -> list[tuple[str, str]]:
    """(path, 'differs' | 'only before' | 'only after') for every compared file that is not the same."""
    a, b = _digests(before), _digests(after)
    rows = [(k, "differs") for k in sorted(a.keys() & b.keys()) if a[k] != b[k]]
    rows += [(k, "only before") for k in sorted(a.keys() - b.keys())]
    rows += [(k, "only after") for k in sorted(b.keys() - a.keys())]
    return sorted(rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", default="HEAD", help="git revision of the code before ('.' for the working tree)")
    ap.add_argument("--after", default=".", help="git revision of the code after ('.' for the working tree)")
    ap.add_argument("--expect", action="append", default=[], help="glob of a path whose difference is intended")
    ap.add_argument("--no-packages", action="store_true", help="skip validating the reference packages")
    ap.add_argument("--keep", type=Path, help="keep both sides' outputs in this folder")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="equality-"))
    try:
        sides = {}
        for name, rev in (("before", args.before), ("after", args.after)):
            code = _checkout(rev, work)
            codes = produce(code, work / name, not args.no_packages)
            sides[name] = codes
            print(f"{name} ({rev}): " + ", ".join(f"{k} exit {v}" for k, v in codes.items()))
        print("not compared: " + ", ".join(IGNORED))
        rows = compare(work / "before", work / "after")
        if sides["before"] != sides["after"]:
            rows.append(("(exit codes)", f"{sides['before']} -> {sides['after']}"))
        unexpected = [(k, v) for k, v in rows if not any(fnmatch.fnmatch(k, g) for g in args.expect)]
        for k, v in rows:
            mark = "expected" if (k, v) not in unexpected else "UNEXPECTED"
            print(f"{mark:<10} {v:<12} {k}")
        n = len(_digests(work / "after"))
        print(f"{n} files compared: {len(rows)} differ, {len(unexpected)} of them not expected")
        if args.keep:
            shutil.copytree(work / "before", args.keep / "before", dirs_exist_ok=True)
            shutil.copytree(work / "after", args.keep / "after", dirs_exist_ok=True)
        return 1 if unexpected else 0
    finally:
        for p in work.glob("code-*"):
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(p)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
