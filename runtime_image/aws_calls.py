"""Where a call's inputs and results live in the staging bucket (shared by invoker and runtime).

A call of ``n`` inputs to function ``F`` is staged as ``k`` *chunk* objects
``fn/F/in/<id>/chunk-<j>.in`` (each a request envelope for a contiguous slice of
inputs) and run as ``k * split`` *tasks*: task ``i`` takes part ``i % split`` of chunk
``i // split`` and writes every result of its part to ``fn/F/out/<id>/task-<i>.out``
(the layout and who may write where: :mod:`.staging`). Few objects keep the
number of requests small: a chunk holds at least :data:`MIN_CHUNK_INPUTS` inputs
(a 1,000-input map is 15 puts and one ``SubmitJob``, a 10,000- or 100,000-input map
16 puts and one ``SubmitJob``); many tasks keep the parallelism high. GCP Batch
calls use the same plan (:mod:`.gcp_batch`).
"""

from __future__ import annotations

from dataclasses import dataclass

from . import staging

MAX_CHUNKS = 16
# Fewer inputs than this per object would cost more than one request per 50 inputs.
MIN_CHUNK_INPUTS = 64


def bounds(n: int, parts: int, part: int) -> tuple[int, int]:
    """The ``[start, end)`` of part ``part`` when ``n`` items are split in ``parts`` near-equal parts."""
    return part * n // parts, (part + 1) * n // parts


@dataclass(frozen=True)
class Layout:
    """How ``n`` inputs are split into ``chunks`` objects and ``chunks * split`` tasks."""

    function: str
    call: str
    n: int
    chunks: int
    split: int

    @classmethod
    def plan(cls, function: str, call: str, n: int, max_tasks: int) -> Layout:
        """At most :data:`MAX_CHUNKS` objects of at least :data:`MIN_CHUNK_INPUTS` inputs each
        (one object for a smaller call) and about ``max_tasks`` tasks (never more than ``n``)."""
        chunks = max(1, min(MAX_CHUNKS, n // MIN_CHUNK_INPUTS))
        split = max(1, min(max_tasks, n) // chunks)
        return cls(function, call, n, chunks, split)

    @property
    def tasks(self) -> int:
        """How many tasks (Batch array children) run the call."""
        return self.chunks * self.split

    def chunk_key(self, chunk: int) -> str:
        """The request envelope of chunk ``chunk``."""
        return staging.key(self.function, staging.INPUTS, self.call, f"chunk-{chunk}.in")

    def out_key(self, task: int) -> str:
        """The results of task ``task``."""
        return staging.key(self.function, staging.RESULTS, self.call, f"task-{task}.out")

    def chunk_range(self, chunk: int) -> tuple[int, int]:
        """Global input indices of chunk ``chunk``."""
        return bounds(self.n, self.chunks, chunk)

    def task_range(self, task: int) -> tuple[int, int]:
        """Global input indices task ``task`` runs."""
        start, end = self.chunk_range(task // self.split)
        low, high = bounds(end - start, self.split, task % self.split)
        return start + low, start + high

    def locate(self, index: int) -> tuple[int, int]:
        """``(task, offset in that task's results)`` of global input ``index``."""
        if not 0 <= index < self.n:
            raise IndexError(f"input index {index} out of range for a call of {self.n} inputs")
        for task in range(self.tasks):
            start, end = self.task_range(task)
            if start <= index < end:
                return task, index - start
        raise AssertionError("unreachable: tasks cover every index")

    @property
    def shape(self) -> str:
        """``n=..&k=..&m=..``: what a task needs, besides the call, to find its inputs."""
        return f"n={self.n}&k={self.chunks}&m={self.split}"

    @classmethod
    def from_shape(cls, function: str, call: str, shape: str) -> Layout:
        """The layout of call ``call`` of ``function`` from its :attr:`shape`."""
        fields = dict(part.split("=", 1) for part in shape.split("&"))
        return cls(function, call, int(fields["n"]), int(fields["k"]), int(fields["m"]))

    def to_id(self, bucket: str, job: str | None) -> str:
        """A durable ``FunctionCall`` id: where the results are and how they are split."""
        query = self.shape + (f"&job={job}" if job else "")
        return f"aws:{bucket}/{self.function}/{self.call}?{query}"

    @classmethod
    def from_id(cls, call_id: str) -> tuple[str, Layout, str | None]:
        """``(bucket, layout, job id)`` of an id made by :meth:`to_id`."""
        path, _, query = call_id.removeprefix("aws:").partition("?")
        if not call_id.startswith("aws:") or not query or path.count("/") != 2:
            raise ValueError(f"not an AWS FunctionCall id: {call_id!r}")
        bucket, function, call = path.split("/")
        fields = dict(part.split("=", 1) for part in query.split("&"))
        layout = cls.from_shape(function, call, query)
        staging.key(function, staging.INPUTS, call, "x")  # refuses names a key cannot hold
        return bucket, layout, fields.get("job")
