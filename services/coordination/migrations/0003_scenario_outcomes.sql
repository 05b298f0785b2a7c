-- A run that breaks (NATS refuses its traffic, its replica dies) ends `failed` with the reason in its results,
-- never `running` forever; started_at lets any replica find a run whose replica died mid-run.
ALTER TABLE coordination.scenarios DROP CONSTRAINT scenarios_status_check;
ALTER TABLE coordination.scenarios
    ADD CONSTRAINT scenarios_status_check CHECK (status IN ('created', 'running', 'completed', 'failed'));
ALTER TABLE coordination.scenarios ADD COLUMN started_at timestamptz;
CREATE INDEX scenarios_running ON coordination.scenarios (started_at) WHERE status = 'running';
