-- Task graphs: tasks any agent may claim once every task they depend on has completed; claims are leases.
-- description, result and metadata are agent content: Fernet ciphertext (ENC:…) when a key is set.
CREATE TABLE coordination.tasks (
    task_id          text PRIMARY KEY,
    creator_agent    text NOT NULL,
    title            text NOT NULL,
    description      text,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'running', 'waiting_input', 'completed', 'failed', 'cancelled',
                                       'rejected')),
    priority         integer NOT NULL DEFAULT 0,
    claimed_by       text,
    claimed_at       timestamptz,
    lease_expires_at timestamptz,
    lease_seconds    integer NOT NULL DEFAULT 300,  -- of the latest claim; a resume renews it for as long
    completed_at     timestamptz,
    result           text,     -- JSON text (a string or an object)
    metadata         text,     -- JSON text (an object)
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tasks_creator ON coordination.tasks (creator_agent, created_at);
CREATE INDEX tasks_claimed_by ON coordination.tasks (claimed_by) WHERE claimed_by IS NOT NULL;
CREATE INDEX tasks_status ON coordination.tasks (status, priority DESC, created_at);
-- the lease sweeper's scan
CREATE INDEX tasks_leases ON coordination.tasks (lease_expires_at) WHERE status = 'running';

-- Edges of the graph: task_id may not be claimed until depends_on has completed. Acyclic (checked under
-- an advisory lock before each insert).
CREATE TABLE coordination.task_dependencies (
    task_id    text NOT NULL REFERENCES coordination.tasks ON DELETE CASCADE,
    depends_on text NOT NULL REFERENCES coordination.tasks ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (task_id, depends_on),
    CHECK (task_id <> depends_on)
);
CREATE INDEX task_dependencies_reverse ON coordination.task_dependencies (depends_on);

-- Every change of a task, oldest first (GET /v1/tasks/{id} shows it as `history`).
CREATE TABLE coordination.task_history (
    id          bigserial PRIMARY KEY,
    task_id     text NOT NULL REFERENCES coordination.tasks ON DELETE CASCADE,
    change      text NOT NULL,   -- created | claimed | completed | updated | dependency_added | lease_expired
    status      text NOT NULL,   -- the task's status after the change
    actor       text NOT NULL,   -- an agent id, or "system" (lease expiry)
    detail      jsonb,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX task_history_task ON coordination.task_history (task_id, id);

-- Events written with the change, published to JetStream by shared.events.OutboxPublisher.
CREATE TABLE coordination.outbox (
    id         bigserial PRIMARY KEY,
    event_id   text NOT NULL,
    subject    text NOT NULL,
    body       jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
