"""The outbox: every step is sent at most once per enrollment and step.

The scheduler's tick decides what goes out and, in its transaction, commits one ``outbox`` row per
message with an idempotency key ``<enrollment_id>:<step>`` (the enrollment advances in the same
transaction). Only after that commit is anything delivered: :func:`flush` hands each pending row to
the sender, then marks it delivered and records its ``send`` event (id ``send:<key>``). A crash at
any point leaves rows either pending (re-offered by the next run, with the same key) or delivered;
a step is never queued twice (the key is the primary key), so a provider that deduplicates by key
(SES, Postmark, SendGrid) sends each step at most once. Without such a provider the window is the
rows delivered but not yet marked when the process died: at most ``batch`` messages.
"""

from __future__ import annotations

import datetime as dt
import importlib
from dataclasses import dataclass, fields
from typing import Protocol, runtime_checkable

import duckdb
import pandas as pd

from unify_dash.errors import ValidationError
from unify_dash.store import db, ledger


@dataclass(frozen=True)
class Message:
    """One step of one enrollment, ready to be delivered."""

    enrollment_id: str
    contact_id: str
    email: str
    sequence_id: str
    step: int
    subject: str
    at: dt.datetime
    idempotency_key: str = ""


MESSAGE_FIELDS = tuple(f.name for f in fields(Message))


@runtime_checkable
class Sender(Protocol):
    """Delivers messages: ``deliver(message)`` (or the older ``send(message)``) returns a delivery id
    (or None). A sender may implement ``send_batch(messages: DataFrame) -> list[str]`` for speed.
    A provider should deduplicate by ``message.idempotency_key``: a message whose delivery was not
    confirmed before a crash is offered again with the same key."""

    def send(self, message: Message) -> str: ...


class RecordingSender:
    """The default sender: no email leaves the machine. Each message gets a delivery id
    (``rec:<enrollment>:<step>``) and the scheduler records it as a ``send`` event."""

    def __init__(self):
        self.sent = 0

    def deliver(self, message: Message) -> str:
        self.sent += 1
        return f"rec:{message.enrollment_id}:{message.step}"

    send = deliver

    def send_batch(self, messages: pd.DataFrame) -> list[str]:
        self.sent += len(messages)
        return ("rec:" + messages["enrollment_id"].astype(str) + ":" + messages["step"].astype(str)).tolist()


def load_sender(spec: str):
    """``package.module:factory`` -> ``factory()``, an object with ``deliver(message)`` (or ``send``)."""
    module_name, _, attr = (spec or "").partition(":")
    if not module_name or not attr:
        raise ValidationError(f"--sender: expected package.module:factory, got {spec!r}")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        raise ValidationError(f"--sender {spec}: cannot import it ({err})") from None
    sender = factory()
    if not callable(getattr(sender, "deliver", None)) and not callable(getattr(sender, "send", None)):
        raise ValidationError(f"--sender {spec}: factory() returned {type(sender).__name__}, which has no "
                              "deliver(message) method")
    return sender


OUTBOX_COLUMNS = ["idempotency_key", "enrollment_id", "step", "contact_id", "email", "sequence_id", "subject",
                  "queued_at", "status", "attempts"]


def queue(con: duckdb.DuckDBPyConnection, source: str, at: dt.datetime, *, checked: bool = True) -> int:
    """Queue the messages selected by ``source`` (a temp table of the tick with ``enrollment_id,
    contact_id, email, sequence_id, step, subject``, named in code) in the outbox, ``pending`` as of
    ``at``; a key already there is not queued again (``checked=False``: it fails the insert, see
    :func:`db.insert_new`). Returns how many were queued."""
    return len(db.insert_new(
        con, "outbox", "idempotency_key",
        f"""SELECT enrollment_id || ':' || step AS idempotency_key, enrollment_id, step, contact_id, email,
                   sequence_id, subject, ?::TIMESTAMP AS queued_at, 'pending' AS status, 0 AS attempts
            FROM {source}""", [at], columns=OUTBOX_COLUMNS, checked=checked))


def queue_delivered(con: duckdb.DuckDBPyConnection, sender: RecordingSender, source: str, at: dt.datetime, *,
                    events: str = "events", checked: bool = True) -> int:
    """A local sender (:class:`RecordingSender`: nothing leaves the machine), inside the tick's
    transaction: the messages of ``source`` (as for :func:`queue`) get their delivery ids and are
    written to the outbox already ``delivered``, with their ``send`` events, in the tick's one commit.
    A crash leaves all of the tick or none of it; a key already in the outbox is not written again
    (and gets no second event; ``checked=False``: it fails the insert, see :func:`db.insert_new`).
    ``events``: a table of the tick's (the columns of ``events``) that takes the ``send`` events, written
    to ``events`` with the tick's other events. Returns how many were recorded."""
    frame = con.execute(f"SELECT enrollment_id || ':' || step AS idempotency_key, enrollment_id, contact_id, email, "
                        f"sequence_id, step, subject, ?::TIMESTAMP AS queued_at FROM {source}", [at]).df()
    if frame.empty:
        return 0
    frame["delivery_id"] = _deliver(sender, frame.rename(columns={"queued_at": "at"}))
    wall = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    con.register("_outbox_local", frame)
    try:
        keys = db.insert_new(con, "outbox", "idempotency_key", """
            SELECT idempotency_key, enrollment_id, step, contact_id, email, sequence_id, subject, queued_at,
                   'delivered' AS status, 1 AS attempts, delivery_id, ?::TIMESTAMP AS delivered_at
            FROM _outbox_local""", [wall], columns=[*OUTBOX_COLUMNS, "delivery_id", "delivered_at"], checked=checked)
        if len(keys) == len(frame):  # every message is new (the tick's case)
            _record_sends(con, "_outbox_local", [], into=events)
        elif keys:
            _record_sends(con, "(SELECT * FROM _outbox_local WHERE idempotency_key IN (SELECT unnest(?::VARCHAR[])))",
                          [keys], into=events)
    finally:
        con.unregister("_outbox_local")
    return len(keys)


def _record_sends(con: duckdb.DuckDBPyConnection, delivered: str, params: list, *, into: str = "events") -> None:
    """The ``send`` event of each delivered message: ``delivered`` is a relation written in code (outbox
    columns with the message's ``delivery_id``), its values as ``params``. One event per idempotency key
    (``into``: a table of the caller's that takes them instead of ``events``)."""
    columns = ["event_id", "occurred_at", "type", "contact_id", "email", "sequence_id", "enrollment_id", "step",
               "source", "actor", "text", "detail"]
    select = f"""
        SELECT 'send:' || o.idempotency_key AS event_id, o.queued_at, 'send', o.contact_id, o.email, o.sequence_id,
               o.enrollment_id, o.step, 'scheduler', 'system', o.subject,
               to_json({{'delivery_id': o.delivery_id, 'idempotency_key': o.idempotency_key}})::VARCHAR
        FROM {delivered} o"""
    ledger.record_events(con, select, params, columns=columns, into=into)


def pending(con: duckdb.DuckDBPyConnection) -> int:
    return con.execute("SELECT count(*) FROM outbox WHERE status = 'pending'").fetchone()[0]


def _deliver(sender, batch: list[dict] | pd.DataFrame) -> list[str]:
    """Hand ``batch`` (the messages: dicts of the :class:`Message` fields, or a frame of them) to
    ``sender``: the delivery ids, in order (a message's idempotency key when the sender returns None).
    A batch sender's ``send_batch`` gets a frame (a frame given is passed as it is), ``deliver`` /
    ``send`` one :class:`Message` per message."""
    frame = batch if isinstance(batch, pd.DataFrame) else None
    batch_api = getattr(sender, "send_batch", None)
    if callable(batch_api) and (isinstance(sender, RecordingSender) or not callable(getattr(sender, "deliver", None))):
        ids = list(batch_api(frame if frame is not None else pd.DataFrame(batch)))
    else:
        method = getattr(sender, "deliver", None) or sender.send
        rows = batch if frame is None else frame[list(MESSAGE_FIELDS)].to_dict("records")
        ids = [method(Message(**row)) for row in rows]
    if len(ids) != len(batch):
        raise ValidationError(f"the sender returned {len(ids)} delivery ids for {len(batch)} messages")
    keys = frame["idempotency_key"].tolist() if frame is not None else [row["idempotency_key"] for row in batch]
    return [str(x) if x is not None else key for x, key in zip(ids, keys, strict=True)]


def flush(con: duckdb.DuckDBPyConnection, sender, *, batch: int = 20) -> int:
    """Deliver every pending outbox row (oldest first) and mark it delivered, ``batch`` rows per
    transaction: the ``send`` event and the ``delivered`` status are written together. Returns how
    many were delivered. A sender that raises leaves the rest pending for the next run."""
    done = 0
    local = isinstance(sender, RecordingSender)  # nothing leaves the machine: one batch is enough
    while True:
        cur = con.execute(
            "SELECT idempotency_key, enrollment_id, contact_id, email, sequence_id, step, subject, queued_at AS at "
            "FROM outbox WHERE status = 'pending' ORDER BY queued_at, idempotency_key LIMIT ?",
            [1_000_000 if local else batch])
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        if not rows:
            return done
        keys = [r["idempotency_key"] for r in rows]
        try:
            ids = _deliver(sender, rows)
        except BaseException:
            with db.transaction(con):  # offered, not confirmed: the next run offers them again
                con.execute("UPDATE outbox SET attempts = attempts + 1 "
                            "WHERE idempotency_key IN (SELECT unnest(?::VARCHAR[]))", [keys])
            raise
        wall = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        done_sql = "SELECT unnest(?::VARCHAR[]) AS idempotency_key, unnest(?::VARCHAR[]) AS delivery_id"
        with db.transaction(con):
            con.execute(f"""
                UPDATE outbox SET status = 'delivered', delivery_id = d.delivery_id, delivered_at = ?,
                       attempts = attempts + 1
                FROM ({done_sql}) d WHERE outbox.idempotency_key = d.idempotency_key
                  AND outbox.status = 'pending'""", [wall, keys, ids])
            _record_sends(con, f"(SELECT o.* EXCLUDE (delivery_id), d.delivery_id FROM outbox o "
                               f"JOIN ({done_sql}) d USING (idempotency_key))", [keys, ids])
            db.bump_deliveries(con)  # pages that count sends see them (the app's cache stamp)
        done += len(rows)
