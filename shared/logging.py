"""structlog setup: human-readable lines on a terminal, JSON lines otherwise; context bound per request via
contextvars.

`MOLTGRID_LOG_FORMAT`: `auto` (the default) renders for a person when standard output is a terminal
(`python3 run.py up` in a shell) and JSON when it is not (containers, files, pipes); `json` and `console`
force one. Compose and Kubernetes set `json` explicitly."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog
from structlog.dev import Column, ConsoleRenderer, KeyValueColumnFormatter

from shared.config import Settings

SERVICE_WIDTH = 13  # "coordination" and a space: the service column lines up


def use_console(log_format: str, stdout: TextIO | None = None) -> bool:
    """Whether to render for a person: asked for, or `auto` with standard output on a terminal."""
    fmt = log_format.strip().lower()
    if fmt in ("console", "json"):
        return fmt == "console"
    stream = stdout if stdout is not None else sys.stdout
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed or replaced stream
        return False


def console_renderer(colors: bool) -> ConsoleRenderer:
    """structlog's console renderer with the service name as the first column; tracebacks printed plainly
    (never with local variables: they may hold keys, payloads or secrets)."""
    renderer = ConsoleRenderer(colors=colors, exception_formatter=structlog.dev.plain_traceback)
    styles = ConsoleRenderer.get_default_column_styles(colors)
    service = Column(
        "service",
        KeyValueColumnFormatter(
            key_style=None,
            value_style=styles.logger_name,
            reset_style=styles.reset,
            value_repr=str,
            width=SERVICE_WIDTH,
        ),
    )
    renderer.columns = [service, *renderer.columns]
    return renderer


def configure_logging(settings: Settings, service: str) -> None:
    """Configure structlog for one process; every line carries `service`."""
    console = use_console(settings.log_format)
    processors: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if console:
        processors.append(console_renderer(colors=sys.stderr.isatty()))
    else:
        processors += [
            # Tracebacks as data, without local variables: locals may hold keys, payloads or secrets.
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
            ),
            structlog.processors.JSONRenderer(),
        ]
    level = logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO)
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=service)
    logging.basicConfig(level=max(level, logging.WARNING), stream=sys.stderr)


def get_logger(name: str | None = None) -> structlog.typing.FilteringBoundLogger:
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger(name)
    return logger
