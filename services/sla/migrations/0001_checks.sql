-- One uptime check per interval slot; the unique slot makes a second replica's check a no-op.
CREATE TABLE sla.checks (
    id          bigserial PRIMARY KEY,
    slot        bigint NOT NULL UNIQUE,          -- floor(epoch / interval)
    checked_at  timestamptz NOT NULL DEFAULT now(),
    status      text NOT NULL CHECK (status IN ('up', 'degraded', 'down')),
    response_ms double precision NOT NULL,       -- slowest service probe
    services    jsonb NOT NULL                   -- {service: {"status": "up"|"down", "response_ms": float}}
);
CREATE INDEX checks_time ON sla.checks (checked_at DESC);
