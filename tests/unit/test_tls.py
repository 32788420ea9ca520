"""runtime.tls: an asyncio TLS connection holds a 32 KiB read buffer instead of 256 KiB, and
data larger than the buffer still arrives whole.

A real TLS server and client on loopback (the sandbox's PKI): tracemalloc counts what a
connection pair holds once connected, with asyncio's default size and with the operator's.
"""

from __future__ import annotations

import asyncio
import asyncio.sslproto
import hashlib
import ssl
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from sagemeter.runtime.tls import TLS_READ_BYTES, small_tls_reads
from sagemeter_sandbox.pki import ensure_pki

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB, 32 times the buffer


# asyncio's own (Lib/asyncio/sslproto.py, SSLProtocol.max_size).
ASYNCIO_DEFAULT = 256 * 1024


@pytest.fixture
def default_size() -> Iterator[int]:
    """asyncio's default for the test (another test in this process may have run the
    operator's start-up), and whatever was set before afterwards."""
    size = asyncio.sslproto.SSLProtocol.max_size
    asyncio.sslproto.SSLProtocol.max_size = ASYNCIO_DEFAULT
    yield ASYNCIO_DEFAULT
    asyncio.sslproto.SSLProtocol.max_size = size


def _contexts(pki: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    ensure_pki(pki)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(pki / "apiserver.crt", pki / "apiserver.key")
    client = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    return server, client


async def _held_per_pair(pki: Path, pairs: int = 8) -> tuple[int, bytes]:
    """Bytes traced per connected pair, and a digest of 1 MiB echoed over the first one."""
    server_ctx, client_ctx = _contexts(pki)

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    opened = [
        await asyncio.open_connection("127.0.0.1", port, ssl=client_ctx) for _ in range(pairs)
    ]
    await asyncio.sleep(0.2)  # the server side's handshakes finish
    held = sum(s.size_diff for s in tracemalloc.take_snapshot().compare_to(before, "filename"))
    tracemalloc.stop()
    reader, writer = opened[0]
    writer.write(PAYLOAD)
    await writer.drain()
    echoed = await reader.readexactly(len(PAYLOAD))
    for _, w in opened:
        w.close()
        await w.wait_closed()
    await asyncio.sleep(0.1)  # the server's handlers see the end of their streams
    server.close()
    await server.wait_closed()
    return held // pairs, hashlib.sha256(echoed).digest()


def test_a_tls_connection_pair_holds_an_eighth_of_the_default(
    tmp_path: Path, default_size: int
) -> None:
    default_held, default_echo = asyncio.run(_held_per_pair(tmp_path))
    small_tls_reads()
    assert asyncio.sslproto.SSLProtocol.max_size == TLS_READ_BYTES
    small_held, small_echo = asyncio.run(_held_per_pair(tmp_path))
    digest = hashlib.sha256(PAYLOAD).digest()
    assert default_echo == small_echo == digest
    # Two buffers per pair (client and server side): 512 KiB by default, 64 KiB now.
    assert default_held > 2 * default_size
    assert small_held < 2 * default_size / 2
    assert default_held - small_held > 2 * (default_size - TLS_READ_BYTES) * 0.9
