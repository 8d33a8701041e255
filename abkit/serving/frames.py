"""Python objects over a stream socket between the service and its model processes.

Each frame is an 8-byte big-endian length and then a pickle of that many bytes. One framing
serves both ends: the model process reads and writes frames with blocking calls
(:func:`send_frame`, :func:`recv_frame`), and the service writes them to an asyncio
transport and feeds what arrives to a :class:`FrameReader`, so that its event loop neither
blocks on the socket nor needs a thread to wait on it.

Pickle runs code on load: frames come only from the other end of a socket pair made by the
service for a child it spawned, as with :mod:`multiprocessing`'s own pipes.
"""

from __future__ import annotations

import pickle
import socket
import struct
from typing import Any

_HEADER = struct.Struct("!Q")


def encode_frame(value: Any) -> bytes:
    """``value`` as one frame: its length, then its pickle."""
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(data)) + data


def send_frame(sock: socket.socket, value: Any) -> None:
    """Write ``value`` as one frame (blocking until it is all written)."""
    sock.sendall(encode_frame(value))


def _recv_exactly(sock: socket.socket, size: int) -> bytearray:
    buffer = bytearray(size)
    view = memoryview(buffer)
    received = 0
    while received < size:
        count = sock.recv_into(view[received:])
        if count == 0:
            raise EOFError(f"the other end closed the socket {received} bytes into a {size}-byte read")
        received += count
    return buffer


def recv_frame(sock: socket.socket) -> Any:
    """Read one frame (blocking) and return its value.

    Raises:
        EOFError: the other end closed the socket (before or inside a frame).
    """
    (size,) = _HEADER.unpack(_recv_exactly(sock, _HEADER.size))
    return pickle.loads(_recv_exactly(sock, size))


class FrameReader:
    """Cuts a byte stream into frames, whatever pieces it arrives in."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Any]:
        """Add ``data``; return the values of the frames it completed, in order."""
        self._buffer += data
        values = []
        start = 0
        while len(self._buffer) - start >= _HEADER.size:
            (size,) = _HEADER.unpack_from(self._buffer, start)
            end = start + _HEADER.size + size
            if len(self._buffer) < end:
                break
            # A copy of the frame (a slice of a bytearray is one): the buffer is cut below.
            values.append(pickle.loads(self._buffer[start + _HEADER.size : end]))
            start = end
        if start:
            del self._buffer[:start]
        return values

    @property
    def partial_bytes(self) -> int:
        """Bytes of a frame begun but not complete."""
        return len(self._buffer)
