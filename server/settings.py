"""Every setting of a node, read once from the environment, as operators name them."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from realtime.ratelimit import Rate
from server.embedders import EmbedderName


class SandboxBackend(StrEnum):
    AUTO = "auto"
    PROCESS = "process"
    DOCKER = "docker"


def _rate(value: object) -> object:
    return Rate.parse(value) if isinstance(value, str) else value


# Written as operators would say it: "20/min burst 6", "30/s burst 60", "5/10s".
RateSetting = Annotated[Rate, NoDecode, BeforeValidator(_rate)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    # Where the laptop defaults keep their state (embedded Postgres, the generated signing secret).
    data_dir: Path = Path("data")
    database_url: str | None = None
    redis_url: str | None = None
    # REDIS_URL names one node of a Redis Cluster (the client learns the rest from it): sessions
    # spread over its shards, their events go by sharded pub/sub.
    redis_cluster: bool = False
    # Connections a node opens to Redis at most (its subscription connection not counted).
    redis_connections: int = 64

    host: str = "127.0.0.1"
    port: int = 8000
    node_id: str = "node-1"
    # Origins a browser may open /ws from; empty means "the server's own origin" only.
    allowed_origins: list[str] = Field(default_factory=list)

    # A JWK set of Ed25519 keys (JSON); the last one signs. Unset: generated into DATA_DIR.
    jwt_keys: str | None = None
    jwt_issuer: str = "socraticwingman"
    jwt_audience: str = "socraticwingman.ws"
    access_token_seconds: int = 15 * 60
    refresh_token_days: int = 7
    refresh_grace_seconds: float = 10.0
    # Browsers keep Secure cookies from http://localhost too; turn off only for plain-http hosts.
    cookie_secure: bool = True
    auth_frame_timeout_seconds: float = 10.0

    # Where browsers reach this node (https://wingman.example); OAuth redirect URIs are built
    # from it. Unset: from the address of each request.
    public_url: str | None = None
    # Signs the short-lived cookie holding OAuth state, nonce and PKCE verifier; nodes behind one
    # address need the same. Unset: generated into DATA_DIR.
    session_secret: str | None = None
    # Sign-in with OpenID providers; each is on once its client id and secret are both set.
    google_client_id: str | None = None
    google_client_secret: str | None = None
    google_discovery_url: str = "https://accounts.google.com/.well-known/openid-configuration"
    google_pkce: bool = True
    linkedin_client_id: str | None = None
    linkedin_client_secret: str | None = None
    linkedin_discovery_url: str = "https://www.linkedin.com/oauth/.well-known/openid-configuration"
    # LinkedIn's OIDC web flow uses PKCE only for clients that asked LinkedIn to enable it.
    linkedin_pkce: bool = False

    # Wire limits (PROTOCOL.md).
    max_frame_bytes: int = 256 * 1024
    max_code_bytes: int = 64 * 1024
    max_text_bytes: int = 4 * 1024
    max_stdin_bytes: int = 64 * 1024
    send_queue_bytes: int = 4 * 1024 * 1024
    # Small JSON frames gain little from deflate, and each compressor costs ~100 KiB per socket.
    ws_deflate: bool = False
    ws_ping_interval_seconds: float = 20.0
    ws_ping_timeout_seconds: float = 40.0
    bad_frames_before_close: int = 20
    idempotency_seconds: float = 600.0

    # Rate limits, shared by all nodes through Redis when REDIS_URL is set. Logins count per
    # account (a hash of the email) and per client address; the rest per user.
    rate_login_account: RateSetting = Rate(5, 60.0, 5)
    rate_login_address: RateSetting = Rate(20, 60.0, 20)
    rate_register_address: RateSetting = Rate(20, 3600.0, 10)
    rate_frames: RateSetting = Rate(30, 1.0, 60)
    rate_runs: RateSetting = Rate(20, 60.0, 6)
    rate_tutor_turns: RateSetting = Rate(10, 60.0, 4)
    # Mails asked for (resend a verify link, forgot password), per account: no mail-bombing.
    rate_mail_account: RateSetting = Rate(5, 3600.0, 3)
    # A peer that keeps sending while told to wait is closed with 4429.
    rate_limited_before_close: int = 20

    sandbox_backend: SandboxBackend = SandboxBackend.AUTO
    sandbox_slots: int = 4
    # Each slot runs as its own uid from here on; nodes sharing a host need disjoint ranges.
    sandbox_first_uid: int = 61000
    sandbox_queue: int = 32
    # Runs one user may have accepted at once (running or waiting); more get `busy`.
    sandbox_runs_per_user: int = 4
    # Docker backend: the engine (unset: DOCKER_HOST or the local socket), the runner image
    # `wingman sandbox build-image` makes, warm containers per language, CPUs per run.
    docker_host: str | None = None
    sandbox_image: str = "wingman-runner:bookworm"
    sandbox_base_image: str = "wingman-debian:bookworm"
    sandbox_debian_suite: str = "bookworm"
    sandbox_debian_mirror: str = "http://deb.debian.org/debian"
    sandbox_pool: int = 2
    sandbox_cpus: float = 1.0
    run_wall_seconds: float = 10.0
    run_memory_bytes: int = 256 * 1024 * 1024
    run_processes: int = 64
    run_output_bytes: int = 1024 * 1024

    session_idle_seconds: float = 30 * 60
    # Open mentor invitations per session, so at most this many observers besides admins.
    max_observers: int = 8
    # The largest body the content API takes (an import bundle of the whole bank).
    content_max_bytes: int = 8 * 1024 * 1024
    history_events: int = 10_000
    # Redis keeps a session's history and state this long after its last event.
    history_lifetime_seconds: float = 6 * 3600
    # Every this many events the folded state is saved, so a node can start from it.
    snapshot_every: int = 200
    # Nodes beat this often; one silent for `node_ttl_seconds` is dead and cleaned up after.
    node_heartbeat_seconds: float = 1.0
    node_ttl_seconds: float = 5.0
    # A session with no member on this node for this long is no longer followed here.
    detach_after_seconds: float = 10.0
    # Sessions are spread over this many Redis trace streams by their id; each stream's hash tag
    # is the cluster slot of its sessions' keys. Change it only with Redis emptied of sessions.
    trace_streams: int = 16
    trace_batch: int = 2000
    trace_flush_seconds: float = 0.1
    # Without Redis: events a node queues for Postgres at most before refusing new ones.
    trace_queue_events: int = 200_000
    # Complex moments (tutor/moments.py): the same error this many runs in a row; no activity
    # this long after a failing run; this many hints within the window. Silence is checked
    # every tick.
    moment_same_error_runs: int = 3
    moment_idle_seconds: float = 300.0
    moment_hint_burst: int = 3
    moment_hint_window_seconds: float = 120.0
    moment_tick_seconds: float = 5.0
    # Admin monitor: a session's summary goes out at most once per interval however busy it
    # is; nodes report their counts this often; summaries are re-put this often.
    monitor_interval_seconds: float = 0.3
    monitor_node_seconds: float = 2.0
    monitor_refresh_seconds: float = 10.0
    # With Redis: entries a trace stream holds at most (written or not) before publishing
    # answers `unavailable`; whether this node runs a trace writer; how long an entry may stay
    # unacknowledged before another writer claims it; writer loops sharing the streams.
    trace_stream_bound: int = 200_000
    trace_writer: bool = True
    trace_claim_idle_seconds: float = 30.0
    trace_writer_tasks: int = 2
    # Trace writers run as this many processes beside the node (0: inside the node's own event
    # loop), at this niceness, so that a backlog being written never slows a session.
    trace_writer_processes: int = 1
    # A writer reads and acknowledges at most this many stream entries per Redis command.
    trace_read_chunk: int = 250
    trace_writer_nice: int = 10
    # Set by a node for the writer processes it starts: they die with it.
    trace_writer_parent: int = 0
    # Traces are kept at least this many days after their session started, gone a day later.
    trace_retention_days: int = 90
    # Daily partitions are made this many days ahead.
    trace_partitions_ahead_days: int = 7
    # The server runs the retention job this often (one node at a time); 0: never (cron runs
    # `wingman retention run` instead).
    trace_retention_interval_seconds: float = 3600.0
    # Detaching a partition waits at most this long for its lock, then tries on the next run.
    trace_retention_lock_timeout_seconds: float = 2.0
    # Pause between streamed tutor deltas, so a reply reads as it is produced.
    tutor_delta_seconds: float = 0.04

    # Keys sealing email and name at rest (server/pii_keys.py): key id -> base64 of 32 bytes,
    # the id sealing now, and the base64 HMAC key emails are found by. Unset: DATA_DIR file.
    pii_keys: dict[str, str] = Field(default_factory=dict)
    pii_key_id: str | None = None
    pii_lookup_key: str | None = None

    # Mail (server/mail.py): smtp://user:pass@host:587 (STARTTLS when offered) or smtps:// for
    # implicit TLS. Unset: mails are not sent, and the node logs that mail is not configured.
    smtp_url: str | None = None
    mail_from: str = "SocraticWingman <wingman@localhost>"
    smtp_timeout_seconds: float = 20.0
    # Links in mails start with PUBLIC_URL (above); unset: http://HOST:PORT.
    verify_token_seconds: float = 24 * 3600
    reset_token_seconds: float = 3600

    # Reminders of due reviews (server/reminders.py): how often a node looks, and how long after
    # a learner's chosen local time a reminder may still go out (a node that was down then).
    reminder_check_seconds: float = 60.0
    reminder_window_minutes: int = 120
    # Tests and drills only: a file holding an ISO-8601 instant the reminder job takes as now.
    reminder_clock_file: Path | None = None
    # Learning (issue 8): the spaced-repetition scheduler ("fsrs" or "sm2"), the embedder
    # ("hashed", no download; "semantic" needs the `semantic` extra), the diagnostic's length,
    # and how similar a lesson or a past mistake must be for the tutor to bring it up.
    review_scheduler: Literal["fsrs", "sm2"] = "fsrs"
    embedder: EmbedderName = EmbedderName.HASHED
    diagnostic_length: int = 10
    retrieval_lesson_similarity: float = 0.15
    retrieval_mistake_similarity: float = 0.35
    # Observability (README "Operating it"). Tracing exports over OTLP/HTTP to this endpoint
    # (http://collector:4318); unset, tracing is off. The sampler's ratio applies to new traces.
    otel_exporter_otlp_endpoint: str | None = None
    otel_service_name: str = "socraticwingman"
    otel_traces_sampler_arg: float = 1.0
    # Log lines as JSON objects (`json`) or as readable text (`text`).
    log_format: Literal["json", "text"] = "json"
    # On SIGTERM, /readyz answers 503 for this long before sockets close with 1012, so a load
    # balancer polling it sends no new connections here meanwhile.
    drain_seconds: float = 0.0

    def public_base(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def data_path(self, *parts: str) -> Path:
        path = self.data_dir.joinpath(*parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path
