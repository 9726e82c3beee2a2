"""``modal.gpu``: the GPU objects of old Modal releases, mapped to today's GPU strings.

``gpu=modal.gpu.A100(size="80GB", count=2)`` means ``gpu="A100-80GB:2"``. Modal
removed these objects; pcompile accepts them with a ``DeprecationWarning`` that names
the string to write instead, and the compiler only ever sees the string.
"""

from __future__ import annotations

import typing
import warnings

from pcompile.exception import InvalidError


class _GPUConfig:
    """One GPU type and count; ``str(obj)`` is the GPU string."""

    kind = ""

    def __init__(self, *, count: int = 1, _stacklevel: int = 1) -> None:
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise InvalidError(f"modal.gpu.{type(self).__name__}(count={count!r}): count must be 1 or more")
        self.count = count
        warnings.warn(
            f"modal.gpu.{type(self).__name__}(...) is deprecated; use gpu={str(self)!r}",
            DeprecationWarning,
            stacklevel=_stacklevel + 1,
        )

    def __str__(self) -> str:
        return self.kind if self.count == 1 else f"{self.kind}:{self.count}"

    def __repr__(self) -> str:
        return f"modal.gpu.{type(self).__name__}({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _GPUConfig) and str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))


class T4(_GPUConfig):
    """NVIDIA T4 (``"T4"``)."""

    kind = "T4"


class L4(_GPUConfig):
    """NVIDIA L4 (``"L4"``)."""

    kind = "L4"


class A10(_GPUConfig):
    """NVIDIA A10 (``"A10"``)."""

    kind = "A10"


class A10G(_GPUConfig):
    """NVIDIA A10G (``"A10G"``)."""

    kind = "A10G"


class L40S(_GPUConfig):
    """NVIDIA L40S (``"L40S"``)."""

    kind = "L40S"


class H100(_GPUConfig):
    """NVIDIA H100 (``"H100"``)."""

    kind = "H100"


class H200(_GPUConfig):
    """NVIDIA H200 (``"H200"``)."""

    kind = "H200"


class B200(_GPUConfig):
    """NVIDIA B200 (``"B200"``)."""

    kind = "B200"


class Any(_GPUConfig):
    """Any available GPU (``"any"``)."""

    kind = "any"


_A100_SIZES = {None: "A100", "40GB": "A100-40GB", "80GB": "A100-80GB"}
_A100_MEMORY = {0: None, 40: "40GB", 80: "80GB"}  # the oldest spelling: A100(memory=80)


class A100(_GPUConfig):
    """NVIDIA A100; ``size="40GB"`` or ``"80GB"`` (``"A100-80GB"``), default either."""

    def __init__(self, *, count: int = 1, size: str | None = None, memory: int = 0) -> None:
        if memory not in _A100_MEMORY:
            raise InvalidError(f"modal.gpu.A100(memory={memory!r}): use size='40GB' or size='80GB'")
        size = size or _A100_MEMORY[memory]
        if size not in _A100_SIZES:
            raise InvalidError(f"modal.gpu.A100(size={size!r}): size must be '40GB' or '80GB'")
        self.kind = _A100_SIZES[size]
        super().__init__(count=count, _stacklevel=2)


def gpu_string(value: typing.Any) -> typing.Any:
    """``value`` with GPU objects (alone or in a fallback list) replaced by their strings."""
    if isinstance(value, _GPUConfig):
        return str(value)
    if isinstance(value, list):
        return [gpu_string(v) for v in value]
    return value


__all__ = ["A10", "A100", "A10G", "Any", "B200", "H100", "H200", "L4", "L40S", "T4", "gpu_string"]
