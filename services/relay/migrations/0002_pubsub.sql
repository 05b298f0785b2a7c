-- Pub/sub subscriptions: one row per (agent, pattern); subscribing twice finds the row already there.
-- tokens/open narrow the candidates for a publication before pattern_re (an anchored regular expression
-- equivalent to the NATS-style pattern, see services/relay/channels.py) confirms them.
CREATE TABLE relay.pubsub_subscriptions (
    agent_id      text NOT NULL,
    channel       text NOT NULL,
    pattern_re    text NOT NULL,
    tokens        integer NOT NULL,
    open          boolean NOT NULL,
    subscribed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (agent_id, channel)
);
CREATE INDEX pubsub_subscriptions_tokens ON relay.pubsub_subscriptions (tokens, open);
CREATE INDEX pubsub_subscriptions_channel ON relay.pubsub_subscriptions (channel);

-- A publication is delivered as one ordinary message per subscriber (inbox, push, event, webhooks), each
-- tagged with the publication: at most one per (publication, subscriber), whatever replica fans out.
ALTER TABLE relay.messages ADD COLUMN publication_id text;
CREATE UNIQUE INDEX messages_publication_recipient ON relay.messages (publication_id, to_agent)
    WHERE publication_id IS NOT NULL;
