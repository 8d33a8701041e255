"""Frames between the service and its model processes: blocking and incremental ends agree."""

import socket
import threading

import pytest

from abkit.serving.frames import FrameReader, encode_frame, recv_frame, send_frame

VALUES = [
    [[5, 6, 7], [8]],
    ("ok", [1.5, "T0001"]),
    None,
    list(range(40_000)),  # larger than a socket buffer: arrives in several reads
    ("error", ValueError("token batch: sequence 1 is empty")),
]


def test_frames_sent_blocking_are_read_back_in_order():
    left, right = socket.socketpair()
    with left, right:
        writer = threading.Thread(target=lambda: [send_frame(left, value) for value in VALUES])
        writer.start()
        received = [recv_frame(right) for _ in VALUES]
        writer.join()
    assert received[:4] == VALUES[:4]
    assert isinstance(received[4][1], ValueError) and str(received[4][1]) == "token batch: sequence 1 is empty"


@pytest.mark.parametrize("piece", [1, 7, 4096, 10**9])
def test_the_reader_cuts_a_stream_into_frames_whatever_the_pieces(piece):
    stream = b"".join(encode_frame(value) for value in VALUES[:4])
    reader = FrameReader()
    values = []
    for start in range(0, len(stream), piece):
        values += reader.feed(stream[start : start + piece])
    assert values == VALUES[:4]
    assert reader.partial_bytes == 0


def test_the_reader_holds_a_partial_frame_until_it_is_complete():
    frame = encode_frame(("ok", [1, 2, 3]))
    reader = FrameReader()
    assert reader.feed(frame[:-1]) == []
    assert reader.partial_bytes == len(frame) - 1
    assert reader.feed(frame[-1:] + frame[:3]) == [("ok", [1, 2, 3])]  # the next frame has begun
    assert reader.partial_bytes == 3


def test_a_stream_closed_inside_a_frame_is_an_eof_error():
    left, right = socket.socketpair()
    with right:
        with left:
            left.sendall(encode_frame([1, 2, 3])[:-2])
        with pytest.raises(EOFError, match="closed the socket"):
            recv_frame(right)


def test_a_stream_closed_between_frames_is_an_eof_error():
    left, right = socket.socketpair()
    with right:
        left.close()
        with pytest.raises(EOFError, match="0 bytes into a 8-byte read"):
            recv_frame(right)
