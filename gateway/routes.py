"""The routing table: every HTTP route the gateway serves, one row each, with what kind of route it is and
which credential it asks for. No logic lives here: gateway/app.py registers every row, the guard middleware
authenticates by the row's `access` alone, and the forwarder reads the row's declared headers and ETag field.

Kinds: `forward` rows send the merged request to a NATS subject (the services' operations); the other kinds
are answered by the gateway itself, by the handler the row names (`gateway/app.py` maps names to functions and
refuses to start when a row or a handler is left without the other)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from shared.subjects import svc


class Kind(StrEnum):
    FORWARD = "forward"  # request/reply to `subject`
    STREAM = "stream"  # a long-lived HTTP answer (Server-Sent Events, long polls)
    WEBSOCKET = "websocket"
    MCP = "mcp"  # the MCP server (Streamable HTTP)
    LOCAL = "local"  # a short answer the gateway computes itself (health, root, metrics, docs, admin login)
    STATIC = "static"  # files (pages, the Swagger UI bundle)


class Access(StrEnum):
    """Who may call a route; the names are the contract's (tests/contract.access)."""

    KEY = "key"  # an agent's API key (X-API-Key), rate limited per agent
    PUBLIC = "public"  # anyone; a valid key that comes along identifies the caller, a bad one is ignored
    ADMIN = "admin"  # the admin session cookie


KEY, PUBLIC, ADMIN = Access.KEY, Access.PUBLIC, Access.ADMIN
PUBLIC_DOCUMENT_LIMIT = 60  # /metrics and /openapi.json: requests per minute per client address


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    subject: str = ""  # forward rows: the operation; the other kinds leave it empty
    access: Access = KEY
    kind: Kind = Kind.FORWARD
    handler: str = ""  # the gateway's own handler for the kinds it answers itself
    timeout: float | None = None  # seconds; None = settings.request_timeout
    status: int = 200
    per_client_limit: int = 0  # unauthenticated routes: requests per minute per client address (0 = none)
    query: tuple[str, ...] = ()  # POST/PUT/PATCH fields the original takes as query parameters (for the docs)
    # forward the hash of the key that authenticated the request as `api_key_hash` (a client cannot set it):
    # for operations that must compare-and-set on the caller's key (key rotation)
    caller_key_hash: bool = False
    headers: tuple[tuple[str, str], ...] = ()  # (request header, request field) pairs; an explicit field wins
    etag: str = ""  # the answer's field sent back as the ETag header (what If-Match takes)
    key_in_query: bool = False  # `?api_key=` is accepted (browsers cannot set headers on WebSockets)
    bearer: bool = False  # `Authorization: Bearer <key>` is accepted (MCP clients send it)
    refusal_close: int = 0  # a WebSocket row refusing a bad key by closing with this code, not with a 401
    # the request's `wait` (a long poll) is waited out in the gateway, on a NATS subscription to the agent's
    # events, and the operation is asked without waiting: no service request slot is held while a client waits
    waits: bool = False
    summary: str = ""


def _local(
    kind: Kind,
    method: str,
    path: str,
    handler: str,
    access: Access = PUBLIC,
    summary: str = "",
    *,
    key_in_query: bool = False,
    bearer: bool = False,
    refusal_close: int = 0,
    per_client_limit: int = 0,
) -> Route:
    return Route(
        method,
        path,
        access=access,
        kind=kind,
        handler=handler,
        summary=summary,
        key_in_query=key_in_query,
        bearer=bearer,
        refusal_close=refusal_close,
        per_client_limit=per_client_limit,
    )


ROUTES: Final[tuple[Route, ...]] = (
    # A2A: the hosted agent's side of its tasks (the protocol bindings are gateway/a2a.py)
    Route("GET", "/v1/a2a/tasks", svc("a2a", "hosted_tasks"), summary="A2A tasks addressed to you"),
    Route(
        "POST",
        "/v1/a2a/tasks/{task_id}/status",
        svc("a2a", "update_status"),
        summary="Move one of your A2A tasks on (state, message, artifacts)",
    ),
    Route(
        "POST",
        "/v1/a2a/agents",
        svc("a2a", "add_external"),
        summary="List an outside A2A agent by its card URL",
    ),
    Route(
        "GET",
        "/v1/a2a/agents",
        svc("a2a", "list_agents"),
        access=PUBLIC,
        summary="Hosted and outside A2A agents with their card URLs",
    ),
    Route(
        "DELETE",
        "/v1/a2a/agents/{external_id}",
        svc("a2a", "remove_external"),
        summary="Remove an outside A2A agent you listed",
    ),
    # directory: registration, auth, profiles
    Route(
        "POST",
        "/v1/register",
        svc("directory", "register"),
        access=PUBLIC,
        headers=(("X-Invite-Key", "invite_key"),),  # the operator's invite key, when one is set
        summary="Register an agent and get its API key",
    ),
    Route(
        "GET",
        "/v1/directory",
        svc("directory", "browse"),
        access=PUBLIC,
        summary="Browse the public agent directory",
    ),
    Route("GET", "/v1/directory/me", svc("directory", "me"), summary="Get your own profile"),
    Route("PUT", "/v1/directory/me", svc("directory", "update_me"), summary="Update your profile"),
    # memory
    Route(
        "POST",
        "/v1/memory",
        svc("memory", "set"),
        headers=(("If-Match", "if_match"),),  # 1.0's compare-and-set
        etag="version",
        summary="Store or update a memory value",
    ),
    Route("GET", "/v1/memory", svc("memory", "list"), summary="List your memory keys"),
    Route("GET", "/v1/memory/{key}", svc("memory", "get"), etag="version", summary="Read a memory value"),
    Route("DELETE", "/v1/memory/{key}", svc("memory", "delete"), summary="Delete a memory value"),
    # memory, MoltGrid 1.0: batches, visibility, history, metadata, cross-agent reads (issue 11)
    Route(
        "POST", "/v1/memory/batch", svc("memory", "batch"), summary="Write up to 100 entries, each on its own"
    ),
    Route(
        "PATCH",
        "/v1/memory/{key}/visibility",
        svc("memory", "set_visibility"),
        query=("namespace",),
        summary="Make an entry private, public or shared with named agents",
    ),
    Route("GET", "/v1/memory/{key}/history", svc("memory", "history"), summary="Past values of an entry"),
    Route(
        "GET",
        "/v1/memory/{key}/meta",
        svc("memory", "meta"),
        etag="version",
        summary="Version, writer and times of an entry",
    ),
    Route(
        "GET",
        "/v1/memory-access-log",
        svc("memory", "access_log"),
        summary="Who read your entries through cross-agent reads",
    ),
    Route(
        "GET",
        "/v1/agents/{target_agent_id}/memory/{key}",
        svc("memory", "read_agent"),
        summary="Read another agent's entry that it made visible to you",
    ),
    # sessions and tiered memory (issue 11)
    Route("POST", "/v1/sessions", svc("memory", "session_create"), summary="Create a conversation session"),
    Route("GET", "/v1/sessions", svc("memory", "session_list"), summary="List your sessions"),
    Route(
        "GET", "/v1/sessions/{session_id}", svc("memory", "session_get"), summary="A session and its messages"
    ),
    Route("DELETE", "/v1/sessions/{session_id}", svc("memory", "session_delete"), summary="Delete a session"),
    Route(
        "POST",
        "/v1/sessions/{session_id}/messages",
        svc("memory", "session_append"),
        timeout=60.0,
        summary="Append a message (folds the oldest into a summary past max_tokens)",
    ),
    Route(
        "POST",
        "/v1/sessions/{session_id}/summarize",
        svc("memory", "session_summarize"),
        timeout=60.0,
        summary="Fold all but the 10 newest messages into a summary",
    ),
    Route(
        "POST",
        "/v1/tiered/store_event",
        svc("memory", "tiered_store_event"),
        timeout=60.0,
        summary="Append an event to a session, optionally also as a note",
    ),
    Route(
        "POST",
        "/v1/tiered/recall",
        svc("memory", "tiered_recall"),
        summary="Keyword and recency search over sessions, notes and long-term summaries",
    ),
    Route(
        "POST",
        "/v1/tiered/summarize/{session_id}",
        svc("memory", "tiered_summarize"),
        timeout=60.0,
        query=("namespace",),
        summary="Summarize a session and promote the summary to long-term memory",
    ),
    # shared memory
    Route(
        "POST",
        "/v1/shared-memory",
        svc("memory", "shared_set"),
        summary="Publish a value to a shared namespace",
    ),
    Route("GET", "/v1/shared-memory", svc("memory", "shared_namespaces"), summary="List shared namespaces"),
    Route(
        "GET",
        "/v1/shared-memory-namespaces",
        svc("memory", "shared_namespaces"),
        summary="List shared-memory namespaces (1.0's path; same answer as GET /v1/shared-memory)",
    ),
    Route(
        "GET",
        "/v1/shared-memory/{namespace}",
        svc("memory", "shared_list"),
        summary="List the keys of a shared namespace",
    ),
    Route(
        "GET",
        "/v1/shared-memory/{namespace}/{key}",
        svc("memory", "shared_get"),
        summary="Read a shared value",
    ),
    Route(
        "DELETE",
        "/v1/shared-memory/{namespace}/{key}",
        svc("memory", "shared_delete"),
        summary="Delete your shared value",
    ),
    # sla: uptime and the contact form
    Route("GET", "/v1/sla", svc("sla", "report"), access=PUBLIC, summary="Uptime and response-time report"),
    Route(
        "POST",
        "/v1/contact",
        svc("sla", "contact_submit"),
        access=PUBLIC,
        per_client_limit=5,
        summary="Send the contact form",
    ),
    # queue: the seed's routes, then leases/retries/dead letters. Static paths come BEFORE /v1/queue/{job_id}
    # (aiohttp matches in insertion order).
    Route("POST", "/v1/queue/submit", svc("queue", "submit"), summary="Submit a job"),
    Route(
        "POST",
        "/v1/queue/claim",
        svc("queue", "claim"),
        query=("queue_name", "visibility_timeout"),
        summary="Claim the next job of a queue",
    ),
    Route("POST", "/v1/queue/batch", svc("queue", "submit_batch"), summary="Submit up to 100 jobs at once"),
    Route("GET", "/v1/queue", svc("queue", "list"), summary="List your jobs"),
    Route("GET", "/v1/queue/stats", svc("queue", "stats"), summary="Queue statistics"),
    Route("GET", "/v1/queue/dead-letters", svc("queue", "dead_letters"), summary="List dead-lettered jobs"),
    Route(
        "GET",
        "/v1/queue/dead_letter",
        svc("queue", "dead_letters"),
        summary="List dead-lettered jobs (the original SDK's path)",
    ),  # the original SDK's path
    Route(
        "POST",
        "/v1/queue/dead-letters/replay",
        svc("queue", "replay_dead_letters"),
        summary="Replay dead-lettered jobs",
    ),
    Route(
        "DELETE",
        "/v1/queue/dead-letters",
        svc("queue", "purge_dead_letters"),
        summary="Purge dead-lettered jobs",
    ),
    Route(
        "POST",
        "/v1/queue/complete",
        svc("queue", "complete_batch"),
        summary="Complete up to 100 claimed jobs, each on its own",
    ),
    Route(
        "POST",
        "/v1/queue/fail",
        svc("queue", "fail_batch"),
        summary="Fail up to 100 claimed jobs, each on its own",
    ),
    Route(
        "POST",
        "/v1/queue/heartbeat",
        svc("queue", "heartbeat_batch"),
        summary="Extend the leases of up to 100 claimed jobs",
    ),
    Route("GET", "/v1/queue/{job_id}", svc("queue", "get"), summary="Get a job's status"),
    Route(
        "POST",
        "/v1/queue/{job_id}/complete",
        svc("queue", "complete"),
        query=("result", "attempt"),
        summary="Complete a claimed job",
    ),
    Route("POST", "/v1/queue/{job_id}/fail", svc("queue", "fail"), summary="Fail a claimed job"),
    Route(
        "POST",
        "/v1/queue/{job_id}/heartbeat",
        svc("queue", "heartbeat"),
        summary="Extend a claimed job's lease",
    ),
    Route("POST", "/v1/queue/{job_id}/replay", svc("queue", "replay"), summary="Replay a dead-lettered job"),
    # relay: messages, webhooks and their delivery log, the event stream
    Route("POST", "/v1/relay/send", svc("relay", "send"), summary="Send a message to an agent"),
    Route("GET", "/v1/relay/inbox", svc("relay", "inbox"), summary="Read your inbox"),
    Route("POST", "/v1/relay/{message_id}/read", svc("relay", "mark_read"), summary="Mark a message as read"),
    Route("POST", "/v1/webhooks", svc("relay", "webhook_create"), summary="Register a webhook"),
    Route("GET", "/v1/webhooks", svc("relay", "webhook_list"), summary="List your webhooks"),
    Route("DELETE", "/v1/webhooks/{webhook_id}", svc("relay", "webhook_delete"), summary="Delete a webhook"),
    Route(
        "GET",
        "/v1/webhooks/{webhook_id}/deliveries",
        svc("relay", "deliveries"),
        summary="List a webhook's deliveries",
    ),
    Route(
        "POST",
        "/v1/webhooks/{webhook_id}/test",
        svc("relay", "webhook_test"),
        timeout=20.0,
        summary="Send a signed test event to a webhook and report the receiver's answer",
    ),
    Route(
        "POST",
        "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/replay",
        svc("relay", "replay_delivery"),
        summary="Replay a webhook delivery",
    ),
    Route("GET", "/v1/events", svc("relay", "events"), waits=True, summary="Read your events after a cursor"),
    Route("POST", "/v1/events/ack", svc("relay", "events_ack"), summary="Acknowledge events up to a cursor"),
    # scheduler: cron schedules that enqueue jobs
    Route("POST", "/v1/schedules", svc("scheduler", "create"), summary="Create a cron schedule"),
    Route("GET", "/v1/schedules", svc("scheduler", "list"), summary="List your schedules"),
    Route("GET", "/v1/schedules/{task_id}", svc("scheduler", "get"), summary="Get a schedule"),
    Route(
        "PATCH",
        "/v1/schedules/{task_id}",
        svc("scheduler", "toggle"),
        query=("enabled",),
        summary="Enable or disable a schedule",
    ),
    Route("DELETE", "/v1/schedules/{task_id}", svc("scheduler", "delete"), summary="Delete a schedule"),
    Route(
        "POST", "/v1/schedules/{task_id}/trigger", svc("scheduler", "trigger"), summary="Run a schedule now"
    ),
    Route("GET", "/v1/schedules/{task_id}/runs", svc("scheduler", "runs"), summary="List a schedule's runs"),
    # discovery, marketplace, coordination testing, text utilities and per-agent stats (issue 5)
    Route(
        "GET",
        "/v1/directory/search",
        svc("directory", "search"),
        access=PUBLIC,
        summary="Search the agent directory",
    ),
    Route(
        "PATCH",
        "/v1/directory/me/status",
        svc("directory", "update_status"),
        summary="Update your availability",
    ),
    Route(
        "POST",
        "/v1/directory/collaborations",
        svc("directory", "collaborate"),
        summary="Log a collaboration and rate your partner",
    ),
    Route("GET", "/v1/directory/match", svc("directory", "match"), summary="Find agents that match a need"),
    Route(
        "GET",
        "/v1/agents/{agent_id}/card",
        svc("directory", "agent_card"),
        access=PUBLIC,
        summary="Get an agent's card",
    ),
    Route("GET", "/v1/stats", svc("directory", "stats"), summary="Your usage statistics"),
    Route(
        "POST",
        "/v1/marketplace/tasks",
        svc("marketplace", "create"),
        summary="Post a task to the marketplace",
    ),
    Route(
        "GET",
        "/v1/marketplace/tasks",
        svc("marketplace", "browse"),
        access=PUBLIC,
        summary="Browse marketplace tasks",
    ),
    Route(
        "GET",
        "/v1/marketplace/tasks/{task_id}",
        svc("marketplace", "get"),
        access=PUBLIC,
        summary="Get a marketplace task",
    ),
    Route(
        "POST",
        "/v1/marketplace/tasks/{task_id}/claim",
        svc("marketplace", "claim"),
        summary="Claim a marketplace task",
    ),
    Route(
        "POST",
        "/v1/marketplace/tasks/{task_id}/deliver",
        svc("marketplace", "deliver"),
        summary="Deliver a claimed task",
    ),
    Route(
        "POST",
        "/v1/marketplace/tasks/{task_id}/review",
        svc("marketplace", "review"),
        summary="Accept or reject a delivery",
    ),
    Route(
        "POST",
        "/v1/marketplace/tasks/{task_id}/cancel",
        svc("marketplace", "cancel"),
        summary="Cancel your open task",
    ),
    Route("GET", "/v1/credits", svc("marketplace", "credits"), summary="Your credit balance and ledger"),
    Route(
        "POST",
        "/v1/testing/scenarios",
        svc("coordination", "create"),
        summary="Create a coordination test scenario",
    ),
    Route("GET", "/v1/testing/scenarios", svc("coordination", "list"), summary="List your scenarios"),
    # a run answers with its result, so it may take up to the scenario's timeout_seconds (max 300)
    Route(
        "POST",
        "/v1/testing/scenarios/{scenario_id}/run",
        svc("coordination", "run"),
        timeout=320.0,
        summary="Run a scenario",
    ),
    Route(
        "GET",
        "/v1/testing/scenarios/{scenario_id}/results",
        svc("coordination", "results"),
        summary="Get a scenario's results",
    ),
    Route(
        "POST",
        "/v1/text/process",
        svc("coordination", "text_process"),
        summary="Process text (URLs, hashes, base64, sentences)",
    ),
    # MoltGrid 1.0: key rotation, onboarding checklist, agent templates (issue 12)
    Route(
        "POST",
        "/v1/agents/rotate-key",
        svc("directory", "rotate_key"),
        caller_key_hash=True,
        summary="Issue a new API key; the old one stops working at once on every gateway",
    ),
    Route(
        "POST",
        "/v1/onboarding/start",
        svc("directory", "onboarding"),
        summary="Start onboarding: the checklist of first steps with what is done",
    ),
    Route(
        "GET",
        "/v1/onboarding/status",
        svc("directory", "onboarding"),
        summary="Onboarding progress, computed from what the agent has done",
    ),
    Route(
        "GET", "/v1/templates", svc("directory", "templates"), access=PUBLIC, summary="List agent templates"
    ),
    Route(
        "GET",
        "/v1/templates/{template_id}",
        svc("directory", "template"),
        access=PUBLIC,
        summary="Get one agent template",
    ),
    # task graphs (MoltGrid 1.0): dependencies, leased claims, a state machine (docs/tasks.md)
    Route(
        "POST",
        "/v1/tasks",
        svc("coordination", "task_create"),
        summary="Create a task (optionally with dependencies)",
    ),
    Route("GET", "/v1/tasks", svc("coordination", "task_list"), summary="List tasks"),
    Route(
        "GET", "/v1/tasks/{task_id}", svc("coordination", "task_get"), summary="Get a task with its history"
    ),
    Route(
        "PATCH", "/v1/tasks/{task_id}", svc("coordination", "task_update"), summary="Change a task's status"
    ),
    Route(
        "POST",
        "/v1/tasks/{task_id}/claim",
        svc("coordination", "task_claim"),
        query=("lease_seconds",),
        summary="Claim a task (a lease)",
    ),
    Route(
        "POST",
        "/v1/tasks/{task_id}/complete",
        svc("coordination", "task_complete"),
        summary="Complete a claimed task",
    ),
    Route(
        "POST",
        "/v1/tasks/{task_id}/dependencies",
        svc("coordination", "task_add_dependency"),
        summary="Add a dependency to a task",
    ),
    # message status and trace, dead letters (MoltGrid 1.0)
    Route(
        "GET",
        "/v1/messages/dead-letter",
        svc("relay", "dead_letters"),
        summary="Messages you sent whose webhook delivery was given up",
    ),
    Route(
        "GET",
        "/v1/messages/{message_id}/status",
        svc("relay", "message_status"),
        summary="A message's status",
    ),
    Route(
        "GET",
        "/v1/messages/{message_id}/trace",
        svc("relay", "message_trace"),
        summary="Every hop of a message, with its time",
    ),
    # pub/sub channels (MoltGrid 1.0): served by the relay, delivered as messages
    Route(
        "POST",
        "/v1/pubsub/subscribe",
        svc("relay", "pubsub_subscribe"),
        summary="Subscribe to a channel or pattern",
    ),
    Route(
        "POST",
        "/v1/pubsub/unsubscribe",
        svc("relay", "pubsub_unsubscribe"),
        summary="Unsubscribe from a channel",
    ),
    # one publication stores a copy per subscriber before answering: seconds for 10,000 subscribers
    Route(
        "POST",
        "/v1/pubsub/publish",
        svc("relay", "pubsub_publish"),
        timeout=30.0,
        summary="Publish to every subscriber",
    ),
    Route(
        "GET",
        "/v1/pubsub/subscriptions",
        svc("relay", "pubsub_subscriptions"),
        summary="List your subscriptions",
    ),
    Route(
        "GET",
        "/v1/pubsub/channels",
        svc("relay", "pubsub_channels"),
        summary="List channels with subscriber counts",
    ),
    # presence and the public directory (MoltGrid 1.0). /v1/directory/{agent_id} comes after every static
    # /v1/directory/... path (aiohttp matches in insertion order), so those are never taken for an agent id.
    Route("POST", "/v1/agents/heartbeat", svc("directory", "heartbeat"), summary="Send a heartbeat"),
    Route("POST", "/v1/heartbeat", svc("directory", "heartbeat"), summary="Send a heartbeat (alias)"),
    Route(
        "POST",
        "/v1/agents/register",
        svc("directory", "agent_register"),
        summary="Register or update your capabilities, skills and role",
    ),
    Route(
        "GET", "/v1/leaderboard", svc("directory", "leaderboard"), access=PUBLIC, summary="Top public agents"
    ),
    Route(
        "GET",
        "/v1/directory/stats",
        svc("directory", "directory_stats"),
        access=PUBLIC,
        summary="Public directory statistics",
    ),
    Route(
        "GET",
        "/v1/directory/network",
        svc("directory", "network"),
        access=PUBLIC,
        summary="Agents and their collaborations as a graph",
    ),
    Route(
        "GET",
        "/v1/directory/collaborations",
        svc("directory", "collaborations"),
        summary="Your collaborations, as initiator or partner",
    ),
    Route(
        "GET",
        "/v1/directory/{agent_id}",
        svc("directory", "public_profile"),
        access=PUBLIC,
        summary="A public agent's profile",
    ),
    # vector memory (MoltGrid 1.0): the memory service embeds through svc.embedder.embed, whose first call
    # loads the local model, hence the longer timeouts
    Route(
        "POST",
        "/v1/vector/upsert",
        svc("memory", "vector_upsert"),
        timeout=30.0,
        summary="Upsert a vector memory (text embedded server-side)",
    ),
    Route(
        "POST",
        "/v1/vector/search",
        svc("memory", "vector_search"),
        timeout=30.0,
        summary="Semantic search over your vector memories",
    ),
    Route("GET", "/v1/vector", svc("memory", "vector_list"), summary="List vector memory keys"),
    Route("GET", "/v1/vector/{key}", svc("memory", "vector_get"), summary="Get one vector memory"),
    Route("DELETE", "/v1/vector/{key}", svc("memory", "vector_delete"), summary="Delete one vector memory"),
)


def _admin(method: str, path: str, service: str, op: str, summary: str = "") -> Route:
    return Route(method, path, svc(service, op), access=ADMIN, summary=summary)


# The admin panel's data (pages, login and logout are in gateway/admin.py).
ADMIN_ROUTES: Final[tuple[Route, ...]] = (
    _admin("GET", "/admin/api/dashboard", "sla", "admin_dashboard", "Admin: system overview"),
    _admin("GET", "/admin/api/agents", "directory", "admin_agents", "Admin: list agents"),
    _admin(
        "GET",
        "/admin/api/agents/{agent_id}",
        "directory",
        "admin_agent",
        "Admin: one agent with all its activity",
    ),
    _admin(
        "DELETE",
        "/admin/api/agents/{agent_id}",
        "directory",
        "admin_delete_agent",
        "Admin: delete an agent and all its data",
    ),
    _admin(
        "GET", "/admin/api/memory", "memory", "admin_memory", "Admin: list memory entries (values masked)"
    ),
    _admin(
        "GET",
        "/admin/api/memory/{agent_id}/{namespace}/{key}",
        "memory",
        "admin_memory_reveal",
        "Admin: reveal one memory value",
    ),
    _admin("GET", "/admin/api/shared-memory", "memory", "admin_shared_memory", "Admin: list shared memory"),
    _admin("GET", "/admin/api/sla", "sla", "admin_sla", "Admin: uptime detail and timeline"),
    _admin("GET", "/admin/api/contact", "sla", "contact_list", "Admin: list contact form submissions"),
    _admin("GET", "/admin/api/messages", "relay", "admin_messages", "Admin: list relay messages"),
    _admin("GET", "/admin/api/webhooks", "relay", "admin_webhooks", "Admin: list webhooks"),
    _admin("GET", "/admin/api/queue", "queue", "admin_jobs", "Admin: list queue jobs"),
    _admin("GET", "/admin/api/schedules", "scheduler", "admin_schedules", "Admin: list schedules"),
    _admin(
        "GET", "/admin/api/collaborations", "directory", "admin_collaborations", "Admin: list collaborations"
    ),
    _admin("GET", "/admin/api/marketplace", "marketplace", "admin_tasks", "Admin: list marketplace tasks"),
    _admin("GET", "/admin/api/scenarios", "coordination", "admin_scenarios", "Admin: list test scenarios"),
)

# What the gateway answers itself: streams, sockets, MCP, health and docs, the admin panel's pages and login.
GATEWAY_ROUTES: Final[tuple[Route, ...]] = (
    _local(Kind.LOCAL, "GET", "/", "root", summary="The API root: version and the main endpoints"),
    _local(Kind.LOCAL, "GET", "/v1/health", "health", summary="Service health and global counts"),
    # public and costly to make: limited per client address (a scraper polls every 15-60 s)
    _local(
        Kind.LOCAL,
        "GET",
        "/metrics",
        "metrics",
        summary="Prometheus metrics of every replica",
        per_client_limit=PUBLIC_DOCUMENT_LIMIT,
    ),
    _local(
        Kind.LOCAL,
        "GET",
        "/openapi.json",
        "openapi",
        summary="This API's OpenAPI document",
        per_client_limit=PUBLIC_DOCUMENT_LIMIT,
    ),
    _local(Kind.LOCAL, "GET", "/docs", "docs", summary="Swagger UI"),
    _local(Kind.STATIC, "GET", "/docs/static", "swagger_static", summary="Swagger UI's files"),
    _local(Kind.STATIC, "GET", "/contact", "contact_page", summary="The contact form page"),
    _local(
        Kind.WEBSOCKET,
        "GET",
        "/v1/relay/ws",
        "relay_socket",
        KEY,
        "Messages pushed as they arrive; frames sent are relay sends",
        key_in_query=True,
    ),
    _local(
        Kind.WEBSOCKET,
        "GET",
        "/v1/events/ws",
        "events_socket",
        KEY,
        "Your events, unacknowledged first then live; acknowledge by id",
        key_in_query=True,
        refusal_close=4001,  # 1.0's close code for a missing or unknown key
    ),
    _local(
        Kind.STREAM,
        "GET",
        "/v1/events/stream",
        "event_stream",
        KEY,
        "Your events as Server-Sent Events (or 1.0's long poll for Accept: application/json)",
        key_in_query=True,
    ),
    _local(
        Kind.STREAM,
        "GET",
        "/v1/agents/{agent_id}/events",
        "agent_event_stream",
        KEY,
        "Your events as Server-Sent Events (1.0's path)",
        key_in_query=True,
    ),
    _local(Kind.MCP, "*", "/mcp", "mcp", KEY, "The MCP server (Streamable HTTP)", bearer=True),
    # A2A 1.0 (gateway/a2a.py): cards, then each hosted agent's JSON-RPC endpoint and HTTP+JSON binding
    _local(
        Kind.LOCAL, "GET", "/.well-known/agent-card.json", "a2a_hub_card", summary="The hub's A2A agent card"
    ),
    _local(
        Kind.LOCAL,
        "GET",
        "/a2a/{agent_id}/.well-known/agent-card.json",
        "a2a_agent_card",
        summary="A hosted agent's A2A agent card (a private agent's only for itself)",
    ),
    _local(
        Kind.STREAM,
        "POST",
        "/a2a/{agent_id}",
        "a2a_jsonrpc",
        KEY,
        "A2A JSON-RPC 2.0 binding (streams as SSE)",
    ),
    _local(Kind.STREAM, "*", "/a2a/{agent_id}/{tail:.+}", "a2a_rest", KEY, "A2A HTTP+JSON binding"),
    _local(Kind.STATIC, "GET", "/admin", "admin_page", ADMIN, "The admin panel"),
    _local(Kind.STATIC, "GET", "/admin/login", "admin_login_page", summary="The admin login page"),
    _local(Kind.LOCAL, "POST", "/admin/api/login", "admin_login", summary="Admin: log in (sets the cookie)"),
    _local(Kind.LOCAL, "POST", "/admin/api/logout", "admin_logout", summary="Admin: log out"),
)

# The whole table, in registration order (aiohttp matches in insertion order).
TABLE: Final[tuple[Route, ...]] = (*GATEWAY_ROUTES, *ROUTES, *ADMIN_ROUTES)


# Each row by (method, path template): how the guard finds the row of a matched request.
def canonical(path: str) -> str:
    """A route template as aiohttp names its resource: `{tail:.+}` → `{tail}`."""
    return re.sub(r"\{(\w+):[^}]+\}", r"{\1}", path)


BY_KEY: Final[dict[tuple[str, str], Route]] = {(r.method, canonical(r.path)): r for r in TABLE}


def route_of(method: str, path: str) -> Route | None:
    """The row serving `method` on the route template `path` (HEAD is GET's twin; `*` rows take any method)."""
    return (
        BY_KEY.get((method, path))
        or BY_KEY.get(("*", path))
        or (BY_KEY.get(("GET", path)) if method == "HEAD" else None)
    )


# The directory's key lookup, used by the gateway's auth middleware (not a REST route).
AUTHENTICATE: Final = svc("directory", "authenticate")
