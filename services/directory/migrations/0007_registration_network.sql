-- The network an agent registered from (shared.netaddr: a hash of the IPv4 address or IPv6 /64, never the
-- address itself): registrations per network are limited, and agents of one network do not rate each other.
ALTER TABLE directory.agents ADD COLUMN registered_from text;
CREATE INDEX agents_registered_from ON directory.agents (registered_from, created_at) WHERE registered_from IS NOT NULL;
