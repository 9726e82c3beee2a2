"""Every import a source file makes, read from its AST: top-level, inside functions,
``importlib.import_module("...")``, ``import_module("...")`` and ``__import__("...")``.

A ``sys.modules`` check after ``import x`` sees only what runs at import time; an
import inside a function, or one built by ``importlib``, only shows up when that
code path runs. Reading the source sees all of them, plus the strings naming one of
our modules (``"pcompile.runtime.worker:main"``): dispatch tables that
``import_module`` reads later. A call whose argument has no literal part at all is
reported with target ``?`` so a test can insist each one is accounted for.

Imports under ``if TYPE_CHECKING:`` are left out: they never run, so they create no
dependency between layers (mypy checks them).
"""

from __future__ import annotations

import ast
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Calls that import the module named by their first argument.
IMPORT_CALLS = {"import_module", "__import__"}
# A string naming one of our modules, optionally with an attribute.
MODULE_STRING = re.compile(r"pcompile(\.[A-Za-z_]\w*)+(:[A-Za-z_]\w*)?")


@dataclass(frozen=True)
class Import:
    """One import: ``target`` is the absolute module name (``prefix*`` when only a
    literal prefix is known, ``?`` when the name is not a literal at all)."""

    module: str  # the importing module
    target: str
    line: int
    how: str  # "import", "from", "call", "name" (a "pkg.mod" or "pkg.mod:attr" string)
    name: str | None = None  # the name a ``from`` import or a "module:attr" string takes

    def where(self) -> str:
        return f"{self.module}:{self.line} ({self.how}) -> {self.target}"


def package_dirs(root: Path = REPO) -> dict[str, Path]:
    """Import name -> folder, from ``pyproject.toml`` (the one place that maps them)."""
    data = tomllib.loads((root / "pyproject.toml").read_text())
    return {name: root / folder for name, folder in data["tool"]["setuptools"]["package-dir"].items()}


def modules(root: Path = REPO) -> dict[str, Path]:
    """Every module of the pcompile distribution: import name -> file."""
    dirs = package_dirs(root)
    out: dict[str, Path] = {}
    for package, folder in dirs.items():
        for path in sorted(folder.glob("*.py")):
            name = package if path.stem == "__init__" else f"{package}.{path.stem}"
            out[name] = path
    return out


def imports_of(
    source: str, module: str, *, is_package: bool = False, known: set[str] | None = None
) -> list[Import]:
    """Every import in ``source``, the text of ``module``. ``known`` module names let
    ``from pkg import name`` resolve to the submodule ``pkg.name`` when it is one."""
    tree = ast.parse(source)
    package = module if is_package else module.rpartition(".")[0]
    visitor = _Visitor(module, package, known or set())
    visitor.visit(tree)
    return visitor.found


class _Visitor(ast.NodeVisitor):
    def __init__(self, module: str, package: str, known: set[str]) -> None:
        self.module, self.package, self.known = module, package, known
        self.found: list[Import] = []

    def add(self, target: str, node: ast.AST, how: str, name: str | None = None) -> None:
        self.found.append(Import(self.module, target, getattr(node, "lineno", 0), how, name))

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.add(alias.name, node, "import")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = self.resolve(node.module, node.level)
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            if sub in self.known:
                self.add(sub, node, "from")
            else:
                self.add(base, node, "from", alias.name)

    def resolve(self, name: str | None, level: int) -> str:
        if level == 0:
            return name or ""
        parts = self.package.split(".")
        parent = ".".join(parts[: len(parts) - (level - 1)])
        return f"{parent}.{name}" if name else parent

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if called in IMPORT_CALLS and node.args:
            self.add(_literal_target(node.args[0]), node, "call")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        # Dispatch tables ("pcompile.runtime.worker:main") are imports run later by
        # ``import_module(table[key])``: the call's argument is not a literal, the table is.
        if isinstance(node.value, str) and MODULE_STRING.fullmatch(node.value):
            target, _, name = node.value.partition(":")
            self.add(target, node, "name", name or None)


def _literal_target(arg: ast.expr) -> str:
    """The module a call imports: the string itself, the literal head of an f-string
    followed by ``*``, or ``?`` when nothing about it is literal."""
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value
    if isinstance(arg, ast.JoinedStr) and arg.values:
        head = arg.values[0]
        if isinstance(head, ast.Constant) and isinstance(head.value, str) and head.value:
            return head.value + "*"
    return "?"


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def all_imports(root: Path = REPO) -> Iterator[Import]:
    """The imports of every module of the distribution."""
    mods = modules(root)
    known = set(mods)
    for name, path in sorted(mods.items()):
        yield from imports_of(path.read_text(), name, is_package=path.stem == "__init__", known=known)
