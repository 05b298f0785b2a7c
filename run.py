#!/usr/bin/env python3
"""Bootstrap: create ./.venv with pinned dependencies, then run a MoltGrid command in it.

    python3 run.py up      # start the whole system on http://127.0.0.1:8000
    python3 run.py test    # checks (ruff, mypy), then the whole test suite; --fast: only the fast tier
    python3 run.py bench   # run the benchmark and print its figures
    python3 run.py <any moltgrid sub-command>   # e.g. migrate, version, status

Needs only Python 3.11+. The virtualenv is rebuilt when the requirements*.lock files or pyproject.toml change.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("MOLTGRID_VENV", ROOT / ".venv"))
STAMP = VENV / ".moltgrid-stamp"
SDK_COMPAT = VENV / "sdk-compat"  # the PyPI SDK for tests/test_sdk_compat.py (requirements-sdk-compat.lock)
BENCH_PEERS = VENV / "bench-peers"  # bench-only PgQueuer, Celery, redis-py (bench/requirements-peers.lock)
LOCKS = ("requirements.lock", "requirements-nodeps.lock", "requirements-sdk-compat.lock")


def _bin(name: str) -> Path:
    return VENV / ("Scripts" if os.name == "nt" else "bin") / name


def _fingerprint() -> str:
    h = hashlib.sha256()
    for name in (*LOCKS, "pyproject.toml", "sdk/python/pyproject.toml"):
        h.update((ROOT / name).read_bytes())
    return h.hexdigest()


def ensure_venv() -> None:
    """Create or refresh the virtualenv; cheap when nothing changed."""
    want = _fingerprint()
    if STAMP.exists() and STAMP.read_text() == want and _bin("moltgrid").exists():
        return
    print(f"» preparing {VENV} (pinned dependencies, one-time)", flush=True)
    if not _bin("python").exists():
        venv.EnvBuilder(with_pip=True).create(VENV)
    pip = [str(_bin("python")), "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "install", "-r", str(ROOT / "requirements.lock")], check=True)
    # packages whose declared dependencies MoltGrid must not pull in (torch, …): see the file's comments
    subprocess.run([*pip, "install", "--no-deps", "-r", str(ROOT / "requirements-nodeps.lock")], check=True)
    subprocess.run(
        [*pip, "install", "--no-deps", "-e", str(ROOT), "-e", str(ROOT / "sdk" / "python")], check=True
    )
    subprocess.run(
        [
            *pip,
            "install",
            "--no-deps",
            "--upgrade",
            "--target",
            str(SDK_COMPAT),
            "-r",
            str(ROOT / "requirements-sdk-compat.lock"),
        ],
        check=True,
    )
    STAMP.write_text(want)


def ensure_browser() -> None:
    """In CI (as root, Debian), install Debian's Chromium for the admin panel's browser tests; elsewhere
    those tests skip with a message when no browser is found."""
    import shutil

    if shutil.which("chromium") or not os.environ.get("CI") or os.name != "posix" or os.geteuid() != 0:
        return
    if not shutil.which("apt-get"):
        return
    print("» installing Chromium for the browser tests (apt-get, one-time)", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], env=env, check=False, stdout=subprocess.DEVNULL)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "chromium"], env=env, check=False, stdout=subprocess.DEVNULL
    )


def ensure_node() -> None:
    """In CI (as root, Debian), install Debian's Node.js and npm for the TypeScript client's tests
    (tests/test_typescript_client.py); elsewhere those tests skip with a message when Node is not found."""
    import shutil

    if shutil.which("node") and shutil.which("npm"):
        return
    if not os.environ.get("CI") or os.name != "posix" or os.geteuid() != 0 or not shutil.which("apt-get"):
        return
    print("» installing Node.js and npm for the TypeScript client tests (apt-get, one-time)", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], env=env, check=False, stdout=subprocess.DEVNULL)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "nodejs", "npm"], env=env, check=False, stdout=subprocess.DEVNULL
    )


def ensure_bench_peers() -> None:
    """For `bench queue-peers`: the peers it measures ours against, pinned in bench/requirements-peers.lock,
    installed into their own target directory (never the project's environment), and Debian's redis-server
    (as root, when missing) for Celery's broker; the bench skips a system whose pieces are missing."""
    import shutil

    lock = ROOT / "bench" / "requirements-peers.lock"
    stamp = BENCH_PEERS / ".moltgrid-stamp"
    want = hashlib.sha256(lock.read_bytes()).hexdigest()
    if not (stamp.exists() and stamp.read_text() == want):
        print(f"» installing the bench's peers into {BENCH_PEERS} (pinned, one-time)", flush=True)
        pip = [str(_bin("python")), "-m", "pip", "--disable-pip-version-check", "-q"]
        subprocess.run(
            [*pip, "install", "--no-deps", "--upgrade", "--target", str(BENCH_PEERS), "-r", str(lock)],
            check=True,
        )
        stamp.write_text(want)
    os.environ["MOLTGRID_BENCH_PEERS"] = str(BENCH_PEERS)
    if shutil.which("redis-server"):
        return
    if os.name != "posix" or os.geteuid() != 0 or not shutil.which("apt-get"):
        print(
            "» no redis-server: install it (Debian: apt-get install redis-server) to bench Celery", flush=True
        )
        return
    print("» installing redis-server for the Celery bench (apt-get, one-time)", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], env=env, check=False, stdout=subprocess.DEVNULL)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "redis-server"], env=env, check=False, stdout=subprocess.DEVNULL
    )


CHECKS = {
    "ruff check": ["ruff", "check", "--quiet", "."],
    "ruff format": ["ruff", "format", "--check", "--quiet", "."],
    "mypy": ["mypy"],
}


def run_checks() -> list[str]:
    """Lint, formatting and types, before any test: the names of the checks that failed."""
    failed = []
    for name, (tool, *args) in CHECKS.items():
        print(f"» {name}", flush=True)
        if subprocess.call([str(_bin(tool)), *args], cwd=ROOT) != 0:
            failed.append(name)
    return failed


def main(argv: list[str]) -> int:
    ensure_venv()
    command, rest = (argv[0], argv[1:]) if argv else ("up", [])
    os.chdir(ROOT)
    if command == "test":
        fast = "--fast" in rest  # only the fast tier (tests/unit): seconds, no stack
        rest = [a for a in rest if a != "--fast"]
        failed = run_checks()
        if failed:
            print(f"» checks failed: {', '.join(failed)}", flush=True)
            return 1
        if not fast:
            ensure_browser()
            ensure_node()
        args = [str(_bin("python")), "-m", "pytest", *(rest or (["tests/unit"] if fast else []))]
    elif command == "bench":
        if rest[:1] == ["queue-peers"]:
            ensure_bench_peers()
        args = [str(_bin("python")), "-m", "bench", *rest]
    else:
        args = [str(_bin("moltgrid")), command, *rest]
    if os.name == "nt":
        return subprocess.call(args)
    os.execv(args[0], args)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
