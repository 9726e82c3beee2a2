"""Length-prefixed frames over a pair of pipe file descriptors.

Local workers talk to their pool through pipes handed over with ``pass_fds`` (stdout
and stderr stay free for the user's prints). A frame is a 4-byte big-endian length
and a pickle of a tuple of plain values; payload bytes inside are cloudpickle data.
"""

from __future__ import annotations

import os
import pickle
import struct
import threading
from typing import Any

_HEADER = struct.Struct("!I")


class Channel:
    """Send and receive frames; ``send`` is thread-safe, ``recv`` is for one reader."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self._reader = os.fdopen(read_fd, "rb", buffering=1 << 16)
        self._write_fd = write_fd
        self._lock = threading.Lock()

    def send(self, message: Any) -> None:
        """Write one frame (raises ``BrokenPipeError`` when the peer is gone)."""
        body = pickle.dumps(message, protocol=5)
        data = _HEADER.pack(len(body)) + body
        with self._lock:
            view = memoryview(data)
            while view:
                view = view[os.write(self._write_fd, view) :]

    def recv(self) -> Any:
        """Read one frame; ``EOFError`` when the peer closed its end."""
        header = self._reader.read(_HEADER.size)
        if len(header) < _HEADER.size:
            raise EOFError("channel closed")
        (size,) = _HEADER.unpack(header)
        body = self._reader.read(size)
        if len(body) < size:
            raise EOFError("channel closed mid-frame")
        return pickle.loads(body)

    def close(self) -> None:
        """Close both ends held by this process."""
        self._reader.close()
        try:
            os.close(self._write_fd)
        except OSError:
            pass
