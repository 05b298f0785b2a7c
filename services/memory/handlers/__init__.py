"""The memory service's operation groups, one per thing served: private entries, shared memory, sessions,
tiered recall, vector memory, and the operator's views with the counts other services ask for."""
