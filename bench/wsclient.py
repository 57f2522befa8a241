"""A lean WebSocket client (RFC 6455) on a raw asyncio protocol, for load generators that hold
thousands of connections and read tens of thousands of frames a second per process.

It reads whole frames straight from the transport's buffer and hands each message to a
callback; it answers pings and close frames, inflates permessage-deflate (RFC 7692) when the
server accepted it, and masks what it sends. Nothing else: no queues, no tasks per connection.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import random
import zlib
from collections.abc import Callable
from typing import cast
from urllib.parse import urlsplit

try:
    from websockets.speedups import apply_mask
except ImportError:  # websockets built without its C extension
    from websockets.utils import apply_mask

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, BINARY, CLOSE, PING, PONG = 0x1, 0x2, 0x8, 0x9, 0xA
# What browsers offer; whether it is used is the server's decision.
DEFLATE_OFFER = "permessage-deflate; client_max_window_bits"


class HandshakeFailed(Exception):
    pass


class WebSocket(asyncio.Protocol):
    """One connection. `on_open(ws)` is called once the handshake is done, before any message;
    `on_message(payload)` gets each text or binary message as bytes; `on_close(code)` is
    called once when the connection ends, whoever ended it."""

    def __init__(self, host: str, target: str, subprotocol: str | None, offer_deflate: bool,
                 on_open: Callable[[WebSocket], None], on_message: Callable[[bytes], None],
                 on_close: Callable[[int | None], None]) -> None:
        self.on_open = on_open
        self.on_message = on_message
        self.on_close = on_close
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.deflate = False
        self.close_code: int | None = None
        self.closing = False
        self._host = host
        self._target = target
        self._subprotocol = subprotocol
        self._offer_deflate = offer_deflate
        self._key = base64.b64encode(os.urandom(16))
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._handshaken = False
        self._inflater: zlib._Decompress | None = None
        self._reset_inflater = False
        self._fragments: list[bytes] = []
        self._fragments_compressed = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one.
        transport = cast(asyncio.Transport, transport)
        self._transport = transport
        lines = [f"GET {self._target} HTTP/1.1", f"Host: {self._host}", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {self._key.decode()}",
                 "Sec-WebSocket-Version: 13"]
        if self._subprotocol:
            lines.append(f"Sec-WebSocket-Protocol: {self._subprotocol}")
        if self._offer_deflate:
            lines.append(f"Sec-WebSocket-Extensions: {DEFLATE_OFFER}")
        transport.write(("\r\n".join(lines) + "\r\n\r\n").encode())

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        if not self._handshaken and not self._handshake():
            return
        pos, size = 0, len(buffer)
        while size - pos >= 2:
            first, second = buffer[pos], buffer[pos + 1]
            length, head = second & 0x7F, 2
            if length == 126:
                if size - pos < 4:
                    break
                length, head = int.from_bytes(buffer[pos + 2:pos + 4], "big"), 4
            elif length == 127:
                if size - pos < 10:
                    break
                length, head = int.from_bytes(buffer[pos + 2:pos + 10], "big"), 10
            end = pos + head + length
            if end > size:
                break
            payload = bytes(buffer[pos + head:end])
            pos = end
            self._frame(first, payload)
            if self.close_code is not None:
                return
        if pos:
            del buffer[:pos]

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if not self.opened.done():
            self.opened.set_exception(exc or HandshakeFailed("closed during the handshake"))
        self.on_close(self.close_code)

    # sending
    def send(self, payload: bytes, opcode: int = TEXT) -> None:
        transport = self._transport
        if transport is None or self.closing:
            return
        size = len(payload)
        if size < 126:
            header = bytes((0x80 | opcode, 0x80 | size))
        elif size < 65536:
            header = bytes((0x80 | opcode, 0x80 | 126)) + size.to_bytes(2, "big")
        else:
            header = bytes((0x80 | opcode, 0x80 | 127)) + size.to_bytes(8, "big")
        mask = random.randbytes(4)
        transport.write(header + mask + apply_mask(payload, mask))

    def close(self, code: int = 1000) -> None:
        if self._transport is None or self.closing:
            return
        self.send(code.to_bytes(2, "big"), CLOSE)
        self.closing = True
        self._transport.close()

    # reading
    def _handshake(self) -> bool:
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = bytes(self._buffer[:end]).decode("latin-1").split("\r\n")
        del self._buffer[:end + 4]
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        expected = base64.b64encode(hashlib.sha1(self._key + GUID).digest()).decode()
        problem = None
        if not head[0].startswith("HTTP/1.1 101"):
            problem = f"answered {head[0]!r}"
        elif headers.get("sec-websocket-accept") != expected:
            problem = "wrong Sec-WebSocket-Accept"
        if problem:
            self.opened.set_exception(HandshakeFailed(problem))
            assert self._transport is not None
            self._transport.close()
            return False
        extensions = headers.get("sec-websocket-extensions", "")
        if "permessage-deflate" in extensions:
            self.deflate = True
            self._inflater = zlib.decompressobj(-15)
            self._reset_inflater = "server_no_context_takeover" in extensions
        self._handshaken = True
        self.on_open(self)
        self.opened.set_result(None)
        return True

    def _frame(self, first: int, payload: bytes) -> None:
        opcode = first & 0x0F
        final = bool(first & 0x80)
        if opcode in (TEXT, BINARY):
            if final:
                self._message(payload, bool(first & 0x40))
            else:
                self._fragments = [payload]
                self._fragments_compressed = bool(first & 0x40)
        elif opcode == 0:
            self._fragments.append(payload)
            if final:
                whole, self._fragments = b"".join(self._fragments), []
                self._message(whole, self._fragments_compressed)
        elif opcode == PING:
            self.send(payload, PONG)
        elif opcode == CLOSE:
            self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            if not self.closing:
                self.send(payload[:2], CLOSE)
                self.closing = True
            if self._transport is not None:
                self._transport.close()

    def _message(self, payload: bytes, compressed: bool) -> None:
        if compressed:
            assert self._inflater is not None
            payload = self._inflater.decompress(payload + b"\x00\x00\xff\xff")
            if self._reset_inflater:
                self._inflater = zlib.decompressobj(-15)
        self.on_message(payload)


async def connect(url: str, on_open: Callable[[WebSocket], None],
                  on_message: Callable[[bytes], None], on_close: Callable[[int | None], None],
                  subprotocol: str | None = None, offer_deflate: bool = True,
                  within: float = 30.0) -> WebSocket:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    loop = asyncio.get_running_loop()
    _, ws = await asyncio.wait_for(loop.create_connection(
        lambda: WebSocket(f"{host}:{port}", target, subprotocol, offer_deflate, on_open,
                          on_message, on_close), host, port), within)
    await asyncio.wait_for(ws.opened, within)
    return ws
