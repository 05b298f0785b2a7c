"""The relay's stores, one per table family; every SQL statement of the service lives in one of them (the
outbox table is the runtime's publisher's)."""
