"""unify-dash: the exclusion-troubleshooting dashboard (``streamlit run app.py``).

A thin entry point: who is acting, the pages that role sees, the shared sidebar, then the page.
The database is ``$UNIFY_DB`` (default ``data/unify.duckdb``). See docs/dashboard.md.
"""

import time

import streamlit as st

from unify_dash.app import ui
from unify_dash.errors import NotFound
from unify_dash.model import roles, settings
from unify_dash.store import db as unify_db

STARTED = time.perf_counter()  # UNIFY_APP_TIMING=1: each run's server time on stderr (scripts/browser_bench.py)

# The favicon is a file of the app: a :material/...: page icon would be fetched from a font CDN, and
# no request of the page leaves for another host (tests/test_browser.py).
st.set_page_config(page_title="unify-dash", page_icon=str(ui.ROOT / "unify_dash/app/assets/favicon.png"),
                   layout="wide")

# --- who is acting -------------------------------------------------------------------------------
if ui.oidc_configured() and not st.user.is_logged_in:
    st.title("unify-dash")
    st.write("Sign in to troubleshoot exclusions, sequences and opt-outs.")
    st.button("Sign in", icon=":material/login:", on_click=st.login, type="primary")
    st.stop()

refusal = ui.local_mode_refusal()  # no sign-in configured and the server reachable from the network
if refusal:
    st.title("unify-dash")
    st.error(refusal, icon=":material/lock:")
    st.stop()

with st.sidebar:
    if not ui.role_pinned():
        # The chosen role lives under a key of its own: a page change drops a widget's state, and the
        # sidebar and the page list must follow the role at once (docs/dashboard.md, "Roles").
        st.session_state.setdefault(ui.ROLE_KEY, st.session_state.get("ui.role", "revops"))
        st.session_state["ui.role"] = st.session_state[ui.ROLE_KEY]
        st.selectbox("Role (local mode)", roles.ROLES, key="ui.role",
                     on_change=lambda: st.session_state.update({ui.ROLE_KEY: st.session_state["ui.role"]}),
                     help="No identity provider is configured: pick the role to act as. "
                          "Set UNIFY_ROLE to pin it, or configure [auth] for real sign-in.")
actor = ui.actor()

# --- pages ---------------------------------------------------------------------------------------
# Every page keeps its own URL (/play, /metrics, /contact?email=...). The root URL is a hidden page
# that opens the role's first page, or the Contact page for a deep link ``/?email=...``.
pages = {}
for key in roles.PAGES[actor.role]:
    file, title, icon = ui.PAGE_FILES[key]
    pages[key] = st.Page(ui.ROOT / file, title=title, icon=icon, url_path=key)


def not_for_role(key: str):
    """A page this role does not see: its URL says so (hidden from the navigation), instead of a bounce."""
    def page() -> None:
        title = ui.PAGE_FILES[key][1]
        st.title(title)
        st.info(f"The {ui.md(title)} page is not available to the {ui.md(actor.role)} role. Pages of this role: "
                + ", ".join(ui.PAGE_FILES[k][1] for k in roles.PAGES[actor.role]) + ".", icon=":material/lock:")
    page.__name__ = f"not_for_{key}"
    return st.Page(page, title=ui.PAGE_FILES[key][1], url_path=key, visibility="hidden")


def home() -> None:
    if "email" in st.query_params and "contact" in pages:
        st.switch_page(pages["contact"], query_params={"email": st.query_params["email"]})
    st.switch_page(next(iter(pages.values())))


nav = st.navigation([st.Page(home, title="Home", url_path="home", default=True, visibility="hidden"),
                     *pages.values(), *(not_for_role(k) for k in ui.PAGE_FILES if k not in pages)])

# --- shared sidebar ------------------------------------------------------------------------------
with st.sidebar:
    st.markdown(f"**{ui.code(actor.name)}** · {ui.md(actor.role)}")
    if ui.oidc_configured():
        st.button("Sign out", icon=":material/logout:", on_click=st.logout, key="ui.logout")
    with ui.cursor() as cur:
        clock = unify_db.now(cur)
        try:
            version, _ = settings.settings_at(cur)
            in_effect = f"settings v{version} in effect"
        except NotFound:  # an empty database: the page says what to do
            in_effect = "no workspace loaded"
        pending = settings.pending_versions(cur)
    st.caption(f"Database {ui.code(ui.db_path())}  \nWorkspace clock {ui.fmt_time(clock)}  \n{in_effect}")
    if pending:
        st.markdown(f"**Pending changes** ({len(pending)})")
        for p in pending:
            with st.expander(f"v{p['version']} · takes effect {ui.fmt_time(p['effective_at'])} "
                             f"({ui.fmt_relative(p['effective_at'], clock)})"):
                st.caption(f"by {ui.code(p['actor'])} at {ui.fmt_time(p['created_at'])} · "
                           f"{ui.md(p['note']) or '(no note)'}")
                for c in p["changes"][:20]:
                    st.caption(f"{ui.md(c['object_type'])} {ui.code(c['object_id'])} {ui.md(c['field'])}: "
                               f"{ui.md(c['before'])} → {ui.md(c['after'])}")
                if len(p["changes"]) > 20:
                    st.caption(f"… and {len(p['changes']) - 20} more")

ui.indexes_banner()  # a load committed but its indexes not built: what works, and the command that finishes them
try:
    nav.run()
finally:
    ui.log_timing(f"page {nav.url_path or 'home'}", STARTED)
