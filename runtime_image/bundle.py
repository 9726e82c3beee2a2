"""Fetch, verify and unpack the app's code bundle at container start.

The image carries dependencies only; the user's code arrives as the bundle written
by ``pcompile.compiler.bundle`` (a plain tar: ``pcompile-bundle.json``, ``code/``,
``mounts/<n>/``). When ``PCOMPILE_CODE_BUNDLE`` is set (a ``file://``, ``s3://``,
``gs://`` or ``https://`` URL, optionally ending in ``#sha256=<hex>``; else the hash
comes from ``PCOMPILE_CODE_BUNDLE_SHA256``, or from the content-addressed object name
``bundles/<app>/<sha256>.tar`` itself), :func:`install_from_env`:

1. downloads it (through :mod:`.storage` for object stores) and refuses it unless
   its sha256 matches: a bundle is never run on trust;
2. unpacks it into ``PCOMPILE_CODE_DIR`` (default ``/tmp/pcompile-code/<sha256>``:
   Lambda's file system is read-only except ``/tmp``), once per sha256 per machine;
3. puts ``code/`` first on ``sys.path`` and links each ``add_local_*`` mount to its
   remote path where the file system allows (a symlink), else reports it.

Only the standard library is imported here, plus a storage backend for the URL.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import tarfile
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

BUNDLE_ENV = "PCOMPILE_CODE_BUNDLE"
SHA_ENV = "PCOMPILE_CODE_BUNDLE_SHA256"
DIR_ENV = "PCOMPILE_CODE_DIR"
INDEX_NAME = "pcompile-bundle.json"
DONE_MARKER = ".pcompile-bundle-ok"


class BundleError(Exception):
    """The bundle could not be fetched, did not match its hash, or is malformed."""


@dataclass(frozen=True)
class InstalledBundle:
    """Where a bundle was unpacked: its code folder and how each mount was placed."""

    root: Path
    code_dir: Path
    mounts: dict[str, str] = field(default_factory=dict)


def read_uri(uri: str) -> bytes:
    """The bytes at ``uri``: ``file://``/plain paths, ``http(s)://``, or a storage URL."""
    if uri.startswith(("http://", "https://")):
        with urllib.request.urlopen(uri, timeout=60) as response:  # noqa: S310 - scheme checked above
            return bytes(response.read())
    if uri.startswith("file://") or "://" not in uri:
        return Path(uri.removeprefix("file://")).read_bytes()
    from .storage import open_storage

    parent, _, name = uri.rpartition("/")
    try:
        return open_storage(parent).get(name)
    except KeyError:
        raise BundleError(f"code bundle {uri} does not exist") from None


def verify(data: bytes, sha256: str) -> None:
    """Raise :class:`BundleError` unless ``data`` hashes to ``sha256``."""
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256.lower():
        raise BundleError(f"code bundle sha256 mismatch: expected {sha256}, got {actual}; refusing to run it")


def fetch_and_verify(uri: str, sha256: str, dest: str | os.PathLike[str]) -> Path:
    """Download the bundle at ``uri``, check its sha256 and unpack it into ``dest``.

    Returns ``dest``. A folder already unpacked from the same sha256 is reused.
    """
    target = Path(dest)
    marker = target / DONE_MARKER
    if marker.is_file() and marker.read_text().strip() == sha256.lower():
        return target
    data = read_uri(uri)
    verify(data, sha256)
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for member in tar.getmembers():
            _extract(tar, member, target)
    marker.write_text(sha256.lower() + "\n")
    return target


def _extract(tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path) -> None:
    """Write one regular file; anything else, or a path leaving ``target``, is refused.

    Done by hand rather than with ``extractall(filter="data")``: images such as
    Debian's Python 3.11.2 predate that argument.
    """
    path = (target / member.name).resolve()
    if not member.isfile() or member.name.startswith("/") or not path.is_relative_to(target.resolve()):
        raise BundleError(f"code bundle entry {member.name!r} is not a plain file inside the bundle")
    source = tar.extractfile(member)
    if source is None:
        raise BundleError(f"code bundle entry {member.name!r} has no data")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(source.read())
    path.chmod(0o755 if member.mode & 0o111 else 0o644)


def link_mounts(root: Path, mounts: dict[str, str]) -> dict[str, str]:
    """Place each ``add_local_*`` mount at its remote path; ``{remote: how}``."""
    placed: dict[str, str] = {}
    for remote, rel in sorted(mounts.items()):
        source = root / rel
        placed[remote] = _link(source, Path(remote))
    return placed


def _link(source: Path, remote: Path) -> str:
    if remote.is_symlink() and remote.resolve() == source.resolve():
        return "symlink"
    if remote.exists():
        return "exists"
    try:
        remote.parent.mkdir(parents=True, exist_ok=True)
        remote.symlink_to(source, target_is_directory=source.is_dir())
    except OSError as err:
        return f"unavailable ({err.strerror}); files are under {source}"
    return "symlink"


def install(uri: str, sha256: str, dest: str | os.PathLike[str] | None = None) -> InstalledBundle:
    """Fetch, verify and unpack the bundle, put its code on ``sys.path``, link mounts."""
    root = fetch_and_verify(uri, sha256, dest or Path("/tmp/pcompile-code") / sha256.lower())
    index_path = root / INDEX_NAME
    if not index_path.is_file():
        raise BundleError(f"{uri} is not a pcompile code bundle (no {INDEX_NAME})")
    index = json.loads(index_path.read_text())
    code_dir = root / str(index.get("code", "code"))
    if str(code_dir) not in sys.path:
        sys.path.insert(0, str(code_dir))
    return InstalledBundle(root, code_dir, link_mounts(root, dict(index.get("mounts") or {})))


def _sha_from_name(uri: str) -> str:
    """The sha256 in a content-addressed key (``.../<64 hex>.tar``), or ``""``."""
    name = uri.rsplit("/", 1)[-1].removesuffix(".tar")
    return name.lower() if len(name) == 64 and all(c in "0123456789abcdefABCDEF" for c in name) else ""


def install_from_env(environ: dict[str, str] | None = None) -> InstalledBundle | None:
    """:func:`install` driven by ``PCOMPILE_CODE_BUNDLE``; None when it is not set."""
    env = os.environ if environ is None else environ
    uri = env.get(BUNDLE_ENV)
    if not uri:
        return None
    uri, _, fragment = uri.partition("#sha256=")
    sha256 = fragment or env.get(SHA_ENV, "") or _sha_from_name(uri)
    if not sha256:
        raise BundleError(
            f"{BUNDLE_ENV} is set but its sha256 is not (append #sha256=<hex>, set {SHA_ENV}, "
            "or use the content-addressed key bundles/<app>/<sha256>.tar)"
        )
    return install(uri, sha256, env.get(DIR_ENV) or None)
