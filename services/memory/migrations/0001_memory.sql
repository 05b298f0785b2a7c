-- Private key-value memory: one row per (agent, namespace, key). value may be Fernet ciphertext (ENC:…).
CREATE TABLE memory.entries (
    agent_id   text NOT NULL,
    namespace  text NOT NULL,
    key        text NOT NULL,
    value      text NOT NULL,
    size_bytes integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz,
    PRIMARY KEY (agent_id, namespace, key)
);
CREATE INDEX entries_expiry ON memory.entries (expires_at) WHERE expires_at IS NOT NULL;

-- Shared memory: public read, rows keyed by owner so nobody can overwrite another agent's entry.
CREATE TABLE memory.shared_entries (
    owner_agent text NOT NULL,
    namespace   text NOT NULL,
    key         text NOT NULL,
    value       text NOT NULL,
    size_bytes  integer NOT NULL,
    description text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz,
    PRIMARY KEY (namespace, key, owner_agent)
);
CREATE INDEX shared_entries_owner ON memory.shared_entries (owner_agent);
CREATE INDEX shared_entries_expiry ON memory.shared_entries (expires_at) WHERE expires_at IS NOT NULL;
