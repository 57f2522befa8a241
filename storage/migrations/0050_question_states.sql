-- Content versioning: each version of a question is a draft, published or retired. At most one
-- version of a question is published (the one new sessions get); sessions keep the version
-- they started on whatever state it is in later.
ALTER TABLE questions ADD COLUMN state text NOT NULL DEFAULT 'draft'
    CHECK (state IN ('draft', 'published', 'retired'));
UPDATE questions SET state = CASE WHEN published THEN 'published' ELSE 'retired' END;
-- Only the newest of several published versions of one question stays published.
UPDATE questions q SET state = 'retired'
 WHERE state = 'published'
   AND EXISTS (SELECT 1 FROM questions n
                WHERE n.id = q.id AND n.state = 'published' AND n.version > q.version);
ALTER TABLE questions DROP COLUMN published;
-- Readers of the old flag keep working.
ALTER TABLE questions ADD COLUMN published boolean
    GENERATED ALWAYS AS (state = 'published') STORED;
ALTER TABLE questions ADD COLUMN changed_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE questions ADD COLUMN changed_by uuid;
CREATE UNIQUE INDEX questions_one_published ON questions (id) WHERE state = 'published';
