"""Contact form: validated, stored, e-mailed through a real (local) SMTP server, rate limited per client."""

from __future__ import annotations

import asyncio
import time

from aiosmtpd.controller import Controller

from shared.runtime.embedded import free_port


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope.content)
        return "250 OK"


async def test_contact_page_is_served(anon):
    status, body, headers = await anon.request("GET", "/contact")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert b"/v1/contact" in body


async def _submission(admin, stack, contact_id: str) -> dict:
    async with admin.get(stack.url(0) + "/admin/api/contact", params={"limit": 100}) as r:
        assert r.status == 200
        return next(item for item in (await r.json())["items"] if item["id"] == contact_id)


async def test_contact_submission_is_stored_and_emailed(stack, anon, admin):
    inbox = _Inbox()
    port = free_port()
    smtp = Controller(inbox, hostname="127.0.0.1", port=port)
    smtp.start()
    env = {
        "MOLTGRID_SMTP_HOST": "127.0.0.1",
        "MOLTGRID_SMTP_PORT": str(port),
        "MOLTGRID_SMTP_STARTTLS": "false",
        "MOLTGRID_SMTP_FROM": "noreply@moltgrid.test",
        "MOLTGRID_SMTP_TO": "ops@moltgrid.test",
        "MOLTGRID_CONTACT_MAIL_SECONDS": "0.5",
    }
    stack.sup.spawn("sla", 1, env)  # a replica configured to mail; any replica may store the submission
    try:
        await stack.wait_ready()
        status, body = await anon.post(
            "/v1/contact",
            {"name": "Ann", "email": "ann@example.com", "subject": "Hi", "message": "Hello there"},
        )
        assert status == 200 and body["status"] == "sent" and body["id"].startswith("contact_")
        assert len(body["id"]) == len("contact_") + 12
        row = await _submission(admin, stack, body["id"])
        assert (row["name"], row["email"], row["subject"], row["message"]) == (
            "Ann",
            "ann@example.com",
            "Hi",
            "Hello there",
        )
        deadline = time.monotonic() + 15
        while not inbox.messages:
            assert time.monotonic() < deadline, "contact e-mail was not sent"
            await asyncio.sleep(0.2)
        mail = inbox.messages[0].decode()
        assert "Hello there" in mail and "ops@moltgrid.test" in mail and "Reply-To: ann@example.com" in mail
        deadline = time.monotonic() + 5  # the mail is recorded as sent once the SMTP exchange has finished
        while (await _submission(admin, stack, body["id"]))["emailed_at"] is None:
            assert time.monotonic() < deadline, "contact e-mail not recorded as sent"
            await asyncio.sleep(0.2)
    finally:
        stack.sup.children.pop("sla-1").stop()
        smtp.stop()


async def test_contact_validation(http, stack):
    from tests.conftest import Api

    client = Api(http, stack.url(1))
    status, body = await client.post(
        "/v1/contact", {"name": "Ann", "email": "nope", "subject": "Hi", "message": "Hello"}
    )
    assert status == 422 and body["detail"][0]["loc"] == ["body", "email"]
    status, body = await client.post("/v1/contact", {"email": "a@example.com"})
    assert status == 422 and body["detail"][0]["loc"] == ["body", "message"]


async def test_contact_is_rate_limited_per_client(stack):
    import aiohttp

    from tests.conftest import Api

    # Its own loopback source address: the limit is per client address.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=("127.0.0.3", 0))) as http:
        client = Api(http, stack.url(1))
        statuses = []
        for i in range(7):
            status, _, headers = await client.request(
                "POST", "/v1/contact", json={"email": "x@example.com", "message": f"spam {i}"}
            )
            statuses.append(status)
    assert statuses == [200] * 5 + [429] * 2
    assert int(headers["Retry-After"]) >= 1
