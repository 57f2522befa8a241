-- Sessions whose traces were erased (a deleted account, withdrawn consent): events still queued
-- for them must not be written back.
CREATE TABLE trace_tombstones (
    sid        uuid PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now()
);
