-- Accounts, the question bank, sessions and their traces.
CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE users (
    id            uuid PRIMARY KEY,
    email         text NOT NULL UNIQUE,
    name          text NOT NULL,
    password_hash text,
    roles         text[] NOT NULL,
    consent       boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE questions (
    id         text NOT NULL,
    version    integer NOT NULL,
    title      text NOT NULL,
    language   text NOT NULL,
    difficulty text NOT NULL,
    tags       text[] NOT NULL,
    body       jsonb NOT NULL,
    published  boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id, version)
);

CREATE TABLE sessions (
    sid              uuid PRIMARY KEY,
    learner_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    question_id      text NOT NULL,
    question_version integer NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    ended_at         timestamptz,
    end_reason       text
);
CREATE INDEX sessions_by_learner ON sessions (learner_id, created_at DESC);

CREATE TABLE trace_events (
    sid        uuid NOT NULL,
    seq        bigint NOT NULL,
    epoch      bigint NOT NULL,
    ts         timestamptz NOT NULL,
    kind       text NOT NULL,
    actor      text NOT NULL,
    role       text NOT NULL,
    data       jsonb NOT NULL,
    private_to text,
    PRIMARY KEY (sid, seq)
);

-- Events Postgres would not take, kept for a person to look at instead of stalling the writer.
CREATE TABLE trace_dead_letters (
    sid        uuid NOT NULL,
    seq        bigint NOT NULL,
    error      text NOT NULL,
    payload    text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
