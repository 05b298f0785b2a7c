-- Authenticated API requests per agent (/v1/stats' total_requests, the leaderboard's `requests`): the
-- gateways count in memory and report batches here (svc.directory.record_requests). The counts the gateways
-- kept in their own table until now are carried over.
CREATE TABLE directory.request_counts (
    agent_id text PRIMARY KEY,
    requests bigint NOT NULL DEFAULT 0,
    last_seen_at timestamptz NOT NULL DEFAULT now()
);
DO $$
BEGIN
    IF to_regclass('gateway.request_counts') IS NOT NULL THEN
        INSERT INTO directory.request_counts (agent_id, requests, last_seen_at)
        SELECT agent_id, requests, last_seen_at FROM gateway.request_counts
        ON CONFLICT (agent_id) DO NOTHING;
    END IF;
END $$;
