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
    # memory, MoltGrid 1.0: batches, visibility, history, metadata, cross-agent reads (issue 11)
    Route("POST", "/v1/memory/batch", svc("memory", "batch"), summary="Write up to 100 entries, each on its own"),
    Route("PATCH", "/v1/memory/{key}/visibility", svc("memory", "set_visibility"), query=("namespace",),
          summary="Make an entry private, public or shared with named agents"),
    Route("GET", "/v1/memory/{key}/history", svc("memory", "history"), summary="Past values of an entry"),
    Route("GET", "/v1/memory/{key}/meta", svc("memory", "meta"), summary="Version, writer and times of an entry"),
    Route("GET", "/v1/memory-access-log", svc("memory", "access_log"),
          summary="Who read your entries through cross-agent reads"),
    Route("GET", "/v1/agents/{target_agent_id}/memory/{key}", svc("memory", "read_agent"),
          summary="Read another agent's entry that it made visible to you"),
    # sessions and tiered memory (issue 11)
    Route("POST", "/v1/sessions", svc("memory", "session_create"), summary="Create a conversation session"),
    Route("GET", "/v1/sessions", svc("memory", "session_list"), summary="List your sessions"),
    Route("GET", "/v1/sessions/{session_id}", svc("memory", "session_get"), summary="A session and its messages"),
    Route("DELETE", "/v1/sessions/{session_id}", svc("memory", "session_delete"), summary="Delete a session"),
    Route("POST", "/v1/sessions/{session_id}/messages", svc("memory", "session_append"),
          timeout=60.0, summary="Append a message (folds the oldest into a summary past max_tokens)"),
    Route("POST", "/v1/sessions/{session_id}/summarize", svc("memory", "session_summarize"),
          timeout=60.0, summary="Fold all but the 10 newest messages into a summary"),
    Route("POST", "/v1/tiered/store_event", svc("memory", "tiered_store_event"), timeout=60.0,
          summary="Append an event to a session, optionally also as a note"),
    Route("POST", "/v1/tiered/recall", svc("memory", "tiered_recall"),
          summary="Keyword and recency search over sessions, notes and long-term summaries"),
    Route("POST", "/v1/tiered/summarize/{session_id}", svc("memory", "tiered_summarize"), timeout=60.0,
          query=("namespace",), summary="Summarize a session and promote the summary to long-term memory"),
    # shared memory
    Route("POST", "/v1/shared-memory", svc("memory", "shared_set")),
    Route("GET", "/v1/shared-memory", svc("memory", "shared_namespaces")),
    Route("GET", "/v1/shared-memory-namespaces", svc("memory", "shared_namespaces"),
          summary="List shared-memory namespaces (1.0's path; same answer as GET /v1/shared-memory)"),
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
    Route("POST", "/v1/queue/batch", svc("queue", "submit_batch"), summary="Submit up to 100 jobs at once"),
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
    Route("POST", "/v1/webhooks/{webhook_id}/test", svc("relay", "webhook_test"), timeout=20.0,
          summary="Send a signed test event to a webhook and report the receiver's answer"),
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
    # MoltGrid 1.0: key rotation, onboarding checklist, agent templates (issue 12)
    Route("POST", "/v1/agents/rotate-key", svc("directory", "rotate_key"),
          summary="Issue a new API key; the old one stops working at once on every gateway"),
    Route("POST", "/v1/onboarding/start", svc("directory", "onboarding"),
          summary="Start onboarding: the checklist of first steps with what is done"),
    Route("GET", "/v1/onboarding/status", svc("directory", "onboarding"),
          summary="Onboarding progress, computed from what the agent has done"),
    Route("GET", "/v1/templates", svc("directory", "templates"), auth=False, summary="List agent templates"),
    Route("GET", "/v1/templates/{template_id}", svc("directory", "template"), auth=False,
          summary="Get one agent template"),
    # task graphs (MoltGrid 1.0): dependencies, leased claims, a state machine (docs/tasks.md)
    Route("POST", "/v1/tasks", svc("coordination", "task_create"),
          summary="Create a task (optionally with dependencies)"),
    Route("GET", "/v1/tasks", svc("coordination", "task_list"), summary="List tasks"),
    Route("GET", "/v1/tasks/{task_id}", svc("coordination", "task_get"), summary="Get a task with its history"),
    Route("PATCH", "/v1/tasks/{task_id}", svc("coordination", "task_update"), summary="Change a task's status"),
    Route("POST", "/v1/tasks/{task_id}/claim", svc("coordination", "task_claim"), query=("lease_seconds",),
          summary="Claim a task (a lease)"),
    Route("POST", "/v1/tasks/{task_id}/complete", svc("coordination", "task_complete"),
          summary="Complete a claimed task"),
    Route("POST", "/v1/tasks/{task_id}/dependencies", svc("coordination", "task_add_dependency"),
          summary="Add a dependency to a task"),
    # message status and trace, dead letters (MoltGrid 1.0)
    Route("GET", "/v1/messages/dead-letter", svc("relay", "dead_letters"),
          summary="Messages you sent whose webhook delivery was given up"),
    Route("GET", "/v1/messages/{message_id}/status", svc("relay", "message_status"), summary="A message's status"),
    Route("GET", "/v1/messages/{message_id}/trace", svc("relay", "message_trace"),
          summary="Every hop of a message, with its time"),
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
