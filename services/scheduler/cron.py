"""Pure cron logic: validation, the next tick, and which missed ticks fire under each catch-up policy.

Ticks are computed in the schedule's IANA time zone (croniter on a zone-aware datetime, so "0 9 * * *" in
America/New_York is 09:00 local across DST changes) and stored in UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter

from shared.errors import BadRequest

MAX_CATCHUP_FIRES = 1000  # bound on the ticks one schedule fires in one pass under catchup=all
_EPSILON = timedelta(microseconds=1)
# Files of the zone database that are not zones: the host's own setting, the POSIX default rules and the
# placeholder zone of unconfigured systems. A schedule must name where it runs.
NOT_ZONES = frozenset({"localtime", "posixrules", "factory"})


def zone(name: str) -> ZoneInfo:
    if name.lower() in NOT_ZONES:
        raise BadRequest(
            f"Invalid timezone: {name!r} is not an IANA time zone name (e.g. 'UTC', 'Europe/Paris')"
        )
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise BadRequest(
            f"Invalid timezone: {name!r} is not an IANA time zone name (e.g. 'UTC', 'Europe/Paris')"
        ) from exc


def validate(cron_expr: str, tz: str) -> None:
    """Raise BadRequest (400, as the contract shows for bad cron) naming the offending field."""
    zone(tz)
    fields = cron_expr.split()
    if not cron_expr.strip().startswith("@") and len(fields) in (6, 7):  # croniter's seconds/year columns
        raise BadRequest(
            f"Invalid cron expression: expected 5 fields (minute hour day-of-month month "
            f"day-of-week), got {len(fields)}"
        )
    for index, field in enumerate(fields):  # croniter's random (R) values would fire at an unpredictable time
        if any(part.strip().upper() == "R" for part in field.replace("-", ",").replace("/", ",").split(",")):
            raise BadRequest(
                f"Invalid cron expression: field {index + 1} ({field!r}) uses a random value (R), "
                f"which standard cron does not have"
            )
    try:
        it = croniter(cron_expr, datetime.now(UTC))
    except Exception as exc:  # croniter's errors (bad syntax, out of range) carry the useful text
        raise BadRequest(f"Invalid cron expression: {exc}") from None
    try:  # a valid-looking expression may never fire ("0 0 31 2 *": 31 February)
        it.get_next(datetime)
    except CroniterBadDateError:
        raise BadRequest(f"Invalid cron expression: {cron_expr!r} never fires") from None


def next_after(cron_expr: str, tz: str, t: datetime) -> datetime:
    """The first tick strictly after t, in UTC."""
    tick: datetime = croniter(cron_expr, t.astimezone(zone(tz))).get_next(datetime)
    return tick.astimezone(UTC)


def shortest_gap(cron_expr: str, tz: str, t: datetime, ticks: int = 50) -> float:
    """The shortest time in seconds between two of the next `ticks` ticks after t (how often it fires)."""
    it = croniter(cron_expr, t.astimezone(zone(tz)))
    times: list[datetime] = [it.get_next(datetime) for _ in range(ticks)]
    return min((b - a).total_seconds() for a, b in pairwise(times))


def latest_at_or_before(cron_expr: str, tz: str, t: datetime) -> datetime:
    tick: datetime = croniter(cron_expr, (t + _EPSILON).astimezone(zone(tz))).get_prev(datetime)
    return tick.astimezone(UTC)


def due_fires(
    cron_expr: str, tz: str, next_run_at: datetime, now: datetime, catchup: str, window: float, grace: float
) -> list[datetime]:
    """Ticks to fire now for a schedule whose next_run_at <= now.

    On time (the latest due tick is at most `grace` seconds old and no earlier tick was missed) every policy
    fires that one tick. Otherwise: skip → fire only a latest tick that is still within grace; once → fire
    the latest due tick once; all → fire every due tick of the last `window` seconds (at most 1000).
    """
    if next_run_at > now:
        return []
    latest = latest_at_or_before(cron_expr, tz, now)
    if latest < next_run_at:  # next_run_at was not a tick of this expression (cannot happen unless edited)
        latest = next_run_at
    on_time = (now - latest).total_seconds() <= grace
    if catchup == "all":
        floor = max(next_run_at, now - timedelta(seconds=window))
        ticks: list[datetime] = []
        it = croniter(cron_expr, (latest + _EPSILON).astimezone(zone(tz)))
        while len(ticks) < MAX_CATCHUP_FIRES:
            t = it.get_prev(datetime).astimezone(UTC)
            if t < floor:
                break
            ticks.append(t)
        if not ticks and on_time:
            ticks = [latest]
        return sorted(ticks)
    if catchup == "skip":
        return [latest] if on_time else []
    return [latest]  # once
