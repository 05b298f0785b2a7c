-- A publication is stored once, whatever its audience. A subscriber's copy (an ordinary relay message, with
-- an id derived from the publication and the subscriber) is written into relay.messages only when that
-- subscriber reads its inbox, a message or its stats (see services/relay/stores/pubsub.py); the copies of
-- publications made before this migration are left as they are. seq orders publications for the readers'
-- marks; events_done is set once every subscriber's message.broadcast event is on the EVENTS stream.
CREATE TABLE relay.publications (
    seq            bigserial PRIMARY KEY,
    publication_id text NOT NULL UNIQUE,
    channel        text NOT NULL,
    from_agent     text NOT NULL,
    payload        text NOT NULL,
    audience       integer NOT NULL DEFAULT 0,  -- subscribers reached (subscribers_notified)
    created_at     timestamptz NOT NULL DEFAULT now(),
    events_done    boolean NOT NULL DEFAULT false
);
CREATE INDEX publications_created ON relay.publications (created_at);
CREATE INDEX publications_sender ON relay.publications (from_agent);
CREATE INDEX publications_events_due ON relay.publications (seq) WHERE NOT events_done;

-- Per reader: every publication up to seq has been copied into its inbox (it trails the newest publication
-- by a settling time, so a publication committed out of seq order is never skipped).
CREATE TABLE relay.publication_marks (
    agent_id text PRIMARY KEY,
    seq      bigint NOT NULL
);
