CREATE TABLE coordination.scenarios (
    scenario_id      text PRIMARY KEY,
    creator_agent    text NOT NULL,
    name             text,
    pattern          text NOT NULL,
    agent_count      integer NOT NULL,
    timeout_seconds  integer NOT NULL,
    success_criteria jsonb,
    status           text NOT NULL DEFAULT 'created' CHECK (status IN ('created', 'running', 'completed')),
    results          jsonb,
    run_id           text,  -- the latest run; only it may write the results
    runs             integer NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    completed_at     timestamptz
);
CREATE INDEX scenarios_creator ON coordination.scenarios (creator_agent, created_at DESC);
