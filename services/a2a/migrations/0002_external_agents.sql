-- Outside A2A agents listed in the directory by their card URL: the last valid card, refreshed periodically.
CREATE TABLE a2a.external_agents (
    external_id     text PRIMARY KEY,
    card_url        text NOT NULL UNIQUE,
    card            jsonb NOT NULL,
    added_by        text NOT NULL,
    valid           boolean NOT NULL DEFAULT true,
    last_error      text,
    fetched_at      timestamptz NOT NULL DEFAULT now(),
    next_refresh_at timestamptz NOT NULL DEFAULT now() + interval '1 hour',
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX external_agents_refresh ON a2a.external_agents (next_refresh_at);
CREATE INDEX external_agents_added_by ON a2a.external_agents (added_by);
