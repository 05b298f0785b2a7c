"""Every MoltGrid route as one typed method, declared once and shared by the sync and async clients.

A method only says what it sends (`Req`); the `endpoint` decorator knows the route and hands the request
to the client's transport, which returns the decoded JSON (or a coroutine of it, for the async client).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

F = TypeVar("F", bound=Callable[..., Any])
ENDPOINTS: list[tuple[str, str, str]] = []  # (method, path template, client method name)


@dataclass
class Req:
    path: dict[str, str] = field(default_factory=dict)
    json: dict[str, Any] | None = None
    params: dict[str, Any] | None = None


def _clean(d: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if d is None else {k: v for k, v in d.items() if v is not None}


def endpoint(method: str, template: str) -> Callable[[F], F]:
    def decorate(fn: F) -> F:
        ENDPOINTS.append((method, template, fn.__name__))

        @functools.wraps(fn)
        def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            req: Req = fn(self, *args, **kwargs)
            path = template.format(**{k: quote(str(v), safe="") for k, v in req.path.items()})
            params = _clean(req.params)
            if params:
                params = {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in params.items()}
            return self._call(method, path, json=_clean(req.json), params=params)

        return call  # type: ignore[return-value]

    return decorate


class Api:
    """The MoltGrid REST API (seed routes plus MoltGrid's additions)."""

    def _call(
        self,
        method: str,
        path: str,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        raise NotImplementedError

    # ── memory ──────────────────────────────────────────────────────────────
    @endpoint("POST", "/v1/memory")
    def memory_set(
        self,
        key: str,
        value: str,
        namespace: str = "default",
        ttl_seconds: int | None = None,
        visibility: str | None = None,
        shared_agents: list[str] | None = None,
        expected_version: int | None = None,
    ) -> Any:
        """expected_version: compare-and-set (0 = create only); a mismatch raises a 409 MoltGridError."""
        return Req(
            json={
                "key": key,
                "value": value,
                "namespace": namespace,
                "ttl_seconds": ttl_seconds,
                "visibility": visibility,
                "shared_agents": shared_agents,
                "expected_version": expected_version,
            }
        )

    @endpoint("GET", "/v1/memory/{key}")
    def memory_get(self, key: str, namespace: str = "default") -> Any:
        return Req(path={"key": key}, params={"namespace": namespace})

    @endpoint("GET", "/v1/memory")
    def memory_list(
        self, namespace: str = "default", prefix: str | None = None, limit: int | None = None
    ) -> Any:
        return Req(params={"namespace": namespace, "prefix": prefix, "limit": limit})

    @endpoint("DELETE", "/v1/memory/{key}")
    def memory_delete(self, key: str, namespace: str = "default") -> Any:
        return Req(path={"key": key}, params={"namespace": namespace})

    @endpoint("POST", "/v1/memory/batch")
    def memory_batch(self, items: list[dict[str, Any]]) -> Any:
        return Req(json={"items": items})

    @endpoint("PATCH", "/v1/memory/{key}/visibility")
    def memory_set_visibility(
        self, key: str, visibility: str, namespace: str = "default", shared_agents: list[str] | None = None
    ) -> Any:
        return Req(
            path={"key": key},
            params={"namespace": namespace},
            json={"visibility": visibility, "shared_agents": shared_agents},
        )

    @endpoint("GET", "/v1/memory/{key}/history")
    def memory_history(self, key: str, namespace: str = "default", limit: int | None = None) -> Any:
        return Req(path={"key": key}, params={"namespace": namespace, "limit": limit})

    @endpoint("GET", "/v1/memory/{key}/meta")
    def memory_meta(self, key: str, namespace: str = "default") -> Any:
        return Req(path={"key": key}, params={"namespace": namespace})

    @endpoint("GET", "/v1/memory-access-log")
    def memory_access_log(
        self,
        namespace: str | None = None,
        key: str | None = None,
        reader: str | None = None,
        limit: int | None = None,
    ) -> Any:
        return Req(params={"namespace": namespace, "key": key, "reader": reader, "limit": limit})

    @endpoint("GET", "/v1/agents/{target_agent_id}/memory/{key}")
    def memory_read_agent(self, target_agent_id: str, key: str, namespace: str = "default") -> Any:
        return Req(path={"target_agent_id": target_agent_id, "key": key}, params={"namespace": namespace})

    # ── sessions and tiered memory ──────────────────────────────────────────
    @endpoint("POST", "/v1/sessions")
    def session_create(
        self, title: str | None = None, max_tokens: int | None = None, metadata: Any = None
    ) -> Any:
        return Req(json={"title": title, "max_tokens": max_tokens, "metadata": metadata})

    @endpoint("GET", "/v1/sessions")
    def session_list(self, limit: int | None = None) -> Any:
        return Req(params={"limit": limit})

    @endpoint("GET", "/v1/sessions/{session_id}")
    def session_get(self, session_id: str) -> Any:
        return Req(path={"session_id": session_id})

    @endpoint("DELETE", "/v1/sessions/{session_id}")
    def session_delete(self, session_id: str) -> Any:
        return Req(path={"session_id": session_id})

    @endpoint("POST", "/v1/sessions/{session_id}/messages")
    def session_append(self, session_id: str, role: str, content: str) -> Any:
        return Req(path={"session_id": session_id}, json={"role": role, "content": content})

    @endpoint("POST", "/v1/sessions/{session_id}/summarize")
    def session_summarize(self, session_id: str) -> Any:
        return Req(path={"session_id": session_id})

    @endpoint("POST", "/v1/tiered/store_event")
    def tiered_store_event(
        self,
        session_id: str,
        data: Any,
        role: str = "user",
        persist: bool = False,
        note_key: str | None = None,
        namespace: str | None = None,
    ) -> Any:
        return Req(
            json={
                "session_id": session_id,
                "data": data,
                "role": role,
                "persist": persist,
                "note_key": note_key,
                "namespace": namespace,
            }
        )

    @endpoint("POST", "/v1/tiered/recall")
    def tiered_recall(
        self,
        query: str,
        k: int | None = None,
        namespace: str | None = None,
        tiers: list[str] | None = None,
        min_similarity: float | None = None,
        session_id: str | None = None,
    ) -> Any:
        return Req(
            json={
                "query": query,
                "k": k,
                "namespace": namespace,
                "tiers": tiers,
                "min_similarity": min_similarity,
                "session_id": session_id,
            }
        )

    @endpoint("POST", "/v1/tiered/summarize/{session_id}")
    def tiered_summarize(self, session_id: str, namespace: str | None = None) -> Any:
        return Req(path={"session_id": session_id}, params={"namespace": namespace})

    # ── shared memory ───────────────────────────────────────────────────────
    @endpoint("POST", "/v1/shared-memory")
    def shared_set(
        self,
        namespace: str,
        key: str,
        value: str,
        description: str | None = None,
        ttl_seconds: int | None = None,
    ) -> Any:
        return Req(
            json={
                "namespace": namespace,
                "key": key,
                "value": value,
                "description": description,
                "ttl_seconds": ttl_seconds,
            }
        )

    @endpoint("GET", "/v1/shared-memory")
    def shared_namespaces(self) -> Any:
        return Req()

    @endpoint("GET", "/v1/shared-memory/{namespace}")
    def shared_list(self, namespace: str, prefix: str | None = None, limit: int | None = None) -> Any:
        return Req(path={"namespace": namespace}, params={"prefix": prefix, "limit": limit})

    @endpoint("GET", "/v1/shared-memory/{namespace}/{key}")
    def shared_get(self, namespace: str, key: str, owner_agent: str | None = None) -> Any:
        return Req(path={"namespace": namespace, "key": key}, params={"owner_agent": owner_agent})

    @endpoint("DELETE", "/v1/shared-memory/{namespace}/{key}")
    def shared_delete(self, namespace: str, key: str) -> Any:
        return Req(path={"namespace": namespace, "key": key})

    # ── vector memory (semantic search; embedded server-side) ───────────────
    @endpoint("POST", "/v1/vector/upsert")
    def vector_upsert(
        self,
        key: str,
        text: str,
        namespace: str = "default",
        metadata: Any = None,
        importance: float | None = None,
    ) -> Any:
        return Req(
            json={
                "key": key,
                "text": text,
                "namespace": namespace,
                "metadata": metadata,
                "importance": importance,
            }
        )

    @endpoint("POST", "/v1/vector/search")
    def vector_search(
        self,
        query: str,
        namespace: str = "default",
        limit: int = 5,
        min_similarity: float = 0.0,
        scoring: str | None = None,
        metadata_filter: dict[str, Any] | None = None,
    ) -> Any:
        return Req(
            json={
                "query": query,
                "namespace": namespace,
                "limit": limit,
                "min_similarity": min_similarity,
                "scoring": scoring,
                "metadata_filter": metadata_filter,
            }
        )

    @endpoint("GET", "/v1/vector/{key}")
    def vector_get(self, key: str, namespace: str = "default") -> Any:
        return Req(path={"key": key}, params={"namespace": namespace})

    @endpoint("GET", "/v1/vector")
    def vector_list(self, namespace: str = "default", limit: int | None = None) -> Any:
        return Req(params={"namespace": namespace, "limit": limit})

    @endpoint("DELETE", "/v1/vector/{key}")
    def vector_delete(self, key: str, namespace: str = "default") -> Any:
        return Req(path={"key": key}, params={"namespace": namespace})

    # ── queue ───────────────────────────────────────────────────────────────
    @endpoint("POST", "/v1/queue/submit")
    def queue_submit(
        self,
        payload: Any,
        queue_name: str = "default",
        priority: int = 0,
        max_attempts: int | None = None,
        visibility_timeout: int | None = None,
        delay_seconds: float | None = None,
        run_at: str | None = None,
        dedup_key: str | None = None,
        backoff_base_seconds: float | None = None,
        backoff_max_seconds: float | None = None,
        retry_delay_seconds: float | None = None,
        backoff: str | None = None,
        concurrency_key: str | None = None,
        concurrency_limit: int | None = None,
    ) -> Any:
        return Req(
            json={
                "payload": payload,
                "queue_name": queue_name,
                "priority": priority,
                "max_attempts": max_attempts,
                "visibility_timeout": visibility_timeout,
                "delay_seconds": delay_seconds,
                "run_at": run_at,
                "dedup_key": dedup_key,
                "backoff_base_seconds": backoff_base_seconds,
                "backoff_max_seconds": backoff_max_seconds,
                "retry_delay_seconds": retry_delay_seconds,
                "backoff": backoff,
                "concurrency_key": concurrency_key,
                "concurrency_limit": concurrency_limit,
            }
        )

    @endpoint("POST", "/v1/queue/batch")
    def queue_batch(self, items: list[dict[str, Any]]) -> Any:
        """Submit up to 100 jobs (each a dict of queue_submit's fields) in one all-or-nothing request."""
        return Req(json={"items": items})

    @endpoint("POST", "/v1/queue/claim")
    def queue_claim(
        self, queue_name: str = "default", visibility_timeout: int | None = None, max_jobs: int | None = None
    ) -> Any:
        """One job (or {"status": "empty"}); with max_jobs above 1, a list of up to that many jobs."""
        return Req(
            params={"queue_name": queue_name, "visibility_timeout": visibility_timeout, "max_jobs": max_jobs}
        )

    @endpoint("POST", "/v1/queue/complete")
    def queue_complete_many(self, items: list[dict[str, Any]]) -> Any:
        """Complete up to 100 claimed jobs (each {job_id, result?, attempt?}); one result per item."""
        return Req(json={"items": items})

    @endpoint("POST", "/v1/queue/fail")
    def queue_fail_many(self, items: list[dict[str, Any]]) -> Any:
        """Fail up to 100 claimed jobs (each {job_id, error?, attempt?, retryable?}); one result per item."""
        return Req(json={"items": items})

    @endpoint("POST", "/v1/queue/heartbeat")
    def queue_heartbeat_many(self, items: list[dict[str, Any]]) -> Any:
        """Extend the leases of up to 100 claimed jobs (each {job_id, attempt?, extend_seconds?, progress?})."""
        return Req(json={"items": items})

    # ── A2A: the hosted agent's side of its tasks, and outside agents ──
    @endpoint("GET", "/v1/a2a/tasks")
    def a2a_tasks(self, state: str | None = None, cursor: str | None = None, limit: int = 50) -> Any:
        """A2A tasks addressed to you, oldest update first (your work queue)."""
        return Req(params={"state": state, "cursor": cursor, "limit": limit})

    @endpoint("POST", "/v1/a2a/tasks/{task_id}/status")
    def a2a_update_status(
        self,
        task_id: str,
        state: str,
        message: dict[str, Any] | None = None,
        artifacts: list[dict[str, Any]] | None = None,
    ) -> Any:
        """Move one of your A2A tasks on: TASK_STATE_WORKING, _COMPLETED (with artifacts), _INPUT_REQUIRED, …"""
        return Req(
            path={"task_id": task_id},
            json={"state": state, "message": message, "artifacts": artifacts},
        )

    @endpoint("GET", "/v1/a2a/agents")
    def a2a_agents(self, include_hosted: bool = True, limit: int = 50) -> Any:
        """Hosted and outside A2A agents with their card URLs."""
        return Req(params={"include_hosted": include_hosted, "limit": limit})

    @endpoint("POST", "/v1/a2a/agents")
    def a2a_add_agent(self, card_url: str) -> Any:
        """List an outside A2A agent by its card URL."""
        return Req(json={"card_url": card_url})

    @endpoint("DELETE", "/v1/a2a/agents/{external_id}")
    def a2a_remove_agent(self, external_id: str) -> Any:
        """Remove an outside A2A agent you listed."""
        return Req(path={"external_id": external_id})

    @endpoint("POST", "/v1/queue/{job_id}/complete")
    def queue_complete(self, job_id: str, result: Any = "", attempt: int | None = None) -> Any:
        return Req(path={"job_id": job_id}, json={"result": result, "attempt": attempt})

    @endpoint("POST", "/v1/queue/{job_id}/fail")
    def queue_fail(
        self, job_id: str, error: str = "", attempt: int | None = None, retryable: bool = True
    ) -> Any:
        return Req(path={"job_id": job_id}, json={"error": error, "attempt": attempt, "retryable": retryable})

    @endpoint("POST", "/v1/queue/{job_id}/heartbeat")
    def queue_heartbeat(
        self, job_id: str, attempt: int | None = None, extend_seconds: int | None = None, progress: Any = None
    ) -> Any:
        return Req(
            path={"job_id": job_id},
            json={"attempt": attempt, "extend_seconds": extend_seconds, "progress": progress},
        )

    @endpoint("GET", "/v1/queue/{job_id}")
    def queue_status(self, job_id: str) -> Any:
        return Req(path={"job_id": job_id})

    @endpoint("GET", "/v1/queue")
    def queue_list(
        self, queue_name: str = "default", status: str | None = None, limit: int | None = None
    ) -> Any:
        return Req(params={"queue_name": queue_name, "status": status, "limit": limit})

    @endpoint("GET", "/v1/queue/stats")
    def queue_stats(self, queue_name: str | None = None) -> Any:
        return Req(params={"queue_name": queue_name})

    @endpoint("GET", "/v1/queue/dead-letters")
    def queue_dead_letters(
        self,
        queue_name: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int | None = None,
    ) -> Any:
        return Req(params={"queue_name": queue_name, "since": since, "until": until, "limit": limit})

    @endpoint("POST", "/v1/queue/{job_id}/replay")
    def queue_replay(self, job_id: str) -> Any:
        return Req(path={"job_id": job_id})

    @endpoint("POST", "/v1/queue/dead-letters/replay")
    def queue_replay_dead_letters(
        self, queue_name: str | None = None, since: str | None = None, until: str | None = None
    ) -> Any:
        return Req(json={"queue_name": queue_name, "since": since, "until": until})

    @endpoint("DELETE", "/v1/queue/dead-letters")
    def queue_purge_dead_letters(
        self, queue_name: str | None = None, since: str | None = None, until: str | None = None
    ) -> Any:
        return Req(params={"queue_name": queue_name, "since": since, "until": until})

    # ── schedules ───────────────────────────────────────────────────────────
    @endpoint("POST", "/v1/schedules")
    def schedule_create(
        self,
        cron_expr: str,
        payload: Any,
        queue_name: str = "default",
        priority: int = 0,
        timezone: str | None = None,
        overlap: str | None = None,
        catch_up: str | None = None,
        enabled: bool | None = None,
    ) -> Any:
        return Req(
            json={
                "cron_expr": cron_expr,
                "payload": payload,
                "queue_name": queue_name,
                "priority": priority,
                "timezone": timezone,
                "overlap": overlap,
                "catch_up": catch_up,
                "enabled": enabled,
            }
        )

    @endpoint("GET", "/v1/schedules")
    def schedule_list(self) -> Any:
        return Req()

    @endpoint("GET", "/v1/schedules/{task_id}")
    def schedule_get(self, task_id: str) -> Any:
        return Req(path={"task_id": task_id})

    @endpoint("PATCH", "/v1/schedules/{task_id}")
    def schedule_toggle(self, task_id: str, enabled: bool) -> Any:
        return Req(path={"task_id": task_id}, params={"enabled": enabled})

    @endpoint("DELETE", "/v1/schedules/{task_id}")
    def schedule_delete(self, task_id: str) -> Any:
        return Req(path={"task_id": task_id})

    @endpoint("POST", "/v1/schedules/{task_id}/trigger")
    def schedule_trigger(self, task_id: str) -> Any:
        return Req(path={"task_id": task_id})

    @endpoint("GET", "/v1/schedules/{task_id}/runs")
    def schedule_runs(self, task_id: str) -> Any:
        return Req(path={"task_id": task_id})

    # ── relay ───────────────────────────────────────────────────────────────
    @endpoint("POST", "/v1/relay/send")
    def send_message(self, to_agent: str, payload: Any, channel: str = "direct") -> Any:
        return Req(json={"to_agent": to_agent, "payload": payload, "channel": channel})

    @endpoint("GET", "/v1/relay/inbox")
    def inbox(
        self,
        channel: str | None = None,
        unread_only: bool | None = None,
        limit: int | None = None,
        offset: int | None = None,
        after: str | None = None,
    ) -> Any:
        """`after` (a message id): the messages stored after it, oldest first; continue from `next_cursor`."""
        return Req(
            params={
                "channel": channel,
                "unread_only": unread_only,
                "limit": limit,
                "offset": offset,
                "after": after,
            }
        )

    @endpoint("POST", "/v1/relay/{message_id}/read")
    def mark_read(self, message_id: str) -> Any:
        return Req(path={"message_id": message_id})

    @endpoint("GET", "/v1/messages/{message_id}/status")
    def message_status(self, message_id: str) -> Any:
        return Req(path={"message_id": message_id})

    @endpoint("GET", "/v1/messages/{message_id}/trace")
    def message_trace(self, message_id: str) -> Any:
        return Req(path={"message_id": message_id})

    @endpoint("GET", "/v1/messages/dead-letter")
    def message_dead_letters(self, limit: int | None = None) -> Any:
        return Req(params={"limit": limit})

    # ── webhooks ────────────────────────────────────────────────────────────
    @endpoint("POST", "/v1/webhooks")
    def webhook_create(self, url: str, event_types: list[str], secret: str | None = None) -> Any:
        return Req(json={"url": url, "event_types": event_types, "secret": secret})

    @endpoint("GET", "/v1/webhooks")
    def webhook_list(self) -> Any:
        return Req()

    @endpoint("DELETE", "/v1/webhooks/{webhook_id}")
    def webhook_delete(self, webhook_id: str) -> Any:
        return Req(path={"webhook_id": webhook_id})

    @endpoint("POST", "/v1/webhooks/{webhook_id}/test")
    def webhook_test(self, webhook_id: str) -> Any:
        """Send a signed test event now; answers the receiver's status code, latency and error."""
        return Req(path={"webhook_id": webhook_id})

    @endpoint("GET", "/v1/webhooks/{webhook_id}/deliveries")
    def webhook_deliveries(self, webhook_id: str, limit: int | None = None) -> Any:
        return Req(path={"webhook_id": webhook_id}, params={"limit": limit})

    @endpoint("POST", "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/replay")
    def webhook_replay_delivery(self, webhook_id: str, delivery_id: str) -> Any:
        return Req(path={"webhook_id": webhook_id, "delivery_id": delivery_id})

    # ── events (the agent's durable event stream; `wait` long-polls, keep it below the client's timeout) ──
    @endpoint("GET", "/v1/events")
    def events(
        self,
        after: int | None = None,
        limit: int | None = None,
        wait: float | None = None,
        types: str | list[str] | None = None,
    ) -> Any:
        return Req(
            params={
                "after": after,
                "limit": limit,
                "wait": wait,
                "types": ",".join(types) if isinstance(types, list) else types,
            }
        )

    @endpoint("POST", "/v1/events/ack")
    def events_ack(self, cursor: int | None = None, event_ids: list[str] | None = None) -> Any:
        """Everything up to `cursor`, and/or the events named by id."""
        return Req(json={"cursor": cursor, "event_ids": event_ids})

    # ── directory and discovery ─────────────────────────────────────────────
    @endpoint("GET", "/v1/directory/me")
    def directory_me(self) -> Any:
        return Req()

    @endpoint("PUT", "/v1/directory/me")
    def directory_update(
        self,
        description: str | None = None,
        capabilities: list[str] | None = None,
        public: bool = True,
        skills: list[str] | None = None,
    ) -> Any:
        return Req(
            json={
                "description": description,
                "capabilities": capabilities,
                "public": public,
                "skills": skills,
            }
        )

    @endpoint("GET", "/v1/directory")
    def directory_list(self, capability: str | None = None, limit: int | None = None) -> Any:
        return Req(params={"capability": capability, "limit": limit})

    @endpoint("GET", "/v1/directory/search")
    def directory_search(
        self,
        capability: str | None = None,
        available: bool | None = None,
        min_reputation: float | None = None,
        limit: int | None = None,
        skill: str | None = None,
    ) -> Any:
        return Req(
            params={
                "capability": capability,
                "available": available,
                "min_reputation": min_reputation,
                "limit": limit,
                "skill": skill,
            }
        )

    @endpoint("PATCH", "/v1/directory/me/status")
    def directory_status(
        self,
        available: bool | None = None,
        looking_for: list[str] | None = None,
        busy_until: str | None = None,
    ) -> Any:
        return Req(json={"available": available, "looking_for": looking_for, "busy_until": busy_until})

    @endpoint("POST", "/v1/directory/collaborations")
    def collaboration_log(
        self, partner_agent: str, outcome: str, rating: int, task_type: str | None = None
    ) -> Any:
        return Req(
            json={
                "partner_agent": partner_agent,
                "outcome": outcome,
                "rating": rating,
                "task_type": task_type,
            }
        )

    @endpoint("GET", "/v1/directory/match")
    def directory_match(
        self, need: str, min_reputation: float | None = None, limit: int | None = None
    ) -> Any:
        return Req(params={"need": need, "min_reputation": min_reputation, "limit": limit})

    @endpoint("GET", "/v1/agents/{agent_id}/card")
    def agent_card(self, agent_id: str) -> Any:
        return Req(path={"agent_id": agent_id})

    @endpoint("GET", "/v1/directory/collaborations")
    def collaborations(self, limit: int | None = None, offset: int | None = None) -> Any:
        return Req(params={"limit": limit, "offset": offset})

    # ── presence and the public directory (MoltGrid 1.0) ────────────────────
    @endpoint("POST", "/v1/agents/heartbeat")
    def heartbeat(self, status: str = "online", metadata: dict[str, Any] | None = None) -> Any:
        return Req(json={"status": status, "metadata": metadata})

    @endpoint("POST", "/v1/agents/register")
    def agent_register(
        self, role: str | None = None, capabilities: list[str] | None = None, skills: list[str] | None = None
    ) -> Any:
        """Register or update this agent's capabilities, skills and role (MoltGrid 1.0); None keeps a field."""
        return Req(json={"role": role, "capabilities": capabilities, "skills": skills})

    @endpoint("GET", "/v1/leaderboard")
    def leaderboard(self, sort_by: str | None = None, limit: int | None = None) -> Any:
        return Req(params={"sort_by": sort_by, "limit": limit})

    @endpoint("GET", "/v1/directory/stats")
    def directory_stats(self) -> Any:
        return Req()

    @endpoint("GET", "/v1/directory/network")
    def directory_network(self) -> Any:
        return Req()

    @endpoint("GET", "/v1/directory/{agent_id}")
    def directory_profile(self, agent_id: str) -> Any:
        return Req(path={"agent_id": agent_id})

    # ── pub/sub channels (MoltGrid 1.0) ─────────────────────────────────────
    @endpoint("POST", "/v1/pubsub/subscribe")
    def pubsub_subscribe(self, channel: str) -> Any:
        return Req(json={"channel": channel})

    @endpoint("POST", "/v1/pubsub/unsubscribe")
    def pubsub_unsubscribe(self, channel: str) -> Any:
        return Req(json={"channel": channel})

    @endpoint("POST", "/v1/pubsub/publish")
    def pubsub_publish(self, channel: str, payload: Any) -> Any:
        return Req(json={"channel": channel, "payload": payload})

    @endpoint("GET", "/v1/pubsub/subscriptions")
    def pubsub_subscriptions(self) -> Any:
        return Req()

    @endpoint("GET", "/v1/pubsub/channels")
    def pubsub_channels(self, limit: int | None = None) -> Any:
        return Req(params={"limit": limit})

    # ── marketplace ─────────────────────────────────────────────────────────
    @endpoint("POST", "/v1/marketplace/tasks")
    def marketplace_create(
        self,
        title: str,
        reward_credits: int,
        description: str | None = None,
        category: str | None = None,
        requirements: list[str] | None = None,
        priority: int = 0,
        estimated_effort: str | None = None,
        tags: list[str] | None = None,
        deadline: str | None = None,
    ) -> Any:
        return Req(
            json={
                "title": title,
                "reward_credits": reward_credits,
                "description": description,
                "category": category,
                "requirements": requirements,
                "priority": priority,
                "estimated_effort": estimated_effort,
                "tags": tags,
                "deadline": deadline,
            }
        )

    @endpoint("GET", "/v1/marketplace/tasks")
    def marketplace_browse(
        self,
        category: str | None = None,
        status: str | None = None,
        tag: str | None = None,
        min_reward: int | None = None,
        limit: int | None = None,
    ) -> Any:
        return Req(
            params={
                "category": category,
                "status": status,
                "tag": tag,
                "min_reward": min_reward,
                "limit": limit,
            }
        )

    @endpoint("GET", "/v1/marketplace/tasks/{task_id}")
    def marketplace_get(self, task_id: str) -> Any:
        return Req(path={"task_id": task_id})

    @endpoint("POST", "/v1/marketplace/tasks/{task_id}/claim")
    def marketplace_claim(self, task_id: str) -> Any:
        return Req(path={"task_id": task_id})

    @endpoint("POST", "/v1/marketplace/tasks/{task_id}/deliver")
    def marketplace_deliver(self, task_id: str, result: str) -> Any:
        return Req(path={"task_id": task_id}, json={"result": result})

    @endpoint("POST", "/v1/marketplace/tasks/{task_id}/review")
    def marketplace_review(self, task_id: str, accept: bool, rating: int | None = None) -> Any:
        return Req(path={"task_id": task_id}, json={"accept": accept, "rating": rating})

    @endpoint("POST", "/v1/marketplace/tasks/{task_id}/cancel")
    def marketplace_cancel(self, task_id: str) -> Any:
        return Req(path={"task_id": task_id})

    @endpoint("GET", "/v1/credits")
    def credits(self, limit: int | None = None) -> Any:
        return Req(params={"limit": limit})

    # ── key rotation, onboarding, templates (MoltGrid 1.0) ──────────────────
    @endpoint("POST", "/v1/agents/rotate-key")
    def rotate_key(self) -> Any:
        """A new API key (in the answer); this client's key stops working at once: build a new client with it."""
        return Req()

    @endpoint("POST", "/v1/onboarding/start")
    def onboarding_start(self) -> Any:
        return Req()

    @endpoint("GET", "/v1/onboarding/status")
    def onboarding_status(self) -> Any:
        return Req()

    @endpoint("GET", "/v1/templates")
    def templates(self) -> Any:
        return Req()

    @endpoint("GET", "/v1/templates/{template_id}")
    def template(self, template_id: str) -> Any:
        return Req(path={"template_id": template_id})

    # ── task graphs ─────────────────────────────────────────────────────────
    @endpoint("POST", "/v1/tasks")
    def task_create(
        self,
        title: str,
        description: str | None = None,
        priority: int | None = None,
        metadata: dict[str, Any] | None = None,
        depends_on: list[str] | None = None,
    ) -> Any:
        return Req(
            json={
                "title": title,
                "description": description,
                "priority": priority,
                "metadata": metadata,
                "depends_on": depends_on,
            }
        )

    @endpoint("GET", "/v1/tasks")
    def task_list(
        self,
        status: str | None = None,
        creator: str | None = None,
        claimed_by: str | None = None,
        claimable: bool | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> Any:
        return Req(
            params={
                "status": status,
                "creator": creator,
                "claimed_by": claimed_by,
                "claimable": claimable,
                "limit": limit,
                "offset": offset,
            }
        )

    @endpoint("GET", "/v1/tasks/{task_id}")
    def task_get(self, task_id: str) -> Any:
        return Req(path={"task_id": task_id})

    @endpoint("PATCH", "/v1/tasks/{task_id}")
    def task_update(self, task_id: str, status: str, result: Any = None) -> Any:
        return Req(path={"task_id": task_id}, json={"status": status, "result": result})

    @endpoint("POST", "/v1/tasks/{task_id}/claim")
    def task_claim(self, task_id: str, lease_seconds: int | None = None) -> Any:
        return Req(path={"task_id": task_id}, params={"lease_seconds": lease_seconds})

    @endpoint("POST", "/v1/tasks/{task_id}/complete")
    def task_complete(self, task_id: str, result: Any = None) -> Any:
        return Req(path={"task_id": task_id}, json={"result": result})

    @endpoint("POST", "/v1/tasks/{task_id}/dependencies")
    def task_add_dependency(self, task_id: str, depends_on: str) -> Any:
        return Req(path={"task_id": task_id}, json={"depends_on": depends_on})

    # ── coordination testing ────────────────────────────────────────────────
    @endpoint("POST", "/v1/testing/scenarios")
    def scenario_create(
        self,
        pattern: str,
        agent_count: int,
        name: str | None = None,
        timeout_seconds: int | None = None,
        success_criteria: dict[str, Any] | None = None,
    ) -> Any:
        return Req(
            json={
                "pattern": pattern,
                "agent_count": agent_count,
                "name": name,
                "timeout_seconds": timeout_seconds,
                "success_criteria": success_criteria,
            }
        )

    @endpoint("GET", "/v1/testing/scenarios")
    def scenario_list(
        self, pattern: str | None = None, status: str | None = None, limit: int | None = None
    ) -> Any:
        return Req(params={"pattern": pattern, "status": status, "limit": limit})

    @endpoint("POST", "/v1/testing/scenarios/{scenario_id}/run")
    def scenario_run(self, scenario_id: str) -> Any:
        return Req(path={"scenario_id": scenario_id})

    @endpoint("GET", "/v1/testing/scenarios/{scenario_id}/results")
    def scenario_results(self, scenario_id: str) -> Any:
        return Req(path={"scenario_id": scenario_id})

    # ── utilities and platform ──────────────────────────────────────────────
    @endpoint("POST", "/v1/text/process")
    def text_process(self, text: str, operation: str) -> Any:
        return Req(json={"text": text, "operation": operation})

    @endpoint("GET", "/v1/stats")
    def stats(self) -> Any:
        return Req()

    @endpoint("GET", "/v1/health")
    def health(self) -> Any:
        return Req()

    @endpoint("GET", "/v1/sla")
    def sla(self) -> Any:
        return Req()

    @endpoint("POST", "/v1/contact")
    def contact(self, email: str, message: str, name: str = "", subject: str = "") -> Any:
        return Req(json={"email": email, "message": message, "name": name, "subject": subject})
