"""schemathesis hooks of `npm run test:fuzz` (loaded through SCHEMATHESIS_HOOKS by
services/host/src/api.fuzz.test.ts).

The served OpenAPI document states every rule a JSON Schema can hold (enums, patterns,
minProperties, oneOf). Two kinds of rule it cannot, handled here and nowhere else:

1. A grammar: `format: recurrence-rule` (contracts/src/tasks.ts). The format names it for
   readers; here the fuzzer learns to write such rules, as schemathesis' custom formats are meant.
2. Answers that depend on something other than the request's own shape. Each is documented on its
   field in the document, and a 400 for it is not counted as "a valid request refused":
   - `cursor`: only a `next_cursor` of the same query (same filters and sort) is one;
   - `start_date` after `end_date` (audit log): an order between two fields; likewise `from` and
     `since` together (topic browser: one or the other), and a recurrence rule's UNTIL before its
     start (the due date, or now);
   - a transfer from a wallet to itself: `to_wallet_id` equal to `from_wallet_id`;
   - an admin disabling their own account: who calls decides, not the request;
   - a new password too easy to guess (zxcvbn), or the email itself: a strength estimate;
   - a push endpoint the deployment's push policy refuses (plain http, credentials, a host that
     does not resolve or is private, one off PUSH_ALLOWED_HOSTS): settings and DNS decide.
   - text with a NUL: the document's pattern refuses it, but schemathesis cannot use that pattern.
   Only the failure that names that field is dropped; any other refusal of the same request,
   and every 5xx, still fails the run.
"""

from __future__ import annotations

import json

import schemathesis
from hypothesis import strategies as st

# --- 1. recurrence rules (packages/recurrence/src/grammar.ts, docs/adr/0005) ---------------------

WEEKDAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
weekdays = st.lists(st.sampled_from(WEEKDAYS), min_size=1, max_size=7, unique=True).map(",".join)
# Days 1-28 and the last day (-1) fall in every month: a rule of them always has occurrences.
month_days = st.lists(st.integers(1, 28) | st.just(-1), min_size=1, max_size=3, unique=True).map(
    lambda days: ",".join(map(str, days))
)
nth_weekday = st.builds("{}{}".format, st.sampled_from(["1", "2", "3", "4", "-1"]), st.sampled_from(WEEKDAYS))

presets = st.one_of(
    st.sampled_from(["daily", "weekdays", "weekly", "monthly", "yearly"]),
    weekdays.map("weekly:{}".format),
    month_days.map("monthly:{}".format),
    nth_weekday.map("monthly:{}".format),
)


@st.composite
def rrules(draw: st.DrawFn) -> str:
    freq = draw(st.sampled_from(["YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY", "MINUTELY"]))
    parts = [f"FREQ={freq}"]
    if draw(st.booleans()):
        parts.append(f"INTERVAL={draw(st.integers(1, 1000))}")
    end = draw(st.sampled_from(["none", "count", "until"]))
    if end == "count":
        parts.append(f"COUNT={draw(st.integers(1, 10000))}")
    elif end == "until":
        date = draw(st.dates())
        day = f"{date.year:04d}{date.month:02d}{date.day:02d}"
        parts.append(f"UNTIL={day}" if draw(st.booleans()) else f"UNTIL={day}T235959Z")
    if freq == "WEEKLY" and draw(st.booleans()):
        parts.append(f"BYDAY={draw(weekdays)}")
    if freq == "MONTHLY" and draw(st.booleans()):
        parts.append(f"BYMONTHDAY={draw(month_days)}")
    rule = ";".join(parts)
    return f"RRULE:{rule}" if draw(st.booleans()) else rule


def cron_field(low: int, high: int) -> st.SearchStrategy[str]:
    value = st.integers(low, high).map(str)
    ranged = st.tuples(st.integers(low, high), st.integers(low, high)).map(
        lambda ends: f"{min(ends)}-{max(ends)}"
    )
    return st.one_of(st.just("*"), value, ranged)


crons = st.builds(
    "{} {} {} {} {}".format,
    cron_field(0, 59),
    cron_field(0, 23),
    cron_field(1, 28),
    cron_field(1, 12),
    cron_field(0, 6),
).flatmap(lambda expression: st.sampled_from([expression, f"cron:{expression}"]))

schemathesis.openapi.format("recurrence-rule", st.one_of(presets, rrules(), crons))

# --- the coverage phase and the time zone enum -------------------------------------------------

# The coverage phase sends each value of an enum once; for `time_zone` that is 419 requests per
# field and operation, minutes of a CI run for one list. It keeps these, which span the offsets
# (-11 to +14, +5:45) and DST rules (southern, half-hour) that matter to the API; the fuzzing phase
# still draws from the whole list.
COVERAGE_ZONES = {
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "America/Santiago",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Lord_Howe",
    "Pacific/Kiritimati",
    "Pacific/Pago_Pago",
    "Africa/Casablanca",
}


def zones_in(body) -> list[str]:
    if not isinstance(body, dict):
        return []
    quiet = body.get("quiet_hours")
    zones = [body.get("time_zone"), quiet.get("time_zone") if isinstance(quiet, dict) else None]
    return [zone for zone in zones if isinstance(zone, str)]


@schemathesis.hook
def filter_case(context, case) -> bool:
    meta = case.meta
    if meta is None or str(meta.phase.name) != "coverage":
        return True
    if str(getattr(meta.phase.data, "scenario", "")) != "enum_value":
        return True
    return all(zone in COVERAGE_ZONES for zone in zones_in(case.body))


# --- 2. refusals a JSON Schema cannot predict --------------------------------------------------

CURSOR_OPERATIONS = {
    "GET /api/tasks",
    "GET /api/notifications",
    "GET /api/mailbox",
    "GET /api/audit-logs",
    "GET /api/admin/dlq",
    "GET /api/transactions",
}
# `from` (a position) or `since` (a time), not both: a choice between two fields.
TOPIC_RANGE_OPERATIONS = {"GET /api/admin/topics/{topic}/messages"}
# A recurrence rule's UNTIL must not end the series before its start (the due date, or now): an
# order between a field and another field or the clock.
RULE_FIELDS = {"rule", "recurrence.rule"}
RULE_OPERATIONS = {"POST /api/recurrence/preview", "POST /api/tasks", "PATCH /api/tasks/{id}"}
AUDIT_RANGE_OPERATIONS = {"GET /api/audit-logs", "GET /api/audit-logs/export"}
NEW_PASSWORD_OPERATIONS = {"POST /api/auth/register", "POST /api/admin/users", "POST /api/auth/password"}


def refusal(response) -> tuple[str, str, set[str]]:
    """A 400's error code, message and the fields it names (`details[].path` or `details.field`)."""
    try:
        error = json.loads(response.content)["error"]
    except (ValueError, KeyError, TypeError):
        return "", "", set()
    code, message, details = error.get("code", ""), error.get("message", ""), error.get("details")
    if isinstance(details, dict):
        return code, message, {str(details.get("field"))}
    if isinstance(details, list):
        return code, message, {str(d.get("path")) for d in details if isinstance(d, dict)}
    return code, message, set()


# The document's pattern for text (contracts/src/common.ts WELL_FORMED_TEXT: no NUL, no lone
# surrogate) names surrogates, which Rust's regex (schemathesis validates with jsonschema-rs) cannot:
# schemathesis drops the pattern and may send a NUL. The document says it; the fuzzer cannot read it.
# (A spelling both engines read, a range of the allowed characters, made drawing long strings
# take minutes.)
NOT_TEXT = ("must not contain the NUL character", "lone UTF-16 surrogate")


def depends_on_more_than_the_schema(label: str, case, response) -> bool:
    code, message, fields = refusal(response)
    if code == "validation_failed" and any(reason in message for reason in NOT_TEXT):
        return True
    query = case.query or {}
    if label in CURSOR_OPERATIONS and fields == {"cursor"} and "cursor" in query:
        return True
    if label in AUDIT_RANGE_OPERATIONS and fields == {"start_date"} and "end_date" in query:
        return True
    if label in NEW_PASSWORD_OPERATIONS and code == "weak_password":
        return True
    if label in TOPIC_RANGE_OPERATIONS and fields == {"since"} and {"from", "since"} <= set(query):
        return True
    if label in RULE_OPERATIONS and fields <= RULE_FIELDS and fields and "UNTIL is before the start" in message:
        return True
    # A transfer's two wallet ids must differ: an inequality between two fields.
    if (
        label == "POST /api/transactions"
        and fields == {"to_wallet_id"}
        and "a transfer needs two different wallets" in message
    ):
        return True
    # Who calls decides: the fuzzer's admin token names itself as often as anyone else.
    if label == "POST /api/admin/users/{id}/disable" and "cannot disable their own account" in message:
        return True
    if label == "POST /api/push/subscriptions" and fields == {"endpoint"} and message.startswith(
        "invalid body: endpoint: push endpoint"
    ):
        return True
    return False


@schemathesis.hook
def filter_failure(context, failure, case, response) -> bool:
    """Keep every failure except a 400 that names one of the rules listed above."""
    if failure.code != "ST202" or response is None or response.status_code != 400:
        return True
    return not depends_on_more_than_the_schema(case.operation.label, case, response)
