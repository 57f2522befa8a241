"""The load generator's worker processes: each holds many connections to either server (the
wingman.v1 protocol, or socket.io v5 over engine.io v4 for the reference), publishes on a
schedule, and records every `code.updated` it receives into one latency histogram.

Publishers write `# <step> <n> <monotonic ns> <padding>` as the code, so a receiver anywhere on
this machine knows the step, the place in its publisher's sequence (gaps are losses) and the
send time (CLOCK_MONOTONIC is one clock for all processes).
A receiver that sees a number again, or an older one, counts it as out of order.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import orjson

from bench.wsclient import WebSocket, connect

# Latency buckets: 50 us wide below 100 ms, 5 ms wide up to 10 s, then one for the rest.
FINE_US, FINE_BUCKETS = 50, 2000
COARSE_US, COARSE_BUCKETS = 5000, 1980
BUCKETS = FINE_BUCKETS + COARSE_BUCKETS + 1


def bucket(us: int) -> int:
    if us < FINE_US * FINE_BUCKETS:
        return max(0, us) // FINE_US
    return min(BUCKETS - 1, FINE_BUCKETS + (us - FINE_US * FINE_BUCKETS) // COARSE_US)


def bucket_top_ms(index: int) -> float:
    """The upper edge of a bucket, in ms (percentiles are reported on the safe side)."""
    if index < FINE_BUCKETS:
        return (index + 1) * FINE_US / 1000
    return (FINE_US * FINE_BUCKETS + (index - FINE_BUCKETS + 1) * COARSE_US) / 1000


def percentile(histogram: dict[int, int], p: float) -> float | None:
    total = sum(histogram.values())
    if not total:
        return None
    rank, seen = p / 100 * total, 0
    for index in sorted(histogram):
        seen += histogram[index]
        if seen >= rank:
            return bucket_top_ms(index)
    return bucket_top_ms(max(histogram))


@dataclass
class Recorder:
    """What this process's receivers saw in the current step."""

    step: int = 0
    received: int = 0
    reordered: int = 0
    late: int = 0
    errors: int = 0
    # The first refusal of an update, so a failed step says why.
    first_error: str = ""
    last_ns: int = 0
    closed: dict[int, int] = field(default_factory=dict)
    histogram: list[int] = field(default_factory=lambda: [0] * BUCKETS)

    def reset(self, step: int) -> None:
        self.step, self.received, self.reordered, self.late, self.errors = step, 0, 0, 0, 0
        self.first_error = ""
        self.closed = {}
        self.last_ns = 0
        self.histogram = [0] * BUCKETS

    def refused(self, error: str) -> None:
        self.errors += 1
        self.first_error = self.first_error or error

    def take(self, peer: Peer, code: str) -> None:
        now = time.monotonic_ns()
        parts = code.split(" ", 4)
        step, n, sent = int(parts[1]), int(parts[2]), int(parts[3])
        if step != self.step:
            self.late += 1
            return
        if n <= peer.last:
            self.reordered += 1  # losses show as received < expected, not here
        peer.last = max(peer.last, n)
        peer.count += 1
        self.received += 1
        self.last_ns = now
        self.histogram[bucket((now - sent) // 1000)] += 1


@dataclass
class Spec:
    """One connection to open: where, as whom, into which session (room), doing what."""

    url: str
    token: str
    room: str | None  # the session (room) to join; None: join none (idle), unless creating
    create: bool  # a wingman learner creates its session first (socket.io rooms just exist)
    learner: bool  # joins as the learner and publishes
    receives: bool  # records code.updated into the histogram


class Peer:
    """One connection of either protocol; the protocol-specific parts are the subclasses'."""

    def __init__(self, spec: Spec, recorder: Recorder, offer_deflate: bool) -> None:
        self.spec = spec
        self.recorder = recorder
        self.offer_deflate = offer_deflate
        self.room = spec.room or ""
        self.last = 0
        self.count = 0
        self.ws: WebSocket | None = None
        self.waiting: dict[int, asyncio.Future[Any]] = {}
        self.refs = itertools.count(1)
        self.deliberate_close = False

    async def open(self) -> None:
        raise NotImplementedError

    def update(self, step: int, n: int, padding: str) -> None:
        raise NotImplementedError

    def opened(self, ws: WebSocket) -> None:
        self.ws = ws

    def closed(self, code: int | None) -> None:
        for future in self.waiting.values():
            if not future.done():
                future.set_exception(ConnectionError(f"closed with {code}"))
        if not self.deliberate_close:
            key = code if code is not None else 1006
            self.recorder.closed[key] = self.recorder.closed.get(key, 0) + 1

    def close(self) -> None:
        self.deliberate_close = True
        if self.ws is not None:
            self.ws.close()

    async def _wait(self, ref: int, within: float = 60.0) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.waiting[ref] = future
        try:
            return await asyncio.wait_for(future, within)
        finally:
            self.waiting.pop(ref, None)


class WingmanPeer(Peer):
    async def open(self) -> None:
        await connect(self.spec.url, self.opened, self.message, self.closed, "wingman.v1",
                      self.offer_deflate)
        await self.request("auth", token=self.spec.token)
        if self.spec.create:
            self.room = (await self.request("session.create", question_id="two-sum"))["sid"]
        if self.room:
            role = "learner" if self.spec.learner else "observer"
            await self.request("session.join", sid=self.room, role=role)

    async def request(self, kind: str, **fields: Any) -> Any:
        ref = next(self.refs)
        assert self.ws is not None
        self.ws.send(orjson.dumps({"type": kind, "ref": ref, **fields}))
        reply = await self._wait(ref)
        if not reply["ok"]:
            raise RuntimeError(f"{kind}: {reply['error']}")
        return reply["data"]

    def update(self, step: int, n: int, padding: str) -> None:
        assert self.ws is not None
        code = f"# {step} {n} {time.monotonic_ns()} {padding}"
        # Replies to updates are not awaited; a refused one counts as an error.
        self.ws.send(orjson.dumps({"type": "code.update", "ref": -n, "sid": self.room,
                                   "code": code}))

    def message(self, payload: bytes) -> None:
        frame = orjson.loads(payload)
        kind = frame.get("type")
        if kind == "event":
            if self.spec.receives and frame["kind"] == "code.updated":
                self.recorder.take(self, frame["data"]["code"])
        elif kind == "reply":
            future = self.waiting.get(frame["ref"])
            if future is not None and not future.done():
                future.set_result(frame)
            elif not frame["ok"]:
                self.recorder.refused(str(frame["error"]))


class SocketIOPeer(Peer):
    """socket.io v5 over engine.io v4, websocket transport only: "0" open, "2"/"3" ping/pong,
    "40" connect, "42" event, "43" ack."""

    PATH = "/socket.io/?EIO=4&transport=websocket"

    def __init__(self, spec: Spec, recorder: Recorder, offer_deflate: bool) -> None:
        super().__init__(spec, recorder, offer_deflate)
        self.connected: asyncio.Future[Any] | None = None

    async def open(self) -> None:
        self.connected = asyncio.get_running_loop().create_future()
        await connect(self.spec.url.rstrip("/") + self.PATH, self.opened, self.message,
                      self.closed, None, self.offer_deflate)
        await asyncio.wait_for(self.connected, 60)
        if self.spec.room is not None:
            await self.emit("join", {"room": self.room})

    async def emit(self, event: str, data: Any) -> Any:
        ref = next(self.refs)
        assert self.ws is not None
        self.ws.send(b"42" + str(ref).encode() + orjson.dumps([event, data]))
        answer = await self._wait(ref)
        if not answer[0].get("ok"):
            raise RuntimeError(f"{event}: {answer}")
        return answer[0]

    def update(self, step: int, n: int, padding: str) -> None:
        assert self.ws is not None
        code = f"# {step} {n} {time.monotonic_ns()} {padding}"
        # Acks are asked for (as wingman replies to every request) and counted, not awaited.
        self.ws.send(b"42" + str(1_000_000_000 + n).encode()
                     + orjson.dumps(["code.update", {"room": self.room, "code": code}]))

    def closed(self, code: int | None) -> None:
        if self.connected is not None and not self.connected.done():
            self.connected.set_exception(ConnectionError(f"closed with {code}"))
        super().closed(code)

    def message(self, payload: bytes) -> None:
        kind = payload[:1]
        if kind == b"4":
            packet = payload[1:2]
            if packet == b"2":
                if self.spec.receives:
                    event = orjson.loads(payload[2:])
                    if event[0] == "code.updated":
                        self.recorder.take(self, event[1]["data"]["code"])
            elif packet == b"3":
                start = end = 2
                while payload[end:end + 1].isdigit():
                    end += 1
                ref = int(payload[start:end])
                future = self.waiting.get(ref)
                answer = orjson.loads(payload[end:])
                if future is not None and not future.done():
                    future.set_result(answer)
                elif not answer[0].get("ok"):
                    self.recorder.refused(str(answer))
            elif packet == b"0" and self.connected is not None and not self.connected.done():
                self.connected.set_result(None)
            elif packet == b"4" and self.connected is not None and not self.connected.done():
                self.connected.set_exception(ConnectionError(payload.decode()))
        elif kind == b"2":
            assert self.ws is not None
            self.ws.send(b"3")
        elif kind == b"0":
            assert self.ws is not None
            self.ws.send(b"40" + orjson.dumps({"token": self.spec.token}))


PEERS: dict[str, type[Peer]] = {"wingman": WingmanPeer, "socketio": SocketIOPeer}


class Worker:
    def __init__(self) -> None:
        self.recorder = Recorder()
        self.peers: list[Peer] = []

    async def open(self, flavour: str, specs: list[Spec], concurrency: int,
                   offer_deflate: bool) -> dict[str, Any]:
        gate = asyncio.Semaphore(concurrency)
        kind = PEERS[flavour]
        fresh = [kind(spec, self.recorder, offer_deflate) for spec in specs]
        errors: list[str] = []

        async def one(peer: Peer) -> None:
            async with gate:
                try:
                    await peer.open()
                except Exception as err:
                    errors.append(f"{type(err).__name__}: {err}")

        await asyncio.gather(*(one(peer) for peer in fresh))
        self.peers.extend(fresh)
        deflate = sum(1 for p in fresh if p.ws is not None and p.ws.deflate)
        return {"rooms": [p.room for p in fresh], "errors": errors[:5], "failed": len(errors),
                "deflate": deflate}

    def reset(self, step: int) -> None:
        self.recorder.reset(step)
        for peer in self.peers:
            peer.last = peer.count = 0

    async def publish(self, step: int, rate: float, seconds: float,
                      padding: str) -> dict[str, Any]:
        """Each learner here sends `rate` updates a second for `seconds`, on schedule; late
        sends go out at once (a publisher that falls behind bunches up rather than slows)."""
        publishers = [p for p in self.peers if p.spec.learner]
        loop = asyncio.get_running_loop()
        began = loop.time()
        total = max(1, round(rate * seconds))

        async def run(peer: Peer, offset: float) -> int:
            interval, start, n = 1 / rate, began + offset, 0
            while n < total:
                delay = start + n * interval - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                now = loop.time()
                while n < total and start + n * interval <= now:
                    n += 1
                    peer.update(step, n, padding)
            return n

        count = len(publishers)
        sent = await asyncio.gather(*(run(p, i / count / rate) for i, p in
                                      enumerate(publishers)))
        return {"sent": sum(sent), "seconds": loop.time() - began}

    def counts(self) -> dict[str, Any]:
        r = self.recorder
        return {"received": r.received, "last_ns": r.last_ns, "errors": r.errors,
                "closed": sum(r.closed.values())}

    def collect(self, each: int) -> dict[str, Any]:
        """`each`: what every receiver should have had; those with less are listed (a few)."""
        r = self.recorder
        short = [(p.spec.url, p.room, p.count) for p in self.peers
                 if p.spec.receives and p.count < each]
        return {"received": r.received, "reordered": r.reordered, "late": r.late,
                "errors": r.errors, "first_error": r.first_error, "last_ns": r.last_ns,
                "closed": dict(r.closed),
                "histogram": {i: c for i, c in enumerate(r.histogram) if c},
                "short": len(short), "short_sample": short[:5]}

    async def close(self) -> dict[str, Any]:
        for peer in self.peers:
            peer.close()
        self.peers = []
        await asyncio.sleep(0.5)
        self.recorder.closed.clear()
        return {}


async def serve(control: Connection) -> None:
    worker = Worker()
    loop = asyncio.get_running_loop()
    while True:
        command, args = await loop.run_in_executor(None, control.recv)
        if command == "exit":
            control.send(None)
            return
        try:
            if command == "open":
                result: Any = await worker.open(args["flavour"], [Spec(**s) for s in args["specs"]],
                                                args["concurrency"], args["offer_deflate"])
            elif command == "reset":
                worker.reset(args["step"])
                result = None
            elif command == "publish":
                result = await worker.publish(args["step"], args["rate"], args["seconds"],
                                              args["padding"])
            elif command == "counts":
                result = worker.counts()
            elif command == "collect":
                result = worker.collect(args["each"])
            elif command == "close":
                result = await worker.close()
            else:
                raise ValueError(f"unknown command {command}")
            control.send(("ok", result))
        except Exception as err:
            control.send(("error", f"{type(err).__name__}: {err}"))


def main(control: Connection) -> None:
    import resource

    import uvloop

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    uvloop.run(serve(control))
