-- Mentors a learner invited to watch one session. No foreign key to `sessions`: the sessions of
-- learners who did not consent are never stored there, yet may be watched all the same.
CREATE TABLE mentor_invites (
    id          uuid PRIMARY KEY,
    sid         uuid NOT NULL,
    question_id text NOT NULL,
    learner_id  uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    mentor_id   uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    invisible   boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    accepted_at timestamptz,
    revoked_at  timestamptz
);
-- One open invitation per mentor and session; also how a join finds the mentor's invitation.
CREATE UNIQUE INDEX mentor_invites_open ON mentor_invites (sid, mentor_id)
    WHERE revoked_at IS NULL;
CREATE INDEX mentor_invites_by_mentor ON mentor_invites (mentor_id, created_at DESC);
CREATE INDEX mentor_invites_by_learner ON mentor_invites (learner_id);
