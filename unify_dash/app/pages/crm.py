"""CRM sync: the suppression-field mapping per CRM (read-only vs read & write), what was written back,
where each opt-out originated (CRM field or the platform) and the conflicts between the two."""

import streamlit as st

from unify_dash.actions import crmsync
from unify_dash.app import ui
from unify_dash.model import roles
from unify_dash.reports import metrics

actor = ui.actor()
can_sync = roles.can(actor, "crm.sync")
st.title("CRM sync")
ui.show_flash()

with ui.cursor() as cur:
    ui.settings_in_effect(cur)
    mappings = crmsync.mappings(cur)

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

tab_prov, tab_wb, tab_conf = st.tabs(["Opt-out provenance", "Write-backs", "Conflicts"], key="crm.tabs")

with tab_prov:
    st.caption("For every opted-out contact: did the opt-out originate in the CRM (its field is set) or in the "
               "platform (opt-out link click, handled reply, admin button)? With a read-only mapping, opt-outs "
               "that increase originate in the CRM; with read & write they can come from either side.")
    email = st.text_input("Contact email", key="crm.email", placeholder="all opted-out contacts")
    provenance = ui.cached(crmsync.provenance)  # every opted-out contact, cached until the next write
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
        def fetch_conf(offset, limit):
            page = conf.iloc[offset: None if limit is None else offset + limit]
            return ui.with_links(page[["email", "origin_label", "opted_out_at", "writeback"]].rename(
                columns={"origin_label": "origin"}))

        ui.contact_list(fetch_conf, len(conf), key="crm.conf", file_name="crm_conflicts.csv")
