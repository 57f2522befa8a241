"""The `wingman` command: serve a node, migrate, add users, re-seal personal data, move the
question bank as files, run the trace retention job."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from server.settings import Settings

ROLES = ("learner", "mentor", "admin", "system")


def _serve(settings: Settings) -> int:
    import threading
    import time
    from types import FrameType

    import uvicorn

    from server.app import create_app

    app = create_app(settings)

    class DrainingServer(uvicorn.Server):
        """On the first SIGTERM, /readyz fails for DRAIN_SECONDS while the node still serves;
        then uvicorn stops as usual (sockets closed with 1012). A second signal stops at once."""

        draining = False

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            node = getattr(app.state, "node", None)
            if self.draining or node is None or settings.drain_seconds <= 0:
                super().handle_exit(sig, frame)
                return
            self.draining = node.draining = True

            def drain() -> None:
                # Not logged from the signal handler itself: it may interrupt a logging call.
                logging.getLogger("wingman.node").info(
                    "draining: not ready for %.1fs, then closing connections",
                    settings.drain_seconds)
                time.sleep(settings.drain_seconds)
                uvicorn.Server.handle_exit(self, sig, frame)

            threading.Thread(target=drain, name="drain", daemon=True).start()

    config = uvicorn.Config(
        app, host=settings.host, port=settings.port, loop="uvloop",
        ws="websockets-sansio", lifespan="on", log_level="info", log_config=None,
        ws_max_size=settings.max_frame_bytes,
        ws_ping_interval=settings.ws_ping_interval_seconds,
        ws_ping_timeout=settings.ws_ping_timeout_seconds,
        ws_per_message_deflate=settings.ws_deflate,
        timeout_graceful_shutdown=15,
    )
    DrainingServer(config).run()
    return 0


async def _migrate(settings: Settings) -> int:
    from server.node import prepare_database
    from server.pii_keys import load_sealer

    pool = await prepare_database(settings, load_sealer(settings))
    await pool.close()
    print("database is up to date, question bank loaded")
    return 0


async def _content(settings: Settings, command: str, folder: Path, publish: bool) -> int:
    import msgspec

    from server.content import ContentError, Entry, read_folder, same_question, write_folder
    from server.node import prepare_database
    from server.pii_keys import load_sealer
    from storage.questions import QuestionStore, VersionConflict
    from tutor.content import Question

    if command == "import":
        try:
            entries = read_folder(folder, publish)
        except ContentError as err:
            print(f"error: {err.message}", file=sys.stderr)
            return 2
    pool = await prepare_database(settings, load_sealer(settings))
    try:
        store = QuestionStore(pool)
        if command == "export":
            written = write_folder([Entry(state, msgspec.convert(body, Question))
                                    for state, body in await store.everything()], folder)
            print(f"exported {written} question versions to {folder}")
            return 0
        try:
            done = await store.import_([(e.state, e.body()) for e in entries], None,
                                       same_question)
        except VersionConflict as err:
            print(f"error: {err}; give the changed question a new version", file=sys.stderr)
            return 1
        print(f"imported {done.added} new versions, {done.unchanged} unchanged, "
              f"{done.states_changed} changed state")
        return 0
    finally:
        await pool.close()


async def _add_user(settings: Settings, email: str, role: str, name: str | None) -> int:
    from server.node import prepare_database
    from server.passwords import hash_password, password_problem
    from server.pii_keys import load_sealer
    from storage.users import EmailTaken, UserStore

    password = getpass.getpass("password: ") if sys.stdin.isatty() else sys.stdin.readline()
    password = password.rstrip("\n")
    problem = password_problem(password)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    sealer = load_sealer(settings)
    pool = await prepare_database(settings, sealer)
    try:
        roles = [role] if role == "learner" else [role, "learner"]
        user = await UserStore(pool, sealer).add(email, name or email.split("@")[0],
                                                 hash_password(password), roles,
                                                 consent=role == "learner")
    except EmailTaken:
        print(f"error: {email} exists already", file=sys.stderr)
        return 1
    finally:
        await pool.close()
    print(f"added {user.id} with roles {', '.join(user.roles)}")
    return 0


async def _reseal(settings: Settings) -> int:
    from server.node import prepare_database
    from server.pii_keys import load_sealer
    from storage.resealing import reseal, reseal_goals

    sealer = load_sealer(settings)
    pool = await prepare_database(settings, sealer)
    try:
        count = await reseal(pool, sealer)
        goals = await reseal_goals(pool, sealer)
    finally:
        await pool.close()
    print(f"re-sealed {count} accounts with key {sealer.current_kid}")
    print(f"re-sealed {goals} profile goals with key {sealer.current_kid}")
    return 0


async def _set_roles(settings: Settings, email: str, roles: list[str]) -> int:
    """New roles take effect at once: the user's current tokens and sockets are revoked."""
    from server.node import prepare_database
    from server.pii_keys import load_sealer
    from storage.refresh import RefreshTokenStore
    from storage.revocations import Revocations
    from storage.users import UserStore

    sealer = load_sealer(settings)
    pool = await prepare_database(settings, sealer)
    try:
        users = UserStore(pool, sealer)
        user = await users.by_email(email)
        if user is None:
            print("error: no such account", file=sys.stderr)
            return 1
        await users.set_roles(user.id, roles)
        await RefreshTokenStore(pool, timedelta(0), timedelta(0)).revoke_user(user.id)
        await Revocations(pool).revoke(user.id)
    finally:
        await pool.close()
    print(f"{user.id} now has roles {', '.join(roles)}; their sign-ins were revoked")
    return 0


async def _retention(settings: Settings, now: datetime | None) -> int:
    """One run of the trace retention job, as cron would run it; prints what it removed."""
    from server.node import open_retention, prepare_database, run_retention
    from server.pii_keys import load_sealer

    pool = await prepare_database(settings, load_sealer(settings))
    try:
        report = await run_retention(open_retention(settings, pool), now or datetime.now(UTC))
    finally:
        await pool.close()
    print(json.dumps(report, indent=2))
    if not report["ran"]:
        print("another node is running the retention job; nothing done", file=sys.stderr)
    return 0


def _instant(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _rotate_signing(settings: Settings) -> int:
    """Laptop keys are rotated in place; configured ones are printed for the secret store."""
    from server.tokens import load_signing_keys, save_signing_keys

    path = settings.data_path("jwt-keys.json")
    rotated = load_signing_keys(settings.jwt_keys, path).rotated()
    if settings.jwt_keys:
        print(rotated.to_json())
        print("set JWT_KEYS to the key set above on every node, then restart them one by one",
              file=sys.stderr)
    else:
        save_signing_keys(rotated, path)
        print(f"new signing key {rotated.current.kid}; restart the node to sign with it")
    return 0


async def _build_image(settings: Settings, rebuild: bool) -> int:
    """The runner image from Debian packages, through the engine DOCKER_HOST names."""
    import aiodocker

    from sandbox.image import ImageNames, build_images

    docker = aiodocker.Docker(url=settings.docker_host)
    try:
        await build_images(docker, ImageNames(settings.sandbox_base_image, settings.sandbox_image),
                           settings.sandbox_debian_suite, settings.sandbox_debian_mirror,
                           rebuild=rebuild)
    finally:
        await docker.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wingman", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="start one node")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--node-id")
    commands.add_parser("migrate", help="apply migrations and load the question bank")
    user = commands.add_parser("user", help="manage accounts")
    user_commands = user.add_subparsers(dest="user_command", required=True)
    add = user_commands.add_parser("add", help="add an account; the password is read from stdin")
    add.add_argument("email")
    add.add_argument("--role", choices=ROLES, default="learner")
    add.add_argument("--name")
    roles = user_commands.add_parser("roles", help="set an account's roles (revokes its sign-ins)")
    roles.add_argument("email")
    roles.add_argument("roles", nargs="+", choices=ROLES)
    keys = commands.add_parser("keys", help="signing keys and the keys sealing personal data")
    keys_commands = keys.add_subparsers(dest="keys_command", required=True)
    keys_commands.add_parser("reseal", help="re-seal what older keys sealed with the current one")
    keys_commands.add_parser(
        "rotate-signing", help="add a new token signing key; older ones keep verifying")
    content = commands.add_parser("content", help="the question bank as files")
    content_commands = content.add_subparsers(dest="content_command", required=True)
    exporting = content_commands.add_parser(
        "export", help="write every version of every question and their states to a folder")
    exporting.add_argument("folder", type=Path)
    importing = content_commands.add_parser(
        "import", help="add the versions in a folder (all or nothing) and take over their states")
    importing.add_argument("folder", type=Path)
    importing.add_argument("--publish", action="store_true",
                           help="publish versions states.json does not name (else drafts)")
    sandbox = commands.add_parser("sandbox", help="the Docker sandbox")
    sandbox_commands = sandbox.add_subparsers(dest="sandbox_command", required=True)
    build = sandbox_commands.add_parser(
        "build-image", help="build the runner image from Debian packages (needs root)")
    build.add_argument("--rebuild", action="store_true", help="debootstrap the base again")
    retention = commands.add_parser("retention", help="the trace retention job")
    retention_commands = retention.add_subparsers(dest="retention_command", required=True)
    retention_run = retention_commands.add_parser(
        "run", help="make the week ahead's partitions, drop expired ones, erase what was "
        "withdrawn; one node at a time")
    retention_run.add_argument("--now", type=_instant,
                               help="the job's clock (ISO 8601, UTC unless said); default: now")
    writer = commands.add_parser(
        "trace-writer", help="write the Redis trace streams to Postgres (a node starts its own)")
    writer.add_argument("--consumer", required=True, help="this writer's name in the group")
    args = parser.parse_args(argv)

    overrides = {k: v for k, v in {"host": getattr(args, "host", None),
                                   "port": getattr(args, "port", None),
                                   "node_id": getattr(args, "node_id", None)}.items() if v}
    settings = Settings(**overrides)
    from server import logs

    logs.configure(settings)
    if args.command == "serve":
        return _serve(settings)
    if args.command == "migrate":
        return asyncio.run(_migrate(settings))
    if args.command == "content":
        return asyncio.run(_content(settings, args.content_command, args.folder,
                                    getattr(args, "publish", False)))
    if args.command == "trace-writer":
        from server.trace_process import serve_trace_writer

        return asyncio.run(serve_trace_writer(settings, args.consumer))
    if args.command == "retention":
        return asyncio.run(_retention(settings, args.now))
    if args.command == "sandbox":
        return asyncio.run(_build_image(settings, args.rebuild))
    if args.command == "keys" and args.keys_command == "rotate-signing":
        return _rotate_signing(settings)
    if args.command == "keys":
        return asyncio.run(_reseal(settings))
    if args.user_command == "roles":
        return asyncio.run(_set_roles(settings, args.email, sorted(set(args.roles))))
    return asyncio.run(_add_user(settings, args.email, args.role, args.name))


if __name__ == "__main__":
    sys.exit(main())
