-- Whether the account has shown it can read mail sent to its address; accounts created before
-- this migration never did, so they start unverified.
ALTER TABLE users ADD COLUMN email_verified boolean NOT NULL DEFAULT false;

-- One-time tokens mailed to an account (verify its address, reset its password), stored only as
-- SHA-256 hashes: the database alone cannot be used to follow a link.
CREATE TABLE email_tokens (
    token_hash bytea PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    text NOT NULL CHECK (purpose IN ('verify', 'reset')),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX email_tokens_by_user ON email_tokens (user_id, purpose);
