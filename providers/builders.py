"""Image builders behind one small interface: docker (buildx when present), podman,
and :class:`FakeBuilder` for tests.

::

    ImageBuild ──write_context (mirror applied)──▶ builder.build ──▶ builder.push
                         ▲ skipped entirely when builder.exists(remote ref)

Every command goes through a :data:`Runner` (argv, stdin -> exit code, output), so
the real builders are tested by recording the commands they would run, and the
container tier runs them for real. Registry logins for ECR and Artifact Registry
shell out to ``aws`` / ``gcloud`` behind :func:`registry_login`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from pcompile.compiler.errors import UserError
from pcompile.compiler.images import (
    ImageBuild,
    RenderOptions,
    image_ref,
    render_image,
    secret_env_text,
    secret_id,
)
from pcompile.compiler.ir import AppSpec, ImageSpec
from pcompile.providers import registry as cloud_registry
from pcompile.providers.settings import StackSettings

# Images deployed to a cloud run on x86-64: Lambda functions are pinned to ``x86_64``
# (``architectures``), and every Batch / GCP machine in the catalogs is x86-64. Building for
# it explicitly keeps an arm64 laptop from producing images that fail with "exec format error".
CLOUD_PLATFORM = "linux/amd64"


class BuildError(Exception):
    """A builder command failed; the message ends with the tail of its output."""


@dataclass(frozen=True)
class Completed:
    """What a command did: exit code and combined output."""

    returncode: int
    output: str = ""


Runner = Callable[[Sequence[str], "bytes | None", "Mapping[str, str] | None"], Completed]


def subprocess_runner(
    argv: Sequence[str], stdin: bytes | None = None, env: Mapping[str, str] | None = None
) -> Completed:
    """Run ``argv`` for real, output captured (stdout and stderr together)."""
    try:
        proc = subprocess.run(
            list(argv),
            input=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env} if env else None,
            check=False,
        )
    except FileNotFoundError:
        return Completed(127, f"{argv[0]}: command not found")
    return Completed(proc.returncode, proc.stdout.decode(errors="replace"))


@dataclass
class RecordingRunner:
    """A :data:`Runner` that records argv and answers from a table (tests)."""

    answers: dict[str, Completed] = field(default_factory=dict)
    calls: list[list[str]] = field(default_factory=list)

    def __call__(
        self, argv: Sequence[str], stdin: bytes | None = None, env: Mapping[str, str] | None = None
    ) -> Completed:
        """Record the call; answer by the first table key the joined argv starts with."""
        self.calls.append(list(argv))
        joined = " ".join(argv)
        for prefix, answer in self.answers.items():
            if joined.startswith(prefix):
                return answer
        return Completed(0, "")


class Builder(Protocol):
    """Builds images from a context folder, pushes them, and checks what a registry has."""

    name: str

    def build(
        self,
        context_dir: Path,
        tag: str,
        dockerfile: Path,
        flags: Sequence[str] = (),
        *,
        build_args: Mapping[str, str] | None = None,
        secrets: Mapping[str, Path] | None = None,
        platform: str | None = None,
    ) -> None:
        """Build ``dockerfile`` with ``context_dir`` as the local image ``tag``.

        ``secrets`` maps secret ids to files mounted at ``/run/secrets/<id>`` by
        steps that use them; they never enter a layer. ``platform`` (e.g.
        ``linux/amd64``) pins the image's OS/architecture; None builds for this host.
        """
        ...

    def push(self, tag: str, registry: str) -> str:
        """Push local ``tag`` to ``registry``; returns the remote reference."""
        ...

    def exists(self, ref: str) -> bool:
        """Whether ``ref`` exists (in its registry, or locally for ``localhost/`` refs)."""
        ...


def remote_ref(tag: str, registry: str) -> str:
    """Where :meth:`Builder.push` puts local ``tag``: its last path component under ``registry``."""
    return f"{registry.rstrip('/')}/{tag.rsplit('/', 1)[-1]}"


def _insecure(ref: str) -> bool:
    """Loopback registries speak plain HTTP (the test registry, local mirrors)."""
    host = ref.split("/", 1)[0]
    return host.split(":")[0] in ("localhost", "127.0.0.1")


class CliBuilder:
    """Shared logic of the docker and podman command lines."""

    name = "cli"
    tool = "docker"

    def __init__(self, runner: Runner = subprocess_runner, default_flags: Sequence[str] = ()) -> None:
        self.runner = runner
        self.default_flags = tuple(default_flags)

    def _run(
        self, argv: Sequence[str], stdin: bytes | None = None, env: Mapping[str, str] | None = None
    ) -> str:
        result = self.runner(argv, stdin, env)
        if result.returncode != 0:
            tail = "\n".join(result.output.strip().splitlines()[-30:])
            raise BuildError(f"`{' '.join(argv[:3])} ...` failed with exit code {result.returncode}:\n{tail}")
        return result.output

    def build_argv(
        self,
        context_dir: Path,
        tag: str,
        dockerfile: Path,
        flags: Sequence[str],
        build_args: Mapping[str, str],
        secrets: Mapping[str, Path],
        platform: str | None = None,
    ) -> list[str]:
        """The build command line (without the tool prefix variations)."""
        argv = ["build", "-f", str(dockerfile), "-t", tag]
        if platform:
            argv += ["--platform", platform]
        for key in sorted(build_args):
            argv += ["--build-arg", f"{key}={build_args[key]}"]
        for sid in sorted(secrets):
            argv += ["--secret", f"id={sid},src={secrets[sid]}"]
        return [*argv, *self.default_flags, *flags, str(context_dir)]

    def build(
        self,
        context_dir: Path,
        tag: str,
        dockerfile: Path,
        flags: Sequence[str] = (),
        *,
        build_args: Mapping[str, str] | None = None,
        secrets: Mapping[str, Path] | None = None,
        platform: str | None = None,
    ) -> None:
        """Build the image (see :class:`Builder`)."""
        argv = self.build_argv(context_dir, tag, dockerfile, flags, build_args or {}, secrets or {}, platform)
        self.run_build(argv)

    def run_build(self, argv: list[str]) -> None:
        """Run ``<tool> build ...``; docker overrides this to use buildx."""
        self._run([self.tool, *argv])

    def push(self, tag: str, registry: str) -> str:
        """Tag and push (see :class:`Builder`)."""
        ref = remote_ref(tag, registry)
        self._run([self.tool, "tag", tag, ref])
        self._run([self.tool, "push", *self._tls_flags(ref), ref])
        return ref

    def _tls_flags(self, ref: str) -> list[str]:
        return []

    def exists(self, ref: str) -> bool:
        """Local refs: image inspect; remote: skopeo when present, else manifest inspect."""
        if ref.startswith("localhost/") or "/" not in ref:
            return self.runner([self.tool, "image", "inspect", ref], None, None).returncode == 0
        if shutil.which("skopeo"):
            tls = ["--tls-verify=false"] if _insecure(ref) else []
            return (
                self.runner(["skopeo", "inspect", "--raw", *tls, f"docker://{ref}"], None, None).returncode
                == 0
            )
        return (
            self.runner([self.tool, "manifest", "inspect", *self._tls_flags(ref), ref], None, None).returncode
            == 0
        )

    def login(self, registry: str, username: str, password: str) -> None:
        """Log the tool in to ``registry`` (password on stdin, never in argv)."""
        self._run(
            [self.tool, "login", "--username", username, "--password-stdin", registry], password.encode()
        )


class DockerBuilder(CliBuilder):
    """``docker buildx build --load`` when buildx is installed, else BuildKit ``docker build``."""

    name = "docker"
    tool = "docker"

    def __init__(self, runner: Runner = subprocess_runner, default_flags: Sequence[str] = ()) -> None:
        super().__init__(runner, default_flags)
        self._buildx: bool | None = None

    def has_buildx(self) -> bool:
        """Whether ``docker buildx`` answers (checked once)."""
        if self._buildx is None:
            self._buildx = self.runner(["docker", "buildx", "version"], None, None).returncode == 0
        return self._buildx

    def run_build(self, argv: list[str]) -> None:
        """Build with buildx (``--load`` into the local store) or BuildKit.

        buildx gets ``--provenance=false``: with attestations the pushed image is an OCI
        index, which Lambda refuses.
        """
        if self.has_buildx():
            self._run(["docker", "buildx", argv[0], "--load", "--provenance=false", *argv[1:]])
        else:
            self._run(["docker", *argv], env={"DOCKER_BUILDKIT": "1"})


class PodmanBuilder(CliBuilder):
    """``podman build`` (stacks add ``--isolation chroot`` where needed via ``builder_flags``)."""

    name = "podman"
    tool = "podman"

    def _tls_flags(self, ref: str) -> list[str]:
        return ["--tls-verify=false"] if _insecure(ref) else []

    def exists(self, ref: str) -> bool:
        """``podman image exists`` for local refs, else the registry check."""
        if ref.startswith("localhost/") or "/" not in ref:
            return self.runner(["podman", "image", "exists", ref], None, None).returncode == 0
        return super().exists(ref)


@dataclass
class FakeBuilder:
    """A :class:`Builder` that records calls and remembers what it built and pushed."""

    name: str = "fake"
    calls: list[tuple[str, str]] = field(default_factory=list)
    built: dict[str, str] = field(default_factory=dict)
    pushed: set[str] = field(default_factory=set)
    remote: set[str] = field(default_factory=set)
    platforms: dict[str, str | None] = field(default_factory=dict)

    def build(
        self,
        context_dir: Path,
        tag: str,
        dockerfile: Path,
        flags: Sequence[str] = (),
        *,
        build_args: Mapping[str, str] | None = None,
        secrets: Mapping[str, Path] | None = None,
        platform: str | None = None,
    ) -> None:
        """Record the build and keep the Dockerfile text."""
        self.calls.append(("build", tag))
        self.platforms[tag] = platform
        self.built[tag] = dockerfile.read_text()

    def push(self, tag: str, registry: str) -> str:
        """Record the push."""
        ref = remote_ref(tag, registry)
        self.calls.append(("push", ref))
        self.pushed.add(ref)
        return ref

    def exists(self, ref: str) -> bool:
        """Known when built here, pushed, or placed in ``remote`` by the test."""
        self.calls.append(("exists", ref))
        return ref in self.built or ref in self.pushed or ref in self.remote


BUILDERS: dict[str, Callable[[Sequence[str]], Builder]] = {
    "docker": lambda flags: DockerBuilder(default_flags=flags),
    "podman": lambda flags: PodmanBuilder(default_flags=flags),
    "fake": lambda flags: FakeBuilder(),
}


def make_builder(settings: StackSettings) -> Builder:
    """The builder a stack names (``builder: docker|podman``), with its extra flags."""
    factory = BUILDERS.get(settings.builder)
    if factory is None:
        raise UserError(f"unknown builder {settings.builder!r}", fix=f"use one of {sorted(BUILDERS)}")
    if settings.builder in ("docker", "podman") and shutil.which(settings.builder) is None:
        raise UserError(
            f"the stack's builder {settings.builder!r} is not installed",
            fix="install it, or set `builder:` in the stack file to one that is (docker or podman)",
        )
    return factory(settings.builder_flags)


def target_platform(settings: StackSettings) -> str | None:
    """The platform images of this stack are built for: ``extra.image_platform``, else
    :data:`CLOUD_PLATFORM` for a cloud stack; None (this host) for local stacks."""
    given = settings.extra.get("image_platform")
    if given:
        return str(given)
    return CLOUD_PLATFORM if cloud_registry.get(settings.cloud).remote else None


def mirror_of(settings: StackSettings) -> str | Mapping[str, str] | None:
    """The stack's base-image mirror: a prefix, or ``extra.base_image_map`` (exact refs)."""
    mapping = settings.extra.get("base_image_map")
    if isinstance(mapping, Mapping) and mapping:
        return {str(k): str(v) for k, v in mapping.items()}
    return settings.base_image_mirror


# ---------------------------------------------------------------- registry logins

ECR_HOST = re.compile(r"^(\d+)\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$")
GCP_HOST = re.compile(r"^([a-z0-9-]+-docker\.pkg\.dev|(?:[a-z]+\.)?gcr\.io)$")


def login_command(registry: str) -> tuple[list[str], str] | None:
    """The command printing a password for ``registry`` and the username it goes with,
    or None when the registry needs no login helper (already logged in, or local)."""
    host = registry.split("/", 1)[0]
    ecr = ECR_HOST.match(host)
    if ecr:
        return ["aws", "ecr", "get-login-password", "--region", ecr.group(2)], "AWS"
    if GCP_HOST.match(host):
        return ["gcloud", "auth", "print-access-token"], "oauth2accesstoken"
    return None


def registry_login(builder: Builder, registry: str, runner: Runner = subprocess_runner) -> bool:
    """Log ``builder`` in to an ECR or Artifact Registry host; False when none is needed."""
    command = login_command(registry)
    login = getattr(builder, "login", None)
    if command is None or login is None:
        return False
    argv, username = command
    result = runner(argv, None, None)
    if result.returncode != 0:
        raise BuildError(f"`{' '.join(argv)}` failed: {result.output.strip()[-500:]}")
    login(registry.split("/", 1)[0], username, result.output.strip())
    return True


# ---------------------------------------------------------------- build secrets


SecretResolver = Callable[[str], Mapping[str, str]]


def write_secret_files(names: Sequence[str], resolve: SecretResolver, folder: Path) -> dict[str, Path]:
    """Write each build secret as a 0600 file; returns ``{secret id: path}`` for the builder."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    paths: dict[str, Path] = {}
    for name in names:
        path = folder / secret_id(name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secret_env_text(resolve(name)))
        paths[secret_id(name)] = path
    return paths


def no_secrets(name: str) -> Mapping[str, str]:
    """The default resolver: build secrets must be supplied by the caller."""
    raise UserError(
        f"an image build step uses secret {name!r}, and no secret values were given to the build",
        fix="build through `pcompile deploy`, or export the secret's keys and use Secret.from_local_environ",
    )


# ---------------------------------------------------------------- build and push


@dataclass
class ImageBuilder:
    """Renders, builds and (optionally) pushes images; what deploy and the CLI use.

    ``registry`` None means local only: images are tagged
    ``localhost/pcompile/<app>:<content tag>`` and never pushed. ``platform`` pins the
    architecture of images for a cloud (:data:`CLOUD_PLATFORM`); None builds for this host.
    """

    builder: Builder
    root: Path
    options: RenderOptions = field(default_factory=RenderOptions)
    registry: str | None = None
    flags: Sequence[str] = ()
    mirror: str | Mapping[str, str] | None = None
    resolve_secret: SecretResolver = no_secrets
    log: Callable[[str], None] = lambda message: None
    platform: str | None = None

    @classmethod
    def for_stack(cls, settings: StackSettings, root: Path, builder: Builder | None = None) -> ImageBuilder:
        """An image builder configured from stack settings.

        ``extra.wheelhouse`` (a folder of wheels, relative to the project) makes the
        runtime install offline, for builders that cannot reach PyPI.
        """
        wheelhouse = settings.extra.get("wheelhouse")
        options = RenderOptions(
            cloud=settings.cloud,
            bake_code=settings.bake_code,
            wheelhouse=root / str(wheelhouse) if wheelhouse else None,
        )
        return cls(
            builder=builder or make_builder(settings),
            root=root,
            options=options,
            registry=settings.registry,
            mirror=mirror_of(settings),
            platform=target_platform(settings),
        )

    def render(self, image: ImageSpec, app: AppSpec | None = None) -> ImageBuild:
        """The rendered build of ``image``."""
        return render_image(image, root=self.root, options=self.options, app=app)

    def ref(self, app: AppSpec, image: ImageSpec) -> str:
        """The final reference of ``image``: remote when a registry is set."""
        return image_ref(self.registry, app.name, self.render(image, app).tag)

    def ensure(self, app: AppSpec, image: ImageSpec) -> str:
        """Build (and push) ``image`` unless its content tag already exists; returns its ref."""
        rendered = self.render(image, app)
        local = image_ref(None, app.name, rendered.tag)
        final = image_ref(self.registry, app.name, rendered.tag)
        if self.builder.exists(final):
            self.log(f"image {final} exists, skipped")
            return final
        # A local image of the same content may be for this host's architecture, not the cloud's.
        if not (self.registry and not self.platform and self.builder.exists(local)):
            self.build(rendered, local)
        if self.registry:
            registry_login(self.builder, self.registry)
            pushed = self.builder.push(local, f"{self.registry.rstrip('/')}")
            self.log(f"pushed {pushed}")
        return final

    def build(self, rendered: ImageBuild, tag: str) -> None:
        """Write the context in a temporary folder and build it as ``tag``."""
        with tempfile.TemporaryDirectory(prefix="pcompile-build-") as tmp:
            context = Path(tmp) / "context"
            dockerfile = rendered.write_context(context, self.mirror)
            secrets = write_secret_files(rendered.secrets, self.resolve_secret, Path(tmp) / "secrets")
            self.log(f"building {tag} with {self.builder.name}")
            self.builder.build(
                context,
                tag,
                dockerfile,
                self.flags,
                build_args=rendered.build_args,
                secrets=secrets,
                platform=self.platform,
            )


class BuilderPublisher:
    """``pcompile.providers.deploy.ImagePublisher`` on top of :class:`ImageBuilder`."""

    def __init__(self, images: ImageBuilder, app: AppSpec) -> None:
        self.images = images
        self.app = app

    def exists(self, ref: str) -> bool:
        """Whether ``ref`` is in the registry."""
        return self.images.builder.exists(ref)

    def publish(self, image: ImageSpec, ref: str, root: Path) -> None:
        """Build and push ``image``; ``ref`` must be the content-addressed one."""
        built = self.images.ensure(self.app, image)
        if built != ref:
            raise BuildError(
                f"image {image.id} has ref {built}, expected {ref}; plan refs with plan_image_refs"
            )


def plan_image_refs(app: AppSpec, images: ImageBuilder) -> dict[str, str]:
    """Content-addressed refs of every image of ``app``, by image id (no build)."""
    return {image.id: images.ref(app, image) for image in app.images}
