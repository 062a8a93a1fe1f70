"""The workspace schema, declared once: every table of the store and, for the record tables, how a
workspace file spells each column. The DDL (:func:`ddl`), the loader's file columns
(:func:`file_columns`), the demo's output files and the staging tables all derive from it.

A :class:`Column` with a ``kind`` is read from workspace files (the loader's value kinds: id, email, text,
enum, bool, ts, date, int, num); ``required`` means every row must give a value; ``table=False`` is a
column only files have (``company_website`` becomes the contact's domain).
"""

from __future__ import annotations

from dataclasses import dataclass

from unify_dash.model import states


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # SQL type
    constraints: str = ""  # e.g. "PRIMARY KEY", "NOT NULL DEFAULT FALSE"
    kind: str | None = None  # how workspace files give it; None: not read from files
    required: bool = False
    choices: tuple[str, ...] = ()
    table: bool = True  # False: only in workspace files


@dataclass(frozen=True)
class Key:
    """A composite primary key."""

    columns: tuple[str, ...]


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


TABLES: dict[str, tuple[Column | Key, ...]] = {
    "meta": (
        Column("key", "VARCHAR", "PRIMARY KEY"),
        Column("value", "VARCHAR"),
    ),
    "contacts": (
        Column("contact_id", "VARCHAR", "PRIMARY KEY", kind="id", required=True),
        Column("email", "VARCHAR", "NOT NULL UNIQUE", kind="email", required=True),
        Column("first_name", "VARCHAR", kind="text"),
        Column("last_name", "VARCHAR", kind="text"),
        Column("title", "VARCHAR", kind="text"),
        Column("country", "VARCHAR", kind="text"),
        Column("company_website", "VARCHAR", kind="text", table=False),
        Column("email_domain", "VARCHAR"),
        Column("is_free_mail", "BOOLEAN", "NOT NULL DEFAULT FALSE"),
        Column("domain", "VARCHAR"),
        Column("sf_contact_id", "VARCHAR", kind="id"),
        Column("sf_lead_id", "VARCHAR", kind="id"),
        Column("hs_contact_id", "VARCHAR", kind="id"),
        Column("sf_email_opt_out", "BOOLEAN", "NOT NULL DEFAULT FALSE", kind="bool"),
        Column("sf_do_not_email", "BOOLEAN", "NOT NULL DEFAULT FALSE", kind="bool"),
        Column("hs_opt_out", "BOOLEAN", "NOT NULL DEFAULT FALSE", kind="bool"),
        Column("last_contacted_at", "TIMESTAMP", kind="ts"),
        Column("job_changed_at", "TIMESTAMP", kind="ts"),
        Column("created_at", "TIMESTAMP", kind="ts"),
        # the CRM marks the address as bouncing (Salesforce IsEmailBounced, HubSpot bounce / quarantine):
        # from CRM exports only (io/exports.py), not a column of the workspace's contacts file
        Column("email_bounced", "BOOLEAN", "NOT NULL DEFAULT FALSE"),
        Column("country_code", "VARCHAR"),  # ISO 3166 alpha-2 of country (io/normalise.py)
        Column("company_key", "VARCHAR"),  # NULL: the company is the domain; else see store/companies.py
    ),
    # a contact's association with a company record in a CRM (Salesforce Contact.AccountId, HubSpot
    # "Associated Company IDs", a Lead's Company naming one Account): its company records are these and
    # every record sharing its domain (store/companies.py)
    "contact_records": (
        Column("contact_id", "VARCHAR", "NOT NULL"),
        Column("record_id", "VARCHAR", "NOT NULL"),
        Column("link", "VARCHAR", "NOT NULL"),  # account | associated_company | lead_company
        Key(("contact_id", "record_id")),
    ),
    # the company records of a company_key: the records of its domain and its contacts' associations
    "company_members": (
        Column("company_key", "VARCHAR", "NOT NULL"),
        Column("record_id", "VARCHAR", "NOT NULL"),
        Key(("company_key", "record_id")),
    ),
    "company_records": (
        Column("record_id", "VARCHAR", "PRIMARY KEY", kind="id", required=True),
        Column("crm", "VARCHAR", "NOT NULL", kind="enum", required=True, choices=tuple(states.CRMS)),
        Column("crm_id", "VARCHAR", "NOT NULL", kind="id", required=True),
        Column("name", "VARCHAR", kind="text"),
        Column("website", "VARCHAR", kind="text"),
        Column("domain", "VARCHAR"),
        Column("is_customer", "BOOLEAN", "NOT NULL DEFAULT FALSE", kind="bool"),
        Column("industry", "VARCHAR", kind="text"),
        Column("employees", "INTEGER", kind="int"),
    ),
    "opportunities": (
        Column("opportunity_id", "VARCHAR", "PRIMARY KEY", kind="id", required=True),
        Column("crm", "VARCHAR", "NOT NULL", kind="enum", required=True, choices=tuple(states.CRMS)),
        Column("crm_id", "VARCHAR", "NOT NULL", kind="id"),
        Column("record_id", "VARCHAR", kind="id", required=True),
        Column("name", "VARCHAR", kind="text"),
        Column("stage", "VARCHAR", kind="text"),
        Column("is_closed", "BOOLEAN", "NOT NULL", kind="bool", required=True),
        Column("is_won", "BOOLEAN", "NOT NULL DEFAULT FALSE", kind="bool"),
        Column("close_date", "DATE", kind="date"),
        Column("amount", "DOUBLE", kind="num"),
        Column("created_at", "TIMESTAMP", kind="ts"),
    ),
    "enrollments": (
        Column("enrollment_id", "VARCHAR", "PRIMARY KEY", kind="id", required=True),
        Column("contact_id", "VARCHAR", "NOT NULL", kind="id", required=True),
        Column("play_id", "VARCHAR", kind="id"),
        Column("node_id", "VARCHAR", kind="id"),
        Column("sequence_id", "VARCHAR", "NOT NULL", kind="id", required=True),
        Column("state", "VARCHAR", "NOT NULL", kind="enum", required=True, choices=tuple(states.ENROLLMENT_STATES)),
        Column("completion_reason", "VARCHAR", kind="enum", choices=tuple(states.COMPLETION_REASONS)),
        Column("current_step", "INTEGER", "NOT NULL DEFAULT 0", kind="int"),
        Column("next_step_at", "TIMESTAMP", kind="ts"),
        Column("enrolled_at", "TIMESTAMP", kind="ts"),
        Column("updated_at", "TIMESTAMP", kind="ts"),
    ),
    "events": (
        Column("event_id", "VARCHAR", "PRIMARY KEY", kind="id", required=True),
        Column("occurred_at", "TIMESTAMP", "NOT NULL", kind="ts", required=True),
        Column("type", "VARCHAR", "NOT NULL", kind="enum", required=True, choices=tuple(states.EVENT_TYPES)),
        Column("contact_id", "VARCHAR", kind="id"),
        Column("email", "VARCHAR", kind="email"),
        Column("sequence_id", "VARCHAR", kind="id"),
        Column("enrollment_id", "VARCHAR", kind="id"),
        Column("step", "INTEGER", kind="int"),
        Column("source", "VARCHAR", kind="enum"),
        Column("actor", "VARCHAR", kind="text"),
        Column("text", "VARCHAR", kind="text"),
        Column("label", "VARCHAR", kind="text"),
        Column("detail", "VARCHAR", kind="text"),
    ),
    "execution_log": (
        Column("log_id", "VARCHAR", "PRIMARY KEY"),
        Column("at", "TIMESTAMP", "NOT NULL"),
        Column("contact_id", "VARCHAR", "NOT NULL"),
        Column("play_id", "VARCHAR"),
        Column("node_id", "VARCHAR"),
        Column("sequence_id", "VARCHAR"),
        Column("step", "INTEGER"),
        Column("outcome", "VARCHAR", "NOT NULL"),
        Column("blocking", "VARCHAR"),
        Column("settings_version", "INTEGER"),
    ),
    "settings_versions": (
        Column("version", "INTEGER", "PRIMARY KEY"),
        Column("created_at", "TIMESTAMP", "NOT NULL"),
        Column("effective_at", "TIMESTAMP", "NOT NULL"),
        Column("actor", "VARCHAR", "NOT NULL"),
        Column("note", "VARCHAR"),
        Column("document", "VARCHAR", "NOT NULL"),
    ),
    "settings_changes": (
        Column("change_id", "VARCHAR", "PRIMARY KEY"),
        Column("version", "INTEGER", "NOT NULL"),
        Column("object_type", "VARCHAR", "NOT NULL"),
        Column("object_id", "VARCHAR", "NOT NULL"),
        Column("field", "VARCHAR", "NOT NULL"),
        Column("before", "VARCHAR"),
        Column("after", "VARCHAR"),
        Column("actor", "VARCHAR", "NOT NULL"),
        Column("changed_at", "TIMESTAMP", "NOT NULL"),
        Column("effective_at", "TIMESTAMP", "NOT NULL"),
        Column("note", "VARCHAR"),
    ),
    "audit_log": (
        Column("audit_id", "VARCHAR", "PRIMARY KEY"),
        Column("at", "TIMESTAMP", "NOT NULL"),
        Column("actor", "VARCHAR", "NOT NULL"),
        Column("role", "VARCHAR"),
        Column("action", "VARCHAR", "NOT NULL"),
        Column("target", "VARCHAR"),
        Column("detail", "VARCHAR"),
        Column("wall_at", "TIMESTAMP"),  # the real (UTC) time beside the workspace clock "at"
    ),
    # the scheduler's outbox (scheduler/outbox.py): one row per enrollment and step, committed with the
    # tick before delivery; idempotency_key = enrollment_id:step
    "outbox": (
        Column("idempotency_key", "VARCHAR", "PRIMARY KEY"),
        Column("enrollment_id", "VARCHAR", "NOT NULL"),
        Column("step", "INTEGER", "NOT NULL"),
        Column("contact_id", "VARCHAR"),
        Column("email", "VARCHAR"),
        Column("sequence_id", "VARCHAR"),
        Column("subject", "VARCHAR"),
        Column("queued_at", "TIMESTAMP", "NOT NULL"),
        Column("status", "VARCHAR", "NOT NULL"),
        Column("attempts", "INTEGER", "NOT NULL DEFAULT 0"),
        Column("delivery_id", "VARCHAR"),
        Column("delivered_at", "TIMESTAMP"),
    ),
    "crm_writebacks": (
        Column("writeback_id", "VARCHAR", "PRIMARY KEY"),
        Column("at", "TIMESTAMP", "NOT NULL"),
        Column("crm", "VARCHAR", "NOT NULL"),
        Column("crm_object", "VARCHAR"),
        Column("crm_id", "VARCHAR"),
        Column("field", "VARCHAR", "NOT NULL"),
        Column("value", "VARCHAR"),
        Column("contact_id", "VARCHAR"),
        Column("email", "VARCHAR"),
        Column("event_id", "VARCHAR"),
        Column("status", "VARCHAR", "NOT NULL"),  # pending | sent (the CRM accepted it) | failed | done (by hand)
        # the connector's push (unify_dash/connectors/push.py): tries so far, the CRM's last error, when sent
        Column("attempts", "INTEGER"),
        Column("last_error", "VARCHAR"),
        Column("sent_at", "TIMESTAMP"),
    ),
    "jobs": (
        Column("job_id", "VARCHAR", "PRIMARY KEY"),
        Column("kind", "VARCHAR", "NOT NULL"),
        Column("created_at", "TIMESTAMP", "NOT NULL"),
        Column("actor", "VARCHAR", "NOT NULL"),
        Column("params", "VARCHAR"),
        Column("total", "INTEGER", "NOT NULL"),
        Column("done", "INTEGER", "NOT NULL DEFAULT 0"),
        Column("status", "VARCHAR", "NOT NULL"),
        Column("error", "VARCHAR"),
    ),
    "job_items": (
        Column("job_id", "VARCHAR", "NOT NULL"),
        Column("position", "INTEGER", "NOT NULL"),
        Column("item_id", "VARCHAR", "NOT NULL"),
        Key(("job_id", "position")),
    ),
}

# The record tables a workspace folder gives as files (contacts.csv, ...), in reading order; events is
# append-only history, the others are replaced by a load.
RECORD_FILES = ("contacts", "company_records", "opportunities", "enrollments", "events")
RECORD_TABLES = ("contacts", "company_records", "opportunities", "enrollments", "contact_records", "company_members")


def columns(table: str) -> list[Column]:
    """The table's columns (not the file-only ones), in order."""
    return [c for c in TABLES[table] if isinstance(c, Column) and c.table]


def names(table: str, *, without: tuple[str, ...] = ()) -> list[str]:
    return [c.name for c in columns(table) if c.name not in without]


def file_columns(table: str) -> list[Column]:
    """The columns a workspace file of ``table`` may have, in order."""
    return [c for c in TABLES[table] if isinstance(c, Column) and c.kind is not None]


# Tables written in bulk by a load (the record tables, replaced, and the events, appended): their keys are
# unique indexes (key_indexes) instead of PRIMARY KEY / UNIQUE constraints, so that a load inserts first and
# builds each key in one pass afterwards (maintaining a key row by row costs about three times as much).
# Uniqueness is the same: a duplicate key is refused, and ON CONFLICT (key) works on a unique index.
BULK_TABLES = (*RECORD_TABLES, "events")


def _keys(table: str) -> list[tuple[str, ...]]:
    """The key column lists of ``table``: its primary key, then each UNIQUE column."""
    out = [(c.name,) for c in TABLES[table] if isinstance(c, Column) and "PRIMARY KEY" in c.constraints]
    out += [c.columns for c in TABLES[table] if isinstance(c, Key)]
    out += [(c.name,) for c in TABLES[table] if isinstance(c, Column) and "UNIQUE" in c.constraints.split()]
    return out


def key_indexes(table: str) -> list[tuple[str, str]]:
    """(name, CREATE UNIQUE INDEX statement) of the keys of a bulk table (:data:`BULK_TABLES`); [] otherwise."""
    if table not in BULK_TABLES:
        return []
    return [(f"key_{table}_{'_'.join(cols)}",
             f"CREATE UNIQUE INDEX IF NOT EXISTS key_{table}_{'_'.join(cols)} ON {table}({', '.join(cols)})")
            for cols in _keys(table)]


# Secondary indexes: only where a query looks rows up by a constant (``WHERE col = ?``): DuckDB uses an ART
# index for such point look-ups, not for the hash joins, ``IN (SELECT ...)`` and ``OR`` filters (EXPLAIN), and
# a load builds each of them at its commit (about 1-2 s per million rows). (name, table, column, look-ups.)
SECONDARY_INDEXES: tuple[tuple[str, str, str, str], ...] = (
    ("idx_contacts_domain", "contacts", "domain", "explain's domain point, the bench's largest domain"),
    ("idx_records_domain", "company_records", "domain", "explain's records of a domain"),
    ("idx_opps_record", "opportunities", "record_id", "explain: the opportunities of a list of record ids"),
    ("idx_enrollments_contact", "enrollments", "contact_id", "explain, enrolment actions, the scheduler"),
    ("idx_events_email", "events", "email", "a contact's opt-out status (ledger), its history"),
    ("idx_log_contact", "execution_log", "contact_id", "diagnosis: a contact's log rows"),
)
# indexes an older version declared and no query uses (contact_records by record_id is only joined; events by
# contact_id only inside OR filters): dropped when a database is opened for writing
RETIRED_INDEXES = ("idx_links_record", "idx_events_contact")


def secondary_index_statements() -> list[str]:
    return [f"CREATE INDEX IF NOT EXISTS {name} ON {table}({column})" for name, table, column, _ in SECONDARY_INDEXES]


def _constraints(table: str, c: Column) -> str:
    if table not in BULK_TABLES:
        return c.constraints
    words = c.constraints.replace("PRIMARY KEY", "NOT NULL").split()  # a key column is never NULL
    return " ".join(w for w in words if w != "UNIQUE")


def ddl(table: str, *, without: tuple[str, ...] = (), bare: bool = False) -> str:
    """``CREATE TABLE`` body of ``table``; ``bare`` drops constraints (staging copies). The keys of a bulk
    table are not in it: they are :func:`key_indexes`."""
    parts = []
    for c in TABLES[table]:
        if isinstance(c, Key):
            if not bare and table not in BULK_TABLES:
                parts.append(f"PRIMARY KEY ({', '.join(_q(x) for x in c.columns)})")
        elif c.table and c.name not in without:
            constraints = "" if bare else _constraints(table, c)
            parts.append(f"{_q(c.name)} {c.type}" + (f" {constraints}" if constraints else ""))
    return ", ".join(parts)
