"""Dict, Queue and Volume client objects on the local backends (SQLite, directories)."""

from __future__ import annotations

import io
import queue
import subprocess
import sys
import threading
import time

import pytest

import pcompile
from pcompile.providers.local import stores


def test_dict_semantics():
    d = pcompile.Dict.from_name("d1", create_if_missing=True)
    d["a"] = 1
    d.put(("tuple", 2), {"nested": [1, 2]})
    assert d["a"] == 1 and d.get(("tuple", 2)) == {"nested": [1, 2]}
    assert d.put("a", 5, skip_if_exists=True) is False and d["a"] == 1
    assert "a" in d and d.contains("a") and len(d) == 2 and d.len() == 2
    d.update({"b": 2}, c=3)
    assert list(d.keys()) == ["a", ("tuple", 2), "b", "c"]
    assert d.pop("b") == 2 and d.get("b", "missing") == "missing"
    with pytest.raises(KeyError):
        del d["b"]
    with pytest.raises(KeyError):
        _ = d["zzz"]
    d.clear()
    assert len(d) == 0


def test_dict_entries_expire(monkeypatch):
    d = pcompile.Dict.from_name("d-ttl", create_if_missing=True)
    d["old"] = 1
    monkeypatch.setattr(stores, "DICT_TTL", -1.0)
    assert d.get("old") is None and len(d) == 0


def test_dict_is_shared_across_processes(local_dir):
    d = pcompile.Dict.from_name("shared", create_if_missing=True)
    code = "import pcompile\nd = pcompile.Dict.from_name('shared')\nfor i in range(50):\n    d[f'k{i}'] = i\n"
    procs = [subprocess.Popen([sys.executable, "-c", code.replace("k{i}", f"p{n}-{{i}}")]) for n in range(3)]
    assert [p.wait(60) for p in procs] == [0, 0, 0]
    assert len(d) == 150 and d["p2-49"] == 49


def test_queue_fifo_partitions_and_blocking_get():
    q = pcompile.Queue.from_name("q1", create_if_missing=True)
    q.put(1)
    q.put_many([2, 3])
    q.put("other", partition="p")
    assert q.len() == 3 and q.len(partition="p") == 1 and q.len(total=True) == 4
    assert q.get() == 1 and q.get_many(5) == [2, 3]
    assert q.get(partition="p") == "other"
    start = time.monotonic()
    with pytest.raises(queue.Empty):
        q.get(timeout=0.3)
    assert time.monotonic() - start >= 0.29
    assert q.get(block=False) is None


def test_queue_blocking_get_wakes_on_put_from_another_thread():
    q = pcompile.Queue.from_name("q2", create_if_missing=True)
    threading.Timer(0.2, lambda: q.put("late")).start()
    assert q.get(timeout=10) == "late"


def test_queue_partition_ttl_and_iterate_and_clear():
    q = pcompile.Queue.from_name("q3", create_if_missing=True)
    q.put("gone", partition="short", partition_ttl=1)  # Modal's shortest partition_ttl
    time.sleep(1.1)
    assert q.len(partition="short") == 0
    q.put_many([1, 2, 3])
    assert list(q.iterate()) == [1, 2, 3] and q.len() == 3  # iterate does not remove
    q.clear()
    assert q.len() == 0
    q.put(1, partition="a")
    q.put(2, partition="b")
    q.clear(all=True)
    assert q.len(total=True) == 0


def test_queue_consumers_in_several_processes_get_each_item_once():
    q = pcompile.Queue.from_name("work", create_if_missing=True)
    q.put_many(list(range(200)))
    code = (
        "import pcompile, queue\n"
        "q = pcompile.Queue.from_name('work')\n"
        "got = []\n"
        "while True:\n"
        "    try:\n"
        "        got.append(q.get(timeout=0.5))\n"
        "    except queue.Empty:\n"
        "        break\n"
        "print(' '.join(map(str, got)))\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(3)
    ]
    items = [int(x) for p in procs for x in p.communicate(timeout=120)[0].split()]
    assert sorted(items) == list(range(200))


def test_volume_client_api(tmp_path):
    vol = pcompile.Volume.from_name("v1", create_if_missing=True)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.txt").write_text("A")
    with vol.batch_upload() as batch:
        batch.put_file(io.BytesIO(b"bytes"), "/x/b.bin")
        batch.put_directory(tmp_path / "d", "/dir")
    assert sorted(e.path for e in vol.listdir("/", recursive=True)) == ["dir", "dir/a.txt", "x", "x/b.bin"]
    assert b"".join(vol.read_file("x/b.bin")) == b"bytes"
    with pytest.raises(FileExistsError):
        with vol.batch_upload() as batch:
            batch.put_file(io.BytesIO(b"again"), "/x/b.bin")
    vol.copy_files(["x/b.bin"], "/copy.bin")
    vol.remove_file("/dir", recursive=True)
    vol.commit()
    vol.reload()
    assert sorted(e.path for e in vol.listdir("/")) == ["copy.bin", "x"]
