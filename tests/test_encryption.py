"""Encryption at rest and key rotation, against the running stack."""

from __future__ import annotations

import nats
from cryptography.fernet import Fernet

from shared.crypto import Cipher
from shared.runtime.rotate import rotate_all
from tests.conftest import TEST_ENCRYPTION_KEY


async def _restart_memory(stack, keys: str) -> None:
    for name in stack.replicas_of("memory"):
        stack.sup.children[name].stop()
        index = int(name.rpartition("-")[2])
        stack.sup.spawn(
            "memory", index, {**stack.sup._env_of.get(name, {}), "MOLTGRID_ENCRYPTION_KEYS": keys}
        )
    await stack.wait_ready()


async def test_rotation_re_encrypts_every_row_with_the_newest_key(stack, register, db, tmp_path):
    agent = await register("rotation")
    for i in range(30):
        await agent.post("/v1/memory", {"key": f"r{i}", "value": f"rotate-me-{i}"})
    await agent.post("/v1/shared-memory", {"namespace": "rot", "key": "k", "value": "shared-rotate"})
    session = (await agent.post("/v1/sessions", {"title": "rotate-title"}))[1]["session_id"]
    await agent.post(f"/v1/sessions/{session}/messages", {"role": "user", "content": "rotate-message"})
    await agent.post("/v1/vector/upsert", {"key": "v", "text": "vector-rotate", "metadata": {"m": "rotate"}})
    await db.execute(
        "INSERT INTO memory.entries (agent_id, namespace, key, value, size_bytes)"
        " VALUES ($1, 'default', 'legacy-plain', 'was plaintext', 13)",
        agent.agent_id,
    )

    new_key = Fernet.generate_key().decode()
    await _restart_memory(
        stack, f"{new_key},{TEST_ENCRYPTION_KEY}"
    )  # operators restart with the new key first

    nc = await nats.connect(stack.infra.nats_url)
    try:
        state = tmp_path / "rotate.json"
        done = await rotate_all(nc, ["memory"], state, batch=7)
        assert done["memory.entries"] >= 31 and not state.exists()
        again = await rotate_all(nc, ["memory"], state, batch=7)
        assert done["memory.vectors"] >= 1
        assert set(again) == {
            "memory.entries",
            "memory.shared_entries",
            "memory.history",
            "memory.sessions",
            "memory.session_messages",
            "memory.long_term",
            "memory.vectors",
        }
        assert set(again.values()) == {0}  # nothing left to rotate
    finally:
        await nc.close()

    newest_only = Cipher([new_key])
    for table in ("memory.entries", "memory.shared_entries", "memory.history"):
        for row in await db.fetch(f"SELECT value FROM {table}"):
            assert row["value"].startswith("ENC:") and newest_only.is_current(row["value"])
    for row in await db.fetch("SELECT content FROM memory.session_messages"):
        assert newest_only.is_current(row["content"])
    for row in await db.fetch("SELECT text, metadata FROM memory.vectors WHERE metadata IS NOT NULL"):
        assert newest_only.is_current(row["text"]) and newest_only.is_current(row["metadata"])
    assert (await agent.get("/v1/vector/v"))[1]["metadata"] == {"m": "rotate"}
    assert (await agent.get("/v1/memory/r3"))[1]["value"] == "rotate-me-3"
    assert (await agent.get("/v1/memory/legacy-plain"))[1]["value"] == "was plaintext"
    assert (await agent.get(f"/v1/sessions/{session}"))[1]["messages"][0]["content"] == "rotate-message"

    # Rotate back to the suite's key, so the tests after this one find the stack as the fixture made it.
    await _restart_memory(stack, f"{TEST_ENCRYPTION_KEY},{new_key}")
    nc = await nats.connect(stack.infra.nats_url)
    try:
        await rotate_all(nc, ["memory"], tmp_path / "back.json", batch=100)
    finally:
        await nc.close()
    suite_key_only = Cipher([TEST_ENCRYPTION_KEY])
    for row in await db.fetch("SELECT value FROM memory.entries WHERE value LIKE 'ENC:%'"):
        assert suite_key_only.is_current(row["value"])
    assert (await agent.get("/v1/memory/r3"))[1]["value"] == "rotate-me-3"
