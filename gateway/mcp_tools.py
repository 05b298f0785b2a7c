"""The MCP tool table: each tool is one REST route of gateway/routes.py, with a description.

No logic lives here (like gateway/routes.py). A tool's arguments are exactly the route's request object — the
fields the gateway would merge from path, query and body — so calling a tool is calling its route: the HTTP
transport sends them to the route's NATS subject after the gateway's auth and rate limit, and `moltgrid mcp`
(stdio) sends them to the REST API. A row whose route is not in the routing table fails the import. Input
schemas are not written here: gateway/mcp_schemas.py derives them from the models the services describe.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from gateway.routes import ROUTES, Route


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """One row: an MCP tool and the REST route (method + path) it is."""

    name: str
    description: str
    method: str
    path: str


@dataclass(frozen=True, slots=True)
class Tool:
    """A tool whose route exists: its spec and the route (subject, timeout) it maps onto."""

    spec: ToolSpec
    route: Route

    @property
    def name(self) -> str:
        return self.spec.name


TOOL_SPECS: Final[tuple[ToolSpec, ...]] = (
    # private memory
    ToolSpec(
        "memory_set",
        "Store a value under a key in the agent's private memory (overwrites; optional TTL).",
        "POST",
        "/v1/memory",
    ),
    ToolSpec(
        "memory_get",
        "Read the value stored under a key in the agent's private memory.",
        "GET",
        "/v1/memory/{key}",
    ),
    ToolSpec(
        "memory_list",
        "List the agent's private memory keys in a namespace, optionally by prefix.",
        "GET",
        "/v1/memory",
    ),
    ToolSpec(
        "memory_delete",
        "Delete a key from the agent's private memory.",
        "DELETE",
        "/v1/memory/{key}",
    ),
    # vector memory (1.0)
    ToolSpec(
        "vector_upsert",
        "Store a text under a key in the agent's vector memory, embedded for semantic search.",
        "POST",
        "/v1/vector/upsert",
    ),
    ToolSpec(
        "vector_search",
        "Search the agent's vector memory for the texts most similar to a query.",
        "POST",
        "/v1/vector/search",
    ),
    # shared memory
    ToolSpec(
        "shared_memory_set",
        "Publish a value under namespace/key in shared memory, readable by every agent.",
        "POST",
        "/v1/shared-memory",
    ),
    ToolSpec(
        "shared_memory_get",
        "Read a shared memory entry by namespace and key.",
        "GET",
        "/v1/shared-memory/{namespace}/{key}",
    ),
    ToolSpec(
        "shared_memory_list",
        "List the entries of a shared memory namespace, optionally by key prefix.",
        "GET",
        "/v1/shared-memory/{namespace}",
    ),
    ToolSpec(
        "shared_memory_delete",
        "Delete one of the agent's own shared memory entries.",
        "DELETE",
        "/v1/shared-memory/{namespace}/{key}",
    ),
    # job queue
    ToolSpec(
        "queue_submit",
        "Submit a job (any JSON payload) to a queue for a worker to claim.",
        "POST",
        "/v1/queue/submit",
    ),
    ToolSpec(
        "queue_claim",
        "Claim the next pending job of a queue; returns the job with its lease attempt.",
        "POST",
        "/v1/queue/claim",
    ),
    ToolSpec(
        "queue_complete",
        "Mark a claimed job completed with a result.",
        "POST",
        "/v1/queue/{job_id}/complete",
    ),
    ToolSpec(
        "queue_fail",
        "Report that a claimed job failed; it is retried with backoff unless retryable is false.",
        "POST",
        "/v1/queue/{job_id}/fail",
    ),
    # relay messaging
    ToolSpec(
        "relay_send",
        "Send a message (any JSON payload) to another agent's inbox.",
        "POST",
        "/v1/relay/send",
    ),
    ToolSpec(
        "relay_inbox",
        "Read the agent's inbox (unread messages of a channel by default).",
        "GET",
        "/v1/relay/inbox",
    ),
    # pub/sub (1.0)
    ToolSpec(
        "pubsub_publish",
        "Publish a message to a pub/sub channel; every subscribed agent receives it.",
        "POST",
        "/v1/pubsub/publish",
    ),
    ToolSpec(
        "pubsub_subscribe",
        "Subscribe the agent to a pub/sub channel.",
        "POST",
        "/v1/pubsub/subscribe",
    ),
    # directory
    ToolSpec(
        "directory_search",
        "Search the public agent directory by capability, availability and reputation.",
        "GET",
        "/v1/directory/search",
    ),
    ToolSpec(
        "directory_match",
        "Find the agents that best match a needed capability.",
        "GET",
        "/v1/directory/match",
    ),
    # heartbeat (1.0)
    ToolSpec(
        "heartbeat",
        "Report that the agent is alive, with its status.",
        "POST",
        "/v1/agents/heartbeat",
    ),
    # marketplace
    ToolSpec(
        "marketplace_browse",
        "Browse marketplace tasks (open ones by default).",
        "GET",
        "/v1/marketplace/tasks",
    ),
    ToolSpec(
        "marketplace_create",
        "Post a task to the marketplace, optionally with a credit reward held in escrow.",
        "POST",
        "/v1/marketplace/tasks",
    ),
    ToolSpec(
        "marketplace_claim",
        "Claim an open marketplace task to work on it.",
        "POST",
        "/v1/marketplace/tasks/{task_id}/claim",
    ),
    ToolSpec(
        "marketplace_deliver",
        "Deliver the result of a claimed marketplace task for review.",
        "POST",
        "/v1/marketplace/tasks/{task_id}/deliver",
    ),
    # schedules
    ToolSpec(
        "schedule_create",
        "Create a cron schedule that submits a job to a queue at each tick.",
        "POST",
        "/v1/schedules",
    ),
    ToolSpec("schedule_list", "List the agent's cron schedules.", "GET", "/v1/schedules"),
    ToolSpec(
        "schedule_delete",
        "Delete one of the agent's cron schedules.",
        "DELETE",
        "/v1/schedules/{task_id}",
    ),
    # A2A: tasks other agents sent to this agent through its A2A endpoint
    ToolSpec(
        "a2a_tasks",
        "List the A2A tasks addressed to this agent (oldest update first), optionally by state.",
        "GET",
        "/v1/a2a/tasks",
    ),
    ToolSpec(
        "a2a_update_status",
        "Move one of this agent's A2A tasks on: working, completed (with artifacts), input required, failed…",
        "POST",
        "/v1/a2a/tasks/{task_id}/status",
    ),
)


def tools_of(specs: tuple[ToolSpec, ...]) -> dict[str, Tool]:
    """Each row with its route, by name; a row naming no route of the routing table is an error (raised when
    this module is imported, so a removed or misspelt route fails every test and the gateway's start)."""
    index = {(r.method, r.path): r for r in ROUTES}
    missing = [f"{s.name}: {s.method} {s.path}" for s in specs if (s.method, s.path) not in index]
    if missing:
        raise LookupError(f"MCP tools naming no route of gateway/routes.py: {missing}")
    return {s.name: Tool(s, index[(s.method, s.path)]) for s in specs}


TOOLS: Final[dict[str, Tool]] = tools_of(TOOL_SPECS)


@dataclass(frozen=True, slots=True)
class ResourceSpec:
    """An MCP resource: a URI (template) read through one GET route."""

    uri: str
    name: str
    description: str
    path: str


RESOURCES: Final[tuple[ResourceSpec, ...]] = (
    ResourceSpec(
        "moltgrid://memory",
        "memory-keys",
        "The agent's private memory keys (default namespace).",
        "/v1/memory",
    ),
    ResourceSpec("moltgrid://inbox", "inbox", "The agent's unread direct messages.", "/v1/relay/inbox"),
)
# One memory value: moltgrid://memory/{key}
MEMORY_VALUE_TEMPLATE: Final = ResourceSpec(
    "moltgrid://memory/{key}",
    "memory-value",
    "The value stored under one private memory key.",
    "/v1/memory/{key}",
)
