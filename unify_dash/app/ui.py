"""Shared Streamlit helpers: the one cached database, who is acting, formatting, paging.

Pages import this module and the domain package; nothing here computes a count or applies a
rule. Session-state keys are prefixed per page (``play.``, ``metrics.``, ``contact.`` ...);
the keys of this module start with ``ui.``.

Identity
    * Streamlit OIDC (``st.login``) when ``[auth]`` is configured in ``.streamlit/secrets.toml``:
      the signed-in user's email is the actor name, its role comes from ``[unify.roles]``
      (email -> role), else ``[unify] default_role``, else ``manager``.
    * Otherwise a local default actor: name from ``UNIFY_USER`` (default ``local``), role from
      ``UNIFY_ROLE``; without ``UNIFY_ROLE`` a role picker in the sidebar (default ``revops``).
"""

from __future__ import annotations

import datetime as dt
import functools
import html
import ipaddress
import math
import os
import re
import shlex
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from unify_dash.errors import LoadError, NotFound, PermissionDenied, UnifyError
from unify_dash.model import roles, states
from unify_dash.store import db

DB_ENV = "UNIFY_DB"
USER_ENV = "UNIFY_USER"
ROLE_ENV = "UNIFY_ROLE"
DEFAULT_SIGNED_IN_ROLE = "manager"
PAGE_SIZE = 50
ROLE_KEY = "ui.role.chosen"  # the local-mode role (the sidebar picker writes it)

ROOT = Path(__file__).resolve().parents[2]

# page key (roles.PAGES) -> (file, title, material icon). The order is the navigation order.
PAGE_FILES: dict[str, tuple[str, str, str]] = {
    "play": ("unify_dash/app/pages/play.py", "Play view", ":material/account_tree:"),
    "metrics": ("unify_dash/app/pages/metrics.py", "Metrics", ":material/bar_chart:"),
    "contact": ("unify_dash/app/pages/contact.py", "Contact", ":material/person_search:"),
    "exclusions": ("unify_dash/app/pages/exclusions.py", "Exclusions & rulesets", ":material/rule:"),
    "logs": ("unify_dash/app/pages/logs.py", "Execution logs", ":material/receipt_long:"),
    "replies": ("unify_dash/app/pages/replies.py", "Opt-out replies", ":material/mark_email_unread:"),
    "crm": ("unify_dash/app/pages/crm.py", "CRM sync", ":material/sync_alt:"),
    "data": ("unify_dash/app/pages/data.py", "Data", ":material/upload_file:"),
    "rules": ("unify_dash/app/pages/rules.py", "Rule health", ":material/health_and_safety:"),
    "trends": ("unify_dash/app/pages/trends.py", "Trends & forecast", ":material/monitoring:"),
}


# --- database ------------------------------------------------------------------------------------


def db_path() -> str:
    return os.environ.get(DB_ENV) or str(db.DEFAULT_DB)


@st.cache_resource(show_spinner=False, max_entries=4)
def _database(path: str) -> db.Database:
    return db.Database(path)


def database() -> db.Database:
    """The one :class:`db.Database` of this process (shared by every browser session)."""
    return _database(db_path())


@contextmanager
def cursor() -> Iterator[Any]:
    """A fresh cursor for one query or one page section: DuckDB refuses concurrent use of a
    connection from several threads, and every browser session runs in its own thread."""
    cur = database().cursor()
    try:
        yield cur
    finally:
        cur.close()


@contextmanager
def writing() -> Iterator[Any]:
    """A cursor for a write. Writes of all sessions are serialised by the database's lock."""
    database_ = database()
    with database_.write_lock:
        cur = database_.cursor()
        try:
            yield cur
        finally:
            cur.close()


def log_timing(what: str, started: float) -> None:
    """With ``UNIFY_APP_TIMING`` set: ``what`` and the milliseconds since ``started`` (a
    ``time.perf_counter()``) on stderr, the server's share of a page or fragment run
    (scripts/browser_bench.py sets it and reads the log)."""
    if os.environ.get("UNIFY_APP_TIMING"):
        import sys
        import time

        print(f"unify-dash app: {what} ran in {(time.perf_counter() - started) * 1000:.1f} ms", file=sys.stderr,
              flush=True)


def now() -> dt.datetime:
    with cursor() as cur:
        return db.now(cur)


def _compute(path: str, generation: int, clock: str, module: str, name: str, args: tuple, kwargs: tuple):
    import importlib

    fn = getattr(importlib.import_module(module), name)
    with cursor() as cur:
        return fn(cur, *args, **dict(kwargs))


@functools.cache
def _data_cache() -> Callable:
    """:func:`_compute` under ``st.cache_data`` (log pages and counts: many small entries), decorated on
    first use, not at import: ``unify-dash serve`` imports this module before Streamlit's runtime exists
    (to warm it), and a decoration then logs "No runtime found, using MemoryCacheStorageManager"."""
    return st.cache_data(max_entries=256, show_spinner=False)(_compute)


def stamp() -> tuple[int, str]:
    """What changed since a cached answer was computed, in one query of the ``meta`` table: the data
    generation (bumped by every write of records, opt-outs, settings, enrollments, the execution log)
    and the workspace clock (a pinned clock, or the wall clock to the minute, as the evaluation's own
    cache keys it), with the delivery counter (sends recorded after their tick,
    :func:`unify_dash.store.db.bump_deliveries`) folded into the clock part of the key."""
    with cursor() as cur:
        generation, clock, deliveries = db.meta_values(cur, "data_generation", "clock", "delivery_generation")
    if not clock:
        clock = dt.datetime.now(dt.UTC).strftime("wall %Y-%m-%d %H:%M")
    return int(generation) if generation else 0, f"{clock} deliveries {deliveries or 0}"


def cached(fn: Callable, *args, **kwargs):
    """``fn(cursor, *args, **kwargs)`` for a read-only domain function, cached per database, data
    generation and workspace clock (:func:`stamp`): every write bumps the generation, so a cached
    answer is never stale. Arguments must be hashable. The answer is shared by every session: do not
    change it."""
    generation, clock = stamp()
    module = fn.__module__
    return _data_cache()(db_path(), generation, clock, module, fn.__name__, tuple(args),
                         tuple(sorted(kwargs.items())))


@st.cache_resource(max_entries=16, show_spinner=False)
def _shared(path: str, generation: int, clock: str, module: str, name: str, args: tuple, kwargs: tuple):
    import importlib

    fn = getattr(importlib.import_module(module), name)
    with cursor() as cur:
        return fn(cur, *args, **dict(kwargs))


def shared(fn: Callable, *args, **kwargs):
    """:func:`cached` without the copy: the one answer object is handed to every rerun and session, so
    a big frame (every opted-out contact at 1M) is not unpickled on each rerun. Read it, slice it, never
    change it in place."""
    generation, clock = stamp()
    return _shared(db_path(), generation, clock, fn.__module__, fn.__name__, tuple(args),
                   tuple(sorted(kwargs.items())))


def bar_table(frame: pd.DataFrame, value: str, key: str, on_pick: Callable[[int], None], *, title: str,
              help: str | None = None, colour: str | None = None, max_height: int = 420) -> None:
    """``frame``'s counts (column ``value``) as bars in a table, its other columns as text: a chart without a
    chart library, so a page of them loads no Plotly code in the browser and redraws a canvas on a rerun
    (docs/benchmarks.md, "Round 3"). Selecting a row calls ``on_pick(row position)``. Cells are not
    Markdown: data is shown as written."""
    top = max(int(frame[value].max()) if len(frame) else 0, 1)
    config = {value: st.column_config.ProgressColumn(title, min_value=0, max_value=top, format="localized",
                                                     color=colour, help=help)}

    def picked() -> None:
        rows = ((st.session_state.get(key) or {}).get("selection") or {}).get("rows") or []
        if rows and rows[0] < len(frame):
            on_pick(rows[0])

    st.dataframe(frame, key=key, on_select=picked, selection_mode="single-row", hide_index=True, width="stretch",
                 height=min(38 + 35 * len(frame), max_height), column_config=config)


# --- identity ------------------------------------------------------------------------------------


def oidc_configured() -> bool:
    """True when ``[auth]`` is configured: Streamlit then adds ``is_logged_in`` to ``st.user``."""
    try:
        return "is_logged_in" in st.user.to_dict()
    except Exception:  # noqa: BLE001 - no script context (tests of helpers)
        return False


def _secrets_unify() -> dict:
    try:
        return dict(st.secrets.get("unify", {}))
    except Exception:  # noqa: BLE001 - no secrets file at all
        return {}


def role_for_signed_in(email: str) -> str:
    conf = _secrets_unify()
    mapping = {str(k).strip().lower(): v for k, v in dict(conf.get("roles", {})).items()}
    role = mapping.get(email.strip().lower()) or conf.get("default_role") or DEFAULT_SIGNED_IN_ROLE
    return role if role in roles.ROLES else DEFAULT_SIGNED_IN_ROLE


def actor() -> roles.Actor:
    """Who is acting in this session (see the module docstring)."""
    if oidc_configured():
        user = st.user
        if not user.is_logged_in:
            raise PermissionDenied("sign in first: this app is configured for single sign-on")
        name = str(user.get("email") or user.get("name") or user.get("sub") or "user")
        return roles.Actor(name, role_for_signed_in(name))
    name = os.environ.get(USER_ENV) or "local"
    pinned = os.environ.get(ROLE_ENV)
    if pinned:
        return roles.Actor(name, pinned)
    return roles.Actor(name, st.session_state.get(ROLE_KEY) or st.session_state.get("ui.role", "revops"))


def server_address() -> str | None:
    """The address the server listens on (``server.address``; ``None``: every interface)."""
    try:
        return st.get_option("server.address") or None
    except Exception:  # noqa: BLE001 - no Streamlit config (tests of helpers)
        return None


def is_loopback(address: str | None) -> bool:
    """True when only this machine can reach ``address``: 127.0.0.0/8, ::1, ``localhost`` or a Unix
    socket. ``None``/empty (every interface), ``0.0.0.0``, ``::`` and any other address are not."""
    if not address:
        return False
    address = address.strip().strip("[]")
    if address.lower() == "localhost" or address.startswith("unix://"):
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:  # a host name other than localhost: it may resolve anywhere
        return False


LOCAL_MODE_REFUSED = (
    "This server listens on {where}, where anyone who can reach the port would act in any role: local mode "
    "(the role picker, UNIFY_ROLE) only runs on a loopback address. Either configure sign-in: add an "
    "`[auth]` section (redirect_uri, cookie_secret, client_id, client_secret, server_metadata_url) to "
    "`.streamlit/secrets.toml` and the roles under `[unify.roles]`, see docs/dashboard-security.md; or listen "
    "on 127.0.0.1 only (the default of `make run`: unset STREAMLIT_SERVER_ADDRESS, or set `server.address = "
    "\"127.0.0.1\"` in `.streamlit/config.toml`).")


def local_mode_refusal() -> str | None:
    """Why the local (no sign-in) mode is refused here, or ``None`` when it may run."""
    if oidc_configured():
        return None
    address = server_address()
    if is_loopback(address):
        return None
    return LOCAL_MODE_REFUSED.format(where=f"`{address}`" if address else "every network interface")


def role_pinned() -> bool:
    return bool(os.environ.get(ROLE_ENV)) or oidc_configured()


# --- formatting ----------------------------------------------------------------------------------

# Every data value that reaches a Markdown-rendering element (st.markdown/write/caption/info/warning/
# error/success/subheader, expander/tab/button/toggle/radio/pills labels, badges, metric labels, help
# tooltips, progress text, toasts) goes through :func:`md` (prose) or :func:`code` (emails, ids): the
# value is shown as written, and no link, image, formula, icon, emoji or colour ever comes from data.
# Plotly text (axis labels, hover) goes through :func:`plot_text`. Tables (st.dataframe) are not Markdown.

WORD_JOINER = "\u2060"  # zero-width, invisible: breaks a pattern without changing what is seen
_MD_PUNCT = re.compile(r"([!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~])")
# Streamlit rewrites text *after* parsing, where a backslash escape no longer counts: typographic pairs
# ("--" becomes an em dash), shortcodes (:smile:, :streamlit:, :material/x:), GFM autolinks (https://,
# www., name@host). A word joiner inside each such pattern keeps the characters and defeats the rewrite.
_MD_JOIN = re.compile(r"(?<=[-<>~])(?=[-<>=])|(?<=:)(?=\S)|(?<=@)(?=\S)|(?i:(?<=www)(?=\.))")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def md(value: Any) -> str:
    """``value`` as Markdown text that renders exactly as written (see the comment above).

    Every ASCII punctuation character is backslash-escaped (links, images, emphasis, headings, lists,
    tables, HTML, ``$`` formulas, ``:color[...]`` directives) and a word joiner is put where Streamlit
    would rewrite text after parsing. Line breaks become spaces (one value, one line)."""
    text = "" if value is None else str(value)
    text = _LINE_BREAK.sub(" ", text)
    text = _MD_JOIN.sub(WORD_JOINER, text)
    return _MD_PUNCT.sub(r"\\\1", text)


def code(value: Any) -> str:
    """``value`` as a Markdown code span (monospace, copied exactly as written): for emails and ids.
    Streamlit's text rewrites skip code; only its ``:material/`` pre-pass reads inside, so that one
    pattern gets a word joiner."""
    text = _LINE_BREAK.sub(" ", "" if value is None else str(value)).replace(":material/", ":" + WORD_JOINER
                                                                               + "material/")
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    return f"{fence} {text} {fence}"  # one space each side: CommonMark strips exactly those


def plot_text(value: Any) -> str:
    """``value`` for Plotly text (tick labels, legends, hover): Plotly reads a subset of HTML
    (``<a href>``, ``<b>``, ``<br>``) and decodes entities, so the value is HTML-escaped."""
    return html.escape("" if value is None else str(value), quote=False)



def fmt_int(n: Any) -> str:
    try:
        return f"{int(n):,}"
    except (TypeError, ValueError):
        return "–"


def fmt_delta(n: int) -> str:
    return "±0" if n == 0 else f"{n:+,}"


def fmt_time(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, pd.Timestamp):
        if pd.isna(value):
            return "–"
        value = value.to_pydatetime()
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


def fmt_relative(when: Any, reference: dt.datetime) -> str:
    """``in 12 min`` / ``3 h ago``: how far ``when`` is from the workspace clock."""
    if when is None:
        return ""
    if isinstance(when, pd.Timestamp):
        when = when.to_pydatetime()
    seconds = (when - reference).total_seconds()
    future = seconds > 0
    seconds = abs(seconds)
    if seconds < 60:
        text = "less than a minute"
    elif seconds < 3600:
        text = f"{int(seconds // 60)} min"
    elif seconds < 86400 * 2:
        text = f"{seconds / 3600:.1f} h".replace(".0 h", " h")
    else:
        text = f"{int(seconds // 86400)} days"
    return f"in {text}" if future else f"{text} ago"


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{fmt_int(n)} {word if n == 1 else (many or word + 's')}"


# --- errors and actions --------------------------------------------------------------------------


def show_error(err: Exception) -> None:
    """A user error as a readable message; a :class:`LoadError` as its list of problems."""
    if isinstance(err, LoadError):
        st.error(f"Nothing was loaded: {plural(len(err.problems), 'problem')} found.")
        st.dataframe(problems_frame(err), hide_index=True, width="stretch")
        for warning in err.warnings:  # what the load left out: file names and headers, shown as written
            st.warning(md(warning))
    else:  # a domain message names the data it is about: shown as written
        st.error(md(str(err)))


def problems_frame(err: LoadError) -> pd.DataFrame:
    return pd.DataFrame(
        [{"file": p.file, "row": p.row, "column": p.column, "problem": p.message} for p in err.problems],
        columns=["file", "row", "column", "problem"],
    )


def run_write(fn: Callable[[Any], Any]) -> tuple[bool, Any]:
    """Run a domain write with a serialised cursor; a :class:`UnifyError` becomes a message
    (the domain functions check the role and record the audit row themselves)."""
    try:
        with writing() as cur:
            return True, fn(cur)
    except UnifyError as err:
        show_error(err)
        return False, err


def flash(message: str, icon: str = ":material/check_circle:", *, warning: bool = False) -> None:
    """Show ``message`` once after the next rerun (a toast survives ``st.rerun``); ``warning``: as a warning."""
    st.session_state["ui.flash"] = (message, icon, warning)


def show_flash() -> None:
    item = st.session_state.pop("ui.flash", None)
    if item:
        (st.warning if len(item) > 2 and item[2] else st.success)(item[0], icon=item[1])


def indexes_banner() -> None:
    """A banner over the page while indexes of the database are not built (a load committed, then stopped
    before building them: :class:`unify_dash.io.workspace.IndexesPending`): what works, and the command that
    finishes them. The catalogue is read once per cache stamp (a load bumps it), not on every page run (with
    a query per run, warm pages measured slower at 1M, docs/benchmarks.md "Round 4"); nothing when every
    index is there."""
    pending = cached(db.pending_indexes)
    if not pending:
        return
    names = [db.index_name(s) for s in pending]
    keys = [db.index_name(s) for s in pending if "UNIQUE" in s]
    path = db_path()
    st.warning(
        f"**{plural(len(names), 'index', 'indexes')} of this database not built yet** ({code(', '.join(names))}): "
        "the workspace is loaded and consistent, and every page reads it as usual; look-ups without "
        + ("them are slower, and writes that need a key (opt-outs, sends, settings) can fail until "
           f"{code(', '.join(keys))} is built. " if keys else "them are slower. ")
        + f"To finish them, stop the app and run {code(f'{db.MEMORY_ENV}=8GB unify-dash upgrade --db {shlex.quote(path)}')} "
        "(starting the app again also builds them, within the memory limit).",
        icon=":material/build:")


def no_workspace() -> None:
    st.info(
        "No workspace is loaded in this database yet. Load one on the **Data** page, or from a shell: "
        "`unify-dash demo --out data/demo && unify-dash load data/demo` (with the app stopped).",
        icon=":material/database:",
    )
    st.stop()


def settings_in_effect(cur) -> tuple[int, Any]:
    """The settings version in effect now, or a friendly stop when nothing is loaded."""
    from unify_dash.model import settings

    try:
        return settings.settings_at(cur)
    except NotFound:
        no_workspace()
        raise  # unreachable: st.stop() raises


def plays_in_effect() -> tuple[int, Any, dict]:
    """(version, settings, plays by id) in effect now; a friendly stop when there is no Play."""
    with cursor() as cur:
        version, cfg = settings_in_effect(cur)
    plays = {p.id: p for p in cfg.plays}
    if not plays:
        st.info("The settings in effect define no Play.")
        st.stop()
    return version, cfg, plays


# --- paging --------------------------------------------------------------------------------------


def pager(total: int, key: str, page_size: int = PAGE_SIZE) -> tuple[int, int]:
    """A page picker under a list; returns ``(offset, limit)``. The list shows one page only:
    never all contacts in the browser."""
    pages = max(1, math.ceil(total / page_size))
    if pages == 1:
        return 0, page_size
    page = st.pagination(pages, key=key)
    page = min(max(int(page or 1), 1), pages)
    first = (page - 1) * page_size
    st.caption(f"Rows {fmt_int(first + 1)}–{fmt_int(min(total, first + page_size))} of {fmt_int(total)}")
    return first, page_size


def contact_link(email: str) -> str:
    """A deep link to the Contact page of ``email`` (for LinkColumn cells)."""
    from urllib.parse import quote

    return f"./contact?email={quote(str(email), safe='@')}"


# --- lists of contacts -----------------------------------------------------------------------------

LINK_COLUMN = st.column_config.LinkColumn("Contact", display_text=r"email=(.*)$", width="medium")


def engine_rows_frame(rows: list[dict]) -> pd.DataFrame:
    """The rows of :func:`unify_dash.engine.drilldown` as a table: contact, who, and the reasons."""
    return pd.DataFrame(
        [{"contact": contact_link(r["email"]),
          "name": " ".join(x for x in (r.get("first_name"), r.get("last_name")) if x) or "",
          "title": r.get("title") or "", "company": r.get("domain") or "",
          "reasons": "; ".join(r.get("reasons") or []) or "–",
          "opted out": states.label(states.OPT_OUT_SOURCES, r.get("opt_out_source")) or ""} for r in rows],
        columns=["contact", "name", "title", "company", "reasons", "opted out"])


def with_links(frame: pd.DataFrame) -> pd.DataFrame:
    """Replace an ``email`` column by a ``contact`` deep-link column (first)."""
    if "email" not in frame.columns:
        return frame
    out = frame.drop(columns=["email"])
    out.insert(0, "contact", [contact_link(e) if isinstance(e, str) and e else None for e in frame["email"]])
    return out


def list_csv(frame: pd.DataFrame) -> bytes:
    """The CSV export of a list: the contact deep link back to its email, then the one CSV writer of
    the package (:func:`unify_dash.reports.metrics.frame_to_csv`, formulas neutralised)."""
    from urllib.parse import unquote

    from unify_dash.reports.metrics import frame_to_csv

    if "contact" in frame.columns:
        frame = frame.assign(contact=[unquote(str(u).split("email=", 1)[-1]) for u in frame["contact"]])
        frame = frame.rename(columns={"contact": "email"})
    return frame_to_csv(frame)


def contact_list(fetch: Callable[[int, int | None], pd.DataFrame], total: int, key: str, file_name: str,
                 *, selectable: bool = False, export_limit: int | None = None):
    """One page of a list behind a count, a pager and a CSV export of the whole list.

    ``fetch(offset, limit)`` returns a page as a DataFrame (``limit=None``: all rows). Returns the
    ``(selection state or None, the page, its offset)``."""
    offset, limit = pager(total, key=f"{key}.page")
    frame = fetch(offset, limit)
    config = {"contact": LINK_COLUMN, "reasons": st.column_config.TextColumn("Reasons", width="large")}
    for col in frame.columns:  # no "None" in a cell: an empty text instead
        if frame[col].dtype == object:
            frame[col] = frame[col].where(frame[col].notna(), "")
    for col in frame.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[col]):
            config[col] = st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm")
    kwargs = dict(on_select="rerun", selection_mode="multi-row") if selectable else {}
    state = st.dataframe(frame, hide_index=True, width="stretch", key=f"{key}.table", column_config=config,
                         **kwargs)

    st.download_button(f"Export {plural(total, 'row')} as CSV", lambda: list_csv(fetch(0, export_limit)), file_name=file_name, mime="text/csv",
                       icon=":material/download:", key=f"{key}.csv", on_click="ignore", disabled=total == 0)
    return state, frame, offset


# --- a contact filter (one condition of the rule vocabulary) ----------------------------------------------------


def contact_filter(key: str) -> dict | None:
    """One condition of the rule vocabulary (field, operator, value) over a list's contacts, or
    ``None`` while it is off: the filter the list and its bulk action share. Bad values are shown
    by the domain's check (``ValidationError``), not here."""
    from unify_dash.model import vocabulary

    fields = [f for f in vocabulary.FIELDS.values() if f.entity in ("contact", "company")]
    c0, c1, c2, c3 = st.columns([0.8, 1.4, 1.4, 1.6], vertical_alignment="bottom")
    on = c0.toggle("Filter", key=f"{key}.on", help="Keep the contacts that match one condition (docs/rules.md)")
    field = c1.selectbox("Field", [f.name for f in fields], key=f"{key}.field", disabled=not on,
                         format_func=lambda n: vocabulary.FIELDS[n].label)
    ops = [o.name for o in vocabulary.operators_for(field)]
    op = c2.selectbox("Operator", ops, key=f"{key}.op.{field}", disabled=not on,
                      format_func=lambda n: vocabulary.OPERATORS[n].label)
    kind, ftype = vocabulary.OPERATORS[op].value, vocabulary.FIELDS[field].type
    cond: dict = {"field": field, "op": op}
    if kind == "none":
        c3.caption("no value")
    elif kind == "days" or (kind == "scalar" and ftype == vocabulary.NUMBER):
        number = c3.number_input("Days" if kind == "days" else "Value", key=f"{key}.num.{field}.{op}", step=1,
                                 value=30 if kind == "days" else 0, disabled=not on)
        cond["value"] = int(number) if float(number).is_integer() else number
    else:
        text = c3.text_input("Values (comma-separated)" if kind == "list" else "Value", key=f"{key}.text.{field}.{op}",
                             disabled=not on, placeholder="e.g. VP" if kind == "scalar" else "e.g. acme.com, globex.com")
        items = [v.strip() for v in text.split(",") if v.strip()]
        if kind == "list" and ftype == vocabulary.NUMBER:
            try:
                items = [float(v) for v in items]
            except ValueError:
                pass
        cond["value"] = items if kind == "list" else text.strip()
    return cond if on else None
