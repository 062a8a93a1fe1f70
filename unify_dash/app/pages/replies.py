"""Opt-out replies: replies classified as opt-out requests ("Please remove me", "Do not contact",
"unsubscribe", ...) wait here until someone handles them. Handling unenrolls the sender and adds them
to the opt-out list (an opt-out with source "reply"), one by one or in bulk."""

import streamlit as st

from unify_dash.actions import enrollments as lifecycle
from unify_dash.app import ui
from unify_dash.model import roles
from unify_dash.reports import metrics
from unify_dash.reports.metrics import Scope

actor = ui.actor()
can_handle = roles.can(actor, "replies.handle")
st.title("Opt-out replies")
ui.show_flash()
st.caption("Unify classifies replies such as \"Please remove me\" or \"Do not contact\" as opt-out requests, but "
           "they need handling: handling unenrolls the recipient from every sequence and adds them to the opt-out "
           "list (global and permanent). Out-of-office, positive and other replies are not opt-outs. Replies "
           "labelled needs_review may be opt-outs the classifier could not decide: read them before handling.")

with ui.cursor() as cur:
    ui.settings_in_effect(cur)
queue = ui.cached(lifecycle.opt_out_reply_queue)
BATCH = 50

# the second tab computes only when it is open (a rerun when the tab changes): a page of replies of one
# class reads the events of every reply
tab_queue, tab_all = st.tabs([f"Queue ({ui.fmt_int(len(queue))})", "All replies by class"], key="replies.tabs",
                             on_change="rerun")

with tab_queue:
    if queue.empty:
        st.success("No opt-out reply waits for handling.", icon=":material/done_all:")
    else:
        st.markdown(f"**{ui.plural(len(queue), 'unhandled opt-out reply', 'unhandled opt-out replies')}**, oldest "
                    "first. Select rows to handle them, or handle the whole queue.")

        def fetch(offset, limit):
            page = queue.iloc[offset: None if limit is None else offset + limit]
            frame = page[["occurred_at", "email", "sequence_id", "text", "label", "label_source"]].rename(
                columns={"occurred_at": "replied at", "sequence_id": "sequence", "label_source": "classified by"})
            return ui.with_links(frame)

        state, page, offset = ui.contact_list(fetch, len(queue), key="replies.queue",
                                              file_name="opt_out_replies.csv", selectable=can_handle)
        picked = [queue.iloc[offset + i]["event_id"] for i in (state.selection.rows or [])] if can_handle else []
        note = st.text_input("Note (optional)", key="replies.note", disabled=not can_handle)
        c1, c2 = st.columns(2)
        if c1.button(f"Handle selected ({len(picked)})", key="replies.handle.sel", disabled=not picked,
                     type="primary", icon=":material/unsubscribe:"):
            st.session_state["replies.job"] = picked
        if c2.button(f"Handle all {ui.fmt_int(len(queue))}", key="replies.handle.all", disabled=not can_handle,
                     icon=":material/select_all:"):
            st.session_state["replies.job"] = queue["event_id"].tolist()
        if not can_handle:
            st.caption(f"Your role ({actor.role}) cannot handle replies.")

        job = st.session_state.get("replies.job")
        if job:
            def close() -> None:
                st.session_state.pop("replies.job", None)

            @st.dialog("Handle opt-out replies", on_dismiss=close)
            def confirm_handling() -> None:
                st.write(f"Opt out the senders of **{ui.plural(len(job), 'reply', 'replies')}**: each is removed "
                         "from every sequence and can enter none (global and permanent; only a documented "
                         "permission reverses an opt-out).")
                if not st.button("Opt them out", type="primary", key="replies.handle.go"):
                    return
                bar = st.progress(0.0, text="Handling…")
                done, outcome = 0, {"opted_out": 0, "already_opted_out": 0, "already_handled": 0}
                for start in range(0, len(job), BATCH):
                    ok, results = ui.run_write(lambda cur, chunk=job[start:start + BATCH]:
                                               lifecycle.handle_opt_out_replies(cur, actor, chunk, note=note or None))
                    if not ok:
                        return
                    for r in results:
                        outcome[r["status"]] = outcome.get(r["status"], 0) + 1
                    done = min(start + BATCH, len(job))
                    bar.progress(done / len(job), text=f"{ui.fmt_int(done)} of {ui.fmt_int(len(job))}")
                close()
                ui.flash(f"Handled {ui.plural(done, 'reply', 'replies')}: {outcome['opted_out']} opted out, "
                         f"{outcome['already_opted_out']} already opted out, {outcome['already_handled']} already "
                         "handled.")
                st.rerun()

            confirm_handling()


def all_replies() -> None:
    """Every recorded reply of one class, paged (the second tab)."""
    by_class = ui.cached(metrics.breakdown, "replies", Scope())
    if by_class.empty:
        st.caption("No reply recorded.")
    else:
        cls = st.segmented_control("Class", by_class["key"].tolist(), key="replies.class",
                                   format_func=lambda k: f"{ui.md(metrics.label('replies', k))} "
                                                         f"({ui.fmt_int(by_class.set_index('key')['count'][k])})",
                                   default=by_class["key"].iloc[0])
        if cls:
            total = int(by_class.set_index("key")["count"][cls])

            def fetch_replies(offset, limit):
                with ui.cursor() as cur:
                    rows = metrics.contacts(cur, "replies", cls, Scope(), offset=offset, limit=limit)["rows"]
                return ui.with_links(rows[["email", "name", "occurred_at", "sequence", "label", "text"]])

            ui.contact_list(fetch_replies, total, key=f"replies.all.{cls}", file_name=f"replies_{cls}.csv")


if tab_all.open:
    with tab_all:
        all_replies()
