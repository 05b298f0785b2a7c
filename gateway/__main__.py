"""python -m gateway — the HTTP edge, run by the shared runtime (gateway/__init__.py declares it)."""

from __future__ import annotations

from gateway import SERVICE

if __name__ == "__main__":
    SERVICE.main()
