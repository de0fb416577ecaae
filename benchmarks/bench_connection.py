"""Connection level (issue 3): the receive path (masked text messages fed in
64 KiB chunks to delivered str messages: wsframe ServerConnection vs picows,
aiohttp's reader, websockets' ServerProtocol, wsproto's Connection; binary
messages: wsframe's C build and pure-Python twin vs wsproto), the send
path (server and client role) and opening handshakes; plus wsframe's C
masking and UTF-8 validation per SIMD level."""

import pytest


@pytest.mark.case("receive")
def bench_receive(bench):
    bench()


@pytest.mark.case("receive_binary")
def bench_receive_binary(bench):
    bench()


@pytest.mark.case("send")
def bench_send(bench):
    bench()


@pytest.mark.case("handshake")
def bench_handshake(bench):
    bench()


@pytest.mark.case("simd_mask")
def bench_simd_mask(bench):
    bench()


@pytest.mark.case("simd_utf8")
def bench_simd_utf8(bench):
    bench()
