-- Authenticated API requests per agent (/v1/stats' total_requests, the leaderboard's `requests`): the
-- gateways count in memory and report batches here (svc.directory.record_requests). The counts the gateways
-- kept in their own table until now are carried over, where the directory's role may read that table (a
-- deployment with one role per service starts with none to carry).
CREATE TABLE directory.request_counts (
    agent_id text PRIMARY KEY,
    requests bigint NOT NULL DEFAULT 0,
    last_seen_at timestamptz NOT NULL DEFAULT now()
);
DO $$
BEGIN
    -- one test per IF: naming a schema the role may not use is an error, even inside to_regclass
    IF EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'gateway') THEN
        IF has_schema_privilege('gateway', 'USAGE') THEN
            IF to_regclass('gateway.request_counts') IS NOT NULL THEN
                IF has_table_privilege('gateway.request_counts', 'SELECT') THEN
                    INSERT INTO directory.request_counts (agent_id, requests, last_seen_at)
                    SELECT agent_id, requests, last_seen_at FROM gateway.request_counts
                    ON CONFLICT (agent_id) DO NOTHING;
                END IF;
            END IF;
        END IF;
    END IF;
END $$;
