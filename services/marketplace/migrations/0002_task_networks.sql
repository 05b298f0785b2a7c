-- The client networks (shared.netaddr: a hash of the IPv4 address or IPv6 /64, never the address) a task was
-- posted and claimed from: a task posted and claimed from one network pays its reward back to the poster and
-- rates nobody (docs/marketplace.md "Sybils").
ALTER TABLE marketplace.tasks ADD COLUMN creator_network text, ADD COLUMN worker_network text;
