"""A2A agent cards: every registered agent's, built from its directory profile, and the hub's own.

Cards name both bindings under one URL prefix (`/a2a/{agent_id}`), the streaming and push capabilities, and
the MoltGrid API key as the security scheme. When the operator configures a signing key
(MOLTGRID_A2A_CARD_SIGNING_KEY: a PEM Ed25519 or EC P-256 private key), each card carries a JWS signature
(RFC 7515, detached payload) over its JSON canonicalisation (RFC 8785), as the specification's §8.4 describes.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from services.a2a import models as m
from services.a2a.peers import Peers
from shared.bus import Ctx
from shared.config import VERSION
from shared.ops import OpGroup, op

PROTOCOL_VERSION = "1.0"
SECURITY_SCHEME = "moltgridApiKey"
MODES = ["text/plain", "application/json"]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def canonical(card: dict[str, Any]) -> bytes:
    """RFC 8785 canonical JSON of a card without its signatures (sorted keys, no insignificant space; the
    cards hold no floats, where JCS and Python differ)."""
    body = {k: v for k, v in card.items() if k != "signatures"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class CardSigner:
    def __init__(self, key_path: Path | None) -> None:
        self.key: Any = None
        if key_path is not None:
            self.key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            if not isinstance(self.key, (ed25519.Ed25519PrivateKey, ec.EllipticCurvePrivateKey)):
                raise SystemExit("MOLTGRID_A2A_CARD_SIGNING_KEY must be an Ed25519 or EC P-256 private key")

    def sign(self, card: dict[str, Any]) -> dict[str, Any]:
        if self.key is None:
            return card
        alg = "EdDSA" if isinstance(self.key, ed25519.Ed25519PrivateKey) else "ES256"
        protected = b64url(json.dumps({"alg": alg, "typ": "JOSE", "kid": "moltgrid-card"}).encode())
        signing_input = f"{protected}.{b64url(canonical(card))}".encode()
        if alg == "EdDSA":
            signature = self.key.sign(signing_input)
        else:
            r, s = decode_dss_signature(self.key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
            signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return {**card, "signatures": [{"protected": protected, "signature": b64url(signature)}]}


def interfaces(url: str) -> list[dict[str, str]]:
    return [
        {"url": url, "protocolBinding": binding, "protocolVersion": PROTOCOL_VERSION}
        for binding in ("JSONRPC", "HTTP+JSON")
    ]


def security() -> dict[str, Any]:
    return {
        "securitySchemes": {
            SECURITY_SCHEME: {
                "apiKeySecurityScheme": {
                    "location": "header",
                    "name": "X-API-Key",
                    "description": "The caller's own MoltGrid API key (POST /v1/register gives one).",
                }
            }
        },
        "securityRequirements": [{"schemes": {SECURITY_SCHEME: {"list": []}}}],
    }


def skills_of(profile: dict[str, Any]) -> list[dict[str, Any]]:
    """The agent's directory skills (or, without any, its capabilities) as A2A skills."""
    skills: list[dict[str, Any]] = []
    for skill in profile.get("skills") or []:
        if isinstance(skill, dict):
            name = str(skill.get("name") or skill.get("id") or "skill")
            skills.append(
                {
                    "id": str(skill.get("id") or name),
                    "name": name,
                    "description": str(skill.get("description") or name),
                    "tags": [str(t) for t in skill.get("tags") or []],
                }
            )
        else:
            skills.append(
                {"id": str(skill), "name": str(skill), "description": str(skill), "tags": [str(skill)]}
            )
    if not skills:
        for capability in profile.get("capabilities") or []:
            skills.append(
                {
                    "id": str(capability),
                    "name": str(capability),
                    "description": str(capability),
                    "tags": [str(capability)],
                }
            )
    return skills


class CardOps(OpGroup):
    def __init__(self, peers: Peers, signer: CardSigner, public_url: str) -> None:
        self.peers, self.signer, self.public_url = peers, signer, public_url.rstrip("/")

    def _base(self, given: str) -> str:
        return (given or self.public_url).rstrip("/")

    @op()
    async def agent_card(self, req: m.CardRequest, ctx: Ctx) -> dict[str, Any]:
        """The card of one hosted agent; private agents are not found for anyone but themselves."""
        profile = await self.peers.profile(req.agent_id, ctx.agent_id, ctx)
        base = self._base(req.base_url)
        card = {
            "name": profile.get("name") or req.agent_id,
            "description": profile.get("description") or f"MoltGrid agent {req.agent_id}",
            "supportedInterfaces": interfaces(f"{base}/a2a/{req.agent_id}"),
            "provider": {"organization": "MoltGrid", "url": base},
            "version": VERSION,
            "documentationUrl": f"{base}/docs",
            "capabilities": {"streaming": True, "pushNotifications": True, "extendedAgentCard": True},
            **security(),
            "defaultInputModes": MODES,
            "defaultOutputModes": MODES,
            "skills": skills_of(profile),
        }
        return self.signer.sign(card)

    @op()
    async def hub_card(self, req: m.HubCardRequest, ctx: Ctx) -> dict[str, Any]:
        base = self._base(req.base_url)
        card = {
            "name": "MoltGrid",
            "description": "A hub of hosted agents: find one in the directory, then reach it at its own A2A "
            "endpoint (/a2a/{agent_id}, card at /a2a/{agent_id}/.well-known/agent-card.json).",
            "supportedInterfaces": interfaces(f"{base}/a2a/hub"),
            "provider": {"organization": "MoltGrid", "url": base},
            "version": VERSION,
            "documentationUrl": f"{base}/docs",
            "capabilities": {"streaming": False, "pushNotifications": False, "extendedAgentCard": False},
            **security(),
            "defaultInputModes": MODES,
            "defaultOutputModes": ["application/json"],
            "skills": [
                {
                    "id": "find-agents",
                    "name": "Find agents",
                    "description": "Search the directory by skill, capability or text; answers the matching agents "
                    "with their card URLs.",
                    "tags": ["directory", "discovery"],
                    "examples": ["agents that can translate", "skill:summarize"],
                },
                {
                    "id": "reach-agent",
                    "name": "Reach a hosted agent",
                    "description": "Every hosted agent has an A2A endpoint at /a2a/{agent_id}.",
                    "tags": ["a2a", "routing"],
                },
            ],
        }
        return self.signer.sign(card)
