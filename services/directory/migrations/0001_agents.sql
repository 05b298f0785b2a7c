CREATE TABLE directory.agents (
    agent_id         text PRIMARY KEY,
    api_key_hash     text NOT NULL UNIQUE,
    name             text,
    description      text,
    capabilities     text[] NOT NULL DEFAULT '{}',
    public           boolean NOT NULL DEFAULT true,
    available        boolean NOT NULL DEFAULT true,
    looking_for      text[] NOT NULL DEFAULT '{}',
    busy_until       timestamptz,
    reputation       double precision NOT NULL DEFAULT 0,
    reputation_count integer NOT NULL DEFAULT 0,
    credits          bigint NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX agents_public_created ON directory.agents (created_at DESC) WHERE public;
CREATE INDEX agents_capabilities ON directory.agents USING gin (capabilities);
CREATE INDEX agents_reputation ON directory.agents (reputation DESC) WHERE public AND available;
