"""Helpers for deploy tests: a hand-built IR program and fake deploy tools sharing one journal."""

from __future__ import annotations

from pathlib import Path

from pcompile.compiler.errors import UserError
from pcompile.compiler.ir import AppSpec, FunctionSpec, ImageSpec, ImageStep, Program, Source, WebSpec
from pcompile.providers.deploy import (
    DeployTools,
    DirectoryManifestStore,
    EmitRequest,
    FakeEngine,
    FakePublisher,
    MemoryArtifactStore,
    plan_image_refs,
    simple_bundle,
)

REGISTRY = "123456789012.dkr.ecr.us-east-1.amazonaws.com/pcompile"
OUTPUTS = {
    "functions": {
        "hello": {"target": "lambda", "addresses": {"function_arn": "arn:aws:lambda:x:1:function:hello"}},
        "web": {
            "target": "lambda",
            "addresses": {"function_arn": "arn:aws:lambda:x:1:function:web"},
            "web_url": "https://web.lambda-url.us-east-1.on.aws/",
        },
    },
    "staging": {"bucket": "pcompile-staging"},
}


def make_program() -> Program:
    """Two functions on two images; ``web`` is a FastAPI endpoint."""
    src = Source("app.py", 5)
    fns = (
        FunctionSpec(name="hello", module="app", qualname="hello", source=src, image="img-a"),
        FunctionSpec(
            name="web", module="app", qualname="web", source=src, image="img-b", web=WebSpec("fastapi")
        ),
    )
    images = (
        ImageSpec(id="img-a", base=ImageStep("debian_slim", {"python_version": "3.11"})),
        ImageSpec(
            id="img-b", base=ImageStep("debian_slim"), steps=(ImageStep("pip_install", {"packages": ["x"]}),)
        ),
    )
    return Program(
        apps=(AppSpec(name="demo", functions=fns, images=images),),
        python_version="3.11",
        cloudpickle_version="3.1.1",
    )


class Kit:
    """Fakes sharing one journal so tests can assert the order of side effects."""

    def __init__(self, root: Path, stack: str) -> None:
        self.journal: list[str] = []
        self.engine = FakeEngine(OUTPUTS, journal=self.journal)
        self.publisher = FakePublisher(self.journal)
        self.artifacts = MemoryArtifactStore(self.journal)
        self.manifests = DirectoryManifestStore(root, stack)
        self.fail_compile = False
        self.emitted: list[EmitRequest] = []

    def compile(self, path: Path) -> Program:
        self.journal.append("compile")
        if self.fail_compile:
            raise UserError("app.py:3: gpu='H1000' is not a GPU type", fix="use gpu='H100'")
        return make_program()

    def emit(self, request: EmitRequest) -> Path:
        self.journal.append("emit")
        self.emitted.append(request)
        request.out_dir.mkdir(parents=True, exist_ok=True)
        (request.out_dir / "Pulumi.yaml").write_text("name: x\nruntime: python\n")
        return request.out_dir

    def tools(self) -> DeployTools:
        return DeployTools(
            engine=self.engine,
            publisher=lambda app: self.publisher,
            artifacts=self.artifacts,
            manifests=[self.manifests],
            compile=self.compile,
            emit=self.emit,
            bundle=simple_bundle,
            image_refs=lambda app: plan_image_refs(app, REGISTRY),
        )
