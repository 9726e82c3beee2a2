"""The simulate engine's state: what exists in the emulator, one JSON file per project.

``.pcompile/simulate/<stack>/<project>.json`` plays the part of Pulumi's state file:
each resource by URN with its type, id, inputs (secret values as their sha256),
outputs and dependencies, plus the stack's exports. It is rewritten after every
resource the engine creates, updates or deletes, so after a failed step it still
describes exactly what exists. Sorted keys, no timestamps.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

FORMAT = "pcompile-simulate/1"


@dataclass(frozen=True)
class Entry:
    """One resource in the emulator, as the state records it.

    ``pass_through`` is set (the reason) when the emulator has no API for the type and
    the resource was recorded without being created.
    """

    type: str
    name: str
    id: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    dependencies: tuple[str, ...] = ()
    pass_through: str | None = None


@dataclass
class SimState:
    """The resources of one (stack, project) in the emulator at ``endpoint_url``."""

    path: Path
    endpoint_url: str
    resources: dict[str, Entry] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)

    @staticmethod
    def load(path: Path, endpoint_url: str) -> SimState:
        """Read the state file, or an empty state when there is none."""
        if not path.is_file():
            return SimState(path, endpoint_url)
        data = json.loads(path.read_text())
        resources = {
            urn: Entry(**{**raw, "dependencies": tuple(raw.get("dependencies", ()))})
            for urn, raw in data.get("resources", {}).items()
        }
        return SimState(
            path, str(data.get("endpoint_url") or endpoint_url), resources, data.get("outputs", {})
        )

    def put(self, urn: str, entry: Entry) -> None:
        """Record ``entry`` and write the file."""
        self.resources[urn] = entry
        self.save()

    def remove(self, urn: str) -> None:
        """Forget ``urn`` and write the file."""
        self.resources.pop(urn, None)
        self.save()

    def to_json(self) -> dict[str, Any]:
        """The file's content."""
        return {
            "format": FORMAT,
            "endpoint_url": self.endpoint_url,
            "resources": {urn: _entry_json(e) for urn, e in sorted(self.resources.items())},
            "outputs": self.outputs,
        }

    def save(self) -> None:
        """Write the file atomically (a crash never leaves half a state)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2, sort_keys=True, default=str) + "\n")
        os.replace(tmp, self.path)

    def deletion_order(self, urns: set[str] | None = None) -> list[str]:
        """``urns`` (default: all) ordered so that nothing is deleted before what depends on it."""
        left = set(self.resources) if urns is None else set(urns)
        order: list[str] = []
        while left:
            needed = {d for u in left for d in self.resources[u].dependencies if d in left and d != u}
            ready = sorted(left - needed) or sorted(left)  # a cycle cannot happen; never loop forever
            order += ready
            left -= set(ready)
        return order


def _entry_json(entry: Entry) -> dict[str, Any]:
    data = asdict(entry)
    data["dependencies"] = sorted(entry.dependencies)
    if data["pass_through"] is None:
        del data["pass_through"]
    return data


def state_path(root: Path, stack: str, project: str) -> Path:
    """Where the simulated state of ``project`` on ``stack`` lives."""
    return root / ".pcompile" / "simulate" / stack / f"{project}.json"
