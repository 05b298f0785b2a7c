-- Authenticated API requests per agent (/v1/stats' total_requests, the leaderboard's `requests`): the
-- gateways count in memory and report batches here (svc.directory.record_requests). The counts the gateways
-- kept in their own table until now are reported by the gateways themselves (gateway/usage.py), since no
-- service reads another's schema.
CREATE TABLE directory.request_counts (
    agent_id text PRIMARY KEY,
    requests bigint NOT NULL DEFAULT 0,
    last_seen_at timestamptz NOT NULL DEFAULT now()
);
