-- Message status and trace (GET /v1/messages/{id}/status, /trace, /v1/messages/dead-letter).
-- accepted_at: when the relay took the request; created_at stays the commit of the stored message.
-- event_id: its message.received event, which links the message to its webhook deliveries.
ALTER TABLE relay.messages ADD COLUMN accepted_at timestamptz, ADD COLUMN event_id text;
CREATE INDEX messages_event ON relay.messages (event_id) WHERE event_id IS NOT NULL;
CREATE INDEX messages_inbox_cursor ON relay.messages (to_agent, created_at, message_id);
CREATE INDEX deliveries_event ON relay.deliveries (event_id);

-- Hops other processes report (a gateway writing the message to the recipient's sockets).
CREATE TABLE relay.message_hops (
    id          bigserial PRIMARY KEY,
    hop_id      text NOT NULL UNIQUE,
    message_id  text NOT NULL REFERENCES relay.messages ON DELETE CASCADE,
    hop         text NOT NULL,
    status      text NOT NULL,
    detail      jsonb,
    recorded_at timestamptz NOT NULL
);
CREATE INDEX message_hops_message ON relay.message_hops (message_id, recorded_at);

-- Events an agent acknowledged by id (MoltGrid 1.0's POST /v1/events/ack {"event_ids"}); reading without a
-- cursor skips them. Kept as long as the EVENTS stream keeps events (7 days).
CREATE TABLE relay.acked_events (
    agent_id  text NOT NULL,
    event_id  text NOT NULL,
    acked_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (agent_id, event_id)
);
CREATE INDEX acked_events_age ON relay.acked_events (acked_at);
