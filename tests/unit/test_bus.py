"""Request/reply over a real nats-server: validation, error envelopes, admin-only operations, queue groups,
no responders, time-outs and drain on stop."""

from __future__ import annotations

import asyncio
from typing import Any

from nats.aio.client import Client as NATS

from shared.bus import Ctx, call, serve
from shared.errors import Conflict
from shared.ids import new_id
from shared.models import Request
from shared.ops import OpGroup, op
from shared.subjects import svc


class Echo(Request):
    text: str
    times: int = 1


class EchoOps(OpGroup):
    def __init__(self, name: str = "a") -> None:
        self.name, self.seen = name, 0

    @op()
    async def echo(self, req: Echo, ctx: Ctx) -> dict[str, Any]:
        self.seen += 1
        return {"text": req.text * req.times, "agent": ctx.agent_id, "by": self.name}

    @op()
    async def clash(self, req: Any, ctx: Ctx) -> None:
        raise Conflict("already there")

    @op()
    async def crash(self, req: Any, ctx: Ctx) -> None:
        raise RuntimeError("secret detail")

    @op()
    async def slow(self, req: Any, ctx: Ctx) -> str:
        await asyncio.sleep(float(req.get("seconds", 0.3)))
        return "done"

    @op(admin=True)
    async def wipe(self, req: Any, ctx: Ctx) -> str:
        return "wiped"


def service_name() -> str:
    return "t" + new_id("", 8).strip("_").lower()


async def test_a_reply_carries_the_result_and_the_callers_identity(nc: NATS) -> None:
    name = service_name()
    served = await serve(nc, name, EchoOps().ops())
    try:
        reply = await call(
            nc, svc(name, "echo"), {"text": "ab", "times": 2}, timeout=2, ctx=Ctx("r1", "agent-1")
        )
        assert reply.unwrap() == {"text": "abab", "agent": "agent-1", "by": "a"}
    finally:
        await served.stop()


async def test_errors_come_back_as_envelopes_never_as_tracebacks(nc: NATS) -> None:
    name = service_name()
    served = await serve(nc, name, EchoOps().ops())
    try:
        invalid = await call(nc, svc(name, "echo"), {"times": "x"}, timeout=2)
        assert invalid.code == "invalid"
        assert {tuple(d["loc"]) for d in invalid.details} == {("text",), ("times",)}
        clash = await call(nc, svc(name, "clash"), {}, timeout=2)
        assert (clash.ok, clash.code, clash.message) == (False, "conflict", "already there")
        crash = await call(nc, svc(name, "crash"), {}, timeout=2)
        assert (crash.code, crash.message) == ("internal", "internal error")  # the detail stays in the log
    finally:
        await served.stop()


async def test_an_admin_operation_refuses_callers_without_an_admin_session(nc: NATS) -> None:
    name = service_name()
    served = await serve(nc, name, EchoOps().ops())
    try:
        assert (await call(nc, svc(name, "wipe"), {}, timeout=2, ctx=Ctx(agent_id="a"))).code == "forbidden"
        assert (await call(nc, svc(name, "wipe"), {}, timeout=2, ctx=Ctx(admin=True))).unwrap() == "wiped"
    finally:
        await served.stop()


async def test_no_responders_is_unavailable_and_silence_is_a_timeout(nc: NATS) -> None:
    name = service_name()
    assert (await call(nc, svc(name, "echo"), {"text": "x"}, timeout=1)).code == "unavailable"
    served = await serve(nc, name, EchoOps().ops())
    try:
        assert (await call(nc, svc(name, "slow"), {"seconds": 1.0}, timeout=0.2)).code == "timeout"
    finally:
        await served.stop()


async def test_replicas_share_the_work_through_the_queue_group(nc: NATS) -> None:
    name = service_name()
    first, second = EchoOps("a"), EchoOps("b")
    served = [await serve(nc, name, first.ops()), await serve(nc, name, second.ops())]
    try:
        replies = await asyncio.gather(
            *(call(nc, svc(name, "echo"), {"text": "x"}, timeout=2) for _ in range(60))
        )
        assert all(r.ok for r in replies)
        assert first.seen + second.seen == 60 and first.seen > 0 and second.seen > 0  # each handled once
    finally:
        for s in served:
            await s.stop()


async def test_stop_answers_what_is_in_flight(nc: NATS) -> None:
    name = service_name()
    served = await serve(nc, name, EchoOps().ops())
    pending = asyncio.create_task(call(nc, svc(name, "slow"), {"seconds": 0.3}, timeout=3))
    await asyncio.sleep(0.1)
    await served.stop()
    assert (await pending).unwrap() == "done"
    assert (await call(nc, svc(name, "echo"), {"text": "x"}, timeout=1)).code == "unavailable"


async def test_health_and_describe_are_served_for_every_service(nc: NATS) -> None:
    name = service_name()
    served = await serve(nc, name, EchoOps().ops(), instance=f"{name}-0")
    try:
        health = (await call(nc, svc(name, "health"), {}, timeout=2)).unwrap()
        assert health["status"] == "ok" and health["instance"] == f"{name}-0"
        described = (await call(nc, svc(name, "describe"), {}, timeout=2)).unwrap()
        assert described["echo"]["required"] == ["text"] and described["clash"] is None
    finally:
        await served.stop()
