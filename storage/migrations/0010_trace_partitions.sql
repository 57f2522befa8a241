-- Session traces partitioned by the UTC day their session started, read from the UUIDv7 id, so a
-- session's events live in one partition and expire together (a partition is dropped, never
-- swept by a DELETE). The day is a column because a partitioned table's primary key must hold
-- its partition key; it is a function of the sid, so (sid, seq) stays unique.

-- The UTC day a session started, from the millisecond time in a UUIDv7's first 48 bits; NULL
-- for an id of another version.
CREATE FUNCTION wingman_session_day(sid uuid) RETURNS date
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE WHEN substr(sid::text, 15, 1) = '7' THEN
        (to_timestamp(('x' || lpad(substr(replace(sid::text, '-', ''), 1, 12), 16, '0'))
                      ::bit(64)::bigint / 1000.0) AT TIME ZONE 'UTC')::date
    END
$$;

ALTER TABLE trace_events RENAME TO trace_events_unpartitioned;
ALTER INDEX trace_events_pkey RENAME TO trace_events_unpartitioned_pkey;

CREATE TABLE trace_events (
    day        date NOT NULL,
    sid        uuid NOT NULL,
    seq        bigint NOT NULL,
    epoch      bigint NOT NULL,
    ts         timestamptz NOT NULL,
    kind       text NOT NULL,
    actor      text NOT NULL,
    role       text NOT NULL,
    data       jsonb NOT NULL,
    private_to text,
    PRIMARY KEY (sid, seq, day)
) PARTITION BY RANGE (day);

-- Events of a day that has no partition (yet) land here; the retention job gives them one.
CREATE TABLE trace_events_default PARTITION OF trace_events DEFAULT;

-- One partition per day the existing traces span, and for today and the week ahead.
DO $$
DECLARE
    d date;
BEGIN
    FOR d IN
        SELECT DISTINCT COALESCE(wingman_session_day(sid), (ts AT TIME ZONE 'UTC')::date)
        FROM trace_events_unpartitioned
        UNION
        SELECT generate_series((now() AT TIME ZONE 'UTC')::date,
                               (now() AT TIME ZONE 'UTC')::date + 7, interval '1 day')::date
    LOOP
        EXECUTE format('CREATE TABLE %I PARTITION OF trace_events FOR VALUES FROM (%L) TO (%L)',
                       'trace_events_p' || to_char(d, 'YYYYMMDD'), d, d + 1);
    END LOOP;
END
$$;

INSERT INTO trace_events (day, sid, seq, epoch, ts, kind, actor, role, data, private_to)
SELECT COALESCE(wingman_session_day(sid), (ts AT TIME ZONE 'UTC')::date), sid, seq, epoch, ts,
       kind, actor, role, data, private_to
FROM trace_events_unpartitioned;

DROP TABLE trace_events_unpartitioned;

-- Erasure: a tombstone per erased session (its events still queued must not be written back);
-- erased_at is set once its stored events are gone. A session record deleted any way (an
-- account deleted, consent withdrawn) leaves a tombstone for the retention job to act on.
ALTER TABLE trace_tombstones ADD COLUMN erased_at timestamptz;
UPDATE trace_tombstones SET erased_at = created_at;
CREATE INDEX trace_tombstones_open ON trace_tombstones (created_at) WHERE erased_at IS NULL;

CREATE FUNCTION wingman_tombstone_session() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO trace_tombstones (sid) VALUES (OLD.sid) ON CONFLICT DO NOTHING;
    RETURN OLD;
END
$$;
CREATE TRIGGER sessions_leave_tombstones AFTER DELETE ON sessions
    FOR EACH ROW EXECUTE FUNCTION wingman_tombstone_session();

-- What the retention job did, for operators (and for the job to say what it removed).
CREATE TABLE trace_retention_runs (
    id          bigserial PRIMARY KEY,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL DEFAULT now(),
    as_of       timestamptz NOT NULL,
    node        text NOT NULL,
    report      jsonb NOT NULL
);

CREATE INDEX trace_dead_letters_by_sid ON trace_dead_letters (sid);
