-- Conversation sessions (short-term memory) and long-term notes promoted from them. title, metadata, content
-- and text may be Fernet ciphertext (ENC:…).
CREATE TABLE memory.sessions (
    session_id  text        PRIMARY KEY,
    agent_id    text        NOT NULL,
    title       text,
    metadata    text,  -- JSON text
    max_tokens  integer     NOT NULL,
    token_count integer     NOT NULL DEFAULT 0,
    next_seq    bigint      NOT NULL DEFAULT 1,
    folds       bigint      NOT NULL DEFAULT 0,  -- bumped by each fold: a fold planned on an older state is dropped
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sessions_agent ON memory.sessions (agent_id, created_at DESC);

-- One row per message, in seq order. A summary row stands for the messages folded into it and takes the seq
-- of the last of them, so it sorts before every message kept.
CREATE TABLE memory.session_messages (
    session_id text        NOT NULL REFERENCES memory.sessions (session_id) ON DELETE CASCADE,
    seq        bigint      NOT NULL,
    role       text        NOT NULL,
    content    text        NOT NULL,
    tokens     integer     NOT NULL,
    is_summary boolean     NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (session_id, seq)
);

-- Tier 3 of tiered memory: summaries promoted from sessions, one per (agent, namespace, key).
CREATE TABLE memory.long_term (
    agent_id   text        NOT NULL,
    namespace  text        NOT NULL,
    key        text        NOT NULL,
    text       text        NOT NULL,
    metadata   text,  -- JSON text
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (agent_id, namespace, key)
);
