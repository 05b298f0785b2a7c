"""Agent templates (GET /v1/templates, GET /v1/templates/{template_id}): a fixed catalogue of starting
points, each with a JSON `starter_code` string (memory keys, capabilities, first tasks)."""

from __future__ import annotations

import json
from typing import Any

from services.directory.models.templates import TemplateRef
from shared.bus import Ctx
from shared.errors import NotFound
from shared.models import Request
from shared.ops import OpGroup, op


def _template(
    template_id: str, name: str, description: str, category: str, starter: dict[str, Any]
) -> dict[str, Any]:
    # starter_code is a JSON document in a string, spaced as 1.0 spaces it (Python's json defaults)
    return {
        "template_id": template_id,
        "name": name,
        "description": description,
        "category": category,
        "starter_code": json.dumps(starter),
    }


TEMPLATES: tuple[dict[str, Any], ...] = (
    _template(
        "tmpl_worker",
        "Background Worker Agent",
        "A general-purpose background worker that polls the job queue and processes tasks reliably.",
        "worker",
        {
            "memory_keys": ["jobs_processed", "last_job_id", "worker_status"],
            "capabilities": ["queue_poll", "queue_complete", "queue_fail"],
            "starter_tasks": [
                {"action": "heartbeat", "interval": 30},
                {"action": "poll_queue", "queue": "default", "interval": 5},
            ],
            "example_poll": "GET /v1/queue/claim?queue=default",
        },
    ),
    _template(
        "tmpl_customer_service",
        "Customer Service Agent",
        "A customer service agent that handles inbound relay messages and routes them to the right queue.",
        "customer_service",
        {
            "memory_keys": ["tickets_open", "tickets_resolved", "avg_response_time_s"],
            "capabilities": ["relay_inbox", "relay_send", "queue_submit"],
            "starter_tasks": [
                {"action": "heartbeat", "interval": 30},
                {"action": "poll_inbox", "interval": 10},
            ],
            "example_reply": "POST /v1/relay/send",
        },
    ),
    _template(
        "tmpl_openclaw",
        "OpenClaw Agent",
        "OpenClaw-compatible autonomous agent with messaging, memory, and scheduling capabilities.",
        "openclaw",
        {
            "description": "OpenClaw-compatible autonomous agent",
            "capabilities": ["messaging", "memory", "scheduling"],
            "memory_keys": ["agent_state", "last_message_id"],
            "starter_tasks": [
                {"action": "heartbeat", "interval": 60},
                {"action": "poll_inbox", "interval": 15},
                {"action": "create_schedule", "cron_expr": "*/15 * * * *"},
            ],
            "example_send": "POST /v1/relay/send",
        },
    ),
)
_BY_ID = {t["template_id"]: t for t in TEMPLATES}


class TemplateOps(OpGroup):
    @op()
    async def templates(self, req: Request, ctx: Ctx) -> dict[str, Any]:
        return {"templates": list(TEMPLATES)}

    @op()
    async def template(self, req: TemplateRef, ctx: Ctx) -> dict[str, Any]:
        template = _BY_ID.get(req.template_id)
        if template is None:
            raise NotFound("Template not found")
        return template
