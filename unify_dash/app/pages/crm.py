"""CRM sync: the suppression-field mapping per CRM (read-only vs read & write), pulling records from and
pushing write-backs to the CRMs (unify_dash/connectors/), what was written back, where each opt-out
originated (CRM field or the platform) and the conflicts between the two, with their fix."""

import re

import streamlit as st

from unify_dash.actions import crmsync
from unify_dash.app import ui
from unify_dash.connectors import config as crm_config
from unify_dash.connectors.pull import pull, pull_lines
from unify_dash.connectors.push import push, push_lines
from unify_dash.model import roles, states
from unify_dash.reports import metrics

actor = ui.actor()
can_sync = roles.can(actor, "crm.sync")
st.title("CRM sync")
ui.show_flash()

with ui.cursor() as cur:
    ui.settings_in_effect(cur)
mappings = ui.cached(crmsync.mappings)  # counts the flagged contacts: once per data generation

st.subheader("Field mapping")
if not mappings:
    st.warning("No CRM field mapping: CRM opt-out flags are ignored and nothing is written back. "
               "Add a `crm_mapping` section to the settings.", icon=":material/link_off:")
for m in mappings:
    mode = "read & write" if m["writable"] else "read-only"
    with st.container(border=True):
        c1, c2, c3 = st.columns([2, 1, 1])
        c1.markdown(f"**{ui.md(m['crm_label'])}**: {ui.md(m['field_label'])}  \n{ui.md(m['writes_back'])}")
        c2.metric("Mode", mode)
        c3.metric("Contacts with the flag set", ui.fmt_int(m["flagged_contacts"]))

if can_sync:
    b1, b2 = st.columns(2)
    if b1.button("Apply CRM flags now", key="crm.apply", icon=":material/sync:",
                 help="Every contact whose mapped CRM flag is set and who is not opted out yet is opted out "
                      "(source: CRM field) and removed from its active sequences."):
        ok, summary = ui.run_write(lambda cur: crmsync.apply_crm_flags(cur, actor))
        if ok:
            ui.flash(f"CRM flags applied: {summary['new_opt_outs']} new opt-outs, "
                     f"{summary['removed_enrollments']} enrollments ended.")
            st.rerun()
    if b2.button("Mark pending write-backs as done", key="crm.mark", icon=":material/done_all:",
                 help="Record that the CRM integration confirmed every pending write-back."):
        ok, n = ui.run_write(lambda cur: crmsync.mark_writebacks(cur, actor))
        if ok:
            ui.flash(f"{ui.plural(n, 'write-back')} marked done.")
            st.rerun()



def _with_progress(label: str, fn):
    """Run ``fn(cursor, progress)`` as a write with a progress bar; the result or None."""
    bar = st.progress(0.0, text=label)

    def progress(fraction: float, message: str) -> None:
        bar.progress(max(0.0, min(1.0, fraction)), text=message)

    ok, res = ui.run_write(lambda cur: fn(cur, progress))
    bar.empty()
    return res if ok else None


def _push_summary(res) -> str:
    return " ".join(push_lines(res)[: len(res["crms"]) or 1])


st.subheader("Connectors")
status = crm_config.configured(st.secrets)
with ui.cursor() as cur:
    pending = crmsync.pending_writebacks(cur)
cols = st.columns(len(crm_config.CRMS) + 1)
for col, crm in zip(cols, crm_config.CRMS, strict=False):
    label = states.CRMS[crm]
    with col.container(border=True):
        st.markdown(f"**{ui.md(label)}**")
        if status[crm]:
            st.caption(ui.md(status[crm]))
        elif can_sync and st.button(f"Pull from {label}", key=f"crm.pull.{crm}", icon=":material/cloud_download:",
                                    help=f"Read every record from {label}'s API and load it as its export files "
                                         "would load: the settings and the platform's history are kept, no "
                                         "opt-out ends."):
            res = _with_progress(f"Pulling from {label}…", lambda cur, prog, crm=crm: pull(
                cur, actor, crm, secrets=st.secrets, progress=prog))
            if res is not None:
                ui.flash(pull_lines(res)[0])
                st.rerun()
        else:
            st.caption("configured")
with cols[-1].container(border=True):
    st.markdown(f"**Write-backs**: {ui.fmt_int(len(pending))} pending")
    if can_sync and len(pending) and st.button("Push pending write-backs", key="crm.push", icon=":material/cloud_upload:",
                                               help="Send every pending opt-out write-back to its CRM; each one "
                                                    "becomes sent, or failed with the CRM's error."):
        res = _with_progress("Pushing…", lambda cur, prog: push(cur, actor, secrets=st.secrets, progress=prog))
        if res is not None:
            ui.flash(_push_summary(res))
            st.rerun()

tab_prov, tab_wb, tab_conf = st.tabs(["Opt-out provenance", "Write-backs", "Conflicts"], key="crm.tabs")

with tab_prov:
    st.caption("For every opted-out contact: did the opt-out originate in the CRM (its field is set) or in the "
               "platform (opt-out link click, handled reply, admin button)? With a read-only mapping, opt-outs "
               "that increase originate in the CRM; with read & write they can come from either side.")
    email = st.text_input("Contact email", key="crm.email", placeholder="all opted-out contacts")
    provenance = ui.shared(crmsync.provenance)  # every opted-out contact, until the next write (read-only)
    prov = provenance[provenance["email"] == email.strip().lower()] if email.strip() else provenance
    if prov.empty:
        st.caption("No opted-out contact" + (f" with email {ui.code(email)}." if email else "."))
    else:
        counts = prov["origin_label"].value_counts()
        cols = st.columns(len(counts))
        for col, (origin, n) in zip(cols, counts.items(), strict=True):
            col.metric(ui.md(origin), ui.fmt_int(n))
        shown = [c for c in ["email", "origin_label", "opted_out_at", "evidence_event_id", "evidence_actor",
                             "evidence_detail", "crm_flags_set", "writeback", "conflict"] if c in prov.columns]

        def fetch(offset, limit):
            page = prov[shown].iloc[offset: None if limit is None else offset + limit].copy()
            page["crm_flags_set"] = [", ".join(x) if x is not None and len(x) else "" for x in page["crm_flags_set"]]
            return ui.with_links(page.rename(columns={"origin_label": "origin"}))

        ui.contact_list(fetch, len(prov), key="crm.prov", file_name="opt_out_provenance.csv")

with tab_wb:
    st.caption("Opt-outs and reversals made in the platform, written back to each CRM whose mapping is read & "
               "write (pending until the integration confirms them).")
    with ui.cursor() as cur:
        total = metrics.writebacks(cur, limit=0)["total"]

    def fetch_wb(offset, limit):
        with ui.cursor() as cur:
            return ui.with_links(metrics.writebacks(cur, offset=offset, limit=limit or total)["rows"])

    if total:
        ui.contact_list(fetch_wb, total, key="crm.wb", file_name="crm_writebacks.csv")
    else:
        st.caption("Nothing written back yet.")

with tab_conf:
    st.caption("Contacts the platform says are opted out while the CRM flag is false under a read & write mapping, "
               "with no write-back pending or done: the two systems disagree and nothing is fixing it.")
    conf = provenance[provenance["conflict"]]  # crmsync.conflicts is this filter of the provenance
    if conf.empty:
        st.success("No conflict.", icon=":material/done_all:")
    else:
        if can_sync:
            # typed, not picked: a picker would send every conflict's email to the browser (31,017 at 1M)
            typed = st.text_area("Only these contacts (emails, one a line or comma-separated)", key="crm.conf.pick",
                                 placeholder=f"empty: all {len(conf):,} conflicts", height=80)
            wanted = list(dict.fromkeys(e.strip().lower() for e in re.split(r"[,;\s]+", typed) if e.strip()))
            known = set(conf["email"])
            unknown = [e for e in wanted if e not in known]
            if unknown:
                st.warning("Not among the conflicts: " + ", ".join(ui.code(e) for e in unknown[:10])
                           + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else "")
                           + ". Correct or remove them to push.", icon=":material/help:")
            chosen = [e for e in wanted if e in known]
            if st.button("Push the platform's opt-out to the CRM", key="crm.resolve", icon=":material/sync_alt:",
                         type="primary", disabled=bool(unknown), help="Queue a write-back of the opt-out for each disagreeing read & write "
                                              "CRM and push it now (when the CRM is configured)."):
                def resolve(cur, prog):
                    queued = crmsync.queue_conflict_writebacks(cur, actor, emails=chosen or None)
                    wanted = {w["crm"] for w in queued["writebacks"]}
                    ready = [c for c in wanted if not status[c]]
                    pushed = [push(cur, actor, c, secrets=st.secrets, progress=prog) for c in ready]
                    return queued, pushed, sorted(wanted - set(ready))
                res = _with_progress("Pushing the opt-outs…", resolve)
                if res is not None:
                    queued, pushed, waiting = res
                    words = [f"{ui.plural(len(queued['writebacks']), 'write-back')} queued for "
                             f"{ui.plural(queued['contacts'], 'contact')}."] + [_push_summary(r) for r in pushed]
                    if waiting:
                        words.append(f"Not configured, left pending: {', '.join(waiting)}.")
                    ui.flash(" ".join(words))
                    st.rerun()

        def fetch_conf(offset, limit):
            page = conf.iloc[offset: None if limit is None else offset + limit]
            return ui.with_links(page[["email", "origin_label", "opted_out_at", "writeback"]].rename(
                columns={"origin_label": "origin"}))

        ui.contact_list(fetch_conf, len(conf), key="crm.conf", file_name="crm_conflicts.csv")

    readonly = ui.shared(crmsync.readonly_disagreements)
    if not readonly.empty:
        st.markdown("**Read-only mappings: nothing can be pushed**")
        st.info(f"{ui.plural(len(readonly), 'opted-out contact')} still have the flag off in a CRM mapped read-only. "
                "The CRM is the master of that field, so the platform writes nothing there: set the field in the "
                "CRM (the next pull brings it back), or change the mapping's mode to read_write in the settings' "
                "crm_mapping section (Data page, or the settings file) to let the platform write it. The contacts "
                "stay opted out here either way.", icon=":material/lock:")

        def fetch_ro(offset, limit):
            page = readonly.iloc[offset: None if limit is None else offset + limit]
            return ui.with_links(page.rename(columns={"field_label": "field"}))

        ui.contact_list(fetch_ro, len(readonly), key="crm.readonly", file_name="crm_read_only_disagreements.csv")
