-- Admin panel sessions, shared by every gateway replica. Only a hash of the cookie token is stored.
CREATE TABLE gateway.admin_sessions (
    token_hash text PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX admin_sessions_expiry ON gateway.admin_sessions (expires_at);
