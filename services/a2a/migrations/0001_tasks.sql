-- A2A tasks between a caller (any agent) and a hosted agent, their history, their durable event log (what
-- streams replay), push-notification configs and the deliveries made to them.
CREATE TABLE a2a.tasks (
    task_id       text PRIMARY KEY,
    context_id    text NOT NULL,
    agent_id      text NOT NULL,          -- the hosted agent the task is addressed to
    caller_id     text NOT NULL,          -- the agent that sent the first message
    state         text NOT NULL,
    status        text NOT NULL,          -- encrypted JSON: the TaskStatus's message (or null)
    artifacts     text NOT NULL,          -- encrypted JSON list of artifacts
    metadata      text,                   -- encrypted JSON object
    input_timeout_seconds integer,        -- an interrupted wait ends (failed) after this long; null: never
    last_seq      bigint NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tasks_agent ON a2a.tasks (agent_id, updated_at DESC, task_id);
CREATE INDEX tasks_caller ON a2a.tasks (caller_id, updated_at DESC, task_id);
CREATE INDEX tasks_context ON a2a.tasks (context_id);

CREATE TABLE a2a.history (
    task_id    text NOT NULL REFERENCES a2a.tasks ON DELETE CASCADE,
    seq        integer NOT NULL,
    message    text NOT NULL,             -- encrypted JSON Message
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (task_id, seq)
);

CREATE TABLE a2a.events (
    task_id    text NOT NULL REFERENCES a2a.tasks ON DELETE CASCADE,
    seq        bigint NOT NULL,
    body       text NOT NULL,             -- encrypted JSON StreamResponse
    terminal   boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (task_id, seq)
);

CREATE TABLE a2a.push_configs (
    config_id  text NOT NULL,
    task_id    text NOT NULL REFERENCES a2a.tasks ON DELETE CASCADE,
    owner_id   text NOT NULL,             -- the agent that created it
    url        text NOT NULL,
    token      text,                      -- encrypted
    auth       text,                      -- encrypted JSON AuthenticationInfo
    active     boolean NOT NULL DEFAULT true,
    failures   integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (task_id, config_id)
);

CREATE TABLE a2a.deliveries (
    delivery_id     text PRIMARY KEY,
    task_id         text NOT NULL,
    config_id       text NOT NULL,
    seq             bigint NOT NULL,
    status          text NOT NULL DEFAULT 'pending',   -- pending | delivered | failed
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_status     integer,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    UNIQUE (task_id, config_id, seq),
    FOREIGN KEY (task_id, config_id) REFERENCES a2a.push_configs ON DELETE CASCADE
);
CREATE INDEX deliveries_due ON a2a.deliveries (next_attempt_at) WHERE status = 'pending';

CREATE TABLE a2a.outbox (
    id         bigserial PRIMARY KEY,
    event_id   text NOT NULL,
    subject    text NOT NULL,
    body       jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
