"""The usage period: whole UTC days, ``--usage 30d`` or ``--usage START..END`` (END exclusive).

Azure Monitor keeps platform metrics for 93 days, so a period must start within the last 93 days
and end no later than today (00:00 UTC: today is not over, and a partial day would read as a
drop in usage). Queries are cut into chunks of at most 30 days: the longest timespan the metrics
API accepts in one request is not documented (UNCONFIRMED, see the facts doc §1.3), and 30 days
is what the portal itself charts.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from auditor.errors import AuditorError

RETENTION_DAYS = 93
CHUNK_DAYS = 30
AVERAGE_MONTH_DAYS = 365.25 / 12
_RELATIVE = re.compile(r"^\s*(\d{1,3})\s*d\s*$", re.IGNORECASE)
_RANGE = re.compile(r"^\s*(\d{4}-\d{2}-\d{2})\s*\.\.\s*(\d{4}-\d{2}-\d{2})\s*$")


class PeriodError(AuditorError):
    """A ``--usage`` value that is not a period the platform can answer for."""


@dataclass(frozen=True, slots=True)
class Period:
    """Whole UTC days from ``start`` (included) to ``end`` (excluded)."""

    start: date
    end: date

    @property
    def days(self) -> int:
        """How many days the period has."""
        return (self.end - self.start).days

    def each_day(self) -> list[date]:
        """Every day of the period, in order."""
        return [self.start + timedelta(days=n) for n in range(self.days)]

    def chunks(self, size: int = CHUNK_DAYS) -> list[Period]:
        """The period cut into consecutive pieces of at most ``size`` days."""
        out = []
        cursor = self.start
        while cursor < self.end:
            nxt = min(self.end, cursor + timedelta(days=size))
            out.append(Period(cursor, nxt))
            cursor = nxt
        return out

    def timespan(self) -> str:
        """ISO 8601 ``start/end`` as Azure Monitor takes it."""
        return f"{self.start.isoformat()}T00:00:00Z/{self.end.isoformat()}T00:00:00Z"

    def bounds(self) -> tuple[datetime, datetime]:
        """Start and end as aware UTC datetimes."""
        return (
            datetime(self.start.year, self.start.month, self.start.day, tzinfo=UTC),
            datetime(self.end.year, self.end.month, self.end.day, tzinfo=UTC),
        )

    def month_factor(self) -> float:
        """What turns the period's figure into a monthly run-rate.

        A period inside one calendar month is scaled to that month (period-to-date x days in
        the month / days elapsed, the facts doc §9); any other period to an average month.
        """
        last = self.end - timedelta(days=1)
        if (self.start.year, self.start.month) == (last.year, last.month):
            return calendar.monthrange(self.start.year, self.start.month)[1] / self.days
        return AVERAGE_MONTH_DAYS / self.days

    def to_json(self) -> dict[str, str]:
        """``{"start", "end"}`` as ISO dates (end exclusive)."""
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}

    @classmethod
    def from_json(cls, raw: object) -> Period:
        """The period of a stored usage document."""
        if not isinstance(raw, dict):
            raise PeriodError("the usage period is missing")
        try:
            start = date.fromisoformat(str(raw.get("start")))
            end = date.fromisoformat(str(raw.get("end")))
        except ValueError as exc:
            raise PeriodError(f"the usage period is not two ISO dates: {exc}") from exc
        if end <= start:
            raise PeriodError("the usage period ends before it starts")
        return cls(start, end)


def today_utc() -> date:
    """Today's date in UTC."""
    return datetime.now(UTC).date()


def parse(text: str, today: date | None = None) -> Period:
    """``30d`` (the 30 whole days before today) or ``2026-11-01..2026-12-01`` (END exclusive)."""
    now = today or today_utc()
    if m := _RELATIVE.match(text):
        days = int(m[1])
        if not 1 <= days <= RETENTION_DAYS:
            raise PeriodError(
                f"--usage {text}: between 1d and {RETENTION_DAYS}d (Azure Monitor keeps platform "
                f"metrics for {RETENTION_DAYS} days)"
            )
        return Period(now - timedelta(days=days), now)
    m = _RANGE.match(text)
    if not m:
        raise PeriodError(
            f"--usage {text}: give a number of days ('30d') or START..END dates "
            "('2026-11-01..2026-12-01', END not included)"
        )
    try:
        start, end = date.fromisoformat(m[1]), date.fromisoformat(m[2])
    except ValueError as exc:
        raise PeriodError(f"--usage {text}: {exc}") from exc
    if end <= start:
        raise PeriodError(f"--usage {text}: END must come after START")
    if end > now:
        raise PeriodError(
            f"--usage {text}: END may be today ({now.isoformat()}) at the latest; days that are "
            "not over would read as a drop in usage"
        )
    if (now - start).days > RETENTION_DAYS:
        raise PeriodError(
            f"--usage {text}: START is more than {RETENTION_DAYS} days ago; Azure Monitor keeps "
            f"platform metrics for {RETENTION_DAYS} days (keep snapshots to look further back)"
        )
    return Period(start, end)
