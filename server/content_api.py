"""The admin content API: list, read, create, edit, publish and retire questions, and move the
whole bank as a JSON bundle. Admins only (realtime/rights.py decides)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from realtime.codes import ErrorCode
from realtime.connection import Identity
from realtime.rights import Action, allowed
from server.accounts import error
from server.api import authenticated
from server.content import (
    ContentError,
    Entry,
    as_body,
    bundle,
    from_bundle,
    same_question,
    validate,
)
from server.node import Node, index_content
from storage.questions import QuestionExists, State, VersionConflict, VersionRow
from tutor.content import Question, prerequisite_problems

Admin = Callable[[Request, Identity, Node], Awaitable[Response]]


def admin(handler: Admin) -> Callable[[Request], Awaitable[Response]]:
    async def route(request: Request, who: Identity, node: Node) -> Response:
        if not allowed(who, Action.MANAGE_CONTENT):
            return error(403, ErrorCode.FORBIDDEN, "only admins manage the question bank")
        return await handler(request, who, node)

    return authenticated(route)


async def _json(request: Request, node: Node) -> Any | Response:
    declared = request.headers.get("content-length", "")
    most = node.settings.content_max_bytes
    if declared.isdigit() and int(declared) > most:
        return error(413, ErrorCode.TOO_LARGE, "the request body is too large")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > most:
            return error(413, ErrorCode.TOO_LARGE, "the request body is too large")
    try:
        return msgspec.json.decode(bytes(body))
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return error(400, ErrorCode.BAD_REQUEST, "the body is not JSON")


_Taken = TypeVar("_Taken")


async def _read(request: Request, node: Node,
                parse: Callable[[Any], _Taken]) -> _Taken | Response:
    """The JSON body as `parse` takes it, or the error response to send instead."""
    raw = await _json(request, node)
    if isinstance(raw, Response):
        return raw
    try:
        return parse(raw)
    except ContentError as err:
        return _refused(err)


def _refused(err: ContentError) -> Response:
    extra = {"field": err.field} if err.field else {}
    return error(400, ErrorCode.BAD_REQUEST, err.message, **extra)


def _version(row: VersionRow) -> dict[str, Any]:
    shown: dict[str, Any] = {"version": row.version, "state": row.state.value,
                             "title": row.title, "changed_at": row.changed_at.isoformat()}
    if row.body is not None:
        # In the order the bank's files are written in, for the admin's editor.
        shown["question"] = as_body(msgspec.convert(row.body, Question))
    return shown


def _grouped(rows: list[VersionRow]) -> list[dict[str, Any]]:
    by_id: dict[str, list[VersionRow]] = {}
    for row in rows:
        by_id.setdefault(row.id, []).append(row)
    listed = []
    for qid, versions in by_id.items():
        newest = versions[-1]
        published = next((v.version for v in versions if v.state is State.PUBLISHED), None)
        # The question's own state: published when a version is, draft while only drafts exist.
        state = (State.PUBLISHED if published else
                 State.RETIRED if any(v.state is State.RETIRED for v in versions) else
                 State.DRAFT)
        listed.append({"id": qid, "title": newest.title, "language": newest.language,
                       "difficulty": newest.difficulty, "tags": newest.tags,
                       "state": state.value, "published": published, "latest": newest.version,
                       "versions": [_version(v) for v in versions]})
    return listed


@admin
async def listing(request: Request, who: Identity, node: Node) -> Response:
    return JSONResponse(_grouped(await node.question_store.listing()))


@admin
async def one(request: Request, who: Identity, node: Node) -> Response:
    qid = request.path_params["qid"]
    rows = await node.question_store.versions(qid)
    if not rows:
        return error(404, ErrorCode.NOT_FOUND, "no such question")
    return JSONResponse({**_grouped(rows)[0], "versions": [_version(v) for v in rows]})


def _saved(question: Question, version: int) -> Response:
    return JSONResponse({"id": question.id, "version": version, "state": State.DRAFT.value},
                        status_code=201)


@admin
async def create(request: Request, who: Identity, node: Node) -> Response:
    question = await _read(request, node, lambda raw: validate(raw, version=1))
    if isinstance(question, Response):
        return question
    try:
        version = await node.question_store.create(as_body(question), who.user)
    except QuestionExists:
        return error(409, ErrorCode.CONFLICT, f"a question {question.id} exists; edit it",
                     field="id")
    return _saved(question, version)


@admin
async def edit(request: Request, who: Identity, node: Node) -> Response:
    qid = request.path_params["qid"]

    def taken(raw: Any) -> Question:
        if isinstance(raw, dict) and raw.get("id", qid) != qid:
            raise ContentError("the id cannot change; create a new question", field="id")
        # The number is the store's to give; 1 only passes validation.
        return validate(raw, question_id=qid, version=1)

    question = await _read(request, node, taken)
    if isinstance(question, Response):
        return question
    version = await node.question_store.edit(as_body(question), who.user)
    if version is None:
        return error(404, ErrorCode.NOT_FOUND, "no such question")
    return _saved(question, version)


async def _problems_after(node: Node, changes: dict[str, Question | None]) -> list[str]:
    """What would be wrong with the prerequisites of the offered questions after the changes
    (an id to its new offered version, or None when it stops being offered)."""
    await node.bank.refresh()
    offered = {q.id: q for q in node.bank.offered()}
    for qid, question in changes.items():
        if question is None:
            offered.pop(qid, None)
        else:
            offered[qid] = question
    return prerequisite_problems(offered.values())


async def _offered_changed(node: Node) -> None:
    """This node offers the new versions at once (others on their next refresh), and search
    embeds them in the background."""
    await node.bank.refresh()
    node.tasks.start_soon(index_content, node.learning)


async def _move(request: Request, who: Identity, node: Node, state: State) -> Response:
    qid = request.path_params["qid"]
    try:
        version = int(request.path_params["version"])
    except ValueError:
        return error(400, ErrorCode.BAD_REQUEST, "the version is a whole number", field="version")
    question = await node.bank.pinned(qid, version)
    if question is None:
        return error(404, ErrorCode.NOT_FOUND, "no such question version")
    offered = node.bank.get(qid)
    if state is State.PUBLISHED or (offered is not None and offered.version == version):
        problems = await _problems_after(
            node, {qid: question if state is State.PUBLISHED else None})
        if problems:
            return error(409, ErrorCode.CONFLICT, "; ".join(problems), field="prerequisites")
    if not await node.question_store.set_state(qid, version, state, who.user):
        return error(404, ErrorCode.NOT_FOUND, "no such question version")
    await _offered_changed(node)
    return JSONResponse({"id": qid, "version": version, "state": state.value})


@admin
async def publish(request: Request, who: Identity, node: Node) -> Response:
    return await _move(request, who, node, State.PUBLISHED)


@admin
async def retire(request: Request, who: Identity, node: Node) -> Response:
    return await _move(request, who, node, State.RETIRED)


@admin
async def export(request: Request, who: Identity, node: Node) -> Response:
    entries = [Entry(state, msgspec.convert(body, Question))
               for state, body in await node.question_store.everything()]
    return JSONResponse(bundle(entries), headers={
        "Content-Disposition": 'attachment; filename="wingman-content.json"'})


@admin
async def import_(request: Request, who: Identity, node: Node) -> Response:
    entries = await _read(request, node, from_bundle)
    if isinstance(entries, Response):
        return entries
    changes: dict[str, Question | None] = {}
    for e in entries:
        if e.state is State.PUBLISHED:
            changes[e.question.id] = e.question
        elif changes.get(e.question.id, e.question) is e.question:
            offered = node.bank.get(e.question.id)
            if offered is not None and offered.version == e.question.version:
                changes[e.question.id] = None
    problems = await _problems_after(node, changes)
    if problems:
        return error(409, ErrorCode.CONFLICT, "; ".join(problems), field="prerequisites")
    try:
        done = await node.question_store.import_([(e.state, e.body()) for e in entries],
                                                 who.user, same_question)
    except VersionConflict as err:
        return error(409, ErrorCode.CONFLICT, f"{err}; give the changed question a new version",
                     field="version")
    await _offered_changed(node)
    return JSONResponse({"added": done.added, "unchanged": done.unchanged,
                         "states_changed": done.states_changed})


routes = [
    Route("/api/admin/questions", listing, methods=["GET"]),
    Route("/api/admin/questions", create, methods=["POST"]),
    Route("/api/admin/questions/{qid}", one, methods=["GET"]),
    Route("/api/admin/questions/{qid}", edit, methods=["PUT"]),
    Route("/api/admin/questions/{qid}/versions/{version}/publish", publish, methods=["POST"]),
    Route("/api/admin/questions/{qid}/versions/{version}/retire", retire, methods=["POST"]),
    Route("/api/admin/content/export", export, methods=["GET"]),
    Route("/api/admin/content/import", import_, methods=["POST"]),
]
