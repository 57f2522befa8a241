"""Tutor turns streamed as events, and hints released through the ladder."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from anyio.abc import TaskGroup

from realtime.codes import ErrorCode, RequestError
from realtime.envelope import TUTOR, Actor
from realtime.hub import Decision, LiveSession, SessionHub
from realtime.state import SessionState
from tutor.content import Question
from tutor.engine import SocraticEngine, TutorContext, stream_pieces
from tutor.ladder import HintLadder, Locked
from tutor.retrieval import Retrieved

log = logging.getLogger("wingman.tutor")

# Finds lessons and past mistakes fitting the learner's last run: (learner, keep, sid, question,
# state) -> what was found.
Retrieve = Callable[[str, bool, str, Question, SessionState], Awaitable[Retrieved]]
# A search slower than this is skipped: the tutor answers without it rather than late.
RETRIEVE_SECONDS = 5.0


class TutorService:
    def __init__(self, hub: SessionHub, tasks: TaskGroup, delta_seconds: float,
                 retrieve: Retrieve | None = None) -> None:
        self._retrieve = retrieve
        self._hub = hub
        self._tasks = tasks
        self._delta_seconds = delta_seconds
        self._engine = SocraticEngine()
        self._ladder = HintLadder()

    async def ask(self, live: LiveSession, by: Actor, question: Question, text: str) -> str:
        turn_id = str(uuid.uuid4())
        replies: list[str] = []
        found = Retrieved()
        if self._retrieve is not None:
            try:
                with anyio.fail_after(RETRIEVE_SECONDS):
                    found = await self._retrieve(live.facts.learner, live.keep, live.state.sid,
                                                 question, live.state)
            except TimeoutError:
                log.warning("retrieval for a tutor turn took over %ss; answering without it",
                            RETRIEVE_SECONDS)
            except Exception:
                log.exception("retrieval for a tutor turn failed; answering without it")

        def turn(state: SessionState) -> Decision:
            if state.active_turn is not None:
                raise RequestError(ErrorCode.CONFLICT, "the tutor is still answering",
                                   turn_id=state.active_turn)
            reply = self._engine.reply(TutorContext(
                question=question, code=state.code, learner_text=text,
                last_run=state.evidence(), asked=state.asked(), retrieved=found))
            replies[:] = [reply.text]
            data: dict[str, Any] = {"turn_id": turn_id, "question": text, "basis": reply.basis}
            if reply.drew_on:
                data["drew_on"] = list(reply.drew_on)
            return "tutor.turn.start", by, data

        async with live.lock:
            await self._hub.decide(live, turn)
        self._tasks.start_soon(self._stream, live.state.sid, turn_id, replies[0])
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
        given: dict[str, Any] = {}

        def hint(state: SessionState) -> Decision:
            # Decided against the state every node shares: two tabs cannot both unlock a level.
            decision = self._ladder.decide(state.ladder)
            if isinstance(decision, Locked):
                raise RequestError(ErrorCode.HINT_LOCKED, decision.message,
                                   reason=decision.reason.value, level=state.ladder.level)
            given.update(level=decision.level, text=question.hints[decision.level - 1])
            return "hint.given", by, dict(given)

        async with live.lock:
            await self._hub.decide(live, hint)
        return given
