"""The memory service's stores, one per table family, each owning all SQL on its tables: entries (with their
history, access log and events), shared entries, sessions, and the long-term tiers (vectors and promoted
summaries)."""

RECALL_SCAN = 500  # tiered recall scores at most this many of the newest items of each tier
