"""Rule health: the rule lint, the overlap of a Play's exclusions, the override registry and the diff
between two settings versions with the contacts that flip. Each view is one call into
``unify_dash/reports/`` (the same function as its CLI verb); ``?view=`` deep-links a view."""

import datetime as dt

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from unify_dash.app import ui
from unify_dash.reports import lint, overrides, settings_diff

VIEWS = {"lint": "Rule lint", "overlap": "Overlap", "overrides": "Override registry", "diff": "Settings diff"}

st.title("Rule health")
ui.show_flash()
with ui.cursor() as cur:
    version, cfg = ui.settings_in_effect(cur)

if "rules.view" not in st.session_state:
    st.session_state["rules.view"] = st.query_params.get("view") if st.query_params.get("view") in VIEWS else "lint"
view = st.segmented_control("View", list(VIEWS), format_func=VIEWS.get, key="rules.view",
                            label_visibility="collapsed") or "lint"
st.query_params["view"] = view


def lint_view() -> None:
    st.caption(f"Settings v{version} in effect, checked against every contact: rules that match nobody, rules "
               "shadowed by others (turning them off releases nobody), rules on at one level but off at the "
               "other so they never act, and overrides that point at no contact or are old.")
    days = st.columns([1, 3])[0].number_input("Flag overrides older than (days)", min_value=0, max_value=3650,
                                              value=lint.DEFAULT_OVERRIDE_DAYS, step=30, key="rules.lint.days")
    out = ui.cached(lint.lint, override_days=int(days))
    if not out["findings"]:
        st.success("No findings: every rule matches someone, acts somewhere and blocks someone alone; every "
                   "override names a contact and is recent.", icon=":material/task_alt:")
        return
    cols = st.columns(len(lint.KINDS))
    for col, (kind, label) in zip(cols, lint.KINDS.items(), strict=True):
        col.metric(ui.md(lint.SHORT[kind]), ui.fmt_int(out["counts"][kind]), help=ui.md(label))
    frame = pd.DataFrame([{"finding": lint.SHORT[f["kind"]], "rule": f["name"], "detail": f["detail"],
                           "contacts": ui.fmt_int(f["contacts"]) if f["contacts"] else ""} for f in out["findings"]],
                         columns=["finding", "rule", "detail", "contacts"])
    st.dataframe(frame, hide_index=True, width="stretch", key="rules.lint.table", column_config={
        "finding": st.column_config.TextColumn(width="small"),
        "detail": st.column_config.TextColumn(width="large"),
        "contacts": st.column_config.TextColumn(help="Contacts a shadowed rule blocks (none alone)", width="small")})
    st.caption("Hover a cell to read a long detail in full.")


def overlap_view() -> None:
    plays = {p.id: p.name for p in cfg.plays}
    if not plays:
        st.info("The settings in effect define no Play.")
        return
    c1, c2 = st.columns([2, 1])
    play = c1.selectbox("Play", list(plays), format_func=plays.get, key="rules.overlap.play")
    sort = c2.selectbox("Sort by", ["blocks_alone", "blocking", "matched"], key="rules.overlap.sort",
                        format_func={"blocks_alone": "Blocks alone", "blocking": "Blocking",
                                     "matched": "Matched"}.get)
    out = ui.cached(lint.overlap, play)
    rows = sorted(out["exclusions"], key=lambda x: -(x[sort] or 0))
    st.caption("Over the Play's audience (not opted out). Blocks alone: contacts released if that exclusion "
               "alone were turned off. Click a column header to sort by it.")
    number = st.column_config.NumberColumn
    share = [f"{x['alone_share']:.0%}" if x["alone_share"] is not None else "–" for x in rows]
    st.dataframe(pd.DataFrame([{"exclusion": x["name"], "matched": x["matched"], "blocking": x["blocking"],
                                "blocks alone": x["blocks_alone"], "alone share": s} for x, s in zip(rows, share, strict=True)],
                              columns=["exclusion", "matched", "blocking", "blocks alone", "alone share"]),
                 hide_index=True, width="stretch", key="rules.overlap.table", height=38 + 35 * len(rows),
                 column_config={"matched": number(format="localized"), "blocking": number(format="localized"),
                                "blocks alone": number(format="localized"),
                                "alone share": st.column_config.TextColumn(help="blocks alone / blocking")})
    m = out["matrix"]
    if m["ids"]:
        names = [ui.plot_text(n) for n in m["names"]]
        fig = go.Figure(go.Heatmap(z=m["values"], x=names, y=names, colorscale="Blues", texttemplate="%{z:,}",
                                   hovertemplate="%{y} and %{x}: %{z:,} contacts<extra></extra>"))
        fig.update_layout(height=120 + 34 * len(names), margin=dict(l=10, r=10, t=10, b=10),
                          yaxis=dict(autorange="reversed"))
        st.subheader("Contacts matched by both")
        st.plotly_chart(fig, key="rules.overlap.heatmap", config={"displayModeBar": False})


def overrides_view() -> None:
    out = ui.cached(overrides.registry)
    items = out["overrides"]
    st.caption("Every 'Email is not' override of the newest settings: who added it, when and why (the settings "
               "version that first had it), and the sends to that address since it took effect in sequences the "
               "exclusion guards. An override with an expiry stops applying then (the engine leaves it out).")
    if not items:
        st.info("No 'Email is not' overrides.")
        return
    frame = pd.DataFrame([{
        "contact": ui.contact_link(o["address"]) if o["contact_id"] else None, "address": o["address"],
        "exclusion": o["exclusion"], "status": "expired" if o["expired"] else "in effect" if o["in_effect"] else "pending",
        "added by": o["added_by"] or "", "added at": pd.Timestamp(o["added_at"]) if o["added_at"] else None,
        "why": o["note"] or "", "expires": pd.Timestamp(o["expires_at"]) if o["expires_at"] else None,
        "sends let through": o["sends_let_through"]} for o in items])
    st.dataframe(frame, hide_index=True, width="stretch", key="rules.overrides.table", column_config={
        "contact": st.column_config.LinkColumn("Contact", display_text=r"email=(.*)$",
                                               help="Empty: no contact has this address"),
        "added at": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
        "expires": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm", help="Empty: never"),
        "sends let through": st.column_config.NumberColumn(format="localized")})
    missing = sum(1 for o in items if not o["contact_id"])
    if missing:
        st.warning(f"{ui.plural(missing, 'override')} {'names' if missing == 1 else 'name'} an address that is no contact.", icon=":material/warning:")


def _version_label(v: dict) -> str:
    return f"v{v['version']} · {ui.fmt_time(v['effective_at'])} · {v['actor']} · {v['note'] or 'no note'}"


def diff_view() -> None:
    with ui.cursor() as cur:
        vs = settings_diff.versions(cur)
    if len(vs) < 2:
        st.info("Only one settings version is saved: apply a change (Play view, Exclusions) to compare two.")
        return
    labels = {v["version"]: _version_label(v) for v in vs}
    by_date = st.toggle("Compare the versions in effect at two dates", key="rules.diff.by_date")
    c1, c2, c3 = st.columns([2, 2, 1])
    if by_date:
        first, now = vs[0]["effective_at"], ui.now()
        da = c1.date_input("From (in effect at the end of)", value=first.date(), min_value=first.date(),
                           max_value=now.date(), key="rules.diff.da")
        db_ = c2.date_input("To (in effect at the end of)", value=now.date(), min_value=first.date(),
                            max_value=now.date(), key="rules.diff.db")
        def end_of(day) -> str:  # the end of that day, or now for today
            return min(dt.datetime.combine(day, dt.time(23, 59, 59)), now).isoformat()

        with ui.cursor() as cur:
            a, b = settings_diff.resolve(cur, end_of(da))[0], settings_diff.resolve(cur, end_of(db_))[0]
    else:
        a = c1.selectbox("From", list(labels), index=len(vs) - 2, format_func=labels.get, key="rules.diff.a")
        b = c2.selectbox("To", list(labels), index=len(vs) - 1, format_func=labels.get, key="rules.diff.b")
    direction = c3.selectbox("Contacts", [None, *settings_diff.DIRECTIONS], key="rules.diff.dir",
                             format_func=lambda d: {None: "all flipped", "released": "released",
                                                    "newly_blocked": "newly blocked"}[d])
    head = ui.cached(settings_diff.settings_diff, a, b, limit=0, direction=direction)
    st.subheader(f"What changed from v{a} to v{b}")
    if not head["changes"]:
        st.caption("Nothing: the two versions are the same document.")
    for kind in ("rules", "toggles", "overrides", "other"):
        lines = [c["text"] for c in head["changes"] if c["kind"] == kind]
        if lines:
            st.markdown(f"**{kind.capitalize()}**  \n" + "  \n".join(f"- {ui.md(t)}" for t in lines))
    f = head["flipped"]
    st.subheader(f"Contacts that flip: {ui.fmt_int(f['released'])} released, {ui.fmt_int(f['newly_blocked'])} "
                 "newly blocked")
    st.caption("Evaluated on today's data under each version, per Play (a contact is counted once in each Play "
               "where it flips): released = would be enrolled at one node or more under the newer version and "
               "not under the older; newly blocked = the other way round.")
    if f["by_play"]:
        st.dataframe(pd.DataFrame(f["by_play"]).drop(columns=["play_id"]), hide_index=True, key="rules.diff.plays")
    total = head["flipped"]["total"]

    def fetch(offset: int, limit: int | None) -> pd.DataFrame:
        out = ui.cached(settings_diff.settings_diff, a, b, limit=limit, offset=offset, direction=direction)
        return pd.DataFrame([{"contact": ui.contact_link(r["email"]) if r["email"] else None, "name": r["name"],
                              "company": r["company"], "play": r["play"],
                              "change": r["direction"].replace("_", " ")} for r in out["rows"]],
                            columns=["contact", "name", "company", "play", "change"])

    st.markdown(f"**List: {ui.plural(total, 'flip')}**")
    ui.contact_list(fetch, total, key=f"rules.diff.list.{a}.{b}.{direction}", file_name=f"settings-v{a}-v{b}.csv")


{"lint": lint_view, "overlap": overlap_view, "overrides": overrides_view, "diff": diff_view}[view]()
