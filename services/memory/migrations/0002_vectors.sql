-- Vector memory (issue 11): text with its 384-dimensional all-MiniLM-L6-v2 embedding, per agent and namespace.
-- Needs the pgvector extension: the embedded PostgreSQL ships it; an external server must have pgvector
-- installed (docs/embeddings.md). IF NOT EXISTS: a database where an operator already created the extension
-- (in any schema on the search_path) migrates unchanged; otherwise it lands in the default schema (public),
-- so the `vector` type and its operators resolve for every service without schema qualification.
CREATE EXTENSION IF NOT EXISTS vector;

-- text and metadata may be Fernet ciphertext (ENC:…); metadata is JSON text so it can be. The embedding
-- itself cannot be encrypted (the index must compare it): see docs/embeddings.md.
CREATE TABLE memory.vectors (
    agent_id   text NOT NULL,
    namespace  text NOT NULL,
    key        text NOT NULL,
    text       text NOT NULL,
    metadata   text,
    importance real NOT NULL DEFAULT 0.5,
    embedding  vector(384) NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (agent_id, namespace, key)
);
-- Listing newest first within one agent's namespace.
CREATE INDEX vectors_recent ON memory.vectors (agent_id, namespace, created_at DESC);
-- Approximate nearest neighbours by cosine distance (embeddings are unit vectors). Searches filter by agent
-- and namespace; pgvector's iterative index scan (set per query) keeps scanning until enough rows match.
CREATE INDEX vectors_embedding ON memory.vectors USING hnsw (embedding vector_cosine_ops);
