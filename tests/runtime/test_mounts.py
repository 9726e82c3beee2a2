"""Volume mount paths: symlink when possible, dangling links replaced, shim otherwise."""

from __future__ import annotations

import os
import subprocess
import sys

from pcompile.runtime import mounts


def test_symlink_created_reused_and_dangling_replaced(tmp_path):
    mount = str(tmp_path / "weights")
    vol_a, vol_b = tmp_path / "a", tmp_path / "b"
    assert mounts.apply({mount: str(vol_a)}) == {mount: "symlink"}
    assert os.path.realpath(mount) == str(vol_a.resolve())
    assert mounts.apply({mount: str(vol_a)}) == {mount: "symlink"}
    vol_a.rmdir()  # the old project is gone: its link dangles
    assert mounts.apply({mount: str(vol_b)}) == {mount: "symlink"}
    assert os.path.realpath(mount) == str(vol_b.resolve())


def test_live_link_of_another_volume_is_left_alone(tmp_path):
    code = (
        "from pcompile.runtime import mounts\n"
        f"print(mounts.apply({{{str(tmp_path / 'm')!r}: {str(tmp_path / 'x')!r}}}))\n"
        f"print(mounts.apply({{{str(tmp_path / 'm')!r}: {str(tmp_path / 'y')!r}}}))\n"
        f"open({str(tmp_path / 'm' / 'f.txt')!r}, 'w').write('y')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines()[1].endswith("'shim'}")
    assert (tmp_path / "y" / "f.txt").read_text() == "y" and not (tmp_path / "x" / "f.txt").exists()
