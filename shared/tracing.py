"""OpenTelemetry tracing across the bus: off unless the standard OTEL_* variables configure an exporter.

On when OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set (OTLP over HTTP/protobuf), or
OTEL_TRACES_EXPORTER is `otlp` or `console`; OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none keeps it off.
Every other OTEL_* variable (headers, timeouts, sampler, batch sizes, resource attributes) works as the
OpenTelemetry SDK documents it.

A trace follows a request: the gateway's HTTP span → a CLIENT span per NATS request (the W3C `traceparent`
travels in the NATS message headers, shared.bus) → the service's SERVER span → its SQL (asyncpg
instrumentation). Events carry the context through the outbox into their JetStream message headers, so the
webhook router and the delivery that follows continue the same trace.

When off, this module imports nothing of OpenTelemetry and the hot paths test one boolean (`ENABLED`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any

TRACE_KEY = "_trace"  # an outbox row's stashed context (popped before the event is published)


def configured(env: Mapping[str, str]) -> bool:
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter:
        return exporter in ("otlp", "console")
    return bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


ENABLED: bool = configured(os.environ)
_tracer: Any = None
_provider: Any = None


def setup(component: str) -> None:
    """Install the tracer provider, its exporter and the asyncpg instrumentation (once per process, at start)."""
    global _tracer, _provider
    if not ENABLED or _provider is not None:
        return
    from opentelemetry import trace
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

    exporter: SpanExporter
    if os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "console":
        exporter = ConsoleSpanExporter()
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    # each process is its own service in the trace view; OTEL_RESOURCE_ATTRIBUTES adds deployment-wide ones
    sampler = None if os.environ.get("OTEL_TRACES_SAMPLER") else _work_sampler()
    _provider = TracerProvider(
        resource=Resource.create({SERVICE_NAME: f"moltgrid-{component}"}), sampler=sampler
    )
    _provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(_provider)
    _tracer = trace.get_tracer("moltgrid")
    AsyncPGInstrumentor().instrument(tracer_provider=_provider)  # type: ignore[no-untyped-call]  # untyped upstream


def _work_sampler() -> Any:
    """The default sampler: every trace that starts with a piece of work (an HTTP request, a NATS message,
    an event), but no root CLIENT spans — the SQL and bus requests of background loops (outbox polls,
    sweeps, health probes) that happen every second and belong to no request."""
    from opentelemetry.sdk.trace.sampling import Decision, ParentBased, Sampler, SamplingResult
    from opentelemetry.trace import SpanKind

    class WorkOnly(Sampler):
        def should_sample(
            self,
            parent_context: Any,
            trace_id: int,
            name: str,
            kind: Any = None,
            attributes: Any = None,
            links: Any = None,
            trace_state: Any = None,
        ) -> SamplingResult:
            decision = Decision.DROP if kind == SpanKind.CLIENT else Decision.RECORD_AND_SAMPLE
            return SamplingResult(decision, attributes if decision != Decision.DROP else None)

        def get_description(self) -> str:
            return "MoltGridWorkOnly"

    return ParentBased(root=WorkOnly())


def shutdown() -> None:
    """Export what is buffered (called as a process stops)."""
    if _provider is not None:
        _provider.shutdown()


def _kind(name: str) -> Any:
    from opentelemetry.trace import SpanKind

    return getattr(SpanKind, name)


def inject(headers: MutableMapping[str, str]) -> None:
    """Add the current context (`traceparent`, `tracestate`) to outgoing headers."""
    from opentelemetry.propagate import inject as _inject

    _inject(headers)


def carrier() -> dict[str, str]:
    """The current context as headers, to store beside work done later (an outbox row)."""
    out: dict[str, str] = {}
    inject(out)
    return out


@contextmanager
def span(
    name: str,
    kind: str = "INTERNAL",
    parent: Mapping[str, str] | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> Iterator[Any]:
    """A span, child of the current context or of the context in `parent` headers (a message's)."""
    if _tracer is None:  # enabled by the environment, but this process never called setup()
        from opentelemetry import trace

        tracer = trace.get_tracer("moltgrid")
    else:
        tracer = _tracer
    context = None
    if parent is not None:
        from opentelemetry.propagate import extract

        context = extract(dict(parent))
    with tracer.start_as_current_span(
        name, context=context, kind=_kind(kind), attributes=dict(attributes or {})
    ) as current:
        yield current


def fail(current: Any, description: str) -> None:
    from opentelemetry.trace import Status, StatusCode

    current.set_status(Status(StatusCode.ERROR, description))
