"""Tutor turns streamed as events, and hints released through the ladder."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import anyio
from anyio.abc import TaskGroup

from realtime.codes import ErrorCode, RequestError
from realtime.envelope import TUTOR, Actor
from realtime.hub import LiveSession, SessionHub
from tutor.content import Question
from tutor.engine import SocraticEngine, TutorContext, stream_pieces
from tutor.ladder import HintLadder, Locked

log = logging.getLogger("wingman.tutor")


class TutorService:
    def __init__(self, hub: SessionHub, tasks: TaskGroup, delta_seconds: float) -> None:
        self._hub = hub
        self._tasks = tasks
        self._delta_seconds = delta_seconds
        self._engine = SocraticEngine()
        self._ladder = HintLadder()

    async def ask(self, live: LiveSession, by: Actor, question: Question, text: str) -> str:
        state = live.state
        async with live.lock:
            if state.active_turn is not None:
                raise RequestError(ErrorCode.CONFLICT, "the tutor is still answering",
                                   turn_id=state.active_turn)
            reply = self._engine.reply(TutorContext(
                question=question, code=state.code, learner_text=text,
                last_run=state.evidence(), asked=state.asked()))
            turn_id = str(uuid.uuid4())
            await self._hub.publish(state.sid, "tutor.turn.start", by,
                                    {"turn_id": turn_id, "question": text, "basis": reply.basis})
        self._tasks.start_soon(self._stream, state.sid, turn_id, reply.text)
        return turn_id

    async def _stream(self, sid: str, turn_id: str, text: str) -> None:
        try:
            for piece in stream_pieces(text):
                await anyio.sleep(self._delta_seconds)
                await self._hub.publish(sid, "tutor.delta", TUTOR,
                                        {"turn_id": turn_id, "text": piece})
        except RequestError as err:
            log.info("tutor turn %s cut short: %s", turn_id, err.message)
        except Exception:
            log.exception("tutor turn %s failed", turn_id)
        finally:
            try:
                with anyio.CancelScope(shield=True):
                    await self._hub.publish(sid, "tutor.turn.end", TUTOR, {"turn_id": turn_id})
            except Exception as err:
                log.info("tutor turn %s not ended: %s", turn_id, err)

    async def hint(self, live: LiveSession, by: Actor, question: Question) -> dict[str, Any]:
        async with live.lock:
            decision = self._ladder.decide(live.state.ladder)
            if isinstance(decision, Locked):
                raise RequestError(ErrorCode.HINT_LOCKED, decision.message,
                                   reason=decision.reason.value, level=live.state.ladder.level)
            text = question.hints[decision.level - 1]
            await self._hub.publish(live.state.sid, "hint.given", by,
                                    {"level": decision.level, "text": text})
        return {"level": decision.level, "text": text}
