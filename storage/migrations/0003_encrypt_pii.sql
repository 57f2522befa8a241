-- Personal data sealed at rest (storage/pii.py): AES-256-GCM values and a keyed hash of the
-- email to find an account by. SQL cannot encrypt, so the node seals the rows that still hold
-- plaintext right after migrating (storage/resealing.py) and sets email and name to NULL.
-- The plaintext columns stay, always NULL, until a later migration drops them; no code writes
-- them any more. Stop nodes of older versions before starting this one: they would write them.
ALTER TABLE users
    ADD COLUMN email_lookup bytea,
    ADD COLUMN email_sealed bytea,
    ADD COLUMN name_sealed  bytea,
    ALTER COLUMN email DROP NOT NULL,
    ALTER COLUMN name DROP NOT NULL,
    DROP CONSTRAINT users_email_key;

CREATE UNIQUE INDEX users_by_email_lookup ON users (email_lookup);
-- Finds the rows left to seal without reading the whole table at every start; empty once done.
CREATE INDEX users_with_plaintext ON users (id) WHERE email IS NOT NULL OR name IS NOT NULL;

-- Which keys the sealed data was written with, by a one-way fingerprint of each key, so that a
-- node started with other keys refuses instead of writing data nobody else can read or find.
CREATE TABLE pii_keys (
    kind        text NOT NULL CHECK (kind IN ('seal', 'lookup')),
    kid         text NOT NULL,
    fingerprint bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, kid)
);
