"""Object names become paths under ``.pcompile/local``: only Modal-valid names are accepted."""

from __future__ import annotations

import pytest
from localhelp import fn, target

from pcompile.exception import InvalidError
from pcompile.providers.local import secrets
from pcompile.providers.local.paths import safe_name
from pcompile.providers.local.volumes import LocalVolume


@pytest.mark.parametrize("name", ["../../x", "x\n", "a/b", ".hidden", "", "a" * 64, "x y"])
def test_invalid_names_are_refused_with_the_rule(name):
    with pytest.raises(ValueError, match="letters, digits"):
        safe_name(name, "volume")


def test_valid_names_pass():
    assert safe_name("weights-v1.2_a", "volume") == "weights-v1.2_a"
    assert safe_name("a" * 63, "volume") == "a" * 63


def test_secret_name_with_a_trailing_newline_is_refused(local_dir):
    with pytest.raises(ValueError, match=r"invalid secret name 'openai\\n'.*rename it, e.g. 'openai'"):
        secrets.create("openai\n", {"K": "v"})
    with pytest.raises(ValueError, match="invalid secret name"):
        secrets.load("openai\n")
    assert not list((local_dir / "secrets").iterdir())


def test_volume_name_cannot_leave_the_volumes_folder(invoker_factory, local_dir, tmp_path):
    with pytest.raises(ValueError, match="invalid volume name"):
        LocalVolume("../../x")
    spec = fn("write_file", volumes={str(tmp_path / "mnt"): "../../x"}, source={"file": "app.py", "line": 7})
    with pytest.raises(InvalidError, match=r"'write_file' \(app.py:7\): invalid volume name '../../x'"):
        invoker_factory(spec).call(target("write_file"), (str(tmp_path / "mnt" / "a"), "hi"), {})
    assert not (local_dir.parent / "x").exists()
    assert not (local_dir / "x").exists()
