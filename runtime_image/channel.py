"""Length-prefixed frames over a pair of pipe file descriptors.

Local workers talk to their pool through pipes handed over with ``pass_fds`` (stdout
and stderr stay free for the user's prints). A frame is a 4-byte big-endian length
and a pickle of a tuple of plain values; payload bytes inside are cloudpickle data.
"""

from __future__ import annotations

import collections
import os
import pickle
import struct
import threading
from typing import Any

_HEADER = struct.Struct("!I")
# A successful result with inline bytes (the common case) skips pickling the frame:
# b"R" + seq + seconds + value bytes. Pickled frames start with the PROTO opcode 0x80.
_RESULT = struct.Struct("!qd")
_RESULT_TAG = b"R"
_RESULT_HEAD = struct.Struct("!Icqd")  # length, tag, seq, seconds


class Channel:
    """Send and receive frames; ``send`` is thread-safe, ``recv``/``recv_many`` are for one reader."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self._read_fd = read_fd
        self._write_fd = write_fd
        self._lock = threading.Lock()
        self._buf = bytearray()
        self._need = 1 << 16  # bytes to ask for: more when a big frame is half-read
        self._frames: collections.deque[Any] = collections.deque()

    def send(self, message: Any) -> None:
        """Write one frame (raises ``BrokenPipeError`` when the peer is gone)."""
        body = pickle.dumps(message, protocol=5)
        self._write(_HEADER.pack(len(body)) + body)

    def send_ok(self, seq: int, value: bytes, seconds: float) -> None:
        """Send ``("res", [("ok", seq, value, seconds)])`` in the compact form."""
        self._write(_RESULT_HEAD.pack(1 + _RESULT.size + len(value), _RESULT_TAG, seq, seconds) + value)

    def _write(self, data: bytes) -> None:
        with self._lock:
            written = os.write(self._write_fd, data)
            if written < len(data):  # a big frame: the pipe takes it in parts
                view = memoryview(data)[written:]
                while view:
                    view = view[os.write(self._write_fd, view) :]

    def recv(self) -> Any:
        """Read one frame; ``EOFError`` when the peer closed its end."""
        while not self._frames:
            self._fill()
        return self._frames.popleft()

    def recv_many(self) -> list[Any]:
        """Every frame that has arrived (at least one, waiting for it): a reader that falls
        behind then handles many frames per wake-up."""
        while not self._frames:
            self._fill()
        frames = list(self._frames)
        self._frames.clear()
        return frames

    def _fill(self) -> None:
        """One read from the pipe (blocking), then parse every complete frame in the buffer."""
        chunk = os.read(self._read_fd, self._need)
        if not chunk:
            raise EOFError("channel closed mid-frame" if self._buf else "channel closed")
        self._buf += chunk
        buf, start, self._need = self._buf, 0, 1 << 16
        run: list[tuple[str, int, bytes, float]] | None = None  # compact results in a row: one message
        with memoryview(buf) as view:
            while len(buf) - start >= _HEADER.size:
                (size,) = _HEADER.unpack_from(buf, start)
                end = start + _HEADER.size + size
                if end > len(buf):
                    self._need = max(self._need, end - len(buf))
                    break
                body = start + _HEADER.size
                if buf[body] == _RESULT_TAG[0]:
                    seq, seconds = _RESULT.unpack_from(buf, body + 1)
                    if run is None:
                        run = []
                        self._frames.append(("res", run))
                    run.append(("ok", seq, bytes(view[body + 1 + _RESULT.size : end]), seconds))
                else:
                    self._frames.append(pickle.loads(view[body:end]))
                    run = None
                start = end
        if start:
            del buf[:start]

    def close(self) -> None:
        """Close both ends held by this process."""
        for fd in (self._read_fd, self._write_fd):
            try:
                os.close(fd)
            except OSError:
                pass
