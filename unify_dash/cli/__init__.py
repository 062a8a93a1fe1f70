"""The ``unify-dash`` command line (also ``python -m unify_dash``).

Each sub-command lives in the module that owns the concept; this file only
declares the arguments and turns :class:`~unify_dash.errors.UnifyError` (and DuckDB's or the
system's errors) into a one-line ``error:`` message and exit code 1, never a traceback.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys

import duckdb

from unify_dash import service
from unify_dash.errors import LoadError, UnifyError
from unify_dash.model.roles import ROLES
from unify_dash.model.states import OPT_OUT_SOURCES
from unify_dash.store import db
from unify_dash.store.db import DEFAULT_DB

# sub-command -> "module:function"; the function takes the parsed args and returns an exit code.
COMMANDS = {
    "demo": "unify_dash.io.demo:cli_demo",
    "load": "unify_dash.io.load:cli_load",
    "explain": "unify_dash.cli.engine:cli_explain",
    "impact": "unify_dash.cli.engine:cli_impact",
    "bench": "unify_dash.reports.bench:cli_bench",
    "sends": "unify_dash.scheduler.run:cli_sends",
    "clock": "unify_dash.scheduler.clock:cli_clock",
    "classify": "unify_dash.classify.command:cli_classify",
    "optout": "unify_dash.cli.actions:cli_optout",
    "reverse": "unify_dash.cli.actions:cli_reverse",
    "unenroll": "unify_dash.cli.actions:cli_unenroll",
    "enroll": "unify_dash.cli.actions:cli_enroll",
    "override": "unify_dash.cli.actions:cli_override_add",
    "history": "unify_dash.cli.actions:cli_history",
    "serve": "unify_dash.service.serve:cli_serve",
    "status": "unify_dash.service.serve:cli_status",
    "export-lake": "unify_dash.io.lake:cli_export_lake",
    "upgrade": "unify_dash.store.db:cli_upgrade",
    "crm": "unify_dash.cli.crm:cli_crm",
    "funnel": "unify_dash.cli.reports:cli_funnel",
    "overlap": "unify_dash.cli.reports:cli_overlap",
    "lint": "unify_dash.cli.reports:cli_lint",
    "settings-diff": "unify_dash.cli.reports:cli_settings_diff",
    "overrides": "unify_dash.cli.reports:cli_overrides",
    "trends": "unify_dash.cli.reports:cli_trends",
    "forecast": "unify_dash.cli.reports:cli_forecast",
}


def _engine_args(p: argparse.ArgumentParser) -> None:
    """``--engine duckdb|spark`` and where Spark runs (docs/scale-out.md)."""
    p.add_argument("--engine", choices=["duckdb", "spark"], default="duckdb",
                   help="where the evaluation pass runs (default duckdb; spark needs pip install '.[spark]' and Java)")
    p.add_argument("--spark-master", default="local[*]", help="Spark master URL (default local[*])")
    p.add_argument("--lake", help="with --engine spark: a lake written by export-lake (default: the --db "
                                  "database exported to a temporary lake)")


def _memory_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--memory-limit", help=f"DuckDB's memory limit, e.g. 4GB or 30%% (default ${db.MEMORY_ENV}, "
                                          f"else {int(db.MEMORY_FRACTION * 100)}%% of this machine's memory; for "
                                          f"a load at most {db.LOAD_MEMORY_CAP / 1e9:g} GB)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="unify-dash", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="write a seeded demo workspace folder")
    p.add_argument("--out", required=True, help="folder to write the workspace into")
    p.add_argument("--contacts", type=int, default=3000, help="number of contacts (default 3000)")
    p.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    p.add_argument("--format", choices=["csv", "parquet"], default="csv",
                   help="file format of the records (default csv)")
    p.add_argument("--db", help="also build this database: the workspace as of an hour before the demo clock, "
                                "loaded, then the scheduler run up to the clock (its execution log; make run)")

    p = sub.add_parser("load", help="load a workspace folder (or CRM export folder) into the database")
    p.add_argument("dir", help="workspace folder")
    p.add_argument("--db", default=str(DEFAULT_DB), help=f"database file (default {DEFAULT_DB})")
    _memory_arg(p)

    p = sub.add_parser("explain", help="one contact's Exclusion tab: why it is blocked, opted out or skipped")
    p.add_argument("email")
    p.add_argument("--db", default=str(DEFAULT_DB))
    p.add_argument("--at", help="evaluate as of this time (ISO timestamp; default the workspace clock)")
    p.add_argument("--json", action="store_true", help="print JSON")
    _engine_args(p)

    p = sub.add_parser("impact", help="what-if counts of a Play under toggles, without saving anything")
    p.add_argument("--play", required=True, help="play id")
    p.add_argument("--set", action="append", default=[], metavar="EXCLUSION@LEVEL=on|off",
                   help="toggle, e.g. open_opp@audience=off, open_opp@organisation=on, "
                        "open_opp@ruleset:default=off (repeatable)")
    p.add_argument("--db", default=str(DEFAULT_DB))
    p.add_argument("--json", action="store_true")
    _engine_args(p)

    p = sub.add_parser("bench", help="build, load and evaluate N contacts and print timings (last line JSON)")
    p.add_argument("--contacts", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--workdir", help="where to build (default a temporary folder)")
    p.add_argument("--repeats", type=int, default=200, help="what-if toggle sets to time (default 200)")
    p.add_argument("--format", choices=["csv", "parquet"], default="csv",
                   help="file format of the demo workspace loaded (default csv)")
    p.add_argument("--runs", type=int, default=1, help="loads to time (min and median reported; default 1)")
    _memory_arg(p)
    _engine_args(p)

    p = sub.add_parser("export-lake", help="write the workspace's tables as Parquet (a lake for --engine spark)")
    p.add_argument("dir", help="folder to write (new, empty, or a lake written before: replaced)")
    p.add_argument("--db", default=str(DEFAULT_DB))
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("sends", help="run the send scheduler up to a time and print a summary")
    p.add_argument("--until", required=True, help="ISO timestamp, e.g. 2026-12-26T00:00")
    p.add_argument("--db", default=str(DEFAULT_DB))
    p.add_argument("--json", action="store_true")
    p.add_argument("--tick", default="1h",
                   help="scheduler resolution: steps due within a tick go out at its end, e.g. 15m, 1h, 1d "
                        "(default 1h)")
    p.add_argument("--sender", metavar="package.module:factory",
                   help="deliver through factory()'s deliver(message) (default: record only, nothing leaves)")

    p = sub.add_parser("classify", help="classify replies from stdin, one per line; one JSON object per line out")
    p.add_argument("--jsonl", action="store_true", help="input lines are JSON objects: text, optional subject, headers")
    _action_verbs(sub)
    _crm_verbs(sub)

    p = sub.add_parser("serve", help="run the service: the app, the scheduler worker and the CLI's API on one database")
    p.add_argument("--db", default=str(DEFAULT_DB))
    p.add_argument("--port", type=int, help="the app's port (default Streamlit's: 8501 or STREAMLIT_SERVER_PORT)")
    p.add_argument("--api-port", type=int, default=0, help="the loopback API's port (default any free port)")
    p.add_argument("--tick-every", default="5m",
                   help="how often the worker runs the scheduler on the real clock, e.g. 30s, 5m, 1h (default 5m)")
    p.add_argument("--no-app", action="store_true", help="the worker and the API only, no Streamlit")
    p.add_argument("--no-worker", action="store_true", help="no scheduler worker (the scheduler runs only when asked)")

    p = sub.add_parser("status", help="the scheduler: last and next tick, sends and skips per tick, errors")
    p.add_argument("--db", default=str(DEFAULT_DB))
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("upgrade", help="add the columns a database made by an older unify-dash lacks")
    p.add_argument("--db", default=str(DEFAULT_DB))
    p.add_argument("--json", action="store_true")
    from unify_dash.cli import reports as report_verbs  # the read-only reports (cli/reports.py)

    report_verbs.add_parsers(sub, str(DEFAULT_DB))
    return parser


# Verbs that may create their database file; every other verb with --db needs an existing one (and
# says "no database at ..." instead of creating an empty file).
CREATES_DB = frozenset({"load", "demo"})


def _os_message(err: OSError) -> str:
    where = f": {err.filename}" if err.filename else ""
    what = err.strerror or str(err)
    if err.errno == errno.ENOSPC:
        return f"no space left on the disk{where}; free disk space and run this again"
    if err.errno in (errno.EACCES, errno.EPERM):
        return f"permission denied{where}; expected a path this user may read and write"
    return f"{what}{where}"


def _who(p) -> None:
    """--db, --as ROLE, --actor NAME and --json of the contact actions."""
    p.add_argument("--db", default=str(DEFAULT_DB), help=f"database file (default {DEFAULT_DB})")
    p.add_argument("--as", dest="role", choices=ROLES, default=None,
                   help="act in this role (default $UNIFY_ROLE or revops); refused when the role may not")
    p.add_argument("--actor", default=None, help="who acts, for the audit log (default $UNIFY_USER or 'local')")
    p.add_argument("--json", action="store_true", help="print JSON")


def _action_verbs(sub) -> None:
    """The contact actions (unify_dash/cli/actions.py): the same domain calls as the app's buttons."""
    p = sub.add_parser("optout", help="opt a contact out of every sequence (global and permanent)")
    p.add_argument("email")
    p.add_argument("--source", required=True, choices=list(OPT_OUT_SOURCES),
                   help="where the opt-out comes from (admin = the Opt-out button)")
    _who(p)
    p = sub.add_parser("reverse", help="end an opt-out with the contact's documented permission")
    p.add_argument("email")
    p.add_argument("--permission-by", required=True, help="who gave the permission (a name)")
    p.add_argument("--permission-at", required=True, help="when (ISO timestamp; not in the future, not before "
                                                          "the opt-out)")
    p.add_argument("--evidence", required=True, help="where it is recorded: ticket, email reference, call notes")
    _who(p)
    p = sub.add_parser("unenroll", help="cancel a contact's remaining steps (one sequence or all), or every "
                                        "contact a filter selects in a sequence (in batches)")
    p.add_argument("email", nargs="?", help="the contact (or --filter for many)")
    p.add_argument("--sequence", help="only this sequence (default every sequence of the contact); required "
                                      "with --filter")
    p.add_argument("--filter", help="bulk: a rule condition as JSON, e.g. '{\"field\": \"title\", \"op\": "
                                    "\"contains\", \"value\": \"VP\"}' (docs/rules.md), or 'all'")
    p.add_argument("--play", help="bulk: only the enrollments of this Play")
    p.add_argument("--node", help="bulk: only the enrollments of this sequence node")
    p.add_argument("--state", choices=["queued", "active"], help="bulk: only the enrollments in this state "
                                                                  "(default both)")
    p.add_argument("--batch-size", type=int, default=500, help="bulk: enrollments per transaction (default 500)")
    _who(p)
    p = sub.add_parser("enroll", help="enroll a contact in a sequence now (refused with the reasons when blocked)")
    p.add_argument("email")
    p.add_argument("--sequence", required=True)
    _who(p)
    p = sub.add_parser("override", help="'Email is not' overrides: override add EXCLUSION EMAIL --note TEXT")
    verbs = p.add_subparsers(dest="override_verb", required=True)
    q = verbs.add_parser("add", help="let one contact through an exclusion (after the propagation delay)")
    q.add_argument("exclusion", help="exclusion id")
    q.add_argument("email")
    q.add_argument("--note", required=True, help="why (kept with the settings change)")
    q.add_argument("--expires", help="ISO time from which the override stops applying (default: never)")
    _who(q)
    p = sub.add_parser("history", help="a contact's events, execution log and audit rows")
    p.add_argument("email")
    _who(p)
    p = sub.add_parser("clock", help="the workspace clock: show, advance without sending, preview pending changes")
    verbs = p.add_subparsers(dest="clock_verb", required=True)
    _who(verbs.add_parser("show", help="the clock, the settings version in effect, pending versions"))
    q = verbs.add_parser("advance", help="move the clock forward without sending (pending settings take effect)")
    q.add_argument("--to", required=True, help="ISO timestamp, not before the clock (it never goes back)")
    _who(q)
    _who(verbs.add_parser("preview", help="what each pending settings version will release or newly block"))


def _crm_verbs(sub) -> None:
    """The CRM connectors (unify_dash/connectors/, docs/connectors.md): the CRM sync page's buttons."""
    p = sub.add_parser("crm", help="CRM connectors: crm pull salesforce|hubspot, crm push, crm resolve")
    verbs = p.add_subparsers(dest="crm_verb", required=True)
    q = verbs.add_parser("pull", help="read a CRM's records through its API and load them as its exports would")
    q.add_argument("crm", choices=["salesforce", "hubspot"])
    _who(q)
    q = verbs.add_parser("push", help="send every pending opt-out write-back to its CRM")
    q.add_argument("--crm", choices=["salesforce", "hubspot"], help="only this CRM (default every CRM with some)")
    _who(q)
    q = verbs.add_parser("resolve", help="queue write-backs of the platform's opt-out for CRM conflicts")
    q.add_argument("--email", action="append", default=[], help="only this contact (repeatable; default all)")
    q.add_argument("--push", action="store_true", help="push the queued write-backs at once")
    _who(q)


def main(argv: list[str] | None = None) -> int:
    forwarded = service.forward_if_running(argv, build_parser())  # a live service owns --db: run it there
    if forwarded is not None:
        return forwarded
    args = build_parser().parse_args(argv)
    module_name, func_name = COMMANDS[args.command].split(":")
    try:
        reads_lake = getattr(args, "engine", None) == "spark" and getattr(args, "lake", None)
        if getattr(args, "db", None) is not None and args.command not in CREATES_DB and not reads_lake:
            db.require_database(args.db)
        func = getattr(importlib.import_module(module_name), func_name)
        code = int(func(args) or 0)
        sys.stdout.flush()  # a reader that stopped early (| head) shows here, not as a traceback at exit
        return code
    except BrokenPipeError:
        # the reader of our output is gone: stop quietly (the Python docs' recipe, exit code 1)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except LoadError as err:
        print(f"error: {err}", file=sys.stderr)
        for problem in err.problems:
            print(f"  - {problem}", file=sys.stderr)
        for warning in err.warnings:  # they may say why (a file left out)
            print(f"  warning: {warning}", file=sys.stderr)
        return 1
    except UnifyError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except duckdb.Error as err:  # not turned into a UnifyError where it happened: still one line
        print(f"error: {db.user_error(err, getattr(args, 'db', None))}", file=sys.stderr)
        return 1
    except OSError as err:
        print(f"error: {_os_message(err)}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
