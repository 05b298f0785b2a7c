"""The test suite's stack: see shared/runtime/stack.py (shared with `moltgrid up` and the benchmark).

Every test stack registers any number of agents from 127.0.0.1 and lets them trade with each other, so the
per-network registration limit is off and same-network tasks and ratings count (a stack's own `env` can set
them back: tests/test_quotas.py does)."""

from dataclasses import dataclass

from shared.runtime.stack import Infra, selected_components
from shared.runtime.stack import Stack as _Stack

TEST_DEFAULTS = {
    "MOLTGRID_REGISTRATIONS_PER_NETWORK_PER_HOUR": "0",
    "MOLTGRID_SAME_NETWORK_COUNTS": "true",
}


@dataclass
class Stack(_Stack):
    def __post_init__(self) -> None:
        self.env = {**TEST_DEFAULTS, **self.env}
        super().__post_init__()


__all__ = ["Infra", "Stack", "selected_components"]
