-- Sign-in identities at OpenID providers (Google, LinkedIn), each linked to one local account.
-- The provider's `sub` is the identity; the email it asserted is not kept here (it is PII, and
-- the account's own sealed email is what linking compared it with).
CREATE TABLE oauth_identities (
    provider   text NOT NULL,
    subject    text NOT NULL,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, subject)
);
CREATE INDEX oauth_identities_by_user ON oauth_identities (user_id);
