"""The routing table against the running services: every route names a real operation; no two clash."""

from __future__ import annotations

import nats
import orjson

from gateway.routes import ADMIN_ROUTES, ROUTES
from shared.runtime.stack import selected_components
from shared.subjects import SERVICES, svc


def test_no_two_routes_clash():
    keys = [(r.method, r.path) for r in (*ROUTES, *ADMIN_ROUTES)]
    assert len(keys) == len(set(keys))


async def test_every_route_subject_is_an_operation_of_a_running_service(stack):
    running = {c for c in selected_components() if c in SERVICES}
    nc = await nats.connect(stack.infra.nats_url)
    try:
        ops = {}
        for service in running:
            msg = await nc.request(svc(service, "describe"), b"{}", timeout=2)
            ops[service] = set(orjson.loads(msg.data)["data"])
    finally:
        await nc.close()
    missing = [
        (r.method, r.path, r.subject)
        for r in (*ROUTES, *ADMIN_ROUTES)
        if r.subject.split(".")[1] in running and r.subject.split(".")[2] not in ops[r.subject.split(".")[1]]
    ]
    assert missing == []
