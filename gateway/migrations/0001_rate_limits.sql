-- Per-agent rate limit state shared by every gateway replica (GCRA: one "theoretical arrival time" per agent).
CREATE TABLE gateway.rate_limits (
    agent_id text PRIMARY KEY,
    tat      timestamptz NOT NULL
);
