-- Cron schedules. payload is JSON text, Fernet ciphertext (ENC:…) when a key is set.
CREATE TABLE scheduler.schedules (
    task_id                text PRIMARY KEY,
    agent_id               text NOT NULL,
    cron_expr              text NOT NULL,
    timezone               text NOT NULL DEFAULT 'UTC',
    payload                text NOT NULL,
    queue_name             text NOT NULL,
    priority               smallint NOT NULL DEFAULT 0,
    enabled                boolean NOT NULL DEFAULT true,
    overlap                text NOT NULL DEFAULT 'allow',  -- allow | skip (while the previous job is pending/processing)
    catchup                text NOT NULL DEFAULT 'once',   -- skip | once | all (ticks missed while no scheduler ran)
    catchup_window_seconds integer NOT NULL DEFAULT 3600,
    next_run_at            timestamptz NOT NULL,
    last_run_at            timestamptz,
    run_count              integer NOT NULL DEFAULT 0,
    created_at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX schedules_due ON scheduler.schedules (next_run_at) WHERE enabled;
CREATE INDEX schedules_agent ON scheduler.schedules (agent_id, created_at);

-- One row per (schedule, fire time): the unique key makes a tick fire once however many replicas decide it,
-- and the row is the outbox of the queue submit (status 'pending' until the queue acknowledged it).
CREATE TABLE scheduler.fires (
    task_id      text NOT NULL REFERENCES scheduler.schedules ON DELETE CASCADE,
    fire_at      timestamptz NOT NULL,
    agent_id     text NOT NULL,
    trigger      text NOT NULL,            -- cron | manual
    status       text NOT NULL,            -- pending | submitted | skipped | failed
    job_id       text,
    error        text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    submitted_at timestamptz,
    PRIMARY KEY (task_id, fire_at)
);
CREATE INDEX fires_unsent ON scheduler.fires (created_at) WHERE status = 'pending';

-- Test clock (used only when MOLTGRID_SCHEDULER_TEST_CLOCK=true): one offset shared by every replica.
CREATE TABLE scheduler.clock (
    id             boolean PRIMARY KEY DEFAULT true CHECK (id),
    offset_seconds double precision NOT NULL
);
