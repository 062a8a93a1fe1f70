"""Data: what is loaded, and loading a workspace folder or CRM export files from the page (all or
nothing, with progress; the loader's problems listed by file, row and column)."""

import datetime as dt
import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from unify_dash import scheduler
from unify_dash.app import ui
from unify_dash.errors import NotFound
from unify_dash.io import paths
from unify_dash.io.load import load_workspace
from unify_dash.io.workspace import IndexesPending
from unify_dash.model import roles, settings
from unify_dash.reports import metrics
from unify_dash.scheduler import clock as clock_mod
from unify_dash.service import serve
from unify_dash.service import status as service_status
from unify_dash.store import db as unify_db

actor = ui.actor()
can_load = roles.can(actor, "data.load")
st.title("Data")
ui.show_flash()

with ui.cursor() as cur:
    counts = metrics.workspace_counts(cur)
    clock = unify_db.now(cur)
    latest = settings.latest_version(cur)
    pending = settings.pending_versions(cur)
    try:
        in_effect = f"settings v{settings.settings_at(cur)[0]} in effect"
    except NotFound:  # saved settings that take effect later, or none yet
        in_effect = "no settings in effect yet" if latest else "no settings yet"
    pinned = unify_db.get_meta(cur, "clock")

# the same words as the sidebar: what is in effect now, and what is saved but pending
versions = [f"settings v{p['version']} pending (takes effect {ui.fmt_time(p['effective_at'])}, "
            f"{ui.fmt_relative(p['effective_at'], clock)})" for p in pending] + [in_effect]
st.subheader("This database")
st.caption(f"{ui.code(ui.db_path())} · workspace clock {ui.fmt_time(clock)} "
           f"({'pinned by the workspace' if pinned else 'the wall clock, UTC'}) · " + ", ".join(versions))
cols = st.columns(4)
for i, (table, n) in enumerate(counts.items()):
    cols[i % 4].metric(table.replace("_", " "), ui.fmt_int(n))

worker = st.expander("Scheduler worker: last and next tick, sends and skips per tick, errors",
                     icon=":material/schedule:", key="data.worker", on_change="rerun")
if worker.open:  # read when opened: the status reads the recent ticks of the execution log
    with worker, ui.cursor() as cur:
        st.code(service_status.format_status(serve.service_status(ui.db_path(), cur)), language=None)

result = st.session_state.pop("data.result", None)
if result:
    if result.get("indexes_pending"):  # the banner above says which and the command that finishes them
        st.success("Loaded: the workspace is committed and consistent; some of its indexes are not built yet "
                   "(see above).", icon=":material/check_circle:")
    else:
        st.success(f"Loaded in {result.get('seconds', '?')} s.", icon=":material/check_circle:")
    if result.get("files"):  # one row per CRM export: kind, encoding, rows read / used, skipped and why, opt-outs
        st.dataframe([{"file": f["file"], "kind": f["kind"], "format": f["format"], "encoding": f["encoding"],
                       "headers": f["headers"], "rows read": f["rows_read"], "rows used": f["rows_used"],
                       "skipped": "; ".join(f"{n} {why}" for why, n in f["skipped"].items()),
                       "opt-outs": f["opt_outs"], "notes": "; ".join(f["notes"])} for f in result["files"]],
                     hide_index=True)
    st.json(result, expanded=False)


def run_load(folder: Path | str, root: Path | None = None) -> None:
    bar = st.progress(0.0, text="Starting…")

    def progress(fraction: float, message: str) -> None:
        bar.progress(fraction, text=message)

    ok, res = ui.run_write(lambda cur: load_workspace(cur, folder, actor=actor, progress=progress,
                                                                      root=root))
    if not ok and isinstance(res, IndexesPending):  # committed, its indexes not all built: loaded, not failed
        ok, res = True, {"indexes_pending": res.pending}
    if ok:
        st.session_state["data.result"] = res
        st.rerun()


if roles.can(actor, "sends.run"):
    st.subheader("Workspace clock")
    st.caption("Saved settings take effect when the workspace clock passes their time (the propagation delay). "
               "A workspace that pins its clock (the demo does) only moves when the send scheduler runs: it "
               "advances the clock and records every entry, send and skip on the way (simulated: no email leaves "
               "the machine).")
    pending_preview = ui.cached(clock_mod.preview)
    for p in pending_preview:  # what each pending version will release or block, by the engine
        st.info(ui.md(clock_mod.preview_line(p)) + " · " + " · ".join(
            f"{ui.md(x['name'])}: +{ui.fmt_int(x['released'])} / −{ui.fmt_int(x['blocked'])} contacts"
            for x in p["plays"] if x["released"] or x["blocked"]), icon=":material/update:")
    target = clock + dt.timedelta(hours=1)
    if pending_preview:
        target = max(target, max(p["effective_at"] for p in pending_preview))
    c1, c2, c3, c4 = st.columns([1, 1, 1, 1], vertical_alignment="bottom")
    day = c1.date_input("Run sends until", value=target.date(), min_value=clock.date(), key="data.until.day")
    time_ = c2.time_input("at", value=target.time().replace(second=0), key="data.until.time", step=900)
    if c4.button("Advance clock only", key="data.clock.advance", icon=":material/more_time:",
                 help="Move the workspace clock without sending: pending settings take effect; steps that "
                      "fall due wait for the next run of sends."):
        to = dt.datetime.combine(day, time_)
        ok, res = ui.run_write(lambda cur: clock_mod.advance(cur, actor, to))
        if ok:
            ui.flash(f"Clock advanced to {ui.fmt_time(res['to'])}, nothing sent; in effect: settings "
                     f"v{res['in_effect']}" + (f" ({', '.join('v' + str(p['version']) for p in res['took_effect'])} "
                                               "took effect)" if res["took_effect"] else "")
                     + f"; {ui.fmt_int(res['due_steps'])} steps due for the next run.")
            st.rerun()
    if c3.button("Run sends", key="data.sends", icon=":material/schedule_send:"):
        until = dt.datetime.combine(day, time_)
        bar = st.progress(0.0, text="Starting…")
        span = max((until - clock).total_seconds(), 1.0)

        def advance(t, summary) -> None:
            bar.progress(min(1.0, (t - clock).total_seconds() / span),
                         text=f"{ui.fmt_time(t)}: {ui.fmt_int(summary.get('sends', 0))} sends")

        ok, res = ui.run_write(lambda cur: scheduler.run_until(cur, until, actor=actor, progress=advance))
        if ok:
            ui.flash(f"Clock advanced to {ui.fmt_time(until)}: {ui.fmt_int(res['sends'])} sends, "
                     f"{ui.fmt_int(res['new_enrollments'])} new enrollments, "
                     f"{ui.fmt_int(res['not_enrolled_contacts'])} contacts not enrolled.")
            st.rerun()

if not can_load:
    st.info(f"Your role ({actor.role}) cannot load data.", icon=":material/lock:")
    st.stop()

st.subheader("Load")
st.caption("A load replaces the records (contacts, company records, opportunities, enrollments) and keeps the history "
           "(events, execution log, settings versions, audit log). It is all or nothing: when a file has a problem, "
           "nothing changes and every problem is listed with its file, row and column. Opt-outs already recorded are "
           "never cleared by a load.")
tab_upload, tab_folder = st.tabs(["Upload files", "A folder on the server"], key="data.tabs")

with tab_folder:
    root = paths.workspace_root()
    folder = st.text_input("Workspace folder", key="data.folder", placeholder="demo",
                           help=f"A folder inside the workspace root `{root}` (set by {paths.WORKSPACES_ENV}): "
                                "settings.yaml, contacts.csv, ... and optional salesforce/ and hubspot/ export "
                                "folders (see docs/workspace-format.md). Paths and links leading out of the root are refused.")
    if st.button("Load folder", key="data.load.folder", type="primary", disabled=not folder.strip(),
                 icon=":material/upload:"):
        run_load(folder, root=root)  # confined to the root: resolved, never a glob, no link out of it

with tab_upload:
    st.caption("Files keep their names: settings (settings.yaml or one file per section), workspace.yaml, records "
               "(contacts, company_records, opportunities, enrollments, events as .csv or .parquet), and the CRM "
               "exports with their real names.")
    ws_files = st.file_uploader("Workspace files", accept_multiple_files=True, key="data.up.ws",
                                type=["csv", "parquet", "yaml", "yml", "json"])
    sf_files = st.file_uploader("Salesforce exports (Contact.csv, Lead.csv, Account.csv, Opportunity.csv)",
                                accept_multiple_files=True, key="data.up.sf", type=["csv"])
    hs_files = st.file_uploader("HubSpot exports (contacts.csv, companies.csv, deals.csv)",
                                accept_multiple_files=True, key="data.up.hs", type=["csv"])
    any_files = bool(ws_files or sf_files or hs_files)
    if st.button("Load uploaded files", key="data.load.upload", type="primary", disabled=not any_files,
                 icon=":material/upload:"):
        with tempfile.TemporaryDirectory(prefix="unify-upload-") as tmp:
            root = Path(tmp)
            for files, sub in ((ws_files, ""), (sf_files, "salesforce"), (hs_files, "hubspot")):
                target = root / sub
                target.mkdir(exist_ok=True)
                for f in files or []:
                    (target / Path(f.name).name).write_bytes(f.getvalue())  # never a path from the browser
            run_load(root)

st.subheader("Recent activity")
with ui.cursor() as cur:
    audit = metrics.recent_audit(cur, limit=15, detail_chars=300)  # the table shows a line of each
st.dataframe(pd.DataFrame(audit), hide_index=True, width="stretch", key="data.audit",
             column_config={"at": st.column_config.DatetimeColumn("When", format="YYYY-MM-DD HH:mm")})
