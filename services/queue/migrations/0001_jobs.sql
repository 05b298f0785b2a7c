-- Jobs of every agent's queues. payload/result/progress are JSON text, Fernet ciphertext (ENC:…) when a key is set.
-- status: pending → processing → completed, or back to pending (lease lapsed / retry), or dead_letter.
CREATE TABLE queue.jobs (
    job_id             text PRIMARY KEY,
    agent_id           text NOT NULL,
    queue_name         text NOT NULL,
    payload            text NOT NULL,
    priority           smallint NOT NULL DEFAULT 0,
    status             text NOT NULL DEFAULT 'pending',
    attempts           integer NOT NULL DEFAULT 0,   -- claims so far; the current claim's lease number
    max_attempts       integer NOT NULL,
    lease_seconds      integer NOT NULL,             -- default visibility timeout of this job's claims
    backoff_base       real NOT NULL,                -- seconds: full-jitter exponential backoff between attempts
    backoff_max        real NOT NULL,
    available_at       timestamptz NOT NULL DEFAULT now(),  -- not claimable before (delayed jobs, retries)
    lease_expires_at   timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    started_at         timestamptz,
    completed_at       timestamptz,
    dead_at            timestamptz,
    result             text,
    progress           text,
    last_error         text,
    dedup_key          text
);

-- The claim: exactly the claim query's WHERE and ORDER BY, so a claim reads one index entry however long the queue.
CREATE INDEX jobs_claim ON queue.jobs (agent_id, queue_name, priority DESC, available_at) WHERE status = 'pending';
-- The lease sweep.
CREATE INDEX jobs_leases ON queue.jobs (lease_expires_at) WHERE status = 'processing';
-- Listing and stats by queue and status.
CREATE INDEX jobs_by_queue ON queue.jobs (agent_id, queue_name, status, created_at);
-- A retried submit with the same key finds the job it created.
CREATE UNIQUE INDEX jobs_dedup ON queue.jobs (agent_id, dedup_key) WHERE dedup_key IS NOT NULL;

CREATE TABLE queue.outbox (
    id         bigserial PRIMARY KEY,
    event_id   text NOT NULL,
    subject    text NOT NULL,
    body       jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
