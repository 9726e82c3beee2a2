"""Where the CI that ``pcompile init`` scaffolds installs pcompile from.

pcompile is not published on public PyPI, so a bare ``pcompile`` line in a
requirements file would fail today and, once a stranger registers the name, run
their code in the deploy job with its cloud role. The scaffold therefore pins the
exact version that wrote it and names where that version comes from:

* ``wheel`` (default): a wheel committed with the app (``wheels/pcompile-X.Y.Z-...whl``),
  or an ``https://`` URL carrying its ``#sha256=`` (pip checks it);
* ``git``: ``git+https://...@<40-hex commit>``;
* ``index``: ``pcompile==X.Y.Z`` from the team's own index, given as ``--index-url``
  (never ``--extra-index-url``: pip would take the name from whichever index has it).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from urllib.parse import unquote, urlparse

from pcompile import __version__
from pcompile.compiler.errors import UserError

SOURCES = ("wheel", "git", "index")
WHEELS_DIR = "wheels"
PUBLIC_INDEX_HOSTS = ("pypi.org", "pypi.python.org", "test.pypi.org", "files.pythonhosted.org")
_WHEEL_NAME = re.compile(r"pcompile-(?P<version>[^-]+)-[^/]*\.whl")
COMMITTED = f"the wheel committed under {WHEELS_DIR}/"
_SHA256 = re.compile(r"#sha256=[0-9a-f]{64}")
_COMMIT = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class PcompileSource:
    """A pinned way to install this pcompile: requirement lines, and a wheel to copy."""

    kind: str
    lines: tuple[str, ...]
    origin: str  # for the requirements file's comment: "the wheel committed under wheels/"
    wheel_file: Path | None = None  # a local wheel the scaffold copies under wheels/
    wheel_missing: str = ""  # the wheels/ path the user still has to fill


def default_wheel_name() -> str:
    """The file name ``python -m build`` gives this version's wheel."""
    return f"pcompile-{__version__}-py3-none-any.whl"


def choose(kind: str, wheel: str, git: str, index_url: str) -> PcompileSource:
    """The source the flags ask for; without its flag, the way this pcompile was installed."""
    values = {"wheel": wheel, "git": git, "index": index_url}
    kind = _check_flags(kind, values)
    if not values.get(kind):
        installed = installed_source()
        if installed is not None and kind in ("", installed.kind):
            return installed
    if kind == "git":
        return git_source(git)
    if kind == "index":
        return index_source(index_url)
    return wheel_source(wheel)


def _check_flags(kind: str, values: dict[str, str]) -> str:
    """The source named by ``--pcompile-source`` or by the one source flag given ("" if none)."""
    given = sorted(name for name, value in values.items() if value)
    if kind and kind not in SOURCES:
        raise UserError(
            f"--pcompile-source {kind!r} is not one of {', '.join(SOURCES)}",
            fix="pass --pcompile-source wheel, git or index",
        )
    if len(given) > 1 or (kind and set(given) - {kind}):
        raise UserError(
            f"--pcompile-source {kind or '(not set)'} conflicts with the flags given for {', '.join(given)}",
            fix="name one source: --pcompile-wheel, --pcompile-git or --pcompile-index-url",
        )
    return kind or (given[0] if given else "")


def wheel_source(wheel: str) -> PcompileSource:
    """A committed wheel (copied from ``wheel`` when it is a local file), or an https URL."""
    if wheel.startswith(("https://", "http://")):
        return _wheel_url(wheel)
    if not wheel:
        name = default_wheel_name()
        return PcompileSource(
            "wheel", (f"./{WHEELS_DIR}/{name}",), COMMITTED, wheel_missing=f"{WHEELS_DIR}/{name}"
        )
    path = Path(wheel).expanduser()
    if not path.is_file():
        raise UserError(
            f"--pcompile-wheel {wheel}: no such file",
            fix=f"build it with `python -m build --wheel` in a pcompile {__version__} checkout",
        )
    _check_wheel_version(path.name, wheel)
    return PcompileSource("wheel", (f"./{WHEELS_DIR}/{path.name}",), COMMITTED, wheel_file=path)


def _wheel_url(url: str) -> PcompileSource:
    name = unquote(urlparse(url).path.rsplit("/", 1)[-1])
    if not url.startswith("https://") or not _SHA256.search(url):
        raise UserError(
            f"--pcompile-wheel {url}: a wheel URL must be https:// and end in #sha256=<hex>, "
            "so pip checks the bytes it installs",
            fix="append #sha256=$(sha256sum WHEEL | cut -d' ' -f1) to the URL",
        )
    _check_wheel_version(name, url)
    return PcompileSource("wheel", (f"pcompile @ {url}",), "a wheel URL; pip checks its sha256")


def _check_wheel_version(name: str, given: str) -> None:
    match = _WHEEL_NAME.fullmatch(name)
    if match is None:
        raise UserError(
            f"--pcompile-wheel {given}: {name!r} is not a pcompile wheel (pcompile-X.Y.Z-...whl)",
            fix=f"pass the wheel `python -m build --wheel` writes: dist/{default_wheel_name()}",
        )
    if match["version"] != __version__:
        raise UserError(
            f"--pcompile-wheel {given} is pcompile {match['version']}, but this is pcompile {__version__}; "
            "the scaffold pins the version that writes it",
            fix=f"pass the {__version__} wheel, or run `pcompile init` from pcompile {match['version']}",
        )


def git_source(url: str) -> PcompileSource:
    """``pcompile @ git+https://...@<commit>``: a full commit sha, never a branch or tag."""
    if not url:
        raise UserError(
            "--pcompile-source git needs the commit to install",
            fix="pass --pcompile-git git+https://HOST/OWNER/pcompile@<40-hex commit sha>",
        )
    base, _, commit = url.rpartition("@")
    if not base.startswith(("git+https://", "git+ssh://")) or not _COMMIT.fullmatch(commit):
        raise UserError(
            f"--pcompile-git {url!r} does not name a commit",
            fix="pass git+https://HOST/OWNER/pcompile@<40-hex commit sha> (a branch or tag can move)",
        )
    return PcompileSource("git", (f"pcompile @ {url}",), "one git commit")


def index_source(url: str) -> PcompileSource:
    """``pcompile==X.Y.Z`` from the team's own index, which then serves every package."""
    parsed = urlparse(url)
    if not url:
        raise UserError(
            "--pcompile-source index needs the index that serves pcompile",
            fix="pass --pcompile-index-url https://YOUR-INDEX/simple/",
        )
    if parsed.scheme != "https" or not parsed.hostname:
        raise UserError(
            f"--pcompile-index-url {url!r} is not an https:// URL", fix="pass https://YOUR-INDEX/simple/"
        )
    if parsed.hostname in PUBLIC_INDEX_HOSTS:
        raise UserError(
            f"--pcompile-index-url {url}: pcompile is not published on public PyPI, so anyone could "
            "register the name there and run code in your deploy job",
            fix="use your own index, or --pcompile-source wheel or git",
        )
    return PcompileSource(
        "index", (f"--index-url {url}", f"pcompile=={__version__}"), "your package index (--index-url)"
    )


def installed_source() -> PcompileSource | None:
    """The source this pcompile came from (PEP 610 ``direct_url.json``), when CI can use it too.

    A git commit or an https wheel is pinned as it is; a local wheel file is copied into
    the project. A checkout (editable install) or an index leaves no such trace: None.
    """
    try:
        text = metadata.distribution("pcompile").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    info = json.loads(text) if text else {}
    url = str(info.get("url", ""))
    return _installed_git(url, info.get("vcs_info") or {}) or _installed_wheel(
        url, info.get("archive_info") or {}
    )


def _installed_git(url: str, vcs: dict[str, str]) -> PcompileSource | None:
    commit = str(vcs.get("commit_id", ""))
    if vcs.get("vcs") != "git" or not url.startswith(("https://", "ssh://")) or not _COMMIT.fullmatch(commit):
        return None
    return git_source(f"git+{url}@{commit}")


def _installed_wheel(url: str, archive: dict[str, dict[str, str]]) -> PcompileSource | None:
    sha256 = str((archive.get("hashes") or {}).get("sha256", ""))
    if url.startswith("https://") and url.endswith(".whl") and re.fullmatch(r"[0-9a-f]{64}", sha256):
        return _wheel_url(f"{url}#sha256={sha256}")
    path = Path(unquote(urlparse(url).path))
    if url.startswith("file://") and path.is_file() and _WHEEL_NAME.fullmatch(path.name):
        return wheel_source(str(path))
    return None
