"""Server-side push delay during a ws_latency run, from the gateways' `moltgrid_push_delay_seconds` histogram.

The loadgen's ws_latency figure is send start → frame received, so it includes the whole REST send under the
run's concurrency; this one is the push alone: relay commit → frame written to the socket.
"""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

METRIC = "moltgrid_push_delay_seconds"


def buckets(base: str) -> dict[float, float]:
    """Cumulative counts by upper bound, summed over every gateway and relay instance in the scrape."""
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as r:
        text = r.read().decode()
    out: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != METRIC:
            continue
        for sample in family.samples:
            if sample.name == f"{METRIC}_bucket":
                le = float(sample.labels["le"])
                out[le] = out.get(le, 0.0) + sample.value
    return out


def quantiles(before: dict[float, float], after: dict[float, float]) -> dict[str, float | int | None]:
    """p50 / p99 of the pushes between two scrapes, as the upper bound of the bucket holding them (ms)."""
    delta = sorted((le, after[le] - before.get(le, 0.0)) for le in after)
    total = delta[-1][1] if delta else 0
    result: dict[str, float | int | None] = {"pushes": int(total)}
    for name, q in (("p50_ms_le", 0.5), ("p99_ms_le", 0.99)):
        bound = next((le for le, n in delta if total and n >= q * total), None)
        result[name] = None if bound is None else (bound * 1000 if bound != float("inf") else float("inf"))
    return result
