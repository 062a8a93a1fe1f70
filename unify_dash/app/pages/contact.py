"""Contact: look a contact up by email (deep link ``?email=...``); profile, opt-out status and source,
the Exclusion tab (every exclusion, every level, every sequence, the values that matched, what would
let the contact through), enrollments, the execution log and history. Actions: add an "Email is not"
override, opt out, unenroll, reverse an opt-out with documented permission; each confirmed and audited."""

import datetime as dt
import re

import pandas as pd
import streamlit as st

from unify_dash import engine
from unify_dash.actions import crmsync, optouts
from unify_dash.actions import enrollments as lifecycle
from unify_dash.app import ui
from unify_dash.errors import NotFound, UnifyError
from unify_dash.model import roles, settings, states
from unify_dash.reports import contactview, diagnosis, metrics
from unify_dash.store import db

actor = ui.actor()
st.title("Contact")
ui.show_flash()

# --- search: the text box and the URL (?email=...) stay in sync ----------------------------------------------
linked = (st.query_params.get("email") or "").strip()
if st.session_state.get("contact.linked") != linked:
    st.session_state["contact.email"] = linked
    st.session_state["contact.linked"] = linked


def on_search() -> None:
    value = (st.session_state.get("contact.email") or "").strip().lower()
    st.session_state["contact.linked"] = value
    if value:
        st.query_params["email"] = value
    else:
        st.query_params.pop("email", None)


st.text_input("Email", key="contact.email", on_change=on_search, placeholder="ann@acme.com",
              help="Exact email (trimmed, case-insensitive). The address bar keeps it: share the link.")
email = (st.session_state.get("contact.linked") or "").strip().lower()
if not email:
    st.caption("Search a contact by email to read its Exclusion tab.")
    st.stop()

with ui.cursor() as cur:
    version, cfg = ui.settings_in_effect(cur)
    try:
        contact = optouts.contact_row(cur, email)
    except NotFound:
        contact = None
        suggestions = metrics.find_contacts(cur, email)
if contact is None:
    st.warning(f"No contact with email {ui.code(email)}.", icon=":material/person_off:")
    if suggestions:  # links to our own Contact page; the text is escaped
        st.markdown("Did you mean:  \n" + "  \n".join(f"[{ui.md(s)}]({ui.contact_link(s)})" for s in suggestions))
    st.stop()

with ui.cursor() as cur:
    x = engine.explain(cur, email)
    enrollments = metrics.contact_enrollments(cur, email)
    clock = db.now(cur)
opt = x.get("opt_out") or None
# "Email is not <email>" saved on an exclusion in a version not yet in effect: exclusion id -> (version, effective)
with ui.cursor() as cur:
    pending, latest = settings.pending_versions(cur), settings.latest_version(cur)
pending_overrides = ({xid: (latest[0], pending[-1]["effective_at"])
                      for xid in contactview.overrides_in(latest[1], email) - contactview.overrides_in(cfg, email)}
                     if pending and latest else {})

# --- header: who, status, actions ---------------------------------------------------------------------------------
head, actions = st.columns([3, 2], vertical_alignment="top")
with head:
    st.subheader(ui.md(contactview.display_name(contact)))
    st.markdown(f"{ui.code(contact['email'])} · {ui.md(contact.get('title')) or 'no title'} · "
                f"company {ui.md(contact.get('domain')) if contact.get('domain') else '(none: personal email domain)'}")
    if opt:
        st.badge(f"Opted out · {ui.md(states.label(states.OPT_OUT_SOURCES, opt.get('source')))} · since "
                 f"{ui.fmt_time(opt.get('opted_out_at'))}", icon=":material/block:", color="red")
    else:
        st.badge("Not opted out", icon=":material/mark_email_read:", color="green")

DIALOG = "contact.dialog"


def open_dialog(kind: str) -> None:
    st.session_state[DIALOG] = kind


def close_dialog() -> None:
    st.session_state.pop(DIALOG, None)


active = enrollments[enrollments["state"].isin(states.ACTIVE_STATES)]
# sequences the contact could enter now: every sequence it is not queued or active in
enrollable = [q for q in cfg.sequences if q.id not in set(active["sequence"])]
blocker = optouts.reversal_blocker(cfg, contact) if opt else None
with actions:
    b1, b2, b3 = st.columns(3)
    if not opt and roles.can(actor, "contact.enroll"):
        b1.button("Enroll", key="contact.enroll", on_click=open_dialog, args=("enroll",), type="primary",
                  disabled=not enrollable, icon=":material/person_add:",
                  help="Enroll in a sequence now; the engine decides, a blocked contact is refused with the reasons.")
    if roles.can(actor, "contact.unenroll"):
        b2.button("Unenroll", key="contact.unenroll", on_click=open_dialog, args=("unenroll",),
                  disabled=active.empty, icon=":material/person_remove:",
                  help="Cancel the remaining steps of one sequence (or all); does not block future sequences.")
    if not opt and roles.can(actor, "contact.opt_out"):  # permanent: never the primary action
        b3.button("Opt out", key="contact.optout", on_click=open_dialog, args=("opt_out",), type="secondary",
                  icon=":material/block:", help="Global and permanent: removes the contact from every sequence.")
    if opt and blocker is None and roles.can(actor, "contact.reverse_opt_out"):
        b3.button("Reverse opt-out", key="contact.reverse", on_click=open_dialog, args=("reverse",),
                  icon=":material/undo:", help="Only with the contact's documented permission to resume outreach.")
    if opt and blocker is not None:
        st.caption(f"This opt-out cannot be reversed here: {ui.md(blocker)}")


def done(message: str) -> None:
    close_dialog()
    ui.flash(message)
    st.rerun()


@st.dialog("Opt out this contact?", on_dismiss=close_dialog)
def opt_out_dialog() -> None:
    st.write(f"{ui.code(contact['email'])} will be removed from every active sequence and can enter none. Opt-outs are "
             "meant to be permanent: only a documented permission can reverse one. To stop one sequence only, "
             "unenroll instead.")
    evidence = st.text_input("Reason or reference (optional)", key="contact.optout.evidence")
    if st.button("Opt out", type="primary", key="contact.optout.confirm"):
        ok, res = ui.run_write(lambda cur: optouts.opt_out(cur, actor, contact["email"], source="admin",
                                                             evidence=evidence or None))
        if ok:
            done(f"{ui.code(contact['email'])} opted out; {ui.plural(len(res['removed_enrollments']), 'enrollment')} ended"
                 + (f", {ui.plural(len(res['writebacks']), 'CRM write-back')} queued." if res["writebacks"] else "."))


@st.dialog("Unenroll", on_dismiss=close_dialog)
def unenroll_dialog() -> None:
    seqs = {s: cfg.sequence(s).name if s in {q.id for q in cfg.sequences} else s for s in active["sequence"]}
    choice = st.radio("From", [None, *seqs], key="contact.unenroll.seq",
                      format_func=lambda s: "every sequence" if s is None else ui.md(seqs[s]))
    st.caption("Unenrolling cancels the remaining steps; it does not opt the contact out.")
    if st.button("Unenroll", type="primary", key="contact.unenroll.confirm"):
        ok, res = ui.run_write(lambda cur: lifecycle.unenroll(cur, actor, contact["email"], choice))
        if ok:
            done(f"{ui.code(contact['email'])} unenrolled from {ui.plural(len(res['unenrolled']), 'enrollment')}.")


@st.dialog("Enroll in a sequence", on_dismiss=close_dialog)
def enroll_dialog() -> None:
    names = {q.id: q.name for q in enrollable}
    seq = st.selectbox("Sequence", list(names), key="contact.enroll.seq", format_func=names.get)  # plain text
    st.caption("The engine decides as of now with the settings in effect: a contact blocked by an exclusion (or opted "
               "out) is refused with the reasons, and the attempt is in the execution log.")
    if st.button("Enroll", type="primary", key="contact.enroll.confirm"):
        ok, res = ui.run_write(lambda cur: lifecycle.enroll(cur, actor, contact["email"], seq))
        if ok:
            done(f"{ui.code(contact['email'])} enrolled in {ui.md(names[seq])}: first step due "
                 f"{ui.fmt_time(res['next_step_at'])}.")


# the reversal's fields as the dialog names them (the domain's messages name its arguments)
REVERSAL_FIELDS = {"permission_by": "“Who gave the permission”", "permission_at": "“When”",
                   "evidence": "“Evidence”"}


def reversal_error(err: Exception) -> None:
    text = str(err)
    for name, label in REVERSAL_FIELDS.items():
        text = re.sub(rf"\b{name}\b", label, text)
    st.error(ui.md(text), icon=":material/error:")


@st.dialog("Reverse the opt-out", on_dismiss=close_dialog)
def reverse_dialog() -> None:
    st.write("Opt-outs are intended to be permanent. Reverse one **only** with the contact's explicit, documented "
             "permission to resume outreach. All three fields are required and recorded.")
    by = st.text_input("Who gave the permission", key="contact.reverse.by",
                       help="A name, e.g. the contact themselves, and how (by email, on a call).")
    c1, c2 = st.columns(2)
    day = c1.date_input("When", key="contact.reverse.day", value=clock.date(), max_value=clock.date())
    time_ = c2.time_input("At", key="contact.reverse.time", value=dt.time(9, 0))
    evidence = st.text_area("Evidence", key="contact.reverse.evidence",
                            help="Where the permission is recorded: an email reference, a ticket number, call notes.")
    if st.button("Reverse opt-out", type="primary", key="contact.reverse.confirm"):
        when = dt.datetime.combine(day, time_) if day else None
        try:
            with ui.writing() as cur:
                optouts.reverse_opt_out(cur, actor, contact["email"], permission_by=by, permission_at=when,
                                        evidence=evidence)
        except UnifyError as err:
            reversal_error(err)
        else:
            done(f"Opt-out of {ui.code(contact['email'])} reversed. It can be enrolled again: use **Enroll**.")


@st.dialog("Add an \"Email is not\" filter", on_dismiss=close_dialog)
def override_dialog() -> None:
    xid = st.session_state.get("contact.override.exclusion")
    exclusion = cfg.exclusion(xid)
    st.write(f"Add **Email is not** {ui.code(contact['email'])} to **{ui.md(exclusion.name)}**. It lets this contact through that "
             f"exclusion at every level, after the propagation delay ({cfg.propagation_minutes} minutes).")
    note = st.text_input("Note (required)", key="contact.override.note")
    if st.button("Add filter", type="primary", key="contact.override.confirm"):
        ok, v = ui.run_write(lambda cur: settings.add_email_override(cur, actor, xid, contact["email"], note=note))
        if ok:
            done(f"Settings v{v} saved: \"Email is not {ui.code(contact['email'])}\" on {ui.md(exclusion.name)}. "
                 "Pending: it takes "
                 f"effect in {cfg.propagation_minutes} minutes.")


dialogs = {"opt_out": opt_out_dialog, "unenroll": unenroll_dialog, "reverse": reverse_dialog,
           "override": override_dialog, "enroll": enroll_dialog}
if st.session_state.get(DIALOG) in dialogs:
    dialogs[st.session_state[DIALOG]]()


def ask_override(exclusion_id: str) -> None:
    st.session_state["contact.override.exclusion"] = exclusion_id
    open_dialog("override")



def exclusion_panel(e: dict, can_override: bool) -> None:
    """One matching exclusion: criteria, scope, matched values, levels, what it blocks, what would let
    the contact through, and the "Email is not" button."""
    blocking_now = contactview.blocks_something(e)
    with st.expander(f"{ui.md(e['name'])} · {contactview.badge(e)}", expanded=blocking_now,
                     icon=":material/block:" if blocking_now else ":material/filter_alt_off:"):
        st.markdown(f"**Criteria:** {ui.md(e['criteria'])}  \n**Scope:** "
                    f"{'company-wide' if e['scope'] == 'company' else 'person'}"
                    + (f"  \n**In effect since:** {ui.fmt_time(e['since'])}" if e.get("since") else ""))
        if e.get("company"):
            st.markdown(f"**{ui.md(e['company']['text'])}**")
        if e["evidence"]:
            st.markdown("**Matched values:**  \n" + "  \n".join(f"- {ui.md(v)}" for v in e["evidence"]))
        if e["let_through_by"]:
            st.markdown("**Let through by filter:** " + "; ".join(ui.md(v) for v in e["let_through_by"]))
        st.dataframe(contactview.levels_table(cfg, e), hide_index=True, width="stretch",
                     key=f"contact.levels.{e['id']}")
        st.markdown(f"**Blocks:** {ui.md(contactview.blocks(e))}")
        st.caption("Mid-sequence: " + ("active participants who match are removed (remove from active sequences)."
                                       if e["remove_from_active_sequences"] else
                                       "active participants keep receiving steps; only new entries are blocked."))
        if e["let_through"]:
            st.markdown("**What would let the contact through:**  \n"
                        + "  \n".join(f"- {ui.md(t)}" for t in e["let_through"]))
        saved = pending_overrides.get(e["id"])
        if saved:  # saved, pending: the button is gone, the time it takes effect is said
            st.caption(f"\"Email is not {ui.code(email)}\" is saved (settings v{saved[0]}): it takes effect at "
                       f"{ui.fmt_time(saved[1])} ({ui.fmt_relative(saved[1], clock)}).")
        elif can_override and e["applies"] and blocking_now:
            st.button(f"Add \"Email is not {ui.code(email)}\" to {ui.md(e['name'])}", key=f"contact.override.{e['id']}",
                      on_click=ask_override, args=(e["id"],), icon=":material/person_add:")


# --- tabs --------------------------------------------------------------------------------------------------------------
tab_excl, tab_enr, tab_log, tab_hist, tab_profile = st.tabs(
    ["Exclusion", f"Enrollments ({len(enrollments)})", "Execution log", "History", "Profile"], key="contact.tabs")

with tab_excl:
    if opt:
        st.error(ui.md(opt["text"]), icon=":material/block:")
    blocking = [e for e in x["exclusions"] if e["state"] != "no_match"]
    if x["summary"]:
        st.markdown("**Why:**  \n" + "  \n".join(f"- {ui.md(line)}" for line in x["summary"]))
    else:
        st.success("No exclusion applies and the contact is not opted out: it can enter every sequence.",
                   icon=":material/check_circle:")

    st.markdown("**Sequences**")
    st.dataframe(contactview.sequences_table(x), hide_index=True, width="stretch", key="contact.seqs")
    for play_name, outcome in contactview.play_lines(cfg, x):
        st.markdown(f"**Play {ui.md(play_name)}**: {ui.md(outcome)}")

    can_override = roles.can(actor, "override.add") and not opt
    for e in blocking:
        exclusion_panel(e, can_override)
    others = contactview.no_match_table(x)
    if not others.empty:
        with st.expander(f"{ui.plural(len(others), 'exclusion')} that do not match"):
            st.dataframe(others, hide_index=True, width="stretch", key="contact.nomatch")
    for pv in x["pending"]:
        icon = ":material/schedule:"
        if pv["changes_answer"]:
            st.warning(f"Pending settings v{pv['version']} takes effect at {ui.fmt_time(pv['effective_at'])} "
                       f"({ui.fmt_relative(dt.datetime.fromisoformat(pv['effective_at']), clock)}) and changes this "
                       "answer: " + "; ".join(ui.md(c) for c in pv["changes"]), icon=icon)
        else:
            st.caption(f"Pending settings v{pv['version']} (takes effect {ui.fmt_time(pv['effective_at'])}) does not "
                       "change this answer.")
    skipped = [n for n in x["enrollments"] if n["state"] in states.ACTIVE_STATES and n["decision"] != "send"]
    for n in skipped:
        seq_name = next((q.name for q in cfg.sequences if q.id == n["sequence_id"]), n["sequence_id"])
        st.info(f"Enrollment in {ui.md(seq_name)} ({n['state']}): {ui.md(n['text'])}", icon=":material/skip_next:")

with tab_enr:
    if enrollments.empty:
        st.caption("No enrollment.")
    else:
        next_step = {n["enrollment_id"]: n["text"] for n in x["enrollments"]}
        shown = contactview.enrollments_table(enrollments, cfg).assign(
            **{"at send time": [next_step.get(e) or "" for e in enrollments["enrollment_id"]]})
        st.dataframe(shown.drop(columns=["enrollment_id"]), hide_index=True, width="stretch", key="contact.enr",
                     column_config={**{c: st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm")
                                       for c in ("next_step_at", "enrolled_at", "updated_at")},
                                    "at send time": st.column_config.TextColumn(width="large")})
        ended = enrollments[enrollments["state"].isin(["completed", "unenrolled"])]
        if not ended.empty:
            st.markdown("**Why did it end?** From the event and execution logs, not a guess:")
            for e in ended.itertuples():
                with ui.cursor() as cur:
                    d = diagnosis.diagnose_completion(cur, e.enrollment_id)
                st.markdown(f"- **{ui.md(e.sequence)}** ({ui.md(e.state)}, {ui.md(e.reason or 'no reason')}; "
                            f"{ui.plural(d['steps_sent'], 'step')} sent): {ui.md(d['summary'])}")

with tab_log:
    with ui.cursor() as cur:
        log = metrics.execution_log(cur, email=email, limit=200)
    st.caption(f"Every enrollment attempt and send-time check for this contact ({ui.plural(log['total'], 'row')}, "
               "newest first).")
    st.dataframe(metrics.log_display(log["rows"], cfg).drop(columns=["email"]), hide_index=True, width="stretch",
                 key="contact.log",
                 column_config={"at": st.column_config.DatetimeColumn("When", format="YYYY-MM-DD HH:mm"),
                                "blocking_criteria": st.column_config.TextColumn("Blocking criteria", width="large"),
                                "settings_version": st.column_config.NumberColumn("Settings", format="v%d")})

with tab_hist:
    with ui.cursor() as cur:
        events = metrics.contact_events(cur, email, limit=200)
        audit = metrics.recent_audit(cur, target=contact["email"], limit=50)
    st.caption(f"Events ({ui.plural(events['total'], 'event')}, newest first): sends, replies, opt-outs, reversals, "
               "unenrollments, skips.")
    st.dataframe(contactview.events_table(events["rows"], cfg), hide_index=True, width="stretch", key="contact.events",
                 column_config={"occurred_at": st.column_config.DatetimeColumn("When", format="YYYY-MM-DD HH:mm"),
                                "text": st.column_config.TextColumn(width="large")})
    st.caption("Who did what to this contact (audit log):")
    st.dataframe(audit, hide_index=True, width="stretch", key="contact.audit",
                 column_config={"at": st.column_config.DatetimeColumn("When", format="YYYY-MM-DD HH:mm")})

with tab_profile:
    prov = ui.cached(crmsync.provenance, email=contact["email"]) if opt else None
    if prov is not None and not prov.empty:
        p = prov.iloc[0]
        by = f", by {ui.md(p['evidence_actor'])}" if isinstance(p["evidence_actor"], str) else ""
        st.markdown(f"**Opt-out origin:** {ui.md(p['origin_label'])} (evidence "
                    f"{ui.md(p['evidence_event_id'] or 'CRM field')}{by}); CRM write-back: {ui.md(p['writeback'] or 'none')}.")
    fields = {k: v for k, v in contact.items() if v is not None and not (isinstance(v, float) and pd.isna(v))}
    st.dataframe(pd.DataFrame({"field": list(fields), "value": [str(v) for v in fields.values()]}),
                 hide_index=True, width="stretch", key="contact.profile")
