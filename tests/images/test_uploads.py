"""No credentials in uploads (issue 12, finding 2): the default exclusions, .gitignore and
.pcompileignore, the warnings, and ``pcompile image files`` listing what deploy uploads."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from pcompile.compiler import bundle, load
from pcompile.compiler.bundle import CredentialFileWarning
from pcompile.compiler.images import RenderOptions, render_image

APP = """import modal

image = modal.Image.debian_slim().add_local_dir(".", "/root/project")
baked = modal.Image.debian_slim().add_local_dir(".", "/srv/baked", copy=True)
app = modal.App("uploads", image=image)


@app.function()
def f():
    pass


@app.function(image=baked)
def g():
    pass
"""
# What the attack in the issue found in an upload of add_local_dir(".").
SECRETS = (".env.production", "prod.env", ".aws/credentials", "id_rsa", ".git/config", "keys/server.pem")
_CLI = "import sys; from pcompile.cli.main import main; main(sys.argv[1:])"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # add_local_dir(".") is the current folder, as in Modal
    (tmp_path / "app.py").write_text(APP)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "table.csv").write_text("a,b\n")
    for name in SECRETS:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("SECRET=do-not-ship\n")
    return tmp_path


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    run = [sys.executable, "-c", _CLI, *args]
    return subprocess.run(run, capture_output=True, text=True, cwd=cwd, timeout=120, check=False)


def _bundle_and_image_files(project: Path) -> tuple[set[str], set[str]]:
    loaded = load(project / "app.py")
    app = loaded.program.app()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        built = bundle.build_bundle(app, loaded.root)
        (baked,) = [i for i in app.images if any(s.args.get("copy") for s in i.steps)]
        rendered = render_image(baked, root=loaded.root, options=RenderOptions(cloud="aws"), app=app)
    assert all(issubclass(w.category, CredentialFileWarning) for w in caught)
    return set(built.files), set(rendered.files)


def test_no_credential_or_vcs_file_is_in_the_bundle_or_the_image(project: Path) -> None:
    in_bundle, in_image = _bundle_and_image_files(project)
    assert "mounts/0/app.py" in in_bundle and "mounts/0/data/table.csv" in in_bundle
    assert any(name.endswith("/data/table.csv") for name in in_image), in_image
    for secret in SECRETS:
        assert not [n for n in in_bundle | in_image if n.endswith(secret)], secret


def test_each_left_out_credential_is_warned_about_once_per_upload(project: Path) -> None:
    app = load(project / "app.py").program.app()
    with pytest.warns(CredentialFileWarning) as caught:
        bundle.build_bundle(app, project)
    text = "\n".join(str(w.message) for w in caught)
    for shown in (".env.production", "prod.env", ".aws/", "id_rsa", "keys/server.pem"):
        assert f"not uploading {shown}:" in text, text
    assert ".git" not in text  # VCS data is left out silently


def test_gitignore_is_honoured_and_silences_the_warning(project: Path) -> None:
    (project / ".gitignore").write_text("# local only\n*.env\n.env.*\ndata/*.csv\n!data/keep.csv\n")
    (project / "data" / "keep.csv").write_text("k\n")
    app = load(project / "app.py").program.app()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        files = bundle.build_bundle(app, project).files
    assert "mounts/0/data/table.csv" not in files and "mounts/0/data/keep.csv" in files
    text = "\n".join(str(w.message) for w in caught)
    assert "prod.env" not in text and ".env.production" not in text and "id_rsa" in text


@pytest.mark.filterwarnings("ignore::pcompile.compiler.bundle.CredentialFileWarning")
def test_nested_gitignore_applies_below_its_folder(project: Path) -> None:
    (project / "data" / ".gitignore").write_text("*.csv\n")
    (project / "table.csv").write_text("top\n")
    files = bundle.build_bundle(load(project / "app.py").program.app(), project).files
    assert "mounts/0/table.csv" in files and "mounts/0/data/table.csv" not in files


@pytest.mark.filterwarnings("ignore::pcompile.compiler.bundle.CredentialFileWarning")
def test_pcompileignore_excludes_more_and_can_force_a_credential_in_with_a_warning(project: Path) -> None:
    (project / ".pcompileignore").write_text("data/\n!prod.env\n")
    app = load(project / "app.py").program.app()
    with pytest.warns(
        CredentialFileWarning, match=r"uploading .*prod\.env although it looks like a credential"
    ):
        files = bundle.build_bundle(app, project).files
    assert "mounts/0/prod.env" in files and "mounts/0/data/table.csv" not in files
    assert "mounts/0/.env.production" not in files


def test_add_local_file_of_a_credential_is_shipped_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "app.py").write_text(
        APP.replace('add_local_dir(".", "/root/project")', 'add_local_file("id_rsa", "/root/.ssh/id_rsa")')
    )
    (tmp_path / "id_rsa").write_text("KEY\n")
    app = load(tmp_path / "app.py").program.app()
    with pytest.warns(CredentialFileWarning, match="id_rsa although it looks like a credential"):
        files = bundle.build_bundle(app, tmp_path).files
    assert "mounts/0/id_rsa" in files


def test_image_files_json_lists_every_upload_with_its_destination(project: Path) -> None:
    proc = _cli("image", "files", "app.py", "--json", cwd=project)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    rows = {(r["local"], r["destination"], r["via"]) for r in data["files"]}
    (baked,) = {r["via"] for r in data["files"] if r["via"].startswith("image ")}
    assert rows == {
        ("app.py", "<sys.path>/app.py", "code bundle"),
        ("app.py", "/root/project/app.py", "code bundle"),
        ("data/table.csv", "/root/project/data/table.csv", "code bundle"),
        ("app.py", "/srv/baked/app.py", baked),
        ("data/table.csv", "/srv/baked/data/table.csv", baked),
    }
    assert data["files"] == sorted(data["files"], key=lambda r: (r["local"], r["destination"], r["via"]))
    assert {e["local"] for e in data["excluded"]} == {
        ".env.production",
        "prod.env",
        ".aws/",
        "id_rsa",
        "keys/server.pem",
    }
    again = _cli("image", "files", "app.py", "--json", cwd=project)
    assert again.stdout == proc.stdout


def test_image_files_table_says_what_was_left_out(project: Path) -> None:
    proc = _cli("image", "files", "app.py", cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert "data/table.csv  ->  /root/project/data/table.csv  (code bundle)" in proc.stdout
    assert "left out: id_rsa (looks like a credential: id_rsa*)" in proc.stdout


def test_the_cli_prints_credential_warnings_as_one_line(project: Path) -> None:
    code = (
        "import warnings, sys; from pcompile.cli import main as m; "
        "from pcompile.compiler.bundle import CredentialFileWarning; "
        "warnings.showwarning = m._show_warning; "
        "warnings.warn('not uploading id_rsa: it looks like a credential', CredentialFileWarning)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.stderr.strip() == "warning: not uploading id_rsa: it looks like a credential"
