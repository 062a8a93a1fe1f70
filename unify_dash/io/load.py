"""Loading a workspace: the all-or-nothing load of a workspace folder (records, settings, events) and of
the CRM exports beside it, and the ``unify-dash load`` verb. The steps of reading and checking workspace
files are :mod:`unify_dash.io.workspace`; the exports' are :mod:`unify_dash.io.exports`; this module
sequences both, so neither imports the other.
"""

from __future__ import annotations

import time
from pathlib import Path

import duckdb

from unify_dash.errors import LoadError, Problem
from unify_dash.io import exports as crm
from unify_dash.io import normalise, paths
from unify_dash.io.workspace import (
    COUNTED_TABLES,
    CRM_FOLDERS,
    DATA_EXTS,
    DOC_EXTS,
    RECORD_FILES,
    SECTION_FILES,
    SETTINGS_FILES,
    STAGING,
    WORKSPACE_FILES,
    Loading,
    Progress,
    StopLoading,
    build_indexes,
    check_enrollments,
    check_events,
    check_ledger,
    cross_checks,
    folder_entries,
    install_sql_helpers,
    merge_contacts,
    read_settings,
    read_workspace_files,
    record_crm_opt_outs,
    workspace_meta,
    write_events,
    write_records,
)
from unify_dash.model import roles
from unify_dash.model import settings as settings_mod
from unify_dash.store import db, ledger

# --- entry points ------------------------------------------------------------------------------------


def load_workspace(con: duckdb.DuckDBPyConnection, path, *, actor: roles.Actor = roles.SYSTEM,
                   progress: Progress | None = None, root: Path | None = None, keep=None,
                   keep_settings: bool = False) -> dict:
    """Load a workspace folder (or a folder of CRM exports plus settings) into ``con``, all or nothing.

    Returns counts per table, the settings version in effect after the load and warnings.
    Raises :class:`LoadError` (nothing changed) or :class:`~unify_dash.errors.PermissionDenied`.
    ``progress(fraction, message)`` is called as the load advances. With ``root`` (the app's server
    folders: :func:`unify_dash.io.paths.workspace_root`), ``path`` is taken relative to it and the folder
    and every file read must resolve inside it (:class:`~unify_dash.io.paths.PathRefused` otherwise).
    ``keep(ld)`` stages records the folder does not hold (a CRM pull keeps the other sources' records,
    unify_dash/connectors/pull.py); ``keep_settings``: the folder's settings are read, never saved.
    """
    roles.require(actor, "data.load")
    if root is not None:
        root = Path(root).resolve()
        path = paths.resolve_workspace(path, root)
    folder = Path(path)
    if not folder.is_dir():
        raise LoadError([Problem(str(folder), None, None, "not a folder; expected a workspace folder")])
    started = time.perf_counter()
    ld = Loading(con, folder, actor, progress, root)
    ld.keep, ld.keep_settings = keep, keep_settings
    ld.progress(0.0, "reading settings")
    try:
        with db.transaction(con):
            try:
                result = _run(ld, crm)
            except StopLoading:
                raise LoadError(ld.problems, ld.warnings) from None
            except duckdb.Error as err:  # a gap in validation must still leave the database untouched
                first = str(err).splitlines()[0]
                raise LoadError([Problem(folder.name, None, None, f"the database refused the data: {first}")]) from None
    finally:
        ld.cleanup()
    db.checkpoint(con)  # committed: now into the database file, or a clear error (disk full) instead of "loaded"
    result["indexes_built"] = len(build_indexes(ld))  # after the commit, one at a time (IndexesPending if one fails)
    result["seconds"] = round(time.perf_counter() - started, 2)
    ld.progress(1.0, "done")
    return result


def _run(ld: Loading, crm) -> dict:
    con = ld.con
    install_sql_helpers(con)
    entries = folder_entries(ld.folder)
    meta = workspace_meta(ld, entries)
    s = read_settings(ld, entries)
    ld.settings = s
    exports = crm.find_exports(ld, ld.folder)  # settings and export problems are reported together
    has_contacts = any(f"contacts{e}" in entries for e in DATA_EXTS) or crm.has_contact_exports(exports)
    if not has_contacts:
        ld.problem(ld.folder.name or str(ld.folder), None, None,
                   "no contacts: expected contacts.csv (or .parquet), or CRM exports in salesforce/ or hubspot/")
    known = set(SETTINGS_FILES) | set(WORKSPACE_FILES) | set(SECTION_FILES) | set(CRM_FOLDERS) | {
        f"{stem}{e}" for stem in RECORD_FILES for e in DATA_EXTS} | crm.claimed(ld) | {"mapping.yaml", "mapping.yml"}
    for name, p in entries.items():
        if name not in known and not name.startswith(".") and (p.is_dir() or p.suffix.lower() in DATA_EXTS + DOC_EXTS):
            ld.warnings.append(f"{p.name}: not a workspace file, ignored")

    for name, cols in STAGING.items():  # on with the files even after problems: all of them at once
        con.execute(f"CREATE OR REPLACE TEMP TABLE {db.ident(name)} ({cols})")
    typed = read_workspace_files(ld, entries)
    ld.progress(0.35, "reading CRM exports")
    crm.stage(ld, exports)
    ld.check()
    crm.stage_links(ld)  # contacts / opportunities of the exports, joined to their company records
    if ld.keep is not None:
        ld.keep(ld)
    ld.check()
    normalise.apply(con)  # registered domains (public suffix list), ISO country codes

    ld.progress(0.55, "checking ids and references")
    cross_checks(ld)
    ld.check()
    merge_contacts(ld)
    if "enrollments" in typed:
        check_enrollments(ld, typed["enrollments"], s)
    clock, late = ledger.load_clock(con, meta.get("now"))
    if late:
        ld.warnings.append(late)
    if "events" in typed:
        check_events(ld, typed["events"])
        check_ledger(ld, typed["events"], clock or db.now(con))
    ld.check()

    ld.progress(0.7, "writing records")
    before = {t: con.execute(f"SELECT count(*) FROM {db.ident(t)}").fetchone()[0] for t in COUNTED_TABLES}
    ledger.pin_event_emails(con)
    if clock is not None:
        db.set_clock(con, clock)
    else:
        con.execute("DELETE FROM meta WHERE key = 'clock'")
    if meta.get("name"):
        db.set_meta(con, "workspace_name", meta["name"])
    else:
        con.execute("DELETE FROM meta WHERE key = 'workspace_name'")
    now = db.now(con)
    counts = write_records(ld, typed)
    ld.progress(0.85, "writing events and settings")
    new_events, loaded_opt_outs = write_events(ld, typed.get("events"))
    opt_outs = record_crm_opt_outs(ld, s, now)

    latest = settings_mod.latest_version(con)
    saved = not ld.keep_settings and (latest is None or latest[1].to_json() != s.to_json())
    if not saved and not ld.keep_settings:
        pending = con.execute("SELECT effective_at > ? FROM settings_versions WHERE version = ?",
                              [now, latest[0]]).fetchone()[0]
        saved = bool(pending)  # an identical but still pending version: the load makes it current now
    if saved:
        version = settings_mod.save_version(con, s, actor=ld.actor.name, note=f"workspace load: {ld.folder.name}",
                                            at=now, effective_at=now)
    else:
        version = settings_mod.settings_at(con, now)[0] if ld.keep_settings else latest[0]
    result = {**counts, "events_in_file": typed["events"].rows if "events" in typed else 0,
              "events_new": new_events, "crm_opt_outs_new": len(opt_outs), "settings_version": version,
              "settings_saved": saved, "clock": clock.isoformat(sep=" ") if clock else None,
              "sources": dict(ld.sources), "files": list(getattr(ld, "file_summary", [])),
              "warnings": list(ld.warnings)}
    ld.drop_temps()
    changes = {t: {"before": before[t], "after": con.execute(f"SELECT count(*) FROM {db.ident(t)}").fetchone()[0]}
               for t in COUNTED_TABLES}
    added = loaded_opt_outs + [{**o, "source": "crm", "occurred_at": now.isoformat(sep=" ")} for o in opt_outs]
    roles.audit(con, ld.actor, "data.load", str(ld.folder),
                {**{k: v for k, v in result.items() if k not in ("warnings",)}, "changes": changes,
                 "opt_outs_added": added, "warnings": list(ld.warnings)}, at=now)
    db.bump_generation(con)
    return result


def cli_load(args) -> int:
    """``unify-dash load DIR [--db PATH]``: load and print a short summary."""
    root = paths.cli_root()  # confined only when UNIFY_WORKSPACES is set; relative paths from here
    folder = Path(args.dir) if root is None else paths.resolve_workspace(Path(args.dir).absolute(), root)
    if not folder.is_dir():  # before the database is opened (and created)
        raise LoadError([Problem(str(folder), None, None, "not a folder; expected a workspace folder")])
    con = db.connect(args.db, rebuilding_records=True,  # a load rebuilds an older file's record tables
                     memory=db.memory_limit(getattr(args, "memory_limit", None), load=True))
    try:
        result = load_workspace(con, folder, root=root)
        generation = db.generation(con)
    finally:
        con.close()
    db.verify_reopens(args.db, generation)  # never "loaded" unless the committed file opens again
    print(f"loaded {args.dir} into {args.db} in {result['seconds']}s")
    for table in (*db.RECORD_TABLES,):
        print(f"  {table:16} {result[table]:>10,}")
    print(f"  {'events':16} {result['events_in_file']:>10,} in file, {result['events_new']:,} new")
    print(f"  CRM opt-outs     {result['crm_opt_outs_new']:>10,} new")
    state = "saved as" if result["settings_saved"] else "unchanged,"
    print(f"  settings {state} version {result['settings_version']}"
          + (f"; clock pinned at {result['clock']}" if result["clock"] else ""))
    for line in crm.summary_lines(result.get("files", [])):
        print(f"  file: {line}")
    for warning in result["warnings"]:
        print(f"  warning: {warning}")
    return 0


