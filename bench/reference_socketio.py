"""The reference bench/fanout.py measures wingman against: python-socketio's AsyncServer with its
AsyncRedisManager, served as ASGI by uvicorn, one process per node, all on one Redis.

It serves the same scenarios as a wingman node does: a client connects with an access token
(checked like wingman checks it: Ed25519 JWT, issuer, audience, expiry), joins a room per
session, and a learner's `code.update` goes to everyone in the room, the learner included,
as an event carrying who sent it and when, acknowledged to the learner.

    python bench/reference_socketio.py --port 9001 --redis redis://127.0.0.1:6379/0
    (JWT_KEYS in the environment: the key set the bench signs tokens with)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import socketio
import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from server.settings import Settings
from server.tokens import InvalidToken, SigningKeys, TokenIssuer


def create_app(redis_url: str, issuer: TokenIssuer) -> socketio.ASGIApp:
    sio = socketio.AsyncServer(async_mode="asgi",
                               client_manager=socketio.AsyncRedisManager(redis_url))

    @sio.event
    async def connect(sid: str, environ: dict[str, Any], auth: Any) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        try:
            claims = issuer.verify(str(token))
        except InvalidToken:
            raise socketio.exceptions.ConnectionRefusedError("unauthenticated") from None
        await sio.save_session(sid, {"user": claims.user, "roles": sorted(claims.roles)})

    @sio.on("join")
    async def join(sid: str, data: dict[str, Any]) -> dict[str, Any]:
        await sio.enter_room(sid, str(data["room"]))
        return {"ok": True}

    @sio.on("code.update")
    async def code_update(sid: str, data: dict[str, Any]) -> dict[str, Any]:
        session = await sio.get_session(sid)
        room = str(data["room"])
        await sio.emit("code.updated", {
            "room": room, "ts": int(time.time() * 1000), "kind": "code.updated",
            "by": {"user": session["user"], "role": "learner"},
            "data": {"code": data["code"]}}, room=room)
        return {"ok": True}

    return socketio.ASGIApp(sio)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis", required=True)
    parser.add_argument("--deflate", action="store_true",
                        help="accept permessage-deflate (off by default, as on a wingman node)")
    args = parser.parse_args()
    defaults = Settings()
    issuer = TokenIssuer(SigningKeys.from_json(os.environ["JWT_KEYS"]), defaults.jwt_issuer,
                         defaults.jwt_audience, defaults.access_token_seconds)
    # Engine.io keeps the connection alive with its own ping packets; no WebSocket pings too.
    uvicorn.run(create_app(args.redis, issuer), host="127.0.0.1", port=args.port, loop="uvloop",
                ws="websockets-sansio", ws_per_message_deflate=args.deflate,
                ws_ping_interval=None, log_level="warning")


if __name__ == "__main__":
    main()
