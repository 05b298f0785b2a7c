-- Events written in the same transaction as the change they report (see shared/events.py): one
-- memory.changed per write or delete of a private entry.
CREATE TABLE memory.outbox (
    id         bigserial PRIMARY KEY,
    event_id   text NOT NULL,
    subject    text NOT NULL,
    body       jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
