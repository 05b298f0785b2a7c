"""The test suite's stack: see shared/runtime/stack.py (shared with `moltgrid up` and the benchmark)."""

from shared.runtime.stack import Infra, Stack, selected_components

__all__ = ["Infra", "Stack", "selected_components"]
