"""HTTP routes of the learning engine: progress, the next question and why, the due reviews,
similar questions, and the adaptive diagnostic."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from realtime.codes import ErrorCode
from realtime.connection import Identity
from server.accounts import error, read_body
from server.api import authenticated
from server.learning import DIAGNOSTIC_OUTCOMES
from server.node import Node


class DiagnosticStart(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    # Languages to draw questions from; empty: all.
    languages: list[str] = msgspec.field(default_factory=list)


class DiagnosticAnswer(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    question_id: str
    outcome: str


def _languages(request: Request) -> list[str]:
    raw = request.query_params.get("languages", "")
    return [part.strip() for part in raw.split(",") if part.strip()]


@authenticated
async def progress(request: Request, who: Identity, node: Node) -> Response:
    zone = request.query_params.get("tz", "UTC")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return error(400, ErrorCode.BAD_REQUEST, "tz must be an IANA time zone such as "
                     "Europe/Paris", field="tz")
    return JSONResponse(await node.learning.progress(who.user, zone))


@authenticated
async def next_question(request: Request, who: Identity, node: Node) -> Response:
    return JSONResponse(await node.learning.next(who.user, _languages(request)))


@authenticated
async def reviews(request: Request, who: Identity, node: Node) -> Response:
    if not await node.learning.consents(who.user):
        return JSONResponse({"consent": False, "reviews": []})
    listed = await node.learning.review_list(who.user, datetime.now(UTC))
    return JSONResponse({"consent": True, "scheduler": node.learning.scheduler.name,
                         "reviews": listed})


@authenticated
async def similar(request: Request, who: Identity, node: Node) -> Response:
    qid = request.path_params["qid"]
    if node.bank.get(qid) is None:
        return error(404, ErrorCode.NOT_FOUND, "no such question")
    found = await node.learning.similar(qid)
    if found is None:
        return error(503, ErrorCode.UNAVAILABLE, "the question index is still being built; "
                     "try again in a moment")
    return JSONResponse({"question_id": qid, "similar": found})


@authenticated
async def diagnostic(request: Request, who: Identity, node: Node) -> Response:
    body = await read_body(request, DiagnosticStart, empty=DiagnosticStart())
    if isinstance(body, JSONResponse):
        return body
    return JSONResponse(await node.learning.diagnostic_start(who.user, body.languages))


@authenticated
async def diagnostic_answer(request: Request, who: Identity, node: Node) -> Response:
    body = await read_body(request, DiagnosticAnswer)
    if isinstance(body, JSONResponse):
        return body
    if body.outcome not in DIAGNOSTIC_OUTCOMES:
        return error(400, ErrorCode.BAD_REQUEST, "outcome is one of "
                     + ", ".join(DIAGNOSTIC_OUTCOMES), field="outcome")
    answer = await node.learning.diagnostic_answer(who.user, body.question_id, body.outcome)
    if isinstance(answer, str):
        return error(409, ErrorCode.CONFLICT, answer, field="question_id")
    return JSONResponse(answer)


routes = [
    Route("/api/me/progress", progress, methods=["GET"]),
    Route("/api/me/next", next_question, methods=["GET"]),
    Route("/api/me/reviews", reviews, methods=["GET"]),
    Route("/api/questions/{qid}/similar", similar, methods=["GET"]),
    Route("/api/diagnostic", diagnostic, methods=["POST"]),
    Route("/api/diagnostic/answer", diagnostic_answer, methods=["POST"]),
]
