"""Request models of the memory service's operations, one module per concept (limits as in the contracts)."""
