"""Coordination scenarios: a pattern (leader election, consensus, …) run for real between simulated agents
over NATS, measured and judged against the scenario's success criteria."""
