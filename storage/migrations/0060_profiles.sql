-- A learner's profile and preferences. The goal is their own words: sealed like name and email.
CREATE TABLE profiles (
    user_id           uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    goal_sealed       bytea,
    experience        text,
    target_date       date,
    languages         text[] NOT NULL DEFAULT '{}',
    daily_goal        integer NOT NULL DEFAULT 1,
    reminder_time     time,
    time_zone         text NOT NULL DEFAULT 'UTC',
    email_reminders   boolean NOT NULL DEFAULT true,
    app_notifications boolean NOT NULL DEFAULT true,
    onboarded         boolean NOT NULL DEFAULT false,
    updated_at        timestamptz NOT NULL DEFAULT now()
);
-- The reminder job looks only at people who want some reminder at some time.
CREATE INDEX profiles_reminded ON profiles (user_id)
    WHERE reminder_time IS NOT NULL AND (email_reminders OR app_notifications);

-- One reminder per learner and local day, whichever node sends it: the row is the claim.
CREATE TABLE reminders_sent (
    user_id   uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    local_day date NOT NULL,
    sent_at   timestamptz NOT NULL DEFAULT now(),
    due       integer NOT NULL,
    PRIMARY KEY (user_id, local_day)
);

-- In-app notifications, listed on the page until read; also pushed live over /ws.
CREATE TABLE notifications (
    id         bigserial PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind       text NOT NULL,
    data       jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    read_at    timestamptz
);
CREATE INDEX notifications_unread ON notifications (user_id, id DESC) WHERE read_at IS NULL;
CREATE INDEX notifications_by_user ON notifications (user_id, id DESC);
