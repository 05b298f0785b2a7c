"""The secrets `moltgrid up` and the test stack generate for their embedded servers, and what they grant.

One JSON file under the data directory (mode 0600, never logged) holds a NATS password per component, a
PostgreSQL password per service role (and the superuser's), and the identity key with which the gateway
(and any service that calls another on an agent's behalf) signs the identity headers (shared/bus.py).
Entries that are missing are generated on load, so an existing data directory gains them on its next `up`
and an operator rotates one by deleting it (docs/operations.md).

NATS permissions (`nats_config`): the gateway alone may publish service requests (`svc.>`); a service
subscribes to its own subjects only, answers on the reply subjects of what it received, and publishes only
the subjects it produces plus exactly the operations of other services it calls; every component reads
replies on its own inbox prefix (`_INBOX_<user>`), so no component sees another's replies. The `reader`
user may read the event and pub/sub subjects and nothing else; `operator` is the administrator (tests, the
CLI). PostgreSQL (`provision_sql`): one login role per component owning its schema and nothing else.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from shared.subjects import SERVICES

FILE = "credentials.json"
OPERATOR, READER, GATEWAY, HOST_USER = "operator", "reader", "gateway", "services"
SUPERUSER = "postgres"
IDENTITY_KEY_ENV = "MOLTGRID_IDENTITY_KEY"
COMPONENTS = (GATEWAY, *SERVICES)
ROLE_PREFIX = "moltgrid_"

# What each service publishes besides replies, events and its own subjects (docs/subjects.md).
PRODUCES: dict[str, list[str]] = {
    "relay": ["push.>", "pubsub.>"],
    "directory": ["bus.directory.>", "admin.>"],
    "coordination": ["coord.>", "_INBOX.>"],  # its runs: private subjects, several replies to one inbox
    "a2a": ["a2a.task.>"],  # notices that a task's event log grew (streams and blocking sends wait on them)
}
# The operations of other services each one calls (grep `call(` in services/).
CALLS: dict[str, list[str]] = {
    "directory": [
        "svc.*.agent_stats",
        "svc.marketplace.balances",
        "svc.marketplace.public_activity",
    ],
    "marketplace": ["svc.directory.record_rating"],
    "memory": ["svc.embedder.embed"],
    "relay": ["svc.directory.exists"],
    "scheduler": ["svc.queue.get", "svc.queue.submit"],
    "a2a": [
        "svc.directory.exists",
        "svc.directory.public_profile",
        "svc.directory.me",
        "svc.directory.search",
        "svc.directory.browse",
        "svc.relay.send",
    ],
    "sla": ["svc.*.health", "svc.*.health.*", "svc.*.admin_stats"],
}
# Plain subscriptions besides their own request subjects.
LISTENS: dict[str, list[str]] = {
    GATEWAY: [
        "push.>",
        "bus.directory.>",
        "a2a.task.>",
        "events.>",
    ],  # events: long polls wait in the gateway
    "relay": ["bus.directory.agent_deleted"],  # forget a deleted agent at once
    # the coordination runs' private subjects; its runner connects with the default inbox prefix
    "coordination": ["coord.>", "_INBOX.>"],
}
JETSTREAM = ["$JS.API.>", "$JS.ACK.>", "$JS.FC.>", "$KV.>"]
# What the outside-subscriber user may ask JetStream: consumers on the EVENTS stream (durable or not).
READER_JETSTREAM = [
    "$JS.API.INFO",
    "$JS.API.STREAM.INFO.EVENTS",
    "$JS.API.STREAM.NAMES",
    "$JS.API.CONSUMER.CREATE.EVENTS",
    "$JS.API.CONSUMER.CREATE.EVENTS.>",
    "$JS.API.CONSUMER.DURABLE.CREATE.EVENTS.>",
    "$JS.API.CONSUMER.INFO.EVENTS.>",
    "$JS.API.CONSUMER.DELETE.EVENTS.>",
    "$JS.API.CONSUMER.MSG.NEXT.EVENTS.>",
    "$JS.ACK.EVENTS.>",
    "$JS.FC.>",
]


def inbox_of(user: str) -> str:
    return f"_INBOX_{user}"


def permissions(user: str, hosted: list[str] | None = None) -> dict[str, Any]:
    """NATS permissions of one user: a component, the shared host (`hosted` services), reader, operator."""
    if user == OPERATOR:
        return {"publish": {"allow": [">"]}, "subscribe": {"allow": [">"]}}
    if user == READER:
        return {
            "publish": {"allow": READER_JETSTREAM},
            "subscribe": {"allow": ["events.>", "pubsub.>", f"{inbox_of(READER)}.>"]},
        }
    names = hosted if hosted is not None else [user]
    pub = ["events.>", "metrics.scrape", *JETSTREAM]
    sub = [f"{inbox_of(user)}.>"]
    for name in names:
        pub += [f"svc.{name}.>", *PRODUCES.get(name, []), *CALLS.get(name, [])]
        sub += [f"svc.{name}.>", *LISTENS.get(name, [])]
        if name == GATEWAY:
            pub.append("svc.>")
    sub.append("metrics.scrape")
    return {
        "publish": {"allow": sorted(set(pub))},
        "subscribe": {"allow": sorted(set(sub))},
        "allow_responses": True,
    }


def _token() -> str:
    return secrets.token_urlsafe(24)


@dataclass
class Credentials:
    """Passwords by NATS user and by PostgreSQL role, and the identity key (see the module docstring)."""

    path: Path
    nats: dict[str, str] = field(default_factory=dict)
    postgres: dict[str, str] = field(default_factory=dict)
    identity_key: str = ""

    @classmethod
    def load_or_create(cls, data_dir: Path) -> Credentials:
        """Read <data_dir>/credentials.json, generate what is missing, write it back (0600) if it changed.
        MOLTGRID_IDENTITY_KEY in the environment, when set, is the identity key (not stored)."""
        path = data_dir / FILE
        raw: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
        creds = cls(
            path, dict(raw.get("nats", {})), dict(raw.get("postgres", {})), raw.get("identity_key", "")
        )
        changed = not path.exists()
        for user in (OPERATOR, READER, HOST_USER, *COMPONENTS):
            if not creds.nats.get(user):
                creds.nats[user], changed = _token(), True
        for role in (SUPERUSER, *COMPONENTS):
            if not creds.postgres.get(role):
                creds.postgres[role], changed = _token(), True
        if not creds.identity_key:
            creds.identity_key, changed = secrets.token_hex(32), True
        if changed:
            creds.save()
        creds.identity_key = os.environ.get(IDENTITY_KEY_ENV) or creds.identity_key
        return creds

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"nats": self.nats, "postgres": self.postgres, "identity_key": self.identity_key}, f)
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)

    def nats_config(self, path: Path) -> Path:
        """Write the nats-server authorization block (0600) and return its path."""
        users = [
            {
                "user": user,
                "password": password,
                "permissions": permissions(user, list(SERVICES) if user == HOST_USER else None),
            }
            for user, password in sorted(self.nats.items())
        ]
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:  # nats-server reads JSON as its config syntax
            f.write("authorization " + json.dumps({"users": users}, indent=1) + "\n")
        os.chmod(path, 0o600)
        return path

    def nats_url(self, url: str, user: str) -> str:
        return ",".join(with_user(u, user, self.nats[user]) for u in url.split(",") if u.strip())

    def database_url(self, dsn: str, component: str) -> str:
        return with_user(dsn, role_of(component), self.postgres[component])

    def admin_dsn(self, dsn: str) -> str:
        return with_user(dsn, SUPERUSER, self.postgres[SUPERUSER])

    def write_deployment(self, out: Path, nats_url: str, database_url: str) -> list[Path]:
        """Files for docker compose and kustomize (docs/operations.md): `<component>.env` with the process's
        own NATS URL, database URL and the identity key; `admin.env` (the superuser and the operator, for
        the provisioning job and the CLI), `reader.env` (outside subscribers), `postgres.env` (the
        PostgreSQL image's superuser password) and `nats-auth.conf` (included by the NATS config). 0600."""
        files: dict[str, dict[str, str]] = {
            component: {
                "MOLTGRID_NATS_URL": self.nats_url(nats_url, component),
                "MOLTGRID_DATABASE_URL": self.database_url(database_url, component),
                IDENTITY_KEY_ENV: self.identity_key,
            }
            for component in COMPONENTS
        }
        files["admin"] = {
            "MOLTGRID_NATS_URL": self.nats_url(nats_url, OPERATOR),
            "MOLTGRID_DATABASE_URL": self.admin_dsn(database_url),
            IDENTITY_KEY_ENV: self.identity_key,
        }
        files["reader"] = {"MOLTGRID_NATS_URL": self.nats_url(nats_url, READER)}
        files["postgres"] = {"POSTGRES_PASSWORD": self.postgres[SUPERUSER]}
        written = [self.nats_config(out / "nats-auth.conf")]
        for name, values in files.items():
            path = out / f"{name}.env"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.writelines(f"{key}={value}\n" for key, value in values.items())
            os.chmod(path, 0o600)
            written.append(path)
        return written


def role_of(component: str) -> str:
    return ROLE_PREFIX + component


def with_user(url: str, user: str, password: str) -> str:
    """The URL with these credentials in place of any it had."""
    parts = urlsplit(url.strip())
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{quote(user, safe='')}:{quote(password, safe='')}@{host}"))


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def provision_sql(creds: Credentials, database: str) -> str:
    """Idempotent SQL (run as the superuser, connected to `database`): a login role per component with its
    password, owning its schema and every object already in it (an upgraded data directory's tables were
    the superuser's), and no access to the database beyond connecting; pgvector created for the memory."""
    lines = [
        "SET password_encryption = 'scram-sha-256';",
        f'REVOKE ALL ON DATABASE "{database}" FROM PUBLIC;',
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC;",
        "CREATE EXTENSION IF NOT EXISTS vector;",
    ]
    for component in COMPONENTS:
        role = role_of(component)
        lines += [
            f"DO $$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {_literal(role)}) THEN "
            f"CREATE ROLE {role}; END IF; END$$;",
            f"ALTER ROLE {role} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT "
            f"PASSWORD {_literal(creds.postgres[component])};",
            f'GRANT CONNECT ON DATABASE "{database}" TO {role};',
            f"CREATE SCHEMA IF NOT EXISTS {component} AUTHORIZATION {role};",
            f"ALTER SCHEMA {component} OWNER TO {role};",
            f"REVOKE ALL ON SCHEMA {component} FROM PUBLIC;",
            _REASSIGN.replace("{schema}", _literal(component)).replace("{role}", role),
        ]
    return "\n".join(lines) + "\n"


# Tables, views and sequences not owned by a table column, functions and types of a schema → its role.
_REASSIGN = """DO $$DECLARE r record; BEGIN
FOR r IN SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname = {schema} AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
  AND pg_get_userbyid(c.relowner) <> '{role}'
  AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid
      AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')))
LOOP
  EXECUTE format(CASE WHEN r.relkind = 'S' THEN 'ALTER SEQUENCE %I.%I OWNER TO {role}'
    WHEN r.relkind IN ('v') THEN 'ALTER VIEW %I.%I OWNER TO {role}'
    WHEN r.relkind IN ('m') THEN 'ALTER MATERIALIZED VIEW %I.%I OWNER TO {role}'
    WHEN r.relkind IN ('f') THEN 'ALTER FOREIGN TABLE %I.%I OWNER TO {role}'
    ELSE 'ALTER TABLE %I.%I OWNER TO {role}' END, {schema}, r.relname);
END LOOP;
FOR r IN SELECT p.oid::regprocedure AS fn FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
  WHERE n.nspname = {schema} AND pg_get_userbyid(p.proowner) <> '{role}' AND p.prokind IN ('f', 'p')
LOOP
  EXECUTE format('ALTER ROUTINE %s OWNER TO {role}', r.fn);
END LOOP;
FOR r IN SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
  WHERE n.nspname = {schema} AND pg_get_userbyid(t.typowner) <> '{role}' AND t.typtype = 'e'
LOOP
  EXECUTE format('ALTER TYPE %I.%I OWNER TO {role}', {schema}, r.typname);
END LOOP;
END$$;"""


def redact(url: str) -> str:
    """The URL(s) without passwords, for logs."""
    out = []
    for one in url.split(","):
        parts = urlsplit(one.strip())
        if parts.password is not None:
            host = parts.netloc.rpartition("@")[2]
            parts = parts._replace(netloc=f"{parts.username}:***@{host}")
        out.append(urlunsplit(parts))
    return ",".join(out)


def user_of(url: str) -> str | None:
    """The user named in a NATS URL (its inbox prefix follows from it), if any."""
    first = url.split(",")[0].strip()
    return urlsplit(first).username if first else None
