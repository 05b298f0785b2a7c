"""Pure logic of the shared library (no process boundary crossed)."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from pydantic import ValidationError

from shared import envelope, subjects
from shared.bus import validation_details
from shared.crypto import Cipher
from shared.errors import Conflict, NotFound
from shared.models import Request


def test_cipher_roundtrip_rotation_and_plaintext():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    legacy = Cipher([old])
    stored_old = legacy.encrypt("secret")
    assert stored_old.startswith("ENC:") and "secret" not in stored_old
    rotated = Cipher([new, old])  # newest first
    assert rotated.decrypt(stored_old) == "secret"
    assert rotated.decrypt("plain") == "plain"
    re_encrypted = rotated.rotate(stored_old)
    assert Cipher([new]).decrypt(re_encrypted) == "secret"
    assert Cipher(None).encrypt("x") == "x" and not Cipher(None).enabled
    with pytest.raises(RuntimeError):
        Cipher(None).decrypt(stored_old)
    with pytest.raises(RuntimeError):
        Cipher([Fernet.generate_key().decode()]).decrypt(stored_old)


def test_subjects():
    assert subjects.svc("queue", "submit") == "svc.queue.submit"
    assert subjects.event("agent_0123456789ab", "job.completed") == "events.agent_0123456789ab.job.completed"
    assert subjects.push("agent_x") == "push.agent_x"
    for bad in ("a.b", "*", ">", "a b", ""):
        with pytest.raises(ValueError):
            subjects.event(bad, "job.completed")


def test_envelope_roundtrip():
    assert envelope.decode(envelope.ok({"a": 1})).unwrap() == {"a": 1}
    reply = envelope.decode(envelope.fail_from(NotFound("Key not found")))
    assert (reply.ok, reply.code, reply.message) == (False, "not_found", "Key not found")
    with pytest.raises(NotFound):
        reply.unwrap()
    assert str(Conflict()) == "Conflict."


class _Model(Request):
    name: str
    count: int = 0


def test_validation_details_are_fastapi_shaped_and_json_safe():
    with pytest.raises(ValidationError) as err:
        _Model.model_validate({"count": "x", "extra": 1})
    details = validation_details(err.value)
    assert {tuple(d["loc"]) for d in details} == {("name",), ("count",)}
    envelope.dumps(details)  # serialisable
    with pytest.raises(ValidationError):
        _Model.model_validate({"name": "a\x00b"})
    assert _Model.model_validate({"name": "ok", "unknown": True}).name == "ok"
