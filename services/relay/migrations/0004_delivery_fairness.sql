-- Fair webhook delivery: each delivery names the agent it is for, and a claimed one is "in flight" until its
-- outcome is recorded (or its hold lapses, when the replica sending it died), so claims can cap how many
-- deliveries of one agent are in flight at once, across every relay replica.
ALTER TABLE relay.deliveries ADD COLUMN agent_id text, ADD COLUMN in_flight_until timestamptz;
UPDATE relay.deliveries d SET agent_id = w.agent_id FROM relay.webhooks w WHERE w.webhook_id = d.webhook_id;
CREATE INDEX deliveries_in_flight ON relay.deliveries (agent_id, in_flight_until)
    WHERE status = 'pending' AND in_flight_until IS NOT NULL;
