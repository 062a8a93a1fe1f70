"""Workspace folder -> DuckDB: all or nothing, every problem named by file, row and column.

The folder format is in ``docs/workspace-format.md``. A load:

1. reads ``workspace.yaml`` (optional; ``now:`` pins the workspace clock) and the settings
   (one document or one file per section, YAML or JSON; errors name the line of the item);
2. reads every record file with DuckDB into a temporary all-text table (``read_csv`` /
   ``read_parquet``; file names are parameters), numbering rows as a spreadsheet does (CSV:
   the header is row 1, the first record row 2; Parquet: the first record is row 1);
3. validates with set-based SQL: the pass that converts a file also computes every cell check (a bit per
   check; the text of a cell is kept only where a check fails), then the first bad rows of each; company
   records, contacts and opportunities are staged at once and their tables freed (peak memory: one file's
   table at a time, beside the enrollments' and events', which wait for the merged contacts);
4. stages CRM exports (:mod:`unify_dash.io.exports`) into the same shape, merges contacts by email,
   checks ids and references across files;
5. writes everything in one transaction: record tables are replaced, history is kept (events are
   upserted by ``event_id``), CRM opt-out flags become ``opt_out`` events, the settings become a
   version when they changed, the load is audited and the data generation bumped.

Any problem raises :class:`~unify_dash.errors.LoadError` and the database is exactly as before.
No per-row Python: a million contacts load in seconds.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from unify_dash.errors import LoadError, Problem, UnifyError, ValidationError
from unify_dash.io import documents, paths
from unify_dash.model import domains, identity, roles, settings_schema, states
from unify_dash.model import settings as settings_mod
from unify_dash.store import companies, db, ledger, schema

RECORD_FILES = schema.RECORD_FILES
DATA_EXTS = (".csv", ".parquet")
DOC_EXTS = (".yaml", ".yml", ".json")
WORKSPACE_FILES = tuple(f"workspace{e}" for e in DOC_EXTS)
SETTINGS_FILES = tuple(f"settings{e}" for e in DOC_EXTS)
SECTION_FILES = {f"{s}{e}": s for s in settings_mod.SECTIONS for e in DOC_EXTS}
CRM_FOLDERS = tuple(states.CRMS)  # a CRM export folder is named after its CRM

MAX_EXAMPLES = 3  # bad rows named per column and problem kind
MAX_PROBLEMS = 60  # problems collected before the load stops looking

Progress = Callable[[float, str], None]

# --- SQL helpers (temporary macros, created per load on the loading connection) -------------------

# Whitespace as Python's str.strip() sees it, so that SQL and domains.py agree.
_WS = r"[\s\v\x{1c}-\x{1f}\x{85}\p{Z}]"
# an offset is at most 14 hours (the widest real UTC offsets are -12:00 and +14:00), minutes below 60
_TS_RE = (r"^(\d{4}-\d{1,2}-\d{1,2})(?:[T ](\d{1,2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?))?"
          r"[ ]*([Zz]|[+-](?:0\d|1[0-4])(?::?[0-5]\d)?)?$")
# a number as written in a cell: digits, one decimal point, an optional exponent (no '_', no hex, no 'inf')
_NUM_RE = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
# the timestamps Python (and so every page and verb) can hold: years 1 to 9999, after any offset
_TS_MIN, _TS_MAX = "0001-01-01 00:00:00", "9999-12-31 23:59:59.999999"

# Each check has its full text form (``*_text``: the definition) and a fast path for the cells a file nearly
# always holds (an id without surrounding space, an empty or plain number), which gives exactly the same
# value and hands every other cell to the full form (tests/test_loader.py compares both on hostile text).
MACROS = [
    # exactly Python's str.strip(); a regex is also the fastest trim here
    f"CREATE OR REPLACE TEMP MACRO _ud_strip_text(s) AS regexp_replace(s, '^{_WS}+|{_WS}+$', '', 'g')",
    # fast: first and last characters printable ASCII (not a space): nothing to strip
    "CREATE OR REPLACE TEMP MACRO _ud_strip(s) AS CASE WHEN ascii(s) BETWEEN 33 AND 126 AND ascii(right(s, 1)) "
    "BETWEEN 33 AND 126 THEN s ELSE _ud_strip_text(s) END",
    "CREATE OR REPLACE TEMP MACRO _ud_blank(s) AS (s IS NULL OR _ud_strip(s) = '')",
    # ISO 8601 date or date-time, optional Z / +hh:mm / +hhmm / +hh offset -> naive UTC timestamp
    "CREATE OR REPLACE TEMP MACRO _ud_offset(z) AS CASE WHEN z IN ('', 'Z', 'z') THEN 0 ELSE "
    "(CASE WHEN z[1] = '-' THEN -1 ELSE 1 END) * (CAST(substr(replace(z, ':', ''), 2, 2) AS INTEGER) * 60 "
    "+ coalesce(try_cast(nullif(substr(replace(z, ':', ''), 4, 2), '') AS INTEGER), 0)) END",
    f"CREATE OR REPLACE TEMP MACRO _ud_ts_any(s) AS list_transform("
    f"[regexp_extract(_ud_strip(s), '{_TS_RE}', ['d', 't', 'z'])], "
    f"lambda p: CASE WHEN p.d <> '' THEN try_cast(p.d || ' ' || CASE WHEN p.t = '' THEN '00:00:00' ELSE p.t END "
    f"AS TIMESTAMP) - to_minutes(_ud_offset(p.z)) END)[1]",
    # fast path without an offset (DuckDB's own cast would ignore an offset, so those take the long way)
    r"CREATE OR REPLACE TEMP MACRO _ud_ts_unbounded(s) AS CASE WHEN regexp_full_match(s, "
    r"'\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?') THEN try_cast(s AS TIMESTAMP) "
    r"ELSE _ud_ts_any(s) END",
    # year 0 ('0001-01-01 (BC)') or 10000 (9999-12-31T23:00-02:00) would break every later read in Python
    "CREATE OR REPLACE TEMP MACRO _ud_ts(s) AS list_transform([_ud_ts_unbounded(s)], lambda v: CASE WHEN "
    f"v BETWEEN TIMESTAMP '{_TS_MIN}' AND TIMESTAMP '{_TS_MAX}' THEN v END)[1]",
    # a number whose text has a non-zero digit but whose value underflows to 0 (1e-400) or to a subnormal
    # (1e-310, digits lost) is not the number written: refused, like inf and nan
    "CREATE OR REPLACE TEMP MACRO _ud_num_text(s) AS list_transform([_ud_strip(s)], lambda t: CASE WHEN "
    f"regexp_full_match(t, '{_NUM_RE}') THEN list_transform([try_cast(t AS DOUBLE)], lambda v: CASE WHEN "
    "isfinite(v) AND (abs(v) >= 2.2250738585072014e-308 OR (v = 0 AND NOT regexp_matches("
    "regexp_extract(t, '^[^eE]*'), '[1-9]'))) THEN v END)[1] END)[1]",
    "CREATE OR REPLACE TEMP MACRO _ud_int_text(s) AS list_transform([_ud_num_text(s)], "
    "lambda v: CASE WHEN v = floor(v) AND v BETWEEN -2147483648 AND 2147483647 THEN CAST(v AS INTEGER) END)[1]",
    # fast: no cell, or plain digits (at most 15 + 15 for a number: always finite and normal; 9 for a whole
    # number: always within INTEGER)
    r"CREATE OR REPLACE TEMP MACRO _ud_num(s) AS CASE WHEN s IS NULL THEN NULL WHEN regexp_full_match(s, "
    r"'-?[0-9]{1,15}(\.[0-9]{1,15})?') THEN CAST(s AS DOUBLE) ELSE _ud_num_text(s) END",
    r"CREATE OR REPLACE TEMP MACRO _ud_int(s) AS CASE WHEN s IS NULL THEN NULL WHEN regexp_full_match(s, "
    r"'-?[0-9]{1,9}') THEN CAST(s AS INTEGER) ELSE _ud_int_text(s) END",
    "CREATE OR REPLACE TEMP MACRO _ud_bool(s) AS CASE lower(_ud_strip(s)) WHEN 'true' THEN TRUE "
    "WHEN '1' THEN TRUE WHEN 'yes' THEN TRUE WHEN 'false' THEN FALSE WHEN '0' THEN FALSE "
    "WHEN 'no' THEN FALSE END",
    # domains.normalize_domain, step by step (see the docstring there); NULL when not a domain
    "CREATE OR REPLACE TEMP MACRO _ud_domain_steps(s) AS list_transform(list_transform(list_transform("
    "[lower(_ud_strip(s))], "
    "lambda t: CASE WHEN contains(t, '@') AND NOT contains(t, '://') THEN regexp_extract(t, '[^@]*$') "
    "ELSE regexp_replace(t, '^[a-z][a-z0-9+.-]*://', '') END), "  # user@host -> host; drop the scheme
    "lambda u: trim(split_part(regexp_extract(regexp_extract(u, '^[^/?#]*'), '[^@]*$'), ':', 1), '.')), "
    "lambda y: list_transform([CASE WHEN starts_with(y, 'www.') THEN y[5:] ELSE y END], "
    "lambda z: CASE WHEN z <> '' AND contains(z, '.') AND NOT contains(z, ' ') THEN z END)[1])[1]",
    # fast path: a value that is already a bare lower-case host
    r"CREATE OR REPLACE TEMP MACRO _ud_domain(s) AS CASE WHEN regexp_full_match(s, '[a-z0-9-]+(\.[a-z0-9-]+)+') "
    r"AND NOT starts_with(s, 'www.') THEN s ELSE _ud_domain_steps(s) END",
    # domains.email_domain of a normalised (trimmed, lower-case) email
    r"CREATE OR REPLACE TEMP MACRO _ud_email_domain(e) AS CASE "
    r"WHEN regexp_full_match(e, '[^@\s]+@[a-z0-9-]+(\.[a-z0-9-]+)+') AND NOT contains(e, '@www.') "
    r"THEN split_part(e, '@', 2) "
    r"WHEN contains(e, '@') THEN _ud_domain_steps(regexp_extract(_ud_strip(e), '[^@]*$')) END",
    "CREATE OR REPLACE TEMP MACRO _ud_free(d) AS (d IN (SELECT domain FROM _ud_free_mail))",
    "CREATE OR REPLACE TEMP MACRO _ud_email_ok(e) AS regexp_full_match(e, '[^@\\s]+@[^@\\s]+')",
]


def install_sql_helpers(con: duckdb.DuckDBPyConnection) -> None:
    """Create the temporary SQL macros (and the free-mail table) the loader uses on ``con``."""
    con.execute("CREATE OR REPLACE TEMP TABLE _ud_free_mail AS SELECT unnest(?::VARCHAR[]) AS domain",
                [sorted(domains.FREE_MAIL_DOMAINS)])
    for statement in MACROS:
        con.execute(statement)


def sql_normalize_domain(con: duckdb.DuckDBPyConnection, values: list[str | None], *,
                         install: bool = True) -> list[str | None]:
    """The SQL twin of :func:`domains.normalize_domain` (used by the loader), for tests and checks."""
    if install:
        install_sql_helpers(con)
    rows = con.execute("SELECT _ud_domain(v) FROM unnest(?::VARCHAR[]) WITH ORDINALITY AS u(v, i) ORDER BY i",
                       [values]).fetchall()
    return [r[0] for r in rows]


def sql_company_domain(con: duckdb.DuckDBPyConnection, pairs: list[tuple[str | None, str | None]]) -> list:
    """The SQL twin of :func:`domains.company_domain` over ``(email, website)`` pairs."""
    install_sql_helpers(con)
    rows = con.execute(
        f"SELECT {pick_domain_sql('s', 'e')} FROM (SELECT i, _ud_domain(w) AS s, _ud_email_domain(m) AS e "
        "FROM (SELECT unnest(?::VARCHAR[]) AS m, unnest(?::VARCHAR[]) AS w, unnest(range(?)) AS i)) ORDER BY i",
        [[p[0] for p in pairs], [p[1] for p in pairs], len(pairs)]).fetchall()
    return [r[0] for r in rows]


def pick_domain_sql(site: str, email_dom: str) -> str:
    """SQL: the company domain from a normalised site domain and email domain (columns, not values):
    the site unless it is free mail, else the email domain unless it is free mail, else NULL."""
    return (f"CASE WHEN {site} IS NOT NULL AND NOT _ud_free({site}) THEN {site} "
            f"WHEN {email_dom} IS NOT NULL AND NOT _ud_free({email_dom}) THEN {email_dom} END")


# --- column specifications -------------------------------------------------------------------------

# kinds whose check needs the cell's text (an empty cell and a bad one both convert to NULL)
_RAW_KINDS = ("bool", "ts", "date", "int", "num")

SQL_TYPES = {"id": "VARCHAR", "idlist": "VARCHAR", "text": "VARCHAR", "email": "VARCHAR", "enum": "VARCHAR",
             "bool": "BOOLEAN", "ts": "TIMESTAMP", "date": "DATE", "int": "INTEGER", "num": "DOUBLE"}

_EXPECT = {
    "bool": ("a boolean", "expected true/false, 1/0 or yes/no"),
    "ts": ("a date/time", "expected ISO 8601 such as 2026-11-02 or 2026-11-02T09:30:00 (Z or an offset such as "
                          "+01:00, at most 14 hours, allowed; years 1 to 9999)"),
    "date": ("a date", "expected ISO 8601 such as 2026-11-02 (years 1 to 9999)"),
    "int": ("a whole number", "expected a whole number such as 250"),
    "num": ("a number", "expected a number such as 1500 or 1500.50 (no currency sign, no thousands separator, "
                        "not so small that it is stored as 0)"),
    "email": ("an email address", "expected an address such as name@example.com"),
}


@dataclass(frozen=True)
class Col:
    """One column of an input file.

    ``need``: ``"value"`` = the header must have it and every row a value; ``"column"`` = the
    header must have it (values may be empty); ``None`` = optional. ``aliases`` are the header
    names accepted (case-insensitive; the first non-empty one wins), default ``(name,)``.
    """

    name: str
    kind: str = "text"
    need: str | None = None
    aliases: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()

    @property
    def headers(self) -> tuple[str, ...]:
        return self.aliases or (self.name,)


def _cols(spec: str, **extra: Col) -> list[Col]:
    """Compact column lists: ``"*contact_id:id *email:email first_name ..."`` (``*`` = required)."""
    out = []
    for item in spec.split():
        need = "value" if item.startswith("*") else None
        name, _, kind = item.lstrip("*").partition(":")
        out.append(extra.get(name) or Col(name, kind or "text", need))
    return out


WORKSPACE_COLUMNS: dict[str, list[Col]] = {
    table: [Col(c.name, c.kind, "value" if c.required else None, choices=c.choices) for c in schema.file_columns(table)]
    for table in schema.RECORD_FILES
}

# --- staging tables: every source (workspace file or CRM export) lands in these -------------------

STAGING = {
    "_ud_stg_records": schema.ddl("company_records", bare=True) + ", _file VARCHAR, _row BIGINT, _col VARCHAR",
    "_ud_stg_opps": schema.ddl("opportunities", bare=True)
    + ", _file VARCHAR, _row BIGINT, _col VARCHAR, _ref_col VARCHAR",
    # domain: the company domain this source gives the contact (see pick_domain_sql)
    "_ud_stg_contacts": schema.ddl("contacts", without=("is_free_mail",), bare=True)
    + ", _prio INTEGER, _file VARCHAR, _row BIGINT, _col VARCHAR",
    # a contact's CRM associations with company records, by email (io.exports)
    "_ud_stg_links": "email VARCHAR, record_id VARCHAR, link VARCHAR, _file VARCHAR, _row BIGINT",
}

# the columns a staging insert of contacts gives, in this order (the workspace's file and the CRM exports)
STG_CONTACT_COLS = ("contact_id", "email", "first_name", "last_name", "title", "country", "email_domain", "domain",
                    "sf_contact_id", "sf_lead_id", "hs_contact_id", "sf_email_opt_out", "sf_do_not_email",
                    "hs_opt_out", "last_contacted_at", "job_changed_at", "created_at", "_prio", "_file", "_row",
                    "_col", "email_bounced", "country_code")
STG_CONTACTS_INSERT = f"INSERT INTO _ud_stg_contacts ({', '.join(STG_CONTACT_COLS)})"

# contact sources, best first: a merged contact takes each value from the best source that has one
PRIO_WORKSPACE, PRIO_SF_CONTACT, PRIO_SF_LEAD, PRIO_HS_CONTACT = 0, 1, 2, 3


# --- reading files -----------------------------------------------------------------------------------


@dataclass
class Raw:
    """A file ready to read: its header, and SQL selecting ``c0, c1, ...`` (all text) from it, after ``_row`` for a
    Parquet file (its row number); a CSV file's rows are numbered once read (:meth:`Loading.numbered`)."""

    label: str
    headers: list[str]
    columns: dict[str, str]  # lower-case header -> c<i>
    fmt: str
    source: str  # SQL (a SELECT) with one parameter, the path
    path: str

    @property
    def header_row(self) -> int | None:
        return 1 if self.fmt == "csv" else None


@dataclass
class Typed:
    """Validated, converted values of a file: ``table`` (to read) has ``_row`` and one column per :class:`Col`
    (NULL when the file does not have it); ``data`` is the temporary table that holds them (to change), the same
    table for a Parquet file; a CSV file's ``table`` is a view of ``data`` numbering its rows (:meth:`Loading.numbered`)."""

    label: str
    table: str
    present: dict[str, str]  # column name -> header name used (for messages)
    rows: int
    data: str = ""

    def __post_init__(self) -> None:
        self.data = self.data or self.table

    def header(self, name: str) -> str:
        return self.present.get(name, name)


_CSV_ERROR = re.compile(r"CSV Error on Line: (\d+)")


def _csv_reason(message: str) -> str:
    if "Invalid unicode" in message:
        return "the text is not valid UTF-8 (wrong encoding?); expected UTF-8: save the file as 'CSV UTF-8'"
    m = re.search(r"Expected Number of Columns: (\d+) Found: (\d+)", message)
    if m:
        return f"expected {m.group(1)} values as in the header row, found {m.group(2)}"
    if "unterminated quote" in message:
        return 'a quoted value is not closed (a " is missing)'
    lines = [ln.strip() for ln in message.splitlines() if ln.strip()]
    for i, ln in enumerate(lines):
        if ln.startswith("Original Line") and i + 1 < len(lines):
            return lines[i + 1]
    return lines[0] if lines else message


_MAX_CSV_VALUE = 2_097_152  # the longest value read (DuckDB's max_line_size), also when Python re-writes a file


def _line_ends_regular(path: Path) -> bool:
    """True when the file has no CR at all, or every CR is the start of a CRLF and every LF the end of one."""
    cr = lf = crlf = 0
    last = b""
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 22):
            cr, lf, crlf = cr + chunk.count(b"\r"), lf + chunk.count(b"\n"), crlf + chunk.count(b"\r\n")
            crlf += last == b"\r" and chunk[:1] == b"\n"
            last = chunk[-1:]
    return cr == 0 or cr == lf == crlf


def _decode_problem(data: bytes, label: str) -> Problem | None:
    """Encoding problems DuckDB would report vaguely: UTF-16 and invalid UTF-8 in the first line."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"\x00" in data[:4096]:
        return Problem(label, 1, None, "the file is UTF-16 (or binary), not text in UTF-8; "
                                       "expected UTF-8: save the file as 'CSV UTF-8'")
    first = data.split(b"\n", 1)[0]
    try:
        codecs.getincrementaldecoder("utf-8")().decode(first, final=False)
    except UnicodeDecodeError as err:
        return Problem(label, 1, None, f"byte 0x{first[err.start]:02x} is not valid UTF-8 (Latin-1 or Windows "
                                       "encoding?); expected UTF-8: save the file as 'CSV UTF-8'")
    return None


# --- settings documents -------------------------------------------------------------------------------
# Reading is unify_dash.io.documents (YAML 1.2, bounded, no aliases, duplicate keys refused); the
# schema is unify_dash.model.settings_schema.


def _read_text(path: Path, label: str) -> tuple[str | None, Problem | None]:
    if path.stat().st_size > documents.MAX_DOCUMENT_BYTES:
        return None, Problem(label, None, None, f"the file is {path.stat().st_size:,} bytes; at most "
                                                f"{documents.MAX_DOCUMENT_BYTES:,} bytes (1 MiB) are read")
    data = path.read_bytes()
    if not data.strip(b" \t\r\n\xef\xbb\xbf"):
        return None, Problem(label, None, None, "the file is empty; expected a YAML or JSON document")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"\x00" in data[:4096]:
        return None, Problem(label, 1, None, "the file is UTF-16 (or binary); expected UTF-8 text")
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as err:
        line = data[:err.start].count(b"\n") + 1
        return None, Problem(label, line, None, f"byte 0x{data[err.start]:02x} on line {line} is not valid UTF-8; "
                                                "expected UTF-8 text")


Doc = documents.Doc
parse_document = documents.parse_document
node_line = documents.node_line


# --- the load --------------------------------------------------------------------------------------


class StopLoading(Exception):
    """Raised internally once enough problems are collected."""


class Loading:
    """One load in progress: the connection, the problems found, the temporary tables made.

    :mod:`unify_dash.io.exports` stages exports through :meth:`read` and :meth:`typed`.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, folder: Path, actor: roles.Actor,
                 progress: Progress | None, root: Path | None = None):
        self.con = con
        # the row numbers of a CSV file are its rows' rowids (numbered): they follow the file only in insertion order
        con.execute("SET preserve_insertion_order = true")
        self.folder = folder
        self.root = root  # files resolving outside it are refused unread (None: no confinement)
        self._scratch: Path | None = None  # re-written copies of CSV files (see _regular_csv)
        self.actor = actor
        self._progress = progress
        self.problems: list[Problem] = []
        self.warnings: list[str] = []
        self.sources: dict[str, int] = {}
        self.crm_typed: dict[tuple[str, str], Typed] = {}
        self.settings: settings_mod.Settings | None = None
        self._temps: list[str] = []
        self._views: set[str] = set()  # of the temps
        self._n = 0
        self.merged_view = False  # _ud_merged is a view of _ud_stg_contacts (see merge_contacts)
        self.deferred_indexes: list[tuple[str, str]] = []  # (name, CREATE statement): built after the commit

    # -- plumbing ----------------------------------------------------------------------------------
    def progress(self, fraction: float, message: str) -> None:
        if self._progress is not None:
            self._progress(min(max(fraction, 0.0), 1.0), message)

    def problem(self, file: str, row: int | None, column: str | None, message: str) -> None:
        self.problems.append(Problem(file, row, column, message))
        if len(self.problems) >= MAX_PROBLEMS:
            raise StopLoading

    def fatal(self, file: str, row: int | None, column: str | None, message: str) -> None:
        """A problem after which nothing more can be checked (DuckDB refused a statement, which ends the
        transaction): stop now with the problems found so far."""
        self.problems.append(Problem(file, row, column, message))
        raise StopLoading

    def check(self) -> None:
        """Stop the load (nothing written) when problems were found."""
        if self.problems:
            raise LoadError(self.problems, self.warnings)

    def sql(self, query: str, params: list | None = None):
        return self.con.execute(query, params or [])

    def temp(self, prefix: str) -> str:
        self._n += 1
        name = f"_ud_{prefix}_{self._n}"
        self._temps.append(name)
        return name

    def done_with(self, typed: Typed) -> None:
        """Free a typed table once it is staged (keeps peak memory near one copy of the data)."""
        self._drop(typed.table)
        self._drop(typed.data)

    def _drop(self, name: str) -> None:
        self.con.execute(f"DROP {'VIEW' if name in self._views else 'TABLE'} IF EXISTS {db.ident(name)}")

    def confined(self, path: Path, label: str) -> bool:
        """Whether ``path`` may be read: always without a root, else only when it resolves inside the root.
        A refusal is a problem naming the file only (it is never opened, so nothing of it is shown). The
        load's own scratch copies (a ZIP member, a transcoded file) are always readable."""
        if self.root is None or paths.is_inside(path, self.root) or (
                self._scratch is not None and paths.is_inside(path, self._scratch.resolve())):
            return True
        self.problem(label, None, None, "is a link to a file or folder outside the workspace root; it was not "
                                        "read: expected a file inside the workspace root (copy it in instead)")
        return False

    def scratch(self) -> Path:
        if self._scratch is None:
            self._scratch = Path(tempfile.mkdtemp(prefix="unify-load-"))
        return self._scratch

    def cleanup(self) -> None:
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    def drop_temps(self) -> None:
        for name in reversed(self._temps):
            self._drop(name)
        for name in (*STAGING, "_ud_free_mail"):
            self.con.execute(f"DROP TABLE IF EXISTS {db.ident(name)}")
        self._temps.clear()

    # -- reading ------------------------------------------------------------------------------------
    def read(self, path: Path, label: str) -> Raw | None:
        """Check a CSV or Parquet file's header and encoding and prepare the SQL that reads it as text
        (``None`` + problems when it cannot be read). :meth:`typed` does the reading."""
        if not self.confined(path, label):
            return None
        if path.suffix.lower() == ".parquet":
            return self._read_parquet(path, label)
        with open(path, "rb") as fh:  # only the start: the header and the encoding (DuckDB reads the rest)
            data = fh.read(1 << 16)
        if not data.strip(b" \t\r\n\xef\xbb\xbf"):
            self.problem(label, None, None, "the file is empty; expected a header row and records")
            return None
        bad = _decode_problem(data, label)
        if bad:
            self.problem(bad.file, bad.row, bad.column, bad.message)
            return None
        text = codecs.getincrementaldecoder("utf-8-sig")().decode(data.split(b"\n", 1)[0], final=False)
        try:
            headers = [h.strip() for h in next(csv.reader(io.StringIO(text, newline="")))]  # any line end
        except (csv.Error, StopIteration) as err:
            self.problem(label, 1, None, f"cannot read the header row: {err}")
            return None
        seen: dict[str, int] = {}
        for i, h in enumerate(headers):
            if h and h.lower() in seen:
                self.problem(label, 1, h, f"the header names column {h!r} twice (columns {seen[h.lower()] + 1} "
                                          f"and {i + 1}); expected each column once")
            seen.setdefault(h.lower(), i)
        # columns: a struct literal of generated names c0, c1, ... (never the file's header text)
        columns = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(headers))) + "}"
        source = ("SELECT * FROM read_csv(?, header = true, auto_detect = false, "  # no _row: see Loading.numbered
                  f"columns = {columns}, delim = ',', quote = '\"', escape = '\"', strict_mode = true, "
                  "encoding = 'utf-8')")
        regular = self._regular_csv(path, label)
        return None if regular is None else self._raw(label, headers, "csv", source, regular)

    def _regular_csv(self, path: Path, label: str) -> Path | None:
        """``path`` when every line ends alike (all LF or all CRLF, no bare CR): DuckDB's strict reader reads
        those exactly. Otherwise (mixed CRLF/LF, a bare CR inside a quoted value, old Mac CR lines) a copy
        with CRLF line ends written by Python's csv module, every value kept as written (quoted line breaks
        included), or ``None`` + a problem when the file is not valid CSV."""
        if _line_ends_regular(path):
            return path
        fd, name = tempfile.mkstemp(suffix=".csv", dir=self.scratch())
        os.close(fd)
        target = Path(name)
        csv.field_size_limit(max(csv.field_size_limit(), _MAX_CSV_VALUE))
        with open(path, encoding="utf-8-sig", newline="") as src, open(target, "w", encoding="utf-8",
                                                                        newline="") as dst:
            reader = csv.reader(src, strict=True)
            try:
                csv.writer(dst, lineterminator="\r\n").writerows(reader)
            except csv.Error as err:
                text = str(err)
                reason = ('a quoted value is not closed (a " is missing)' if "end of data" in text else
                          'a " inside a quoted value must be doubled ("")' if "expected after" in text else text)
                self.problem(label, reader.line_num or None, None, reason)
                return None
            except UnicodeDecodeError as err:
                self.problem(label, reader.line_num + 1, None, f"byte 0x{err.object[err.start]:02x} is not valid "
                             "UTF-8 (Latin-1 or Windows encoding?); expected UTF-8: save the file as 'CSV UTF-8'")
                return None
        return target

    def _read_parquet(self, path: Path, label: str) -> Raw | None:
        with open(path, "rb") as fh:
            head = fh.read(4)
            fh.seek(max(path.stat().st_size - 4, 0))
            tail = fh.read(4)
        if head != b"PAR1" or tail != b"PAR1" or path.stat().st_size < 12:
            self.problem(label, None, None, "this is not a Parquet file (no PAR1 marker); expected a Parquet file")
            return None
        try:
            described = self.con.execute("DESCRIBE SELECT * FROM read_parquet(?)",
                                         [paths.duckdb_literal(path)]).fetchall()
        except duckdb.Error as err:  # the transaction is unusable after an error: stop here
            first = str(err).splitlines()[0]
            self.fatal(label, None, None, f"cannot read the file as Parquet ({first}); expected a Parquet file")
        headers = [d[0] for d in described]
        parts = []
        for i, (_, typ, *_rest) in enumerate(described):
            expr = f"#{i + 1}"
            if "WITH TIME ZONE" in str(typ).upper():
                expr = f"timezone('UTC', {expr})"
            parts.append(f"CAST({expr} AS VARCHAR) AS c{i}")
        source = (f"SELECT file_row_number + 1 AS _row, {', '.join(parts) or 'NULL AS c0'} "
                  "FROM read_parquet(?, file_row_number = true)")
        return self._raw(label, headers, "parquet", source, path)

    def _raw(self, label: str, headers: list[str], fmt: str, source: str, path: Path) -> Raw:
        columns: dict[str, str] = {}
        for i, h in enumerate(headers):
            if h:
                columns.setdefault(h.lower(), f"c{i}")
        return Raw(label, headers, columns, fmt, source, paths.duckdb_literal(path))

    # -- validation + conversion ----------------------------------------------------------------------
    def typed(self, raw: Raw, cols: list[Col], *, warn_unknown: bool = False) -> Typed | None:
        """Check every value of ``raw`` against ``cols`` in one pass; convert into a temporary table."""
        found: dict[str, list[tuple[str, str]]] = {}  # col -> [(raw column, header)]
        missing = False
        for col in cols:
            hits = [(raw.columns[h.lower()], raw.headers[int(raw.columns[h.lower()][1:])])
                    for h in col.headers if h.lower() in raw.columns]
            if hits:
                found[col.name] = hits
            elif col.need:
                missing = True
                names = " or ".join(repr(h) for h in col.headers)
                required = [c.headers[0] for c in cols if c.need]
                self.problem(raw.label, raw.header_row, col.headers[0],
                             f"missing required column {names}; expected columns including "
                             f"{', '.join(required)} (the file has: {', '.join(h for h in raw.headers if h) or 'none'})")
        if warn_unknown:
            known = {h.lower() for c in cols for h in c.headers}
            extra = [h for h in raw.headers if h and h.lower() not in known]
            if extra:
                self.warnings.append(f"{raw.label}: column(s) {', '.join(extra)} not used")
        if missing:
            return None

        # One pass over the file, on every thread (a CSV file's rows are numbered afterwards, by Loading.numbered: a
        # window here would run the whole statement on one thread), converts every column and computes every
        # cell check as a bit of _bad<k> (the checks cost no second scan); a cell's text is kept next to its
        # value only in the rows where a check fails and shows that text (the problem names it).
        checks = _cell_checks(cols, found)
        flags = [f"coalesce({chk.bad}, false) AS _b{i}" for i, chk in enumerate(checks)]
        params = [p for chk in checks for p in chk.params]
        shown = {c for chk in checks for c in chk.raw}
        keep = [f"CASE WHEN {' OR '.join(f'_b{i}' for i, chk in enumerate(checks) if c in chk.raw)} THEN {c} END "
                f"AS {c}" for c in sorted(shown, key=lambda c: int(c[1:]))]
        values, texts = [], sorted({c for hits in found.values() for c, _ in hits}, key=lambda c: int(c[1:]))
        for col in cols:
            hits = found.get(col.name)
            if not hits:
                values.append(f"CAST(NULL AS {SQL_TYPES[col.kind]}) AS {db.ident(col.name)}")
                continue
            convs = [_conv(col.kind, c) for c, _ in hits]
            values.append(f"{convs[0] if len(convs) == 1 else f'coalesce({chr(44).join(convs)})'} AS {db.ident(col.name)}")
        names = [db.ident(col.name) for col in cols]
        words = [" + ".join(f"CASE WHEN _b{i} THEN {1 << (i % _BITS)}::BIGINT ELSE 0 END"
                            for i in range(k, min(k + _BITS, len(checks)))) + f" AS _bad{k // _BITS}"
                 for k in range(0, len(checks), _BITS)]
        data = self.temp("typed")
        row = ["_row"] if raw.fmt != "csv" else []
        try:
            self.con.execute(
                f"CREATE TEMP TABLE {db.ident(data)} AS SELECT {', '.join([*row, *keep, *names, *words])} "
                f"FROM (SELECT *, {', '.join(flags) or 'NULL AS _b'} FROM (SELECT {', '.join([*row, *texts, *values])} "
                f"FROM ({raw.source})))", [*params, raw.path])
        except duckdb.Error as err:  # the transaction is unusable after an error: stop here
            message = str(err)
            m = _CSV_ERROR.search(message)
            self.fatal(raw.label, int(m.group(1)) if m and raw.fmt == "csv" else None, None,
                       _csv_reason(message) if raw.fmt == "csv" else message.splitlines()[0])
        table, at = data, f"{db.ident(data)}._row"
        if not row:
            table, data, at = self.numbered(data)
        rows = self.con.execute(f"SELECT count(*) FROM {db.ident(data)}").fetchone()[0]
        self.sources[raw.label] = rows
        for col in cols:  # email identity: one normal form; hidden characters refused
            if col.kind == "email" and found.get(col.name):
                fixed = _identity_pass(self, raw.label, table, data, at, col.name, found[col.name][0][1])
                _recheck(self.con, data, at, checks, col.name, fixed)  # checks on the changed values, again
        self._report_cells(raw.label, table, checks, rows)
        if any(p.file == raw.label for p in self.problems):
            return None
        return Typed(raw.label, table, {n: h[0][1] for n, h in found.items()}, rows, data)

    def numbered(self, data: str) -> tuple[str, str, str]:
        """A CSV file's rows numbered: ``(table, data, at)``, ``table`` reads the rows of ``data`` (its data rows,
        written by one statement in file order) with ``_row``, the row's line in the file (the header is line 1;
        a quoted line break does not count), and ``at`` is SQL for that number in a statement changing ``data``.

        Without a window (which would run the file's whole typed pass on one thread): DuckDB keeps insertion
        order, so the rowids of a table written by one ``CREATE TABLE AS`` follow the file on every thread, in one
        run that starts at a transaction-local offset inside a transaction (not 0), and an ``UPDATE`` or
        ``DELETE`` leaves the other rows' rowids as they are (``tests/test_load_fast.py`` guards all three; an ``UPDATE``
        of a LIST column would move its row to a new rowid in DuckDB 2.0: the typed columns are all scalar);
        ``table`` is then a view, ``rowid`` minus the first rowid plus 2. Rowids that are not one run (never
        seen) are numbered instead into a copy, by ``row_number()`` in rowid order."""
        first, last, n = self.con.execute(f"SELECT min(rowid), max(rowid), count(*) FROM {db.ident(data)}").fetchone()
        if not n or last - first + 1 == n:
            view = self.temp("typed")
            self._views.add(view)
            at = f"({db.ident(data)}.rowid - {int(first or 0)} + 2)"
            self.con.execute(f"CREATE TEMP VIEW {db.ident(view)} AS SELECT {at} AS _row, * FROM {db.ident(data)}")
            return view, data, at
        copy = self.temp("typed")
        self.con.execute(f"CREATE TEMP TABLE {db.ident(copy)} AS SELECT row_number() OVER (ORDER BY rowid) + 1 AS _row, "
                         f"* FROM {db.ident(data)}")
        self._drop(data)
        return copy, copy, f"{db.ident(copy)}._row"

    def _report_cells(self, label: str, table: str, checks: list[_Check], rows: int) -> None:
        """The failed cell checks of a typed table (its _bad<k> bits): the first rows of each, and how many."""
        if not checks or not rows:
            return
        tbl = db.ident(table)
        any_bad = " OR ".join(f"_bad{k} <> 0" for k in range((len(checks) + _BITS - 1) // _BITS))
        counts = self.con.execute(f"SELECT {', '.join(f'count(*) FILTER (WHERE {_bit(i)})' for i in range(len(checks)))} "
                                  f"FROM {tbl} WHERE {any_bad}").fetchone()
        for i, (chk, n) in enumerate(zip(checks, counts, strict=True)):
            if not n:
                continue
            examples = self.con.execute(
                f"SELECT _row, {chk.show} FROM {tbl} WHERE {_bit(i)} ORDER BY _row LIMIT {MAX_EXAMPLES}").fetchall()
            for j, (row, value) in enumerate(examples):
                more = f" ({n - len(examples)} more rows like this)" if j == len(examples) - 1 and n > len(
                    examples) else ""
                self.problem(label, row, chk.header,
                             _bad_message(chk.col, "empty" if chk.empty else chk.col.kind, value) + more)

    def duplicates(self, table: str, key: str, *, file: str | None = None, column: str | None = None,
                   where: str = "TRUE", what: str = "id") -> None:
        """Report rows of ``table`` sharing ``key`` (SQL over its columns), naming both rows.

        Staging tables carry ``_file``/``_row``/``_col``; for a typed table of one file pass ``file`` and
        ``column`` (the header name).
        """
        tbl = db.ident(table)
        file_sql, col_sql, params = "_file", "_col", []
        if file is not None:
            file_sql, params = "?", [file]
        if column is not None:
            col_sql, params = "?", [*params, column]
        keys = self.con.execute(
            f"""SELECT k FROM (SELECT {key} AS k, _row FROM {tbl} WHERE {where}) WHERE k IS NOT NULL
                GROUP BY k HAVING count(*) > 1 ORDER BY min(_row) LIMIT {MAX_EXAMPLES * 2}""").fetchall()
        if not keys:
            return
        rows = self.con.execute(
            f"""SELECT k, list(struct_pack(f := {file_sql}, r := _row, c := {col_sql}) ORDER BY _row)[1:2], count(*)
                FROM (SELECT *, {key} AS k FROM {tbl} WHERE {where}) WHERE list_contains(?::VARCHAR[], k)
                GROUP BY k ORDER BY min(_row)""", [*params, [k for (k,) in keys]]).fetchall()
        for k, (first, second), n in rows:
            also = f"row {first['r']}" if first["f"] == second["f"] else f"{first['f']} row {first['r']}"
            extra = f" and {n - 2} more rows" if n > 2 else ""
            self.problem(second["f"], second["r"], second["c"],
                         f"duplicate {what} {k!r}: also on {also}{extra}; expected each {what} once")

    def bad_refs(self, typed: Typed, column: str, condition: str, params: list, message: Callable[[Any], str]) -> None:
        """Report the first rows of ``typed`` where ``condition`` (SQL, true = bad) holds."""
        tbl = db.ident(typed.table)
        n = self.con.execute(f"SELECT count(*) FROM {tbl} t WHERE {condition}", params).fetchone()[0]
        if not n:
            return
        rows = self.con.execute(f"SELECT _row, {db.ident(column)} FROM {tbl} t WHERE {condition} "
                                f"ORDER BY _row LIMIT {MAX_EXAMPLES}", params).fetchall()
        for i, (row, value) in enumerate(rows):
            more = f" ({n - len(rows)} more rows like this)" if i == len(rows) - 1 and n > len(rows) else ""
            self.problem(typed.label, row, typed.header(column), message(value) + more)


def _identity_pass(ld: Loading, label: str, table: str, data: str, at: str, column: str, header: str) -> list[int]:
    """Emails beyond printable ASCII (few) go through :func:`identity.normalize_email` in Python: NFKC,
    IDN domains to punycode; hidden (control, zero-width, bidi) characters are a problem naming the
    file, row and column; mixed-script look-alikes are a warning naming the row. Reads ``table``, changes ``data`` (where
    ``at`` is a row's number: :meth:`Loading.numbered`). Returns the rows whose value it changed."""
    tbl, col = db.ident(table), db.ident(column)
    odd = ld.con.execute(f"SELECT _row, {col} FROM {tbl} WHERE regexp_matches({col}, '[^\x20-\x7e]') "
                         "ORDER BY _row").fetchall()
    fixed = []
    for row, value in odd:
        try:
            normal = identity.normalize_email(value)
        except ValidationError as err:
            ld.problem(label, row, header, str(err))
            continue
        fixed.append((row, normal))
        why = identity.look_alike(normal)
        if why:
            ld.warnings.append(f"{label} row {row}, column {header}: {normal!r} {why}")
    if fixed:
        ld.con.execute(f"UPDATE {db.ident(data)} SET {col} = f.v FROM (SELECT unnest(?::BIGINT[]) AS r, "
                       f"unnest(?::VARCHAR[]) AS v) f WHERE {at} = f.r",
                       [[r for r, _ in fixed], [v for _, v in fixed]])
    return [r for r, _ in fixed]


_BITS = 62  # cell checks per BIGINT column _bad<k> of a typed table


@dataclass(frozen=True)
class _Check:
    """One cell check of a file's column: ``bad`` (SQL, true = a problem) over the converted values (by name)
    and the cells' text (``c<i>``), ``show`` the SQL of the value a problem names, ``raw`` the text columns it
    shows, ``on``: the converted column it reads (checked again when the identity pass changes that column)."""

    col: Col
    header: str
    show: str
    empty: bool
    bad: str
    params: tuple = ()
    raw: tuple[str, ...] = ()
    on: str | None = None


def _bit(i: int) -> str:
    return f"(_bad{i // _BITS} & {1 << (i % _BITS)}) <> 0"


def _cell_checks(cols: list[Col], found: dict[str, list[tuple[str, str]]]) -> list[_Check]:
    """Every cell check of a file: required values, then each kind's own (a boolean, a date, a number whose
    text does not convert; an email that is not one; a value outside an enum's choices)."""
    checks: list[_Check] = []
    for col in cols:
        hits = found.get(col.name)
        if not hits:
            continue
        name = db.ident(col.name)
        with_text = col.kind in _RAW_KINDS or len(hits) > 1  # an empty cell and a bad one both convert to NULL
        if col.need == "value":
            if with_text:
                checks.append(_Check(col, hits[0][1], hits[0][0], True, " AND ".join(f"_ud_blank({c})" for c, _ in hits),
                                     raw=(hits[0][0],)))
            else:
                checks.append(_Check(col, hits[0][1], name, True, f"{name} IS NULL", on=col.name))
        for c, h in hits:
            single = len(hits) == 1
            value = name if single else _conv(col.kind, c)
            raw, on = ((), col.name) if single else ((c,), None)
            if col.kind in _RAW_KINDS:
                checks.append(_Check(col, h, c, False, f"(NOT _ud_blank({c}) AND {value} IS NULL)", raw=(c,)))
            elif col.kind == "email":
                checks.append(_Check(col, h, value, False, f"({value} IS NOT NULL AND NOT _ud_email_ok({value}))",
                                     raw=raw, on=on))
            elif col.kind == "enum" and col.choices:
                checks.append(_Check(col, h, value, False,
                                     f"({value} IS NOT NULL AND NOT list_contains(?::VARCHAR[], {value}))",
                                     (list(col.choices),), raw=raw, on=on))
    return checks


def _recheck(con: duckdb.DuckDBPyConnection, data: str, at: str, checks: list[_Check], column: str,
             rows: list[int]) -> None:
    """The checks reading ``column``, computed again in ``rows`` (whose values the identity pass changed): ``at`` is
    the SQL of a row's number in ``data`` (:meth:`Loading.numbered`)."""
    if not rows:
        return
    for i, chk in enumerate(checks):
        if chk.on != column:
            continue
        word, bit = f"_bad{i // _BITS}", 1 << (i % _BITS)
        con.execute(f"UPDATE {db.ident(data)} SET {word} = {word} - ({word} & {bit}) + CASE WHEN coalesce({chk.bad}, "
                    f"false) THEN {bit} ELSE 0 END WHERE list_contains(?::BIGINT[], {at})", [*chk.params, rows])


def _conv(kind: str, x: str) -> str:
    if kind == "id":
        return f"nullif(_ud_strip({x}), '')"
    if kind == "idlist":  # "123;456" -> "123" (the first id)
        return (f"list_filter(list_transform(regexp_split_to_array({x}, '[;,]'), lambda v: _ud_strip(v)), "
                f"lambda v: v <> '')[1]")
    if kind == "text":  # exactly as written: only an empty cell is no value (whitespace is kept)
        return f"nullif({x}, '')"
    if kind in ("email", "enum"):
        return f"nullif(lower(_ud_strip({x})), '')"
    if kind == "bool":
        return f"_ud_bool({x})"
    if kind == "ts":
        return f"_ud_ts({x})"
    if kind == "date":
        return f"CAST(_ud_ts({x}) AS DATE)"
    if kind == "int":
        return f"_ud_int({x})"
    if kind == "num":
        return f"_ud_num({x})"
    raise ValueError(kind)


def _show(value: Any) -> str:
    text = str(value)
    return repr(text if len(text) <= 80 else text[:77] + "...")


def _bad_message(col: Col, what: str, value: Any) -> str:
    if what == "empty":
        return "is empty; a value is required"
    if col.kind == "enum":
        return f"{_show(value)} is not a valid {col.name}; expected one of {', '.join(col.choices)}"
    noun, expect = _EXPECT[col.kind]
    return f"{_show(value)} is not {noun}; {expect}"


# --- the workspace -------------------------------------------------------------------------------------


def folder_entries(folder: Path) -> dict[str, Path]:
    return {p.name.lower(): p for p in folder.iterdir()} if folder.is_dir() else {}


def _one_of(ld: Loading, entries: dict[str, Path], stem: str, exts: tuple[str, ...], prefix: str = "") -> Path | None:
    hits = [entries[f"{stem}{e}"] for e in exts if f"{stem}{e}" in entries and entries[f"{stem}{e}"].is_file()]
    if len(hits) > 1:
        ld.problem(prefix + hits[1].name, None, None,
                   f"both {' and '.join(prefix + h.name for h in hits)} exist; expected only one of them")
        return None
    return hits[0] if hits and ld.confined(hits[0], prefix + hits[0].name) else None


def _read_doc(ld: Loading, path: Path) -> documents.Doc | None:
    """A document file read and parsed, or None with its problems recorded."""
    text, bad = _read_text(path, path.name)
    if bad:
        ld.problem(bad.file, bad.row, bad.column, bad.message)
        return None
    try:
        return parse_document(text, path.name)
    except LoadError as err:
        for p in err.problems:
            ld.problem(p.file, p.row, p.column, p.message)
        return None


def workspace_meta(ld: Loading, entries: dict[str, Path]) -> dict:
    path = _one_of(ld, entries, "workspace", DOC_EXTS)
    doc = _read_doc(ld, path) if path is not None else None
    if doc is None:
        return {}
    found = settings_schema.workspace_problems(doc.data)
    for key_path, message in found:
        ld.problem(path.name, doc.line(key_path) or 1, None if key_path == "workspace" else key_path, message)
    if found:
        return {}
    out = {}
    for key, value in doc.data.items():
        if key == "now" and value is not None:
            try:
                out["now"] = db.parse_timestamp(value, "now")
            except ValidationError:
                ld.problem(path.name, doc.line("now"), "now",
                           f"{_show(value)} is not a date/time; expected ISO 8601 such as 2026-11-26T09:00:00")
        elif key in ("name", "description") and value is not None:
            out[key] = str(value)
    return out


@dataclass
class _Section:
    """Where a settings section was read: its file, its data, and how its key paths map to lines."""

    file: str
    data: Any
    doc: documents.Doc
    prefix: str  # the section's path inside its file: the section name, or "" for a bare section file
    key_line: int

    def line(self, path: str) -> int:
        """The line of ``path`` (a settings key path starting with the section's name)."""
        head = re.split(r"[.\[]", path, maxsplit=1)[0]
        inner = path[len(head):].lstrip(".")
        if not inner:
            return self.key_line
        full = f"{self.prefix}.{inner}" if self.prefix and not inner.startswith("[") else self.prefix + inner
        return self.doc.line(full) or self.key_line


def _settings_sections(ld: Loading, entries: dict[str, Path], main: Path | None,
                       section_files: dict[str, Path]) -> dict[str, _Section]:
    sections: dict[str, _Section] = {}
    docs: list[tuple[Path, str | None]] = ([(main, None)] if main else []) + [
        (p, s) for s, p in section_files.items()]
    for path, section in docs:
        doc = _read_doc(ld, path)
        if doc is None:
            continue
        if section is None:
            if not isinstance(doc.data, dict):
                ld.problem(path.name, 1, None, "expected a mapping with sections "
                                               f"{', '.join(settings_mod.SECTIONS)}")
                continue
            for key, value in doc.data.items():
                key_line = doc.line(str(key)) or 1
                if str(key) in section_files:
                    ld.problem(section_files[str(key)].name, None, None,
                               f"section {key!r} is defined in both {path.name} (line {key_line}) and "
                               f"{section_files[str(key)].name}; expected one definition")
                    continue
                sections[str(key)] = _Section(path.name, value, doc, str(key), key_line)
        else:
            data, prefix = doc.data, ""
            if isinstance(data, dict) and list(data) == [section]:  # wrapped: {exclusions: [...]}
                data, prefix = data[section], section
            sections[section] = _Section(path.name, data, doc, prefix, doc.line(prefix) or 1)
    return sections


def read_settings(ld: Loading, entries: dict[str, Path]) -> settings_mod.Settings | None:
    main = _one_of(ld, entries, "settings", DOC_EXTS)
    section_files: dict[str, Path] = {}
    for name, path in sorted(entries.items()):
        section = SECTION_FILES.get(name)
        if section and path.is_file() and ld.confined(path, path.name):
            if section in section_files:
                ld.problem(path.name, None, None, f"section {section!r} is defined in both "
                                                  f"{section_files[section].name} and {path.name}; expected one file")
                continue
            section_files[section] = path
    if main is None and not section_files:
        ld.problem(ld.folder.name or str(ld.folder), None, None,
                   "no settings: expected settings.yaml (or .yml/.json) or one file per section "
                   f"({', '.join(f'{s}.yaml' for s in settings_mod.SECTIONS)})")
        return None
    sections = _settings_sections(ld, entries, main, section_files)
    ld.check()
    try:
        return settings_mod.parse_settings({k: v.data for k, v in sections.items()})
    except settings_mod.SettingsError as err:
        for path, message in err.problems:
            head = re.split(r"[.\[]", path, maxsplit=1)[0]
            if head in sections:
                ld.problem(sections[head].file, sections[head].line(path), path, message)
            else:
                ld.problem(main.name if main else next(iter(section_files.values())).name, 1, path, message)
        return None


def read_workspace_files(ld: Loading, entries: dict[str, Path]) -> dict[str, Typed]:
    """Read and check every record file of the workspace. Company records, contacts and opportunities are
    staged (:func:`insert_staged`) and their tables freed as soon as each is read; the enrollments' and
    events' tables are returned (they are checked against the merged contacts, then written)."""
    typed: dict[str, Typed] = {}
    for i, stem in enumerate(RECORD_FILES):
        path = _one_of(ld, entries, stem, DATA_EXTS)
        if path is None:
            continue
        ld.progress(0.05 + 0.25 * i / len(RECORD_FILES), f"reading {path.name}")
        raw = ld.read(path, path.name)
        if raw is None:
            continue
        t = ld.typed(raw, WORKSPACE_COLUMNS[stem], warn_unknown=True)
        if t is None:
            continue
        if stem in _STAGED_FILES:  # staged and freed at once: a 10M load never holds every file's table
            insert_staged(ld, {stem: t})
        else:
            typed[stem] = t  # checked against the merged contacts and written later (write_records / write_events)
    return typed


_STAGED_FILES = ("company_records", "contacts", "opportunities")


def insert_staged(ld: Loading, typed: dict[str, Typed]) -> None:
    if "company_records" in typed:
        t = typed["company_records"]
        ld.sql(f"""INSERT INTO _ud_stg_records
            SELECT record_id, crm, crm_id, name, website, CASE WHEN NOT _ud_free(d) THEN d END, is_customer,
                   industry, employees, ?, _row, ?
            FROM (SELECT *, _ud_domain(website) AS d FROM {db.ident(t.table)})""", [t.label, t.header("record_id")])
        ld.done_with(t)
    if "contacts" in typed:
        t = typed["contacts"]
        ld.sql(f"""{STG_CONTACTS_INSERT}
            SELECT contact_id, email, first_name, last_name, title, country, e, {pick_domain_sql('s', 'e')},
                   sf_contact_id, sf_lead_id, hs_contact_id, sf_email_opt_out, sf_do_not_email, hs_opt_out,
                   last_contacted_at, job_changed_at, created_at, {PRIO_WORKSPACE}, ?, _row, ?, false, NULL
            FROM (SELECT *, _ud_domain(company_website) AS s, _ud_email_domain(email) AS e
                  FROM {db.ident(t.table)})""", [t.label, t.header("contact_id")])
        ld.done_with(t)
    if "opportunities" in typed:
        t = typed["opportunities"]
        ld.sql(f"""INSERT INTO _ud_stg_opps
            SELECT opportunity_id, crm, coalesce(crm_id, opportunity_id), record_id, name, stage, is_closed,
                   coalesce(is_won, false), close_date, amount, created_at, ?, _row, ?, ?
            FROM {db.ident(t.table)}""", [t.label, t.header("opportunity_id"), t.header("record_id")])
        ld.done_with(t)


def cross_checks(ld: Loading) -> None:
    """Ids unique across every source; opportunities on known company records."""
    ld.duplicates("_ud_stg_records", "record_id", what="company record id")
    ld.duplicates("_ud_stg_opps", "opportunity_id", what="opportunity id")
    ld.duplicates("_ud_stg_contacts", "email", column="email", where=f"_prio = {PRIO_WORKSPACE}", what="email")
    ld.duplicates("_ud_stg_contacts", "contact_id", where=f"_prio = {PRIO_WORKSPACE}", what="contact_id")
    ld.check()
    rows = ld.sql("""SELECT o._file, o._row, o._ref_col, o.record_id, r.crm, o.crm FROM _ud_stg_opps o
                     LEFT JOIN _ud_stg_records r ON r.record_id = o.record_id
                     WHERE o.record_id IS NOT NULL AND (r.record_id IS NULL OR r.crm <> o.crm)
                     ORDER BY o._file, o._row LIMIT ?""", [MAX_EXAMPLES * 3]).fetchall()
    for file, row, col, rec, rcrm, ocrm in rows:
        if rcrm is None:
            ld.problem(file, row, col, f"unknown company record {rec!r}; expected the id of a company record "
                                       "(company_records file, or an Account / HubSpot company in the exports)")
        else:
            ld.problem(file, row, col, f"company record {rec!r} is a {rcrm} record but the opportunity is from "
                                       f"{ocrm}; expected a record of the same CRM")


def merge_contacts(ld: Loading) -> None:
    """One contact per email: each value from the best source that has one, every CRM id kept, CRM opt-out
    flags OR-ed (an opt-out in any source is never lost). Emails seen once skip the aggregation."""
    values = ("first_name", "last_name", "title", "country", "domain", "sf_contact_id", "sf_lead_id", "hs_contact_id",
              "country_code")
    firsts = ", ".join(f"arg_min({c}, _key) FILTER (WHERE {c} IS NOT NULL) AS {c}" for c in values)
    flags = ("sf_email_opt_out", "sf_do_not_email", "hs_opt_out", "email_bounced")
    ld.sql("""CREATE TEMP TABLE _ud_multi AS
        SELECT email FROM _ud_stg_contacts GROUP BY email HAVING count(*) > 1""")
    ld._temps.append("_ud_multi")
    multi = ld.sql("SELECT count(*) FROM _ud_multi").fetchone()[0]
    # an email seen once: its staged row as it is (the flags made false where unset)
    single = f"""WITH k AS (SELECT *, _prio * 1000000000000 + _row AS _key FROM _ud_stg_contacts)
            SELECT email, contact_id, _key, email_domain, _file, _row, _col, {', '.join(values)},
                   {', '.join(f'coalesce({f}, false) AS {f}' for f in flags)},
                   last_contacted_at, job_changed_at, created_at
            FROM k"""
    ld.merged_view = not multi  # every email once (nearly always): the staged rows are the merged ones, no copy
    if ld.merged_view:
        ld.sql(f"CREATE TEMP VIEW _ud_merged AS {single}")
    else:
        ld.sql(f"""CREATE TEMP TABLE _ud_merged AS
            {single} WHERE NOT EXISTS (SELECT 1 FROM _ud_multi m WHERE m.email = k.email)
            UNION ALL
            SELECT email, arg_min(contact_id, _key), min(_key), min(email_domain),
                   arg_min(_file, _key), arg_min(_row, _key), arg_min(_col, _key), {firsts},
                   {', '.join(f'coalesce(bool_or({f}), false)' for f in flags)},
                   max(last_contacted_at), max(job_changed_at), min(created_at)
            FROM k WHERE EXISTS (SELECT 1 FROM _ud_multi m WHERE m.email = k.email)
            GROUP BY email""")
    ld.duplicates("_ud_merged", "contact_id", what="contact id")
    ld.check()
    # merged: free the staged rows now (a 10M load holds less at once), unless the view reads them
    for name in ("_ud_multi",) if ld.merged_view else ("_ud_stg_contacts", "_ud_multi"):
        ld.sql(f"DROP TABLE {name}")


def drop_merged(ld: Loading) -> None:
    """Free the merged contacts once written (the view and the staged rows it reads, or the merged table)."""
    if ld.merged_view:
        ld.sql("DROP VIEW _ud_merged")
        ld.sql("DROP TABLE _ud_stg_contacts")
    else:
        ld.sql("DROP TABLE _ud_merged")


def check_enrollments(ld: Loading, t: Typed, s: settings_mod.Settings) -> None:
    seqs = [q.id for q in s.sequences]
    plays = [p.id for p in s.plays]
    nodes = [f"{p.id}\x1f{n.id}" for p in s.plays for n in p.nodes]
    node_seq = [f"{p.id}\x1f{n.id}\x1f{n.sequence}" for p in s.plays for n in p.nodes]
    ld.duplicates(t.table, "enrollment_id", file=t.label, column=t.header("enrollment_id"), what="enrollment_id")
    ld.bad_refs(t, "contact_id", "NOT EXISTS (SELECT 1 FROM _ud_merged m WHERE m.contact_id = t.contact_id)", [],
                lambda v: f"unknown contact {v!r}; expected the contact_id of a contact")
    ld.bad_refs(t, "sequence_id", "NOT list_contains(?::VARCHAR[], t.sequence_id)", [seqs],
                lambda v: f"unknown sequence {v!r}; expected one of the settings' sequences: {', '.join(seqs) or 'none'}")
    ld.bad_refs(t, "play_id", "t.play_id IS NOT NULL AND NOT list_contains(?::VARCHAR[], t.play_id)", [plays],
                lambda v: f"unknown play {v!r}; expected one of {', '.join(plays) or 'none'}")
    ld.check()
    ld.bad_refs(t, "node_id", "t.node_id IS NOT NULL AND (t.play_id IS NULL OR NOT list_contains(?::VARCHAR[], "
                              "t.play_id || chr(31) || t.node_id))", [nodes],
                lambda v: f"unknown node {v!r} for this row's play_id; expected a node id of that play")
    ld.bad_refs(t, "sequence_id", "t.node_id IS NOT NULL AND list_contains(?::VARCHAR[], t.play_id || chr(31) || "
                                  "t.node_id) AND NOT list_contains(?::VARCHAR[], t.play_id || chr(31) || t.node_id "
                                  "|| chr(31) || t.sequence_id)", [nodes, node_seq],
                lambda v: f"sequence {v!r} is not the sequence of this row's play node; expected the node's sequence")


def check_events(ld: Loading, t: Typed) -> None:
    ld.duplicates(t.table, "event_id", file=t.label, column=t.header("event_id"), what="event_id")
    ld.bad_refs(t, "event_id", "t.email IS NULL AND t.contact_id IS NULL", [],
                lambda v: "has neither email nor contact_id; expected at least one of them")
    ld.bad_refs(t, "contact_id", "t.email IS NULL AND t.contact_id IS NOT NULL AND NOT EXISTS "
                                 "(SELECT 1 FROM _ud_merged m WHERE m.contact_id = t.contact_id)", [],
                lambda v: f"unknown contact {v!r} and no email; expected a known contact_id or an email")
    ld.bad_refs(t, "contact_id", "t.email IS NOT NULL AND EXISTS (SELECT 1 FROM _ud_merged m WHERE "
                                 "m.contact_id = t.contact_id AND m.email <> t.email)", [],
                lambda v: f"contact {v!r} has another email than this row's email; expected the contact's email")
    ld.bad_refs(t, "source", "t.type = 'opt_out' AND (t.source IS NULL OR NOT list_contains(?::VARCHAR[], t.source))",
                [list(states.OPT_OUT_SOURCES)],
                lambda v: f"opt_out source {_show(v)} is not valid; expected one of {', '.join(states.OPT_OUT_SOURCES)}")
    ld.bad_refs(t, "detail", "t.type = 'opt_out_reversal' AND _ud_blank(t.detail)", [],
                lambda v: "an opt_out_reversal needs the permission record in detail (who gave it, when, evidence)")


# the columns of a recorded opt-out or reversal a load may not change (contact_id follows the email)
_LEDGER_COLUMNS = ("type", "occurred_at", "email", "source", "actor", "detail")


def check_ledger(ld: Loading, t: Typed, now: dt.datetime) -> None:
    """Opt-outs are append-only evidence: a loaded row may add one, never change a recorded opt-out or
    reversal (type, time, email, source, actor, detail), and never add a reversal that ends a
    recorded opt-out. A reversal new to the ledger (a first import of an older history) needs a
    permission record a compliance officer would accept (:func:`ledger.permission_problems`)."""
    con, tbl = ld.con, db.ident(t.table)
    resolved = "coalesce(t.email, (SELECT m.email FROM _ud_merged m WHERE m.contact_id = t.contact_id))"
    recorded = ("coalesce(e.email, (SELECT c.email FROM contacts c WHERE c.contact_id = e.contact_id))")
    norm = "CASE WHEN json_valid({0}) THEN json({0})::VARCHAR ELSE {0} END"
    for column in _LEDGER_COLUMNS:
        new_value = resolved if column == "email" else (norm.format("t.detail") if column == "detail" else f"t.{column}")
        old_value = recorded if column == "email" else (norm.format("e.detail") if column == "detail" else f"e.{column}")
        rows = con.execute(
            f"""SELECT t._row, t.event_id, e.type, e.occurred_at, {recorded}, {old_value}, {new_value},
                       t.email IS NULL FROM {tbl} t JOIN events e ON e.event_id = t.event_id
                WHERE e.type IN ('opt_out', 'opt_out_reversal') AND {old_value} IS DISTINCT FROM {new_value}
                ORDER BY t._row LIMIT {MAX_PROBLEMS}""").fetchall()
        for row, event_id, kind, at, email, before, after, no_email in rows:
            what = "an opt-out" if kind == "opt_out" else "an opt-out reversal"
            header = t.header("contact_id" if column == "email" and no_email else column)
            ld.problem(t.label, row, header,
                       f"event {event_id!r} is {what} recorded on {at:%Y-%m-%d %H:%M} for {email}; opt-outs cannot "
                       f"be changed by a load ({column} would change from {_show(before)} to {_show(after)}). "
                       "Keep the row as recorded or leave it out; only the reversal action "
                       "(unify-dash reverse, or the Contact page) ends an opt-out")
    rows = con.execute(
        f"""SELECT t._row, t.event_id, {resolved} AS email, t.occurred_at, t.detail,
                   (SELECT max(e.occurred_at) FROM events e WHERE e.type = 'opt_out' AND e.occurred_at <= t.occurred_at
                    AND {recorded} = {resolved}) AS recorded_at,
                   (SELECT max(x.occurred_at) FROM {tbl} x WHERE x.type = 'opt_out' AND x.occurred_at <= t.occurred_at
                    AND coalesce(x.email, (SELECT m.email FROM _ud_merged m WHERE m.contact_id = x.contact_id))
                        = {resolved}) AS loaded_at
            FROM {tbl} t WHERE t.type = 'opt_out_reversal'
              AND NOT EXISTS (SELECT 1 FROM events e WHERE e.event_id = t.event_id)
              AND NOT _ud_blank(t.detail)  -- a blank record is already one problem (check_events)
            ORDER BY t._row LIMIT {MAX_PROBLEMS}""").fetchall()
    for row, event_id, email, _at, detail, recorded_at, loaded_at in rows:
        if recorded_at is not None:
            ld.problem(t.label, row, t.header("type"),
                       f"event {event_id!r} would reverse the opt-out of {email} recorded on "
                       f"{recorded_at:%Y-%m-%d %H:%M}; a load cannot end a recorded opt-out. Use the reversal "
                       "action (unify-dash reverse EMAIL --permission-by ... or the Contact page)")
            continue
        try:
            record = json.loads(detail or "")
        except ValueError:
            record = None
        if not isinstance(record, dict):
            record = {}
        try:
            when = db.parse_timestamp(record.get("permission_at"), "permission_at")
        except ValidationError:
            when = None
        problems = ([] if when else ["permission_at is missing or not a date and time"]) + ledger.permission_problems(
            record.get("permission_by"), when, record.get("evidence"), opted_out_at=loaded_at, now=now)
        if problems:
            ld.problem(t.label, row, t.header("detail"),
                       f"the permission record of reversal {event_id!r} is not acceptable: {'; '.join(problems)}; "
                       'expected JSON such as {"permission_by": "Bob Jones (the contact)", "permission_at": '
                       '"2026-11-05 10:00", "evidence": "email of 2026-11-05, ticket SUP-12"}')


# --- writing --------------------------------------------------------------------------------------


def _recreate(ld: Loading, table: str) -> None:
    """Empty a record table by recreating it: far faster than DELETE + INSERT of the same keys in one
    transaction, and transactional like them. Its indexes (keys included) are built after the load's commit,
    one at a time (:func:`build_indexes`)."""
    ld.con.execute(f"DROP TABLE {db.ident(table)}")
    ld.con.execute(f"CREATE TABLE {db.ident(table)} ({db.TABLES[table]})")
    ld.deferred_indexes += _table_indexes(table)


_CONTACT_COLS = tuple(schema.names("contacts", without=("company_key",)))  # the key: store.companies
_EVENT_COLS = tuple(schema.names("events"))


def write_records(ld: Loading, typed: dict[str, Typed]) -> dict[str, int]:
    con = ld.con
    # the platform's enrollment progress is kept: merged back below, never rewound
    con.execute("CREATE OR REPLACE TEMP TABLE _ud_prev_enrollments AS SELECT * FROM enrollments")
    ld._temps.append("_ud_prev_enrollments")
    for table in db.RECORD_TABLES:
        _recreate(ld, table)
    con.execute(f"""INSERT INTO contacts ({', '.join(_CONTACT_COLS)})
        SELECT contact_id, email, first_name, last_name, title, country, email_domain,
               coalesce(_ud_free(email_domain), false), domain, sf_contact_id, sf_lead_id, hs_contact_id,
               sf_email_opt_out, sf_do_not_email, hs_opt_out, last_contacted_at, job_changed_at, created_at,
               email_bounced, country_code
        FROM _ud_merged ORDER BY _key""")  # file order (staging is not: a join with the free-mail list)
    drop_merged(ld)  # written: freed before the other tables are
    con.execute("""INSERT INTO contact_records (contact_id, record_id, link)
        SELECT c.contact_id, l.record_id, min(l.link) FROM _ud_stg_links l JOIN contacts c ON c.email = l.email
        GROUP BY c.contact_id, l.record_id ORDER BY 1, 2""")
    con.execute("""INSERT INTO company_records
        (record_id, crm, crm_id, name, website, domain, is_customer, industry, employees)
        SELECT record_id, crm, crm_id, name, website, domain, coalesce(is_customer, false), industry, employees
        FROM _ud_stg_records ORDER BY _file, _row""")
    con.execute("""INSERT INTO opportunities
        (opportunity_id, crm, crm_id, record_id, name, stage, is_closed, is_won, close_date, amount, created_at)
        SELECT opportunity_id, crm, crm_id, record_id, name, stage, is_closed, is_won, close_date, amount, created_at
        FROM _ud_stg_opps ORDER BY _file, _row""")
    companies.refresh(con)  # company_key / company_members: domain and association
    if "enrollments" in typed:
        con.execute(f"""INSERT INTO enrollments (enrollment_id, contact_id, play_id, node_id, sequence_id, state,
                completion_reason, current_step, next_step_at, enrolled_at, updated_at)
            SELECT enrollment_id, contact_id, play_id, node_id, sequence_id, state, completion_reason,
                   coalesce(current_step, 0), next_step_at, enrolled_at, updated_at
            FROM {db.ident(typed['enrollments'].table)} ORDER BY _row""")
        ld.done_with(typed["enrollments"])
    _merge_enrollments(con)
    return {t: con.execute(f"SELECT count(*) FROM {db.ident(t)}").fetchone()[0] for t in db.RECORD_TABLES}


def _merge_enrollments(con: duckdb.DuckDBPyConnection) -> None:
    """Enrollments recorded before this load stay: the platform's own (scheduler, manual) and those
    the file no longer lists. A file row replaces a recorded one only when it is newer (``updated_at``)
    and rewinds nothing (no lower step, no ended enrollment made active again)."""
    con.execute(f"""DELETE FROM enrollments WHERE enrollment_id IN (
        SELECT f.enrollment_id FROM enrollments f JOIN _ud_prev_enrollments p USING (enrollment_id)
        WHERE NOT (coalesce(f.updated_at > p.updated_at, p.updated_at IS NULL AND f.updated_at IS NOT NULL)
                   AND f.current_step >= p.current_step
                   AND (p.state IN {states.ACTIVE_SQL} OR f.state NOT IN {states.ACTIVE_SQL})))""")
    con.execute("INSERT INTO enrollments SELECT * FROM _ud_prev_enrollments p "
                "WHERE NOT EXISTS (SELECT 1 FROM enrollments f WHERE f.enrollment_id = p.enrollment_id)")


EVENTS_BULK = 50_000  # from this many new events (and at least as many as recorded), indexes are rebuilt in bulk


def _table_indexes(table: str) -> list[tuple[str, str]]:
    """(name, CREATE statement) of every index db.INDEXES declares on ``table``: its keys, then the others."""
    return [(db.index_name(statement), statement) for statement in db.INDEXES if db.index_table(statement) == table]


def write_events(ld: Loading, t: Typed | None) -> tuple[int, list[dict]]:
    """Upsert the workspace's events by id (never delete one; recorded opt-outs and reversals are
    refused beforehand by :func:`check_ledger` when a row would change them). Returns the number of
    new events and the new opt-out events (``event_id, email, source, occurred_at``).

    Set-based: the file's rows are joined to the recorded events once (changed rows are updated), the new
    ones are an anti-join; when they are many (a first load) the table's indexes, its key included, are
    dropped, and built again after the load's commit (:func:`build_indexes`)."""
    con = ld.con
    new, opt_outs, bulk = 0, [], False
    if t is not None:
        cols = ", ".join(_EVENT_COLS)
        tbl, data = db.ident(t.table), db.ident(t.data)
        # every row has an email or a contact_id (check_events): the other is looked up for the rows without it,
        # in the file's own table (no join of every row, no copy; the table stays in file order)
        con.execute(f"UPDATE {data} SET email = c.email FROM contacts c "
                    f"WHERE {data}.email IS NULL AND c.contact_id = {data}.contact_id")
        con.execute(f"UPDATE {data} SET contact_id = c.contact_id FROM contacts c "
                    f"WHERE {data}.contact_id IS NULL AND c.email = {data}.email")
        recorded = con.execute("SELECT count(*) FROM events").fetchone()[0]
        if recorded:
            changed = " OR ".join(f"events.{c} IS DISTINCT FROM s.{c}" for c in _EVENT_COLS[1:])
            sets = ", ".join(f"{c} = s.{c}" for c in _EVENT_COLS[1:])
            con.execute(f"UPDATE events SET {sets} FROM {tbl} s WHERE events.event_id = s.event_id AND ({changed})")
            con.execute(f"CREATE TEMP TABLE _ud_ev_new AS SELECT s.* FROM {tbl} s ANTI JOIN events e "
                        "ON e.event_id = s.event_id ORDER BY s._row")
            ld._temps.append("_ud_ev_new")
        # nothing recorded (a first load): every row is new, inserted straight from the file's table
        fresh = "_ud_ev_new" if recorded else tbl
        opt_outs = [dict(zip(("event_id", "email", "source", "occurred_at"), r, strict=True)) for r in con.execute(
            f"SELECT event_id, email, source, occurred_at::VARCHAR FROM {fresh} WHERE type = 'opt_out' "
            "ORDER BY _row").fetchall()]
        new = con.execute(f"SELECT count(*) FROM {fresh}").fetchone()[0] if recorded else t.rows
        bulk = new >= EVENTS_BULK and new >= recorded
        if bulk:  # maintaining an index row by row costs more than building it once, after the commit
            for name, statement in _table_indexes("events"):
                con.execute(f"DROP INDEX IF EXISTS {db.ident(name)}")
                ld.deferred_indexes.append((name, statement))
        if new:
            # in file order without a sort: both tables are in _row order (DuckDB keeps insertion order)
            con.execute(f"INSERT INTO events ({cols}) SELECT {cols} FROM {fresh}")
        ld.done_with(t)
    # events are keyed by email; keep their contact link pointing at the contact of that email
    con.execute("""UPDATE events SET contact_id = c.contact_id FROM contacts c
                   WHERE c.email = events.email AND events.contact_id IS DISTINCT FROM c.contact_id""")
    return new, opt_outs


class IndexesPending(UnifyError):
    """The load is committed, but an index (``name``) could not be built after it: the workspace is loaded and
    consistent, look-ups without the index are slower, and it is built the next time the file is opened for
    writing (:func:`unify_dash.store.db.create_schema`)."""

    def __init__(self, message: str, pending: list[str]):
        super().__init__(message)
        self.pending = pending


def build_indexes(ld: Loading) -> list[str]:
    """Build the indexes the load's transaction left out (the recreated record tables', the events' after a
    bulk insert), keys first, each in its own transaction followed by a checkpoint: DuckDB holds an index in
    memory until it is written to the file, so one at a time each build fits the memory limit (all of them at
    the load's commit did not, at 10M contacts). Every key is unique by the load's own checks (ids checked
    for duplicates, links grouped, events anti-joined), so a build fails only for want of memory or disk:
    then :class:`IndexesPending` says so; nothing of the load is undone (it is committed and consistent).
    Returns the names built."""
    con, built = ld.con, []
    todo = sorted(dict(ld.deferred_indexes).items(), key=lambda item: "UNIQUE" not in item[1])  # keys first
    path = db.database_file(con)
    for i, (name, statement) in enumerate(todo):
        ld.progress(0.9 + 0.1 * i / len(todo), f"building index {name}")
        try:
            with db.transaction(con):
                con.execute(statement)
            db.checkpoint(con)
        except (duckdb.Error, UnifyError) as err:
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            pending = [n for n, _ in todo[i:]]
            raise IndexesPending(
                f"the workspace {ld.folder.name} is loaded (committed: its records, events and settings are in "
                f"{path or 'the database'}, checked and consistent), but building its index {name} failed: "
                f"{reason}. The workspace can be used as it is (look-ups without the index are slower); the "
                f"{len(pending)} index(es) not built ({', '.join(pending)}) are built the next time the database "
                f"is opened for writing, e.g. by unify-dash upgrade --db {path or 'DB'} (with more memory: "
                f"{db.MEMORY_ENV}=8GB unify-dash upgrade ...)", pending) from None
        built.append(name)
    ld.deferred_indexes.clear()
    return built


def record_crm_opt_outs(ld: Loading, s: settings_mod.Settings, now: dt.datetime) -> list[dict]:
    """CRM opt-out flags under the mapping become ``opt_out`` events by the one rule of
    :func:`unify_dash.store.ledger.record_crm_flag_opt_outs` (the CRM sync's too). Cleared flags or
    missing contacts never remove an event."""
    return ledger.record_crm_flag_opt_outs(ld.con, s, now, "crm")


# tables whose row counts a load's audit row records before and after
COUNTED_TABLES = (*db.RECORD_TABLES, "events", "execution_log")


# the steps of a load, in the order unify_dash.io.load runs them
STEPS = ["folder_entries", "workspace_meta", "read_settings", "read_workspace_files", "insert_staged", "cross_checks",
         "merge_contacts", "check_enrollments", "check_events", "check_ledger", "write_records", "write_events",
         "record_crm_opt_outs", "build_indexes"]

__all__ = ["COUNTED_TABLES", "Col", "IndexesPending", "Loading", "Raw", "StopLoading", "Typed", "node_line", "parse_document",
           "pick_domain_sql", "sql_company_domain", "sql_normalize_domain", "install_sql_helpers", *STEPS]
