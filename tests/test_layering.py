"""Stages depend only downward (issue 20): ingest -> map -> validate -> derive -> export, with transfers and
reports beside them, never import one another; they share the lower modules (formats, dictionaries, metadata,
resources, frames, io, errors, dates, ...), which import no stage; the composers (pipeline, cli, ...) may import
anything. Every module under cdisc_il2/ is parsed (imports inside functions too), none is listed by hand."""
from __future__ import annotations

import ast
from pathlib import Path
from typing import NamedTuple

from conftest import ROOT

PACKAGE = "cdisc_il2"

# stage -> the modules and packages it is made of (a package stands for every module under it)
STAGES: dict[str, tuple[str, ...]] = {
    "map": ("cdisc_il2.mapping", "cdisc_il2.ingest", "cdisc_il2.convert", "cdisc_il2.sdtm", "cdisc_il2.design"),
    "validate": ("cdisc_il2.validate",),
    "derive": ("cdisc_il2.derive",),
    "export": ("cdisc_il2.export",),
    "transfers": ("cdisc_il2.transfers",),
    "reports": ("cdisc_il2.reports",),
}
# the modules that put the stages together: they may import any stage
COMPOSERS = ("cdisc_il2.pipeline", "cdisc_il2.cli", "cdisc_il2.samples", "cdisc_il2.followup",
             "cdisc_il2.sample_dictionaries")
SHARED = "shared"       # every other module: the lower layer any stage may import


def package_modules(root: Path = ROOT / PACKAGE) -> dict[str, tuple[Path, bool]]:
    """Every module of the package: dotted name -> (file, whether it is a package's __init__)."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        init = parts[-1] == "__init__"
        out[".".join(parts[:-1] if init else parts)] = (path, init)
    return out


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def layer_of(module: str) -> str:
    """The stage a module belongs to, 'composer', or 'shared'."""
    if any(_within(module, c) for c in COMPOSERS):
        return "composer"
    for stage, members in STAGES.items():
        if any(_within(module, m) for m in members):
            return stage
    return SHARED


def imported_modules(source: str, module: str, is_package: bool, known: set[str]) -> list[tuple[int, str]]:
    """(line, absolute module) of every import of the package in a module's source, in line order, relative ones
    resolved, those inside functions included; `from . import x` names the submodule x when it is one of `known`."""
    here = module.split(".") if is_package else module.split(".")[:-1]
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(here[:len(here) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for a in node.names:
                sub = f"{base}.{a.name}"
                out.append((node.lineno, sub if sub in known else base))
    return sorted(((line, m) for line, m in out if _within(m, PACKAGE)), key=lambda item: item[0])


class Violation(NamedTuple):
    """One import a layer may not make."""

    file: str
    line: int
    importer: str
    importer_layer: str
    imported: str
    imported_layer: str

    def __str__(self) -> str:
        return (f"{self.file}:{self.line}: {self.importer} ({self.importer_layer}) imports {self.imported} "
                f"({self.imported_layer})")


def violations(modules: dict[str, tuple[str, bool]], known: set[str] | None = None) -> list[Violation]:
    """Every import a stage or a shared module may not make: a stage importing another stage, a shared module
    importing a stage or a composer. `modules`: dotted name -> (source, whether it is a package's __init__)."""
    known = set(modules) | (known or set())
    bad = []
    for module, (source, is_package) in sorted(modules.items()):
        mine = layer_of(module)
        if mine == "composer":
            continue
        file = module.replace(".", "/") + ("/__init__.py" if is_package else ".py")
        for line, target in imported_modules(source, module, is_package, known):
            theirs = layer_of(target)
            if theirs != SHARED and theirs != mine:
                bad.append(Violation(file, line, module, mine, target, theirs))
    return sorted(bad)


def _sources() -> dict[str, tuple[str, bool]]:
    return {name: (path.read_text(encoding="utf-8"), init) for name, (path, init) in package_modules().items()}


def test_no_stage_imports_another_stage():
    bad = [str(v) for v in violations(_sources()) if v.importer_layer != SHARED]
    assert not bad, "a stage imports another stage's internals:\n" + "\n".join(bad)


def test_shared_modules_import_no_stage():
    bad = [str(v) for v in violations(_sources()) if v.importer_layer == SHARED]
    assert not bad, "a shared module imports a stage or a composer:\n" + "\n".join(bad)


def test_the_declared_layers_exist_and_cover_the_stages():
    modules = package_modules()
    declared = [m for members in STAGES.values() for m in members] + list(COMPOSERS)
    # a renamed module must be declared again (cdisc_il2.mapping is a namespace package: no __init__.py)
    assert [m for m in declared if not any(_within(n, m) for n in modules)] == []
    layers = {layer_of(m) for m in modules}
    assert layers == {*STAGES, "composer", SHARED}
    assert len(modules) > 50                                          # the walk found the package


def test_relative_imports_are_resolved_inside_functions_too():
    known = set(package_modules())
    source = ("from . import sri, core\nfrom .. import __version__\nimport cdisc_il2.frames\n"
              "def f():\n    from ..export.define import build_define\n    from .sri import COMPONENTS\n")
    assert imported_modules(source, "cdisc_il2.derive.datasets", False, known) == [
        (1, "cdisc_il2.derive.sri"), (1, "cdisc_il2.derive.core"), (2, "cdisc_il2"), (3, "cdisc_il2.frames"),
        (5, "cdisc_il2.export.define"), (6, "cdisc_il2.derive.sri")]
    assert imported_modules("from . import sdtm\n", "cdisc_il2.design", False, known) == [(1, "cdisc_il2.sdtm")]
    assert imported_modules("from . import nothing\n", "cdisc_il2.derive.core", False, known) == [
        (1, "cdisc_il2.derive")]                                      # a name of the package, not a submodule
    assert imported_modules("from .triage import x\n", "cdisc_il2.transfers", True, known) == [
        (1, "cdisc_il2.transfers.triage")]


def test_a_cross_stage_import_is_reported():
    known = set(package_modules())
    synthetic = {
        "cdisc_il2.derive.fake": ("import pandas\nfrom ..frames import to_number\nfrom .sri import yes_no\n"
                                  "def f():\n    from ..export.define import build_define\n", False),
        "cdisc_il2.reports.fake": ("from cdisc_il2.transfers.compare import record_label\n", False),
        "cdisc_il2.fakeshared": ("from .metadata import codelist\nfrom .validate import validate_folder\n", False),
        "cdisc_il2.cli_fake": ("from .derive import derive_folder\n", False),
        "cdisc_il2.pipeline": ("from .derive import derive_folder\nfrom .export import export_folder\n", False),
    }
    assert [str(v) for v in violations(synthetic, known)] == [
        "cdisc_il2/cli_fake.py:1: cdisc_il2.cli_fake (shared) imports cdisc_il2.derive (derive)",
        "cdisc_il2/derive/fake.py:5: cdisc_il2.derive.fake (derive) imports cdisc_il2.export.define (export)",
        "cdisc_il2/fakeshared.py:2: cdisc_il2.fakeshared (shared) imports cdisc_il2.validate (validate)",
        "cdisc_il2/reports/fake.py:1: cdisc_il2.reports.fake (reports) imports cdisc_il2.transfers.compare "
        "(transfers)"]
