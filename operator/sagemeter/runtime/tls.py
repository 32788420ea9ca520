"""Smaller TLS read buffers for the operator's asyncio connections.

asyncio gives every TLS connection a 256 KiB read buffer for its whole life
(``asyncio.sslproto.SSLProtocol.max_size``) and reads decrypted data in chunks of up to that
size. The operator's asyncio connections are kopf's to the API server: a watch stream per
resource and a pool for patches, whose messages are a few KiB (a ManagedEndpoint's body, an
Event, a status patch). At 30-odd connections the buffers alone are some 8 MB that never hold
more than a message. With 32 KiB a large list page is read in more, smaller steps and nothing
else changes: the protocol grows its buffer to what the transport asks for, up to ``max_size``.

botocore's connections (urllib3, threads) do not use asyncio and are not affected.
"""

from __future__ import annotations

import asyncio.sslproto
from typing import Final

__all__ = ["TLS_READ_BYTES", "small_tls_reads"]

TLS_READ_BYTES: Final = 32 * 1024


def small_tls_reads() -> None:
    """Every asyncio TLS connection made from now on reads through a 32 KiB buffer."""
    asyncio.sslproto.SSLProtocol.max_size = TLS_READ_BYTES
