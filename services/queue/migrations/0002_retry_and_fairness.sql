-- Retry timing chosen per job, and fair claims across the concurrency keys of a queue (docs/queue.md).
ALTER TABLE queue.jobs
    ADD COLUMN backoff           text NOT NULL DEFAULT 'exponential',  -- exponential (full jitter) | fixed (backoff_base s)
    ADD COLUMN concurrency_key   text NOT NULL DEFAULT '',             -- '' : the job has no key (one group of its own)
    ADD COLUMN concurrency_limit integer,                              -- at most this many of the key's jobs processing
    ADD COLUMN fair_tag          bigint NOT NULL DEFAULT 0;            -- claim order within a priority (see next_fair_tag)

-- The claim reads pending jobs by priority, then fair tag (round-robin across keys), then age.
DROP INDEX queue.jobs_claim;
CREATE INDEX jobs_claim ON queue.jobs (agent_id, queue_name, priority DESC, fair_tag, available_at)
    WHERE status = 'pending';
-- The two ends next_fair_tag reads: the queue's head and the key's tail.
CREATE INDEX jobs_fair_head ON queue.jobs (agent_id, queue_name, fair_tag) INCLUDE (available_at)
    WHERE status = 'pending';
CREATE INDEX jobs_fair_tail ON queue.jobs (agent_id, queue_name, concurrency_key, fair_tag) WHERE status = 'pending';
-- Running jobs of a key (what a concurrency limit counts).
CREATE INDEX jobs_running_key ON queue.jobs (agent_id, queue_name, concurrency_key)
    WHERE status = 'processing' AND concurrency_key <> '';

-- Start-time fair queueing: a job (new, or back to pending for a retry) is tagged after its key's last pending
-- job, but never before the queue's head (the lowest tag among claimable jobs). A key with a backlog of
-- 10,000 tags its jobs far ahead; a key that just arrived is tagged at the head, so claims alternate between
-- every key that has a pending job. Ties (concurrent submits) fall back to age.
CREATE FUNCTION queue.next_fair_tag(p_agent text, p_queue text, p_key text) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT greatest(
        (SELECT max(fair_tag) + 1 FROM queue.jobs
          WHERE agent_id = p_agent AND queue_name = p_queue AND concurrency_key = p_key AND status = 'pending'),
        (SELECT min(fair_tag) FROM queue.jobs
          WHERE agent_id = p_agent AND queue_name = p_queue AND status = 'pending' AND available_at <= now()),
        0)
$$;
