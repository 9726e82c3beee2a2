"""Issue 19 item 12: a volume that does not fit the space it is copied into at start (Lambda's
``/tmp``, Cloud Run's in-memory file system) stops with the reason and the fix, not a bare OSError."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pcompile.runtime.container import VolumeSync, VolumeTooBig
from pcompile.runtime.storage import DirectoryStorage


class ListedDirectory(DirectoryStorage):
    """A directory bucket that lists its keys, as the S3 and GCS storages do."""

    def list(self, prefix: str = "") -> list[str]:
        return sorted(p.relative_to(self.root).as_posix() for p in Path(self.root).rglob("*") if p.is_file())


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (a device that is always full)")
def test_a_volume_that_does_not_fit_stops_with_the_reason_and_the_fix(tmp_path: Path) -> None:
    bucket = ListedDirectory(tmp_path / "bucket")
    bucket.put("weights.bin", b"x" * 4096)
    local = tmp_path / "mount"
    local.mkdir()
    (local / "weights.bin").symlink_to("/dev/full")  # every write there fails with ENOSPC
    with pytest.raises(VolumeTooBig) as err:
        VolumeSync("/weights", bucket, local, read_only=False).pull()
    message = str(err.value)
    assert "/weights" in message and "'weights.bin'" in message and "ephemeral_disk=" in message


def test_a_volume_that_fits_is_copied(tmp_path: Path) -> None:
    bucket = ListedDirectory(tmp_path / "bucket")
    bucket.put("a/b.txt", b"data")
    local = tmp_path / "mount"
    local.mkdir()
    VolumeSync("/v", bucket, local, read_only=True).pull()
    assert (local / "a" / "b.txt").read_bytes() == b"data"
