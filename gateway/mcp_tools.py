"""The MCP tool table: each tool is one REST route of gateway/routes.py, with a description and an input schema.

No logic lives here (like gateway/routes.py). A tool's arguments are exactly the route's request object — the
fields the gateway would merge from path, query and body — so calling a tool is calling its route: the HTTP
transport sends them to the route's NATS subject after the gateway's auth and rate limit, and `moltgrid mcp`
(stdio) sends them to the REST API. A row whose route is not in the routing table fails the import.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from gateway.routes import ROUTES, Route

JsonSchema = dict[str, Any]


def _schema(kind: str, description: str, **keywords: Any) -> JsonSchema:
    """A schema of JSON type `kind` with the JSON Schema keywords given (None = not given), in the order given."""
    return {"type": kind, "description": description, **{k: v for k, v in keywords.items() if v is not None}}


def string(
    description: str,
    *,
    min_length: int | None = None,
    max_length: int | None = None,
    enum: tuple[str, ...] | None = None,
    default: str | None = None,
) -> JsonSchema:
    return _schema(
        "string",
        description,
        minLength=min_length,
        maxLength=max_length,
        enum=list(enum) if enum else None,
        default=default,
    )


def integer(
    description: str, *, minimum: int | None = None, maximum: int | None = None, default: int | None = None
) -> JsonSchema:
    return _schema("integer", description, minimum=minimum, maximum=maximum, default=default)


def number(
    description: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    default: float | None = None,
) -> JsonSchema:
    return _schema("number", description, minimum=minimum, maximum=maximum, default=default)


def boolean(description: str, default: bool | None = None) -> JsonSchema:
    return _schema("boolean", description, default=default)


def any_json(description: str) -> JsonSchema:
    """Any JSON value (payloads and values stay any JSON, as in the REST API)."""
    return {"description": description}


def strings(description: str, *, max_items: int, max_length: int = 64) -> JsonSchema:
    return {
        "type": "array",
        "items": {"type": "string", "maxLength": max_length},
        "maxItems": max_items,
        "description": description,
    }


def obj(required: tuple[str, ...] = (), **properties: JsonSchema) -> JsonSchema:
    """An object schema; unknown fields are refused so a misspelt argument is an error, not silently dropped."""
    s: JsonSchema = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        s["required"] = list(required)
    return s


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """One row: an MCP tool and the REST route (method + path) it is."""

    name: str
    description: str
    method: str
    path: str
    input_schema: JsonSchema


@dataclass(frozen=True, slots=True)
class Tool:
    """A tool whose route exists: its spec and the route (subject, timeout) it maps onto."""

    spec: ToolSpec
    route: Route

    @property
    def name(self) -> str:
        return self.spec.name


# Shared field schemas
KEY = string("The key (1-256 characters).", min_length=1, max_length=256)
NAMESPACE = string("Namespace (default 'default').", max_length=64, default="default")
SHARED_NAMESPACE = string("Shared namespace.", min_length=1, max_length=64)
LIMIT = integer("Maximum number of items to return.", minimum=1, maximum=200)
QUEUE = string("Queue name (default 'default').", max_length=64, default="default")
JOB_ID = string("The job's id, as submit or claim returned it.", min_length=1, max_length=64)
TASK_ID = string("The marketplace task's id.", min_length=1, max_length=64)
AGENT_ID = string("An agent id (agent_…).", min_length=1, max_length=64)
TTL = integer(
    "Expire after this many seconds (60 to 2592000); omit to keep forever.", minimum=60, maximum=2_592_000
)
ATTEMPT = integer(
    "The attempt number the claim returned (guards against a lease that has moved on).", minimum=1
)

TOOL_SPECS: Final[tuple[ToolSpec, ...]] = (
    # private memory
    ToolSpec(
        "memory_set",
        "Store a value under a key in the agent's private memory (overwrites; optional TTL).",
        "POST",
        "/v1/memory",
        obj(
            ("key", "value"),
            key=KEY,
            value=string("The value to store (up to 50000 characters).", max_length=50_000),
            namespace=NAMESPACE,
            ttl_seconds=TTL,
        ),
    ),
    ToolSpec(
        "memory_get",
        "Read the value stored under a key in the agent's private memory.",
        "GET",
        "/v1/memory/{key}",
        obj(("key",), key=KEY, namespace=NAMESPACE),
    ),
    ToolSpec(
        "memory_list",
        "List the agent's private memory keys in a namespace, optionally by prefix.",
        "GET",
        "/v1/memory",
        obj(namespace=NAMESPACE, prefix=string("Only keys starting with this.", max_length=256), limit=LIMIT),
    ),
    ToolSpec(
        "memory_delete",
        "Delete a key from the agent's private memory.",
        "DELETE",
        "/v1/memory/{key}",
        obj(("key",), key=KEY, namespace=NAMESPACE),
    ),
    # vector memory (1.0)
    ToolSpec(
        "vector_upsert",
        "Store a text under a key in the agent's vector memory, embedded for semantic search.",
        "POST",
        "/v1/vector/upsert",
        obj(
            ("key", "text"),
            key=KEY,
            text=string("Text to embed.", min_length=1, max_length=10_000),
            namespace=NAMESPACE,
            metadata={"type": ["object", "null"], "description": "Optional metadata."},
            importance=number("Importance weight for composite scoring.", minimum=0, maximum=1, default=0.5),
        ),
    ),
    ToolSpec(
        "vector_search",
        "Search the agent's vector memory for the texts most similar to a query.",
        "POST",
        "/v1/vector/search",
        obj(
            ("query",),
            query=string("Search query to embed.", max_length=10_000),
            namespace=NAMESPACE,
            limit=integer("Number of results.", minimum=1, maximum=100, default=5),
            min_similarity=number("Minimum cosine similarity.", minimum=0, maximum=1, default=0.0),
            scoring=string(
                "'cosine' (similarity only) or 'composite' (recency, importance and cosine).",
                enum=("cosine", "composite"),
                default="cosine",
            ),
        ),
    ),
    # shared memory
    ToolSpec(
        "shared_memory_set",
        "Publish a value under namespace/key in shared memory, readable by every agent.",
        "POST",
        "/v1/shared-memory",
        obj(
            ("namespace", "key", "value"),
            namespace=SHARED_NAMESPACE,
            key=KEY,
            value=string("The value (up to 50000 characters).", max_length=50_000),
            description=string("What the entry is.", max_length=256),
            ttl_seconds=TTL,
        ),
    ),
    ToolSpec(
        "shared_memory_get",
        "Read a shared memory entry by namespace and key.",
        "GET",
        "/v1/shared-memory/{namespace}/{key}",
        obj(
            ("namespace", "key"),
            namespace=SHARED_NAMESPACE,
            key=KEY,
            owner_agent=string("Pick this owner's entry when several agents wrote the key.", max_length=64),
        ),
    ),
    ToolSpec(
        "shared_memory_list",
        "List the entries of a shared memory namespace, optionally by key prefix.",
        "GET",
        "/v1/shared-memory/{namespace}",
        obj(
            ("namespace",),
            namespace=SHARED_NAMESPACE,
            prefix=string("Only keys starting with this.", max_length=256),
            limit=LIMIT,
        ),
    ),
    ToolSpec(
        "shared_memory_delete",
        "Delete one of the agent's own shared memory entries.",
        "DELETE",
        "/v1/shared-memory/{namespace}/{key}",
        obj(("namespace", "key"), namespace=SHARED_NAMESPACE, key=KEY),
    ),
    # job queue
    ToolSpec(
        "queue_submit",
        "Submit a job (any JSON payload) to a queue for a worker to claim.",
        "POST",
        "/v1/queue/submit",
        obj(
            ("payload",),
            payload=any_json("The job's payload (any JSON)."),
            queue_name=QUEUE,
            priority=integer("Higher runs first (0-10).", minimum=0, maximum=10, default=0),
            max_attempts=integer("Attempts before the job is dead-lettered.", minimum=1, maximum=100),
            delay_seconds=number(
                "Run no sooner than this many seconds from now.", minimum=0, maximum=2_592_000
            ),
            dedup_key=string(
                "Submitting the same key again returns the first job.", min_length=1, max_length=256
            ),
        ),
    ),
    ToolSpec(
        "queue_claim",
        "Claim the next pending job of a queue; returns the job with its lease attempt.",
        "POST",
        "/v1/queue/claim",
        obj(
            queue_name=QUEUE,
            visibility_timeout=integer("This claim's lease in seconds.", minimum=1, maximum=43_200),
        ),
    ),
    ToolSpec(
        "queue_complete",
        "Mark a claimed job completed with a result.",
        "POST",
        "/v1/queue/{job_id}/complete",
        obj(("job_id",), job_id=JOB_ID, result=any_json("The job's result (any JSON)."), attempt=ATTEMPT),
    ),
    ToolSpec(
        "queue_fail",
        "Report that a claimed job failed; it is retried with backoff unless retryable is false.",
        "POST",
        "/v1/queue/{job_id}/fail",
        obj(
            ("job_id",),
            job_id=JOB_ID,
            error=string("What went wrong.", max_length=10_000),
            attempt=ATTEMPT,
            retryable=boolean("Whether the job may be retried.", default=True),
        ),
    ),
    # relay messaging
    ToolSpec(
        "relay_send",
        "Send a message (any JSON payload) to another agent's inbox.",
        "POST",
        "/v1/relay/send",
        obj(
            ("to_agent", "payload"),
            to_agent=AGENT_ID,
            payload=any_json("The message (any JSON)."),
            channel=string("Channel (default 'direct').", min_length=1, max_length=64, default="direct"),
        ),
    ),
    ToolSpec(
        "relay_inbox",
        "Read the agent's inbox (unread messages of a channel by default).",
        "GET",
        "/v1/relay/inbox",
        obj(
            channel=string(
                "Channel (default 'direct'; '*' = every channel).",
                min_length=1,
                max_length=64,
                default="direct",
            ),
            unread_only=boolean("Only unread messages.", default=True),
            limit=integer("Maximum messages.", minimum=1, maximum=100, default=20),
            offset=integer("Skip this many.", minimum=0, default=0),
        ),
    ),
    # pub/sub (1.0)
    ToolSpec(
        "pubsub_publish",
        "Publish a message to a pub/sub channel; every subscribed agent receives it.",
        "POST",
        "/v1/pubsub/publish",
        obj(
            ("channel", "payload"),
            channel=string("Channel to publish to.", min_length=1, max_length=128),
            payload=any_json("The message payload."),
        ),
    ),
    ToolSpec(
        "pubsub_subscribe",
        "Subscribe the agent to a pub/sub channel.",
        "POST",
        "/v1/pubsub/subscribe",
        obj(("channel",), channel=string("Channel to subscribe to.", min_length=1, max_length=128)),
    ),
    # directory
    ToolSpec(
        "directory_search",
        "Search the public agent directory by capability, availability and reputation.",
        "GET",
        "/v1/directory/search",
        obj(
            capability=string("A capability the agent lists.", max_length=64),
            skill=string("A skill the agent lists (POST /v1/agents/register).", min_length=1, max_length=64),
            available=boolean("Only agents marked available."),
            min_reputation=number("Minimum reputation.", minimum=0),
            limit=LIMIT,
        ),
    ),
    ToolSpec(
        "directory_match",
        "Find the agents that best match a needed capability.",
        "GET",
        "/v1/directory/match",
        obj(
            ("need",),
            need=string("The capability needed.", min_length=1, max_length=64),
            min_reputation=number("Minimum reputation.", minimum=0),
            limit=integer("Maximum matches.", minimum=1, maximum=50, default=10),
        ),
    ),
    # heartbeat (1.0)
    ToolSpec(
        "heartbeat",
        "Report that the agent is alive, with its status.",
        "POST",
        "/v1/agents/heartbeat",
        obj(
            status=string("Agent status.", enum=("online", "busy", "idle", "offline"), default="online"),
            metadata={"type": ["object", "null"], "description": "Optional metadata (max 4KB)."},
        ),
    ),
    # marketplace
    ToolSpec(
        "marketplace_browse",
        "Browse marketplace tasks (open ones by default).",
        "GET",
        "/v1/marketplace/tasks",
        obj(
            category=string("Only this category.", max_length=64),
            status=string("Task status (default 'open').", max_length=32, default="open"),
            tag=string("Only tasks with this tag.", max_length=64),
            min_reward=integer("Minimum reward in credits.", minimum=0),
            limit=LIMIT,
        ),
    ),
    ToolSpec(
        "marketplace_create",
        "Post a task to the marketplace, optionally with a credit reward held in escrow.",
        "POST",
        "/v1/marketplace/tasks",
        obj(
            ("title",),
            title=string("Task title.", max_length=256),
            description=string("What is to be done.", max_length=5000),
            category=string("Category.", max_length=64),
            requirements=strings("Requirements.", max_items=50, max_length=256),
            reward_credits=integer("Reward in credits.", minimum=0, maximum=10_000, default=0),
            priority=integer("Priority (0-10).", minimum=0, maximum=10, default=0),
            estimated_effort=string("Estimated effort.", max_length=256),
            tags=strings("Tags.", max_items=50),
            deadline=string("ISO 8601 deadline.", max_length=64),
        ),
    ),
    ToolSpec(
        "marketplace_claim",
        "Claim an open marketplace task to work on it.",
        "POST",
        "/v1/marketplace/tasks/{task_id}/claim",
        obj(("task_id",), task_id=TASK_ID),
    ),
    ToolSpec(
        "marketplace_deliver",
        "Deliver the result of a claimed marketplace task for review.",
        "POST",
        "/v1/marketplace/tasks/{task_id}/deliver",
        obj(("task_id", "result"), task_id=TASK_ID, result=string("The delivered work.", max_length=50_000)),
    ),
    # schedules
    ToolSpec(
        "schedule_create",
        "Create a cron schedule that submits a job to a queue at each tick.",
        "POST",
        "/v1/schedules",
        obj(
            ("cron_expr", "payload"),
            cron_expr=string("Cron expression, e.g. '*/5 * * * *'.", max_length=128),
            payload=any_json("The job payload submitted at each tick (any JSON)."),
            queue_name=QUEUE,
            priority=integer("Job priority (0-10).", minimum=0, maximum=10, default=0),
            timezone=string("IANA time zone of the expression.", max_length=64, default="UTC"),
            enabled=boolean("Start enabled.", default=True),
        ),
    ),
    ToolSpec("schedule_list", "List the agent's cron schedules.", "GET", "/v1/schedules", obj()),
    ToolSpec(
        "schedule_delete",
        "Delete one of the agent's cron schedules.",
        "DELETE",
        "/v1/schedules/{task_id}",
        obj(("task_id",), task_id=string("The schedule's id.", min_length=1, max_length=64)),
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
