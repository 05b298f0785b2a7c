-- Presence: the last heartbeat of each agent that ever sent one. metadata is JSON text, encrypted at rest.
-- offline_at is set exactly once per silence (by the sweep that finds the heartbeat too old, or by an
-- "offline" heartbeat); the statement that sets it also writes the agent.offline event.
CREATE TABLE directory.presence (
    agent_id     text PRIMARY KEY REFERENCES directory.agents ON DELETE CASCADE,
    status       text NOT NULL CHECK (status IN ('online', 'busy', 'idle', 'offline')),
    metadata     text,
    heartbeat_at timestamptz NOT NULL,
    offline_at   timestamptz
);
CREATE INDEX presence_live ON directory.presence (heartbeat_at) WHERE offline_at IS NULL;

-- Events written in the same transaction as the change they report (see shared/events.py).
CREATE TABLE directory.outbox (
    id         bigserial PRIMARY KEY,
    event_id   text NOT NULL,
    subject    text NOT NULL,
    body       jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
