"""Import boundaries between pcompile's layers (STYLE.md habit 4), read from the source.

Every import counts: top-level, inside functions, ``importlib.import_module("...")``,
``__import__("...")`` and dispatch-table strings (:mod:`import_graph`). The rules are
about each module's own imports: the runtime runs SDK code, and the SDK reaches the
providers through the registry, so what a layer reaches *through* an allowed layer is
that layer's business. ``tests/spine/test_boundaries.py`` checks the other half:
what ``import pcompile`` loads at import time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import import_graph as g
import pytest

# Import name prefix -> layer. A package added to pyproject.toml without a layer here
# fails test_every_module_has_a_layer.
LAYERS = {
    "pcompile.compiler": "compiler",
    "pcompile.providers": "providers",
    "pcompile.runtime": "runtime",
    "pcompile.cli": "cli",
    "pcompile": "sdk",
}
PULUMI = ("pulumi", "pulumi_*")


@dataclass(frozen=True)
class Rule:
    """Modules of ``layer`` import nothing matching ``forbids``, except ``allow``
    (``"module"`` or ``"module:name"`` -> why it is fine)."""

    layer: str
    forbids: tuple[str, ...]
    why: str
    allow: dict[str, str] = field(default_factory=dict)


RULES = (
    Rule("compiler", PULUMI, "the IR and placements are built without Pulumi (synth, plan, tests)"),
    Rule(
        "runtime",
        ("pcompile.compiler", "pcompile.providers", "pcompile.cli", *PULUMI),
        "the runtime is the one entrypoint in every container: it gets what it needs handed over",
    ),
    Rule(
        "sdk",
        ("pcompile.providers", "pcompile.cli", *PULUMI),
        "the SDK asks the registry for a cloud's invoker, stores and deploy; it never names one",
        allow={"pcompile.providers.registry": "the one door from the SDK to the providers"},
    ),
    Rule(
        "providers",
        ("layer:sdk", "pcompile.cli"),
        "providers consume the IR, never the SDK objects that recorded it",
        allow={
            "pcompile.exception": "the exception types Modal's client raises: every layer raises the same ones",
            "pcompile:__version__": "a string: the version stamped into images and manifests",
            "pcompile._volume:FileEntry": "the value Volume.listdir returns; the local volume backend builds it",
            "pcompile._volume:FileEntryType": "an enum field of FileEntry",
        },
    ),
)

# Calls whose module name the checker cannot read, by importing module -> why each is fine.
DYNAMIC = {
    "pcompile": "the lazy attribute table _LAZY (its strings are checked as imports)",
    "pcompile._modal_alias": "f'pcompile.{name}' over its literal SUBMODULES tuple of SDK modules",
    "pcompile._storage": "the backend table _DEFAULTS (its strings are checked as imports)",
    "pcompile.cli.main": "the command modules table of the CLI, which may import anything",
    "pcompile.compiler.loader": "imports the user's own module by name",
    "pcompile.runtime.__main__": "the mode table MODES (its strings are checked as imports)",
    "pcompile.runtime.execute": "imports the user's function by the IR's module name",
    "pcompile.runtime.storage": "the storage table SCHEMES (its strings are checked as imports)",
    "pcompile.providers.registry": "the provider table _PROVIDERS ('module:class' per cloud)",
}

# Violations in files other branches own this round: (importing module, target) -> owner.
# Each is cleared by its owner's change; a stale entry fails test_known_violations_still_exist.
KNOWN: dict[tuple[str, str], str] = {}

# Private names imported from another layer: (importing module, "target:name") -> owner.
KNOWN_PRIVATE: dict[tuple[str, str], str] = {}


def layer_of(module: str) -> str | None:
    """The layer a module belongs to (the longest matching prefix), None if not ours."""
    for prefix in sorted(LAYERS, key=len, reverse=True):
        if module == prefix or module.startswith(prefix + "."):
            return LAYERS[prefix]
    return None


def matches(target: str, pattern: str) -> bool:
    """``target`` (maybe ``prefix*``) falls under ``pattern`` (a module, ``top_*`` or ``layer:x``)."""
    name = target.rstrip("*").rstrip(".")
    if pattern.startswith("layer:"):
        return layer_of(name) == pattern.removeprefix("layer:")
    if pattern.endswith("_*"):
        return name.split(".")[0].startswith(pattern[:-1])
    return name == pattern or name.startswith(pattern + ".")


def is_dynamic(imp: g.Import) -> bool:
    """No rule can judge it: not a literal, or an f-string that may name any layer."""
    return imp.target in ("?", "pcompile.*")


def allowed(imp: g.Import, rule: Rule) -> bool:
    return imp.target in rule.allow or (imp.name is not None and f"{imp.target}:{imp.name}" in rule.allow)


def violations(imports: Iterable[g.Import]) -> list[g.Import]:
    """Imports that break a rule, leaving out the KNOWN ones."""
    found = []
    for imp in imports:
        for rule in RULES:
            if layer_of(imp.module) != rule.layer or is_dynamic(imp):
                continue
            if any(matches(imp.target, p) for p in rule.forbids) and not allowed(imp, rule):
                found.append(imp)
    return sorted({i for i in found if (i.module, i.target) not in KNOWN}, key=g.Import.where)


def private_crossings(imports: Iterable[g.Import]) -> list[str]:
    """``from <other layer> import _name``: a layer's private names are not a hand-off;
    the other layer gets a public function instead."""
    return sorted(
        f"{i.where()}:{i.name}"
        for i in imports
        if i.name is not None
        and i.name.startswith("_")
        and not i.name.startswith("__")
        and layer_of(i.target) not in (None, layer_of(i.module))
        and (i.module, f"{i.target}:{i.name}") not in KNOWN_PRIVATE
    )


@pytest.fixture(scope="module")
def imports() -> list[g.Import]:
    return list(g.all_imports())


def test_no_layer_imports_across_its_boundary(imports: list[g.Import]) -> None:
    assert [i.where() for i in violations(imports)] == []


def test_no_layer_imports_another_layers_private_names(imports: list[g.Import]) -> None:
    assert private_crossings(imports) == []


def test_every_module_has_a_layer() -> None:
    assert [m for m in g.modules() if layer_of(m) is None] == []
    assert {layer_of(m) for m in g.modules()} >= {r.layer for r in RULES}


def test_every_non_literal_import_is_accounted_for(imports: list[g.Import]) -> None:
    dynamic = {i.module for i in imports if is_dynamic(i)}
    assert sorted(dynamic - set(DYNAMIC)) == []
    assert sorted(set(DYNAMIC) - dynamic) == [], "stale DYNAMIC entries: remove them"


def test_known_violations_still_exist(imports: list[g.Import]) -> None:
    present = {(i.module, i.target) for i in imports}
    assert sorted(set(KNOWN) - present) == [], "fixed at last: remove these KNOWN entries"
    named = {(i.module, f"{i.target}:{i.name}") for i in imports}
    assert sorted(set(KNOWN_PRIVATE) - named) == [], "fixed at last: remove these KNOWN_PRIVATE entries"


# ------------------------------------------------------------- the checker itself


def planted(source: str, module: str) -> list[str]:
    """The violations the checker reports in ``source`` posing as ``module``."""
    return [i.target for i in violations(g.imports_of(source, module, known=set(g.modules())))]


def test_a_lazy_import_inside_a_function_is_caught() -> None:
    source = "def handler():\n    from pcompile.providers.local import invoker\n    return invoker\n"
    assert planted(source, "pcompile.runtime.worker") == ["pcompile.providers.local.invoker"]


def test_import_module_dunder_import_and_fstrings_are_caught() -> None:
    source = (
        "import importlib\n"
        "def a():\n    return importlib.import_module('pulumi_aws')\n"
        "def b():\n    return __import__('pulumi')\n"
        "def c(cloud):\n    return importlib.import_module(f'pcompile.providers.{cloud}.invoker')\n"
    )
    assert sorted(planted(source, "pcompile.compiler.build")) == ["pulumi", "pulumi_aws"]
    assert sorted(planted(source, "pcompile._functions")) == ["pcompile.providers.*", "pulumi", "pulumi_aws"]


def test_a_dispatch_table_string_is_caught() -> None:
    source = 'TABLE = {"local": "pcompile.providers.local.stores:SqliteDict"}\n'
    assert planted(source, "pcompile._dict") == ["pcompile.providers.local.stores"]


def test_relative_imports_resolve_to_their_package() -> None:
    source = "def f():\n    from ..compiler import build\n    from .. import providers\n"
    assert sorted(planted(source, "pcompile.runtime.worker")) == [
        "pcompile.compiler.build",
        "pcompile.providers",
    ]


def test_type_checking_imports_are_not_dependencies() -> None:
    source = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pulumi\nelse:\n    import pulumi_gcp\n"
    assert planted(source, "pcompile.compiler.emit") == ["pulumi_gcp"]


def test_allowed_names_are_allowed_and_only_them() -> None:
    source = "from pcompile.exception import NotFoundError\nfrom pcompile._volume import FileEntry, Volume\n"
    assert planted(source, "pcompile.providers.local.volumes") == ["pcompile._volume"]
    assert planted("from pcompile.providers.registry import provider\n", "pcompile._functions") == []


def test_a_non_literal_import_needs_a_reason() -> None:
    source = "import importlib\ndef f(name):\n    return importlib.import_module(name)\n"
    found = g.imports_of(source, "pcompile.runtime.web")
    assert [is_dynamic(i) for i in found if i.how == "call"] == [True]
    assert "pcompile.runtime.web" not in DYNAMIC


def test_the_old_worker_and_image_imports_are_caught() -> None:
    """The two crossings issue 14 named, as they were written before the fix."""
    worker = (
        "def _install_nested_backend(init):\n    from pcompile.providers.local.invoker import LocalInvoker\n"
    )
    assert planted(worker, "pcompile.runtime.worker") == ["pcompile.providers.local.invoker"]
    image = "def _runs_in(image):\n    from pcompile.compiler.build import _add_image, _Collector\n"
    found = g.imports_of(image, "pcompile._image", known=set(g.modules()))
    assert [c.split(" -> ")[1] for c in private_crossings(found)] == [
        "pcompile.compiler.build:_Collector",
        "pcompile.compiler.build:_add_image",
    ]
