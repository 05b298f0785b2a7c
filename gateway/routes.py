"""The routing table: every REST route and the NATS subject that serves it. No logic lives here."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from shared.subjects import svc


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    subject: str
    auth: bool = True
    timeout: float | None = None  # seconds; None = settings.request_timeout
    status: int = 200
    per_client_limit: int = 0  # unauthenticated routes: requests per minute per client address (0 = none)
    admin: bool = False  # needs an admin session cookie instead of an API key
    query: tuple[str, ...] = ()  # POST/PUT/PATCH fields the original takes as query parameters (for the docs)
    summary: str = ""


ROUTES: Final[tuple[Route, ...]] = (
    # directory: registration, auth, profiles
    Route("POST", "/v1/register", svc("directory", "register"), auth=False),
    Route("GET", "/v1/directory", svc("directory", "browse"), auth=False),
    Route("GET", "/v1/directory/me", svc("directory", "me")),
    Route("PUT", "/v1/directory/me", svc("directory", "update_me")),
    # memory
    Route("POST", "/v1/memory", svc("memory", "set")),
    Route("GET", "/v1/memory", svc("memory", "list")),
    Route("GET", "/v1/memory/{key}", svc("memory", "get")),
    Route("DELETE", "/v1/memory/{key}", svc("memory", "delete")),
    # shared memory
    Route("POST", "/v1/shared-memory", svc("memory", "shared_set")),
    Route("GET", "/v1/shared-memory", svc("memory", "shared_namespaces")),
    Route("GET", "/v1/shared-memory/{namespace}", svc("memory", "shared_list")),
    Route("GET", "/v1/shared-memory/{namespace}/{key}", svc("memory", "shared_get")),
    Route("DELETE", "/v1/shared-memory/{namespace}/{key}", svc("memory", "shared_delete")),
    # sla: uptime and the contact form
    Route("GET", "/v1/sla", svc("sla", "report"), auth=False),
    Route("POST", "/v1/contact", svc("sla", "contact_submit"), auth=False, per_client_limit=5),
    # queue: the seed's routes, then leases/retries/dead letters. Static paths come BEFORE /v1/queue/{job_id}
    # (aiohttp matches in insertion order).
    Route("POST", "/v1/queue/submit", svc("queue", "submit")),
    Route("POST", "/v1/queue/claim", svc("queue", "claim"), query=("queue_name", "visibility_timeout")),
    Route("GET", "/v1/queue", svc("queue", "list")),
    Route("GET", "/v1/queue/stats", svc("queue", "stats")),
    Route("GET", "/v1/queue/dead-letters", svc("queue", "dead_letters")),
    Route("GET", "/v1/queue/dead_letter", svc("queue", "dead_letters")),  # the original SDK's path
    Route("POST", "/v1/queue/dead-letters/replay", svc("queue", "replay_dead_letters")),
    Route("DELETE", "/v1/queue/dead-letters", svc("queue", "purge_dead_letters")),
    Route("GET", "/v1/queue/{job_id}", svc("queue", "get")),
    Route("POST", "/v1/queue/{job_id}/complete", svc("queue", "complete"), query=("result", "attempt")),
    Route("POST", "/v1/queue/{job_id}/fail", svc("queue", "fail")),
    Route("POST", "/v1/queue/{job_id}/heartbeat", svc("queue", "heartbeat")),
    Route("POST", "/v1/queue/{job_id}/replay", svc("queue", "replay")),
    # relay: messages, webhooks and their delivery log, the event stream
    Route("POST", "/v1/relay/send", svc("relay", "send")),
    Route("GET", "/v1/relay/inbox", svc("relay", "inbox")),
    Route("POST", "/v1/relay/{message_id}/read", svc("relay", "mark_read")),
    Route("POST", "/v1/webhooks", svc("relay", "webhook_create")),
    Route("GET", "/v1/webhooks", svc("relay", "webhook_list")),
    Route("DELETE", "/v1/webhooks/{webhook_id}", svc("relay", "webhook_delete")),
    Route("GET", "/v1/webhooks/{webhook_id}/deliveries", svc("relay", "deliveries")),
    Route("POST", "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/replay", svc("relay", "replay_delivery")),
    Route("GET", "/v1/events", svc("relay", "events"), timeout=35.0),
    Route("POST", "/v1/events/ack", svc("relay", "events_ack")),
    # scheduler: cron schedules that enqueue jobs
    Route("POST", "/v1/schedules", svc("scheduler", "create")),
    Route("GET", "/v1/schedules", svc("scheduler", "list")),
    Route("GET", "/v1/schedules/{task_id}", svc("scheduler", "get")),
    Route("PATCH", "/v1/schedules/{task_id}", svc("scheduler", "toggle"), query=("enabled",)),
    Route("DELETE", "/v1/schedules/{task_id}", svc("scheduler", "delete")),
    Route("POST", "/v1/schedules/{task_id}/trigger", svc("scheduler", "trigger")),
    Route("GET", "/v1/schedules/{task_id}/runs", svc("scheduler", "runs")),
    # discovery, marketplace, coordination testing, text utilities and per-agent stats (issue 5)
    Route("GET", "/v1/directory/search", svc("directory", "search"), auth=False),
    Route("PATCH", "/v1/directory/me/status", svc("directory", "update_status")),
    Route("POST", "/v1/directory/collaborations", svc("directory", "collaborate")),
    Route("GET", "/v1/directory/match", svc("directory", "match")),
    Route("GET", "/v1/agents/{agent_id}/card", svc("directory", "agent_card"), auth=False),
    Route("GET", "/v1/stats", svc("directory", "stats")),
    Route("POST", "/v1/marketplace/tasks", svc("marketplace", "create")),
    Route("GET", "/v1/marketplace/tasks", svc("marketplace", "browse"), auth=False),
    Route("GET", "/v1/marketplace/tasks/{task_id}", svc("marketplace", "get")),
    Route("POST", "/v1/marketplace/tasks/{task_id}/claim", svc("marketplace", "claim")),
    Route("POST", "/v1/marketplace/tasks/{task_id}/deliver", svc("marketplace", "deliver")),
    Route("POST", "/v1/marketplace/tasks/{task_id}/review", svc("marketplace", "review")),
    Route("POST", "/v1/marketplace/tasks/{task_id}/cancel", svc("marketplace", "cancel")),
    Route("GET", "/v1/credits", svc("marketplace", "credits")),
    Route("POST", "/v1/testing/scenarios", svc("coordination", "create")),
    Route("GET", "/v1/testing/scenarios", svc("coordination", "list")),
    # a run answers with its result, so it may take up to the scenario's timeout_seconds (max 300)
    Route("POST", "/v1/testing/scenarios/{scenario_id}/run", svc("coordination", "run"), timeout=320.0),
    Route("GET", "/v1/testing/scenarios/{scenario_id}/results", svc("coordination", "results")),
    Route("POST", "/v1/text/process", svc("coordination", "text_process")),
    # vector memory (MoltGrid 1.0): the memory service embeds through svc.embedder.embed, whose first call
    # loads the local model, hence the longer timeouts
    Route("POST", "/v1/vector/upsert", svc("memory", "vector_upsert"), timeout=30.0,
          summary="Upsert a vector memory (text embedded server-side)"),
    Route("POST", "/v1/vector/search", svc("memory", "vector_search"), timeout=30.0,
          summary="Semantic search over your vector memories"),
    Route("GET", "/v1/vector", svc("memory", "vector_list"), summary="List vector memory keys"),
    Route("GET", "/v1/vector/{key}", svc("memory", "vector_get"), summary="Get one vector memory"),
    Route("DELETE", "/v1/vector/{key}", svc("memory", "vector_delete"), summary="Delete one vector memory"),
)


def _admin(method: str, path: str, service: str, op: str) -> Route:
    return Route(method, path, svc(service, op), auth=False, admin=True)


# The admin panel's data (pages, login and logout are in gateway/admin.py).
ADMIN_ROUTES: Final[tuple[Route, ...]] = (
    _admin("GET", "/admin/api/dashboard", "sla", "admin_dashboard"),
    _admin("GET", "/admin/api/agents", "directory", "admin_agents"),
    _admin("GET", "/admin/api/agents/{agent_id}", "directory", "admin_agent"),
    _admin("DELETE", "/admin/api/agents/{agent_id}", "directory", "admin_delete_agent"),
    _admin("GET", "/admin/api/memory", "memory", "admin_memory"),
    _admin("GET", "/admin/api/memory/{agent_id}/{namespace}/{key}", "memory", "admin_memory_reveal"),
    _admin("GET", "/admin/api/shared-memory", "memory", "admin_shared_memory"),
    _admin("GET", "/admin/api/sla", "sla", "admin_sla"),
    _admin("GET", "/admin/api/contact", "sla", "contact_list"),
    _admin("GET", "/admin/api/messages", "relay", "admin_messages"),
    _admin("GET", "/admin/api/webhooks", "relay", "admin_webhooks"),
    _admin("GET", "/admin/api/queue", "queue", "admin_jobs"),
    _admin("GET", "/admin/api/schedules", "scheduler", "admin_schedules"),
    _admin("GET", "/admin/api/collaborations", "directory", "admin_collaborations"),
    _admin("GET", "/admin/api/marketplace", "marketplace", "admin_tasks"),
    _admin("GET", "/admin/api/scenarios", "coordination", "admin_scenarios"),
)

# The directory's key lookup, used by the gateway's auth middleware (not a REST route).
AUTHENTICATE: Final = svc("directory", "authenticate")
