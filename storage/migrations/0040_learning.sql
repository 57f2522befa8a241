-- Learning data (kept only for learners who consented): review items, mastery per tag, the
-- diagnostic, each session's grade, and embeddings of content and of a learner's mistakes.

-- What each kept session came to, graded when it ended.
ALTER TABLE sessions
    ADD COLUMN review boolean NOT NULL DEFAULT false,
    ADD COLUMN passed boolean,
    ADD COLUMN rating smallint;

-- One per learner and question worked on: what the spaced-repetition scheduler remembers.
CREATE TABLE review_items (
    learner_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    question_id   text NOT NULL,
    scheduler     text NOT NULL,
    due           timestamptz NOT NULL,
    last_review   timestamptz,
    interval_days integer NOT NULL DEFAULT 0,
    reviews       integer NOT NULL DEFAULT 0,
    lapses        integer NOT NULL DEFAULT 0,
    ease          double precision NOT NULL,
    streak        integer NOT NULL DEFAULT 0,
    stability     double precision,
    difficulty    double precision,
    last_rating   smallint,
    PRIMARY KEY (learner_id, question_id)
);
CREATE INDEX review_items_due ON review_items (learner_id, due);

-- A learner's skill per tag, with its spread (how unsure the model still is).
CREATE TABLE mastery (
    learner_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tag        text NOT NULL,
    level      double precision NOT NULL,
    spread     double precision NOT NULL,
    seen       timestamptz,
    evidence   integer NOT NULL DEFAULT 0,
    PRIMARY KEY (learner_id, tag)
);

-- The adaptive diagnostic: the questions asked so far and what came of each.
CREATE TABLE diagnostics (
    id          uuid PRIMARY KEY,
    learner_id  uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    length      integer NOT NULL,
    languages   text[] NOT NULL DEFAULT '{}',
    answers     jsonb NOT NULL DEFAULT '[]',
    -- The question put to the learner now, and since when.
    current     text,
    current_at  timestamptz,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    reason      text
);
-- At most one diagnostic under way per learner.
CREATE UNIQUE INDEX diagnostics_open ON diagnostics (learner_id) WHERE finished_at IS NULL;

-- Content as vectors (questions, micro-lessons), per embedder; `digest` tells a changed text.
CREATE TABLE content_vectors (
    kind      text NOT NULL,
    key       text NOT NULL,
    embedder  text NOT NULL,
    digest    text NOT NULL,
    title     text NOT NULL,
    embedding vector(384) NOT NULL,
    PRIMARY KEY (kind, key, embedder)
);
CREATE INDEX content_vectors_hnsw ON content_vectors USING hnsw (embedding vector_cosine_ops);

-- A learner's mistakes (an exception in a run), to recognise the same mistake later.
CREATE TABLE mistakes (
    id          bigserial PRIMARY KEY,
    learner_id  uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    sid         uuid NOT NULL,
    question_id text NOT NULL,
    kind        text NOT NULL,
    summary     text NOT NULL,
    embedder    text NOT NULL,
    embedding   vector(384) NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mistakes_by_learner ON mistakes (learner_id, created_at DESC);
CREATE INDEX mistakes_hnsw ON mistakes USING hnsw (embedding vector_cosine_ops);
