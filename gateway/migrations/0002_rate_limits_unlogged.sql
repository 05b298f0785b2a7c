-- Rate-limit state is disposable (losing it on a crash only forgives a minute of requests), so skip the
-- WAL: without it every request's limiter UPDATE would wait for a WAL flush.
ALTER TABLE gateway.rate_limits SET UNLOGGED;
