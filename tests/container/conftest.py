"""The container tier: real images built with podman from the generated Dockerfile.

No registry is reachable here, so the base is made locally once and cached:
``mmdebstrap`` writes a bookworm rootfs (its python3 is 3.11) with a venv at
``/usr/local`` (so ``python`` and ``pip`` sit where ``python:3.11-slim`` has them),
``podman import`` stores it as ``localhost/pcompile-mirror/python:3.11-slim``, and
the builds use ``localhost/pcompile-mirror`` as the stack's base-image mirror. pip
inside the build cannot verify PyPI's certificate here, so the runtime's wheels are
downloaded on the host into ``.pcompile/cache/wheels`` and installed offline.

Every fixture skips with a one-line reason when a piece is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from container_kit import BASE, BUILD_FLAGS, MIRROR
from servers import free_port, moto_server, serving

from pcompile.compiler import images
from pcompile.compiler.images import RenderOptions
from pcompile.providers.builders import ImageBuilder, PodmanBuilder

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".pcompile" / "cache"
# One image for every mode: GCP's extras (the http server) plus AWS's (boto3 for batch).
CLOUD = "gcp"
EXTRA = images.runtime_requirements("aws")


def _run(argv: list[str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="session")
def podman() -> str:
    """podman that can build and run here, or a skip naming what is missing."""
    if sys.platform != "linux" or os.geteuid() != 0:
        pytest.skip("container tier: needs Linux as root (podman with chroot isolation)")
    for tool in ("podman", "runc"):
        if shutil.which(tool) is None:
            pytest.skip(f"container tier: {tool} is not installed (apt-get install podman runc mmdebstrap)")
    info = _run(["podman", "info", "--format", "{{.Store.GraphDriverName}}"], timeout=60)
    if info.returncode != 0:
        pytest.skip(f"container tier: podman cannot run here: {info.stderr.strip().splitlines()[-1:]}")
    return "podman"


@pytest.fixture(scope="session")
def base_image(podman: str) -> str:
    """The mirror's ``python:3.11-slim``, imported once from a cached mmdebstrap rootfs."""
    if _run(["podman", "image", "exists", BASE]).returncode == 0:
        return BASE
    rootfs = CACHE / "rootfs-bookworm-python3.11.tar"
    if not rootfs.is_file():
        if shutil.which("mmdebstrap") is None:
            pytest.skip("container tier: mmdebstrap is not installed (apt-get install mmdebstrap)")
        CACHE.mkdir(parents=True, exist_ok=True)
        partial = rootfs.with_suffix(".partial.tar")
        made = _run([
            "mmdebstrap", "--variant=minbase", "--include=python3,python3-venv,ca-certificates",
            "--customize-hook=chroot \"$1\" python3 -m venv /usr/local", "bookworm", str(partial),
        ])  # fmt: skip
        if made.returncode != 0:
            pytest.skip(f"container tier: mmdebstrap failed: {made.stderr.strip().splitlines()[-1:]}")
        partial.rename(rootfs)
    env = "ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin"
    imported = _run(["podman", "import", "--change", env, str(rootfs), BASE])
    assert imported.returncode == 0, imported.stderr
    return BASE


@pytest.fixture(scope="session")
def wheelhouse() -> Path:
    """Wheels of the runtime's requirements, downloaded on the host once (offline after)."""
    folder = CACHE / "wheels"
    folder.mkdir(parents=True, exist_ok=True)
    reqs = sorted({*images.runtime_requirements(CLOUD), *EXTRA})
    pip = [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:", "-d", str(folder)]
    if _run([*pip, "--no-index", "--find-links", str(folder), *reqs]).returncode == 0:
        return folder
    fetched = _run([*pip, *reqs])
    if fetched.returncode != 0:
        pytest.skip(
            f"container tier: cannot download runtime wheels: {fetched.stderr.strip().splitlines()[-1:]}"
        )
    return folder


@pytest.fixture(scope="session")
def image_builder(base_image: str, wheelhouse: Path) -> Iterator[ImageBuilder]:
    """An :class:`ImageBuilder` on real podman, behind the local mirror, installing offline."""
    yield ImageBuilder(
        PodmanBuilder(default_flags=BUILD_FLAGS),
        ROOT / "tests" / "fixtures",
        options=RenderOptions(cloud=CLOUD, wheelhouse=wheelhouse, extra_requirements=EXTRA),
        mirror=MIRROR,
        log=lambda message: print(message, file=sys.stderr),
    )


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[str]:
    """moto's server on a free loopback port (the containers reach it over the host network)."""
    with moto_server() as url:
        yield url


@pytest.fixture(scope="session")
def registry(podman: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Debian's ``docker-registry`` on a free loopback port (plain HTTP), stopped by PID."""
    if shutil.which("docker-registry") is None:
        pytest.skip("container tier: docker-registry is not installed (apt-get install docker-registry)")
    folder = tmp_path_factory.mktemp("registry")
    port = free_port()
    config = folder / "config.yml"
    config.write_text(
        f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {folder / 'data'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    with serving(["docker-registry", "serve", str(config)], f"http://127.0.0.1:{port}/v2/"):
        yield f"127.0.0.1:{port}"
