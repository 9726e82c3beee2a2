"""No cloud is chosen by its name outside the registry and that cloud's own folder.

Every ``.py`` under the packages is parsed with :mod:`ast`; a comparison, membership
test or ``match`` case against a registered cloud's name (``settings.cloud == "aws"``,
``cloud in ("aws", "gcp")``, ``case "gcp":``) and a module path built from a value
(``f"pcompile.providers.{cloud}.invoker"``) are violations unless the file is
``providers/registry.py`` or belongs to that cloud.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from pcompile.providers import registry

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("sdk", "compiler", "cli", "runtime_image", "providers")
REGISTRY = Path("providers/registry.py")


def owner(path: Path) -> str | None:
    """The cloud a file belongs to: ``providers/<cloud>/...``, and the simulate engine's
    per-cloud modules ``providers/simulate/<cloud>_*.py`` (each emulates one cloud)."""
    parts = path.parts
    if len(parts) >= 3 and parts[0] == "providers" and parts[1] in registry.clouds():
        return parts[1]
    if len(parts) == 3 and parts[:2] == ("providers", "simulate"):
        prefix = parts[2].split("_", 1)[0]
        return prefix if prefix in registry.clouds() and "_" in parts[2] else None
    return None


def _cloud_names(node: ast.AST, clouds: frozenset[str]) -> set[str]:
    """Cloud names among the string constants of ``node`` (itself, or a tuple/list/set of them)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in clouds:
        return {node.value}
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return {name for item in node.elts for name in _cloud_names(item, clouds)}
    return set()


def _patterns(pattern: ast.pattern) -> Iterator[ast.AST]:
    if isinstance(pattern, ast.MatchValue):
        yield pattern.value
    elif isinstance(pattern, ast.MatchOr):
        for inner in pattern.patterns:
            yield from _patterns(inner)


def _dynamic_provider_module(node: ast.JoinedStr) -> bool:
    """``f"pcompile.providers.{cloud}..."``: a provider module chosen by a value."""
    first = node.values[0] if node.values else None
    return (
        isinstance(first, ast.Constant)
        and isinstance(first.value, str)
        and first.value.endswith("pcompile.providers.")
        and len(node.values) > 1
    )


def violations(source: str, clouds: frozenset[str]) -> list[tuple[int, str]]:
    """``(line, cloud name or 'dynamic import')`` for every cloud-name match in ``source``."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            for operand in (node.left, *node.comparators):
                found += [(node.lineno, name) for name in sorted(_cloud_names(operand, clouds))]
        elif isinstance(node, ast.match_case):
            for value in _patterns(node.pattern):
                found += [(node.pattern.lineno, name) for name in sorted(_cloud_names(value, clouds))]
        elif isinstance(node, ast.JoinedStr) and _dynamic_provider_module(node):
            found.append((node.lineno, "dynamic import"))
    return found


def _sources() -> Iterator[Path]:
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            yield path.relative_to(REPO)


def test_no_cloud_name_is_matched_outside_the_registry_and_its_own_folder() -> None:
    clouds = frozenset(registry.clouds())
    bad = []
    for rel in _sources():
        if rel == REGISTRY:
            continue
        mine = owner(rel)
        for line, name in violations((REPO / rel).read_text(), clouds):
            if name != mine:
                bad.append(f"{rel}:{line}: matches {name!r}")
    assert bad == [], "ask pcompile.providers.registry instead:\n" + "\n".join(bad)


def test_the_scan_covers_the_packages() -> None:
    seen = {rel.parts[0] for rel in _sources()}
    assert seen == set(PACKAGES)
    assert any(rel == REGISTRY for rel in _sources())


PLANTED = [
    ('if settings.cloud == "aws":\n    pass\n', "aws"),
    ('ok = "gcp" != cloud\n', "gcp"),
    ('if cloud in ("aws", "gcp"):\n    pass\n', "aws"),
    ('if cloud not in ["local"]:\n    pass\n', "local"),
    ('match cloud:\n    case "gcp" | "x":\n        pass\n', "gcp"),
    ('import importlib\nimportlib.import_module(f"pcompile.providers.{c}.invoker")\n', "dynamic import"),
]


@pytest.mark.parametrize(("source", "name"), PLANTED)
def test_a_planted_match_is_found(source: str, name: str) -> None:
    assert name in [n for _, n in violations(source, frozenset(registry.clouds()))]


def test_names_that_are_not_comparisons_pass() -> None:
    source = 'x = {"aws": 1}\nregistry.get("gcp")\ny = cloud == other\nz = "lambda" in targets\n'
    assert violations(source, frozenset(registry.clouds())) == []


def test_a_planted_match_fails_outside_its_cloud_and_passes_inside() -> None:
    assert owner(Path("providers/aws/placement.py")) == "aws"
    assert owner(Path("providers/simulate/gcp_engine.py")) == "gcp"
    assert owner(Path("providers/simulate/engine.py")) is None
    assert owner(Path("providers/deploy.py")) is None
    assert owner(Path("sdk/aws_thing.py")) is None
