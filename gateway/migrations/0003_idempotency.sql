-- Responses to POSTs carrying an Idempotency-Key, kept 24 h per (agent, key) and shared by every gateway.
-- status NULL = the first request is still being processed.
CREATE TABLE gateway.idempotency_keys (
    agent_id     text NOT NULL,
    key          text NOT NULL,
    request_hash text NOT NULL,
    status       integer,
    body         bytea,
    content_type text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (agent_id, key)
);
CREATE INDEX idempotency_keys_created ON gateway.idempotency_keys (created_at);
