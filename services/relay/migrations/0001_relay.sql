-- Messages between agents. payload is JSON text (any JSON value), Fernet ciphertext (ENC:…) when a key is set.
CREATE TABLE relay.messages (
    message_id  text PRIMARY KEY,
    from_agent  text NOT NULL,
    to_agent    text NOT NULL,
    channel     text NOT NULL,
    payload     text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    read_at     timestamptz
);
CREATE INDEX messages_inbox ON relay.messages (to_agent, created_at DESC);
CREATE INDEX messages_inbox_channel ON relay.messages (to_agent, channel, created_at DESC);
CREATE INDEX messages_unread ON relay.messages (to_agent, created_at DESC) WHERE read_at IS NULL;
CREATE INDEX messages_sender ON relay.messages (from_agent);

-- Webhook registrations. secret is encrypted like payloads.
CREATE TABLE relay.webhooks (
    webhook_id      text PRIMARY KEY,
    agent_id        text NOT NULL,
    url             text NOT NULL,
    event_types     text[] NOT NULL,
    secret          text,
    active          boolean NOT NULL DEFAULT true,
    disabled_reason text,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhooks_agent ON relay.webhooks (agent_id) WHERE active;

-- One delivery per (webhook, event); retried until delivered or given up.
CREATE TABLE relay.deliveries (
    delivery_id      text PRIMARY KEY,
    webhook_id       text NOT NULL REFERENCES relay.webhooks ON DELETE CASCADE,
    event_id         text NOT NULL,
    event_type       text NOT NULL,
    body             jsonb NOT NULL,
    status           text NOT NULL DEFAULT 'pending',   -- pending | delivered | failed
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_status_code integer,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz,
    UNIQUE (webhook_id, event_id)
);
CREATE INDEX deliveries_due ON relay.deliveries (next_attempt_at) WHERE status = 'pending';

-- The delivery log: every attempt.
CREATE TABLE relay.delivery_attempts (
    id           bigserial PRIMARY KEY,
    delivery_id  text NOT NULL REFERENCES relay.deliveries ON DELETE CASCADE,
    attempted_at timestamptz NOT NULL DEFAULT now(),
    status_code  integer,
    latency_ms   double precision NOT NULL,
    error        text
);
CREATE INDEX delivery_attempts_delivery ON relay.delivery_attempts (delivery_id, attempted_at);

CREATE TABLE relay.outbox (
    id         bigserial PRIMARY KEY,
    event_id   text NOT NULL,
    subject    text NOT NULL,
    body       jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Event-stream cursors acknowledged by agents (GET /v1/events without `after` resumes here).
CREATE TABLE relay.event_cursors (
    agent_id   text PRIMARY KEY,
    cursor     bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
