-- One HNSW index per kind of content: a search names its kind, and the planner can use the
-- index only when the kind it filters on is the index's own.
DROP INDEX content_vectors_hnsw;
CREATE INDEX content_vectors_questions_hnsw ON content_vectors
    USING hnsw (embedding vector_cosine_ops) WHERE kind = 'question';
CREATE INDEX content_vectors_lessons_hnsw ON content_vectors
    USING hnsw (embedding vector_cosine_ops) WHERE kind = 'lesson';
