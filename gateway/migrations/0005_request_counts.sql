-- Authenticated API requests per agent (for /v1/stats' total_requests), flushed in batches by each gateway.
CREATE TABLE gateway.request_counts (
    agent_id text PRIMARY KEY,
    requests bigint NOT NULL DEFAULT 0,
    last_seen_at timestamptz NOT NULL DEFAULT now()
);
