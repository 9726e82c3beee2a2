"""Load a user's program: ``file.py``, ``file.py::name`` or ``-m pkg.mod``.

The file is imported as a real module (so ``if __name__ == "__main__":`` blocks do not
run and the runtime can later import it by the same name) with ``import modal``
resolving to pcompile. Errors while importing are reported at the user's own
``file:line`` without a pcompile traceback.
"""

from __future__ import annotations

import ast
import importlib
import os
import re
import sys
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from pcompile import _modal_alias
from pcompile._app import App
from pcompile._dict import Dict
from pcompile._queue import Queue
from pcompile._secret import Secret
from pcompile._volume import NetworkFileSystem, Volume
from pcompile.compiler import ir
from pcompile.compiler.build import compile_apps, project_root_of
from pcompile.compiler.errors import UserError

_PCOMPILE_DIRS = tuple(
    str(Path(importlib.import_module(m).__file__ or "").resolve().parent) + os.sep
    for m in ("pcompile", "pcompile.compiler")
)


@dataclass
class Loaded:
    """A loaded program: its Apps, their IR, and where it lives."""

    module: ModuleType
    module_name: str
    root: Path
    apps: list[App]
    app_names: dict[int, str]
    program: ir.Program
    selected: str | None

    def app(self, name: str | None = None) -> App:
        """The App called ``name`` (or the only one)."""
        if name is None and len(self.apps) == 1:
            return self.apps[0]
        for app in self.apps:
            if self.app_names[id(app)] == name:
                return app
        raise UserError(
            f"no app named {name!r} in {self.module_name}",
            fix=f"choose one of {sorted(self.app_names.values())}",
        )


def split_ref(ref: str) -> tuple[str, bool, str | None]:
    """``"a.py::fn"`` → ``("a.py", False, "fn")``; ``"-m pkg.mod"`` → ``("pkg.mod", True, None)``."""
    is_module = False
    if ref.startswith("-m "):
        ref, is_module = ref[3:].strip(), True
    target, _, selected = ref.partition("::")
    if not is_module and not target.endswith(".py") and not os.path.exists(target):
        is_module = True
    return target, is_module, selected or None


def module_for_file(path: Path) -> tuple[Path, str]:
    """(project root, dotted module name) for a file, walking up through packages.

    A file outside any package that uses relative imports (``from .utils import x``)
    is loaded as a module of its folder, a namespace package, as ``modal run -m
    folder.file`` would: otherwise Python refuses the import ("no known parent package").
    """
    path = path.resolve()
    root = project_root_of(str(path))
    if root == path.parent and _has_relative_imports(path) and path.parent.name.isidentifier():
        root = path.parent.parent
    parts = path.with_suffix("").relative_to(root).parts
    return root, ".".join(parts)


def _has_relative_imports(path: Path) -> bool:
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (OSError, SyntaxError, ValueError):
        return False  # the import itself reports the problem at the user's line
    return any(isinstance(node, ast.ImportFrom) and node.level > 0 for node in ast.walk(tree))


def _user_frame(exc: BaseException, root: Path) -> tuple[str, int] | None:
    """The deepest traceback frame inside the user's project (not pcompile, not site-packages)."""
    found = None
    for frame in traceback.extract_tb(exc.__traceback__):
        filename = os.path.abspath(frame.filename)
        if filename.startswith(_PCOMPILE_DIRS) or "site-packages" in filename or filename.startswith("<"):
            continue
        if filename.startswith(str(root) + os.sep):
            found = (filename, frame.lineno or 0)
    return found


def _is_parent_or_self(name: str, module_name: str) -> bool:
    return module_name == name or module_name.startswith(name + ".")


def _as_user_error(exc: BaseException, root: Path, module_file: str | None, module_name: str) -> UserError:
    if isinstance(exc, UserError):
        return exc
    if isinstance(exc, SyntaxError):
        at = ir.Source(_rel(exc.filename or module_file or "?", root), exc.lineno or 0)
        return UserError(f"syntax error: {exc.msg}", source=at, fix="fix the syntax and run again")
    frame = _user_frame(exc, root)
    where: ir.Source | None = ir.Source(_rel(frame[0], root), frame[1]) if frame else None
    message = f"{type(exc).__name__}: {exc}"
    fix = None
    if isinstance(exc, ModuleNotFoundError) and exc.name and _is_parent_or_self(exc.name, module_name):
        return UserError(
            f"no module named {exc.name!r} under {root}",
            fix="run pcompile from the folder that holds the package, or pass the file's path",
        )
    if isinstance(exc, ModuleNotFoundError):
        fix = (
            f"install {exc.name!r} locally, or import it inside the function or in a "
            "`with image.imports():` block so only the image needs it"
        )
    return UserError(message, source=where, fix=fix)


def _rel(path: str, root: Path) -> str:
    try:
        return Path(os.path.relpath(os.path.abspath(path), root)).as_posix()
    except ValueError:
        return path


def _user_modules(module_name: str) -> str:
    """A warnings ``module`` regex matching the user's module and its top-level package."""
    top = re.escape(module_name.split(".")[0])
    return rf"{top}(\..*)?$"


def import_user_module(module_name: str, root: Path) -> ModuleType:
    """Import (fresh) the user's module with ``modal`` aliased to pcompile."""
    _modal_alias.install()
    # First on the path even when already present: another project loaded earlier in this
    # process may have a module of the same name (app.py) further up the path.
    if str(root) in sys.path:
        sys.path.remove(str(root))
    sys.path.insert(0, str(root))
    for name in [m for m in sys.modules if m == module_name or m.startswith(module_name + ".")]:
        del sys.modules[name]
    importlib.invalidate_caches()
    try:
        with warnings.catch_warnings():
            # Python hides DeprecationWarnings outside __main__; old Modal spellings in the
            # user's own files must still be reported (once per line) with the new spelling.
            warnings.filterwarnings("default", category=DeprecationWarning, module=_user_modules(module_name))
            return importlib.import_module(module_name)
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        guess = root / (module_name.replace(".", os.sep) + ".py")
        raise _as_user_error(exc, root, str(guess), module_name) from None


def _collect(module: ModuleType) -> tuple[list[App], dict[int, str], list[Any]]:
    apps: dict[int, App] = {}
    var_names: dict[int, str] = {}
    extras: list[Any] = []
    for var, value in sorted(vars(module).items()):
        if isinstance(value, App):
            apps.setdefault(id(value), value)
            var_names.setdefault(id(value), var)
        elif isinstance(value, Dict | Queue | Volume | NetworkFileSystem | Secret):
            extras.append(value)
    return list(apps.values()), var_names, extras


def _name_apps(apps: list[App], var_names: dict[int, str], module_name: str) -> dict[int, str]:
    stem = module_name.rsplit(".", 1)[-1]
    unnamed = [a for a in apps if a.name is None]
    names = {}
    for app in apps:
        if app.name is not None:
            names[id(app)] = app.name
        else:
            names[id(app)] = stem if len(unnamed) == 1 else f"{stem}-{var_names[id(app)]}"
    return names


def _check_selected(selected: str, apps: list[App], app_names: set[str], target: str) -> None:
    """``file.py::NAME`` must name an app, function, class or entrypoint the file defines."""
    known = set(app_names)
    for app in apps:
        known.update(app.definitions(), app.registered_classes, app.registered_entrypoints)
        known.update(d.raw_f.__qualname__ for d in app.definitions().values() if d.raw_f is not None)
    if selected not in known:
        raise UserError(
            f"{target} has no app, function, class or entrypoint named {selected!r}",
            fix=f"choose one of {sorted(known)}",
        )


def load(ref: str | os.PathLike[str], *, root: Path | None = None) -> Loaded:
    """Load ``ref`` (``file.py``, ``file.py::name``, ``-m pkg.mod`` or ``pkg.mod``) and
    compile the Apps it defines. ``root`` is where modules are imported from (default:
    the working directory)."""
    target, is_module, selected = split_ref(os.fspath(ref))
    if is_module:
        return load_module(target, root, selected=selected)
    path = Path(target)
    if not path.exists():
        raise UserError(
            f"no such file: {target}",
            fix="pass the path of a Python file (app.py), or -m pkg.mod for a module",
        )
    project_root, module_name = module_for_file(path)
    return _load_from(module_name, project_root, target, selected)


def load_module(
    module: str, cwd: str | os.PathLike[str] | None = None, *, selected: str | None = None
) -> Loaded:
    """Load the module ``module`` (``pkg.mod``) as ``modal run -m pkg.mod`` does.

    ``module`` is imported by name from ``cwd`` (default: the working directory), as
    ``python -m`` would, so relative imports inside its package (``from .utils import
    x``) work, with or without ``__init__.py`` files. ``selected`` picks an app,
    function, class or entrypoint, like ``::name`` after a file.
    """
    if not module or not all(part.isidentifier() for part in module.split(".")):
        raise UserError(
            f"{module!r} is not a module name",
            fix="pass a dotted module name such as pkg.app with -m, or a file path without -m",
        )
    project_root = Path(cwd if cwd is not None else Path.cwd()).resolve()
    return _load_from(module, project_root, module, selected)


def _load_from(module_name: str, project_root: Path, target: str, selected: str | None) -> Loaded:
    module = import_user_module(module_name, project_root)
    apps, var_names, extras = _collect(module)
    if selected and selected in var_names.values():
        apps = [a for a in apps if var_names[id(a)] == selected]
        selected = None
    if not apps:
        raise UserError(
            f"{target} defines no modal.App",
            fix='create one at module level: app = modal.App("my-app")',
        )
    names = _name_apps(apps, var_names, module_name)
    if selected:
        _check_selected(selected, apps, {*names.values(), *var_names.values()}, target)
    program = compile_apps(apps, project_root, names=names, extras=extras)
    return Loaded(module, module_name, project_root, apps, names, program, selected)


def compile_file(ref: str | os.PathLike[str], *, root: Path | None = None) -> ir.Program:
    """The IR of the program at ``ref`` (a file, ``file::name`` or ``-m module``)."""
    return load(ref, root=root).program
