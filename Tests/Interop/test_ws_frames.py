"""WebSocket framing on /echo with hand-built frames: echo, control frames, and every hostile case
with its exact close code, each followed by a check that the server still serves."""

from __future__ import annotations

import pytest

import wire
from wire import OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, RawWebSocket, build_frame


@pytest.fixture
def ws(server):
    sock = RawWebSocket.connect(server.port)
    yield sock
    sock.close()


# -- echo -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY])
@pytest.mark.parametrize("size,bits", [(0, 7), (1, 7), (125, 7), (126, 16), (65535, 16), (65536, 64),
                                       (200_000, 64)])
def test_echo_sizes_and_length_encodings(ws, opcode, size, bits):
    payload = (b"x" * size) if opcode == OP_TEXT else bytes(i % 251 for i in range(size))
    ws.send_frame(opcode, payload, length_bits=bits)
    f = ws.recv_frame()
    assert f.opcode == opcode and f.fin, f
    assert f.payload == payload
    expected_bits = 7 if size <= 125 else 16 if size <= 0xFFFF else 64
    assert f.length_bits == expected_bits


def test_echo_utf8_text(ws):
    ws.echo(OP_TEXT, "héllo wörld 你好 🎉".encode())


def test_echo_many_messages_in_one_write(ws):
    msgs = [f"msg-{i}".encode() for i in range(50)]
    ws.send_raw(b"".join(build_frame(OP_TEXT, m) for m in msgs))
    for m in msgs:
        assert ws.recv_message() == (OP_TEXT, m)


def test_echo_frame_split_byte_by_byte(ws):
    data = build_frame(OP_BINARY, b"split into single bytes")
    for i in range(len(data)):
        ws.send_raw(data[i:i + 1])
    assert ws.recv_message() == (OP_BINARY, b"split into single bytes")


@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY])
def test_fragmented_message_echoed(ws, opcode):
    ws.send_frame(opcode, b"frag-1 ", fin=False)
    ws.send_frame(OP_CONT, b"frag-2 ", fin=False)
    ws.send_frame(OP_CONT, b"", fin=False)
    ws.send_frame(OP_CONT, b"frag-3", fin=True)
    assert ws.recv_message() == (opcode, b"frag-1 frag-2 frag-3")


def test_utf8_code_point_split_across_fragments_is_valid(ws):
    data = "a€b🎉c".encode()  # € = e2 82 ac, 🎉 = f0 9f 8e 89
    ws.send_frame(OP_TEXT, data[:2], fin=False)     # 'a' + first byte of €
    ws.send_frame(OP_CONT, data[2:6], fin=False)    # rest of € + 'b' + first byte of 🎉
    ws.send_frame(OP_CONT, data[6:8], fin=False)    # middle of 🎉
    ws.send_frame(OP_CONT, data[8:], fin=True)
    assert ws.recv_message() == (OP_TEXT, data)


def test_ping_gets_pong_with_same_payload(ws):
    for payload in [b"", b"ping-payload", bytes(range(125))]:
        ws.send_frame(OP_PING, payload)
        f = ws.recv_control(OP_PONG)
        assert f.payload == payload


def test_unsolicited_pong_is_ignored(ws):
    ws.send_frame(OP_PONG, b"unsolicited")
    ws.echo(OP_TEXT, b"after pong")


def test_ping_interleaved_in_fragmented_message(ws):
    ws.send_frame(OP_TEXT, b"part1-", fin=False)
    ws.send_frame(OP_PING, b"mid")
    ws.send_frame(OP_CONT, b"part2-", fin=False)
    ws.send_frame(OP_PONG, b"ignored")
    ws.send_frame(OP_CONT, b"part3", fin=True)
    pong = ws.recv_control(OP_PONG)
    assert pong.payload == b"mid"
    assert ws.recv_message() == (OP_TEXT, b"part1-part2-part3")


def test_mask_key_all_zero_and_all_ff(ws):
    ws.send_frame(OP_BINARY, b"zero-mask", mask_key=b"\0\0\0\0")
    assert ws.recv_message() == (OP_BINARY, b"zero-mask")
    ws.send_frame(OP_BINARY, b"ff-mask", mask_key=b"\xff\xff\xff\xff")
    assert ws.recv_message() == (OP_BINARY, b"ff-mask")


# -- close handshake ---------------------------------------------------------------------------------

VALID_CLOSE_CODES = [1000, 1001, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4999]


@pytest.mark.parametrize("code", VALID_CLOSE_CODES)
def test_valid_close_code_is_echoed(server, ws, code):
    ws.send_close(code, b"bye")
    ws.expect_close(code, reply=False)
    server.assert_alive()


def test_empty_close_gets_empty_close(server, ws):
    ws.send_close(None)
    ws.expect_close(None, reply=False)
    server.assert_alive()


def test_close_with_valid_utf8_reason(server, ws):
    ws.send_close(1000, "tschüss 🎉".encode())
    ws.expect_close(1000, reply=False)
    server.assert_alive()


def test_close_after_pending_echo(server, ws):
    ws.send_raw(build_frame(OP_TEXT, b"last words") + build_frame(OP_CLOSE, wire.close_payload(1000)))
    assert ws.recv_message() == (OP_TEXT, b"last words")
    ws.expect_close(1000, reply=False)
    server.assert_alive()


# -- hostile cases -----------------------------------------------------------------------------------
# Each entry: the frames to send (one raw write), and the close code the server must send.

def _frames(*frames):
    return b"".join(frames)


HOSTILE = {
    "unmasked-text": (build_frame(OP_TEXT, b"hello", mask=False), 1002),
    "unmasked-empty-binary": (build_frame(OP_BINARY, b"", mask=False), 1002),
    "unmasked-close": (build_frame(OP_CLOSE, wire.close_payload(1000), mask=False), 1002),
    "rsv1": (build_frame(OP_TEXT, b"x", rsv=0b100), 1002),
    "rsv2": (build_frame(OP_TEXT, b"x", rsv=0b010), 1002),
    "rsv3": (build_frame(OP_TEXT, b"x", rsv=0b001), 1002),
    "rsv1-on-ping": (build_frame(OP_PING, b"x", rsv=0b100), 1002),
    **{f"opcode-{op:#x}": (build_frame(op, b"x"), 1002) for op in [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF]},
    "ping-126": (build_frame(OP_PING, b"p" * 126), 1002),
    "pong-126": (build_frame(OP_PONG, b"p" * 126), 1002),
    "close-126": (build_frame(OP_CLOSE, wire.close_payload(1000, b"r" * 124)), 1002),
    "fragmented-ping": (build_frame(OP_PING, b"p", fin=False), 1002),
    "fragmented-close": (build_frame(OP_CLOSE, wire.close_payload(1000), fin=False), 1002),
    "continuation-without-start": (build_frame(OP_CONT, b"orphan"), 1002),
    "continuation-without-start-nofin": (build_frame(OP_CONT, b"orphan", fin=False), 1002),
    "text-inside-fragmented-text": (_frames(build_frame(OP_TEXT, b"a", fin=False),
                                            build_frame(OP_TEXT, b"b")), 1002),
    "binary-inside-fragmented-text": (_frames(build_frame(OP_TEXT, b"a", fin=False),
                                              build_frame(OP_BINARY, b"b")), 1002),
    "text-inside-fragmented-binary": (_frames(build_frame(OP_BINARY, b"a", fin=False),
                                              build_frame(OP_CONT, b"b", fin=False),
                                              build_frame(OP_TEXT, b"c", fin=False)), 1002),
    # UTF-8
    "invalid-utf8-byte": (build_frame(OP_TEXT, b"abc\xffdef"), 1007),
    "invalid-utf8-continuation-only": (build_frame(OP_TEXT, b"\x80"), 1007),
    "invalid-utf8-overlong": (build_frame(OP_TEXT, b"\xc0\xaf"), 1007),
    "invalid-utf8-surrogate": (build_frame(OP_TEXT, b"\xed\xa0\x80"), 1007),
    "invalid-utf8-above-10ffff": (build_frame(OP_TEXT, b"\xf4\x90\x80\x80"), 1007),
    "invalid-utf8-truncated-at-end": (build_frame(OP_TEXT, b"ok\xe2\x82"), 1007),
    "invalid-utf8-second-fragment": (_frames(build_frame(OP_TEXT, b"valid ", fin=False),
                                             build_frame(OP_CONT, b"\xfe", fin=True)), 1007),
    "invalid-utf8-truncated-across-fragments": (_frames(build_frame(OP_TEXT, b"ok\xe2", fin=False),
                                                        build_frame(OP_CONT, b"\x82", fin=True)), 1007),
    "invalid-utf8-bad-continuation-across-fragments": (_frames(build_frame(OP_TEXT, b"\xe2", fin=False),
                                                               build_frame(OP_CONT, b"A\xac", fin=True)), 1007),
    # close frame payloads
    "close-1-byte": (build_frame(OP_CLOSE, b"\x03"), 1002),
    **{f"close-code-{c}": (build_frame(OP_CLOSE, wire.close_payload(c)), 1002)
       for c in [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535]},
    "close-invalid-utf8-reason": (build_frame(OP_CLOSE, wire.close_payload(1000, b"bad \xff reason")), 1007),
    "close-truncated-utf8-reason": (build_frame(OP_CLOSE, wire.close_payload(1000, b"\xe2\x82")), 1007),
}


@pytest.mark.parametrize("data,code", list(HOSTILE.values()), ids=list(HOSTILE))
def test_hostile_frame_gets_close_code(server, ws, data, code):
    ws.send_raw(data)
    ws.expect_close(code)
    server.assert_alive()


def test_continuation_after_complete_message_is_1002(server, ws):
    ws.send_raw(build_frame(OP_TEXT, b"done") + build_frame(OP_CONT, b"more"))
    assert ws.recv_message() == (OP_TEXT, b"done")
    ws.expect_close(1002)
    server.assert_alive()


def test_invalid_utf8_detected_before_message_completes(server, ws):
    """Invalid UTF-8 in a first fragment fails fast (no need to wait for FIN)."""
    ws.send_frame(OP_TEXT, b"\xff", fin=False)
    ws.expect_close(1007)
    server.assert_alive()


def test_hostile_frame_without_close_reply(server, ws):
    """The server closes TCP after its 1002 close even if the peer never answers the close."""
    ws.send_frame(OP_TEXT, b"x", mask=False)
    ws.expect_close(1002, reply=False, tcp_close_timeout=5.0)
    server.assert_alive()


def test_peer_eof_mid_frame(server):
    ws = RawWebSocket.connect(server.port)
    ws.send_raw(build_frame(OP_BINARY, b"y" * 1000)[:500])
    ws.close()
    server.assert_alive()


def test_data_after_close_is_ignored(server, ws):
    ws.send_raw(build_frame(OP_CLOSE, wire.close_payload(1000)) + build_frame(OP_TEXT, b"too late"))
    ws.expect_close(1000, reply=False)  # fails if "too late" is echoed (data frame before close)
    server.assert_alive()


# -- message size limit (dedicated server, --max-message-bytes 1000) ------------------------------

MSG_LIMIT = 1000


@pytest.fixture
def small_msg_server(shared_server):
    return shared_server("--max-message-bytes", str(MSG_LIMIT))


@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY])
@pytest.mark.parametrize("size", [MSG_LIMIT - 1, MSG_LIMIT])
def test_message_at_limit_is_echoed(small_msg_server, opcode, size):
    with RawWebSocket.connect(small_msg_server.port) as ws:
        ws.echo(opcode, b"m" * size)


@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY])
@pytest.mark.parametrize("size", [MSG_LIMIT + 1, 70_000])
def test_single_frame_over_limit_is_1009(small_msg_server, opcode, size):
    with RawWebSocket.connect(small_msg_server.port) as ws:
        ws.send_frame(opcode, b"m" * size)
        ws.expect_close(1009)
    small_msg_server.assert_alive()


def test_huge_declared_length_is_1009_without_payload(small_msg_server):
    """A 64-bit length far over the limit is refused from the header alone."""
    with RawWebSocket.connect(small_msg_server.port) as ws:
        ws.send_raw(build_frame(OP_BINARY, b"", declared_length=1 << 40))
        ws.expect_close(1009)
    small_msg_server.assert_alive()


def test_fragments_summing_to_limit_are_echoed(small_msg_server):
    with RawWebSocket.connect(small_msg_server.port) as ws:
        ws.send_frame(OP_BINARY, b"a" * 400, fin=False)
        ws.send_frame(OP_CONT, b"b" * 400, fin=False)
        ws.send_frame(OP_CONT, b"c" * 200, fin=True)
        assert ws.recv_message() == (OP_BINARY, b"a" * 400 + b"b" * 400 + b"c" * 200)


@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY])
def test_fragments_summing_over_limit_are_1009(small_msg_server, opcode):
    with RawWebSocket.connect(small_msg_server.port) as ws:
        ws.send_frame(opcode, b"a" * 500, fin=False)
        ws.send_frame(OP_CONT, b"b" * 500, fin=False)
        ws.send_frame(OP_CONT, b"c", fin=True)
        ws.expect_close(1009)
    small_msg_server.assert_alive()


def test_control_frames_do_not_count_toward_message_limit(small_msg_server):
    with RawWebSocket.connect(small_msg_server.port) as ws:
        ws.send_frame(OP_BINARY, b"a" * 600, fin=False)
        ws.send_frame(OP_PING, b"p" * 125)
        ws.send_frame(OP_CONT, b"b" * 400, fin=True)
        assert ws.recv_control(OP_PONG).payload == b"p" * 125
        assert ws.recv_message() == (OP_BINARY, b"a" * 600 + b"b" * 400)


def test_limit_applies_per_message(small_msg_server):
    with RawWebSocket.connect(small_msg_server.port) as ws:
        for _ in range(5):
            ws.echo(OP_BINARY, b"z" * MSG_LIMIT)
