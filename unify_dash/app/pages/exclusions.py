"""Exclusions & rulesets (Settings -> Organization -> Exclusions): criteria in English, the toggles of
each level, filters and "Email is not" overrides, rulesets and the sequences that use them; edit,
validate and save with a note (a new settings version, pending until it takes effect)."""

import dataclasses

import streamlit as st

from unify_dash.actions import optouts
from unify_dash.app import ui
from unify_dash.errors import LoadError, UnifyError
from unify_dash.io import documents
from unify_dash.model import roles, settings, vocabulary
from unify_dash.model.vocabulary import FIELDS, OPERATORS
from unify_dash.reports import metrics, settingsview

actor = ui.actor()
can_edit = roles.can(actor, "exclusion.edit") and roles.can(actor, "settings.apply")
can_override = roles.can(actor, "override.add")

st.title("Exclusions & rulesets")
ui.show_flash()

with ui.cursor() as cur:
    in_effect_version, _ = ui.settings_in_effect(cur)
    latest_version, cfg = settings.latest_version(cur)
    pending = settings.pending_versions(cur)
    clock = ui.now()

if latest_version != in_effect_version:
    when = pending[-1]["effective_at"] if pending else None
    st.info(f"Showing settings v{latest_version}, saved and pending: it takes effect at {ui.fmt_time(when)} "
            f"({ui.fmt_relative(when, clock)}). Until then v{in_effect_version} is in effect. "
            "Edits build on the newest version.", icon=":material/schedule:")
else:
    st.caption(f"Settings v{latest_version} (in effect). Changes take effect "
               f"{cfg.propagation_minutes} minutes after they are saved.")

is_override = vocabulary.is_email_is_not


def save(new_cfg: settings.Settings, note: str, message: str) -> None:
    ok, version = ui.run_write(lambda cur: settings.apply(cur, actor, new_cfg, note=note))
    if ok:
        for key in [k for k in st.session_state if str(k).startswith(("excl.edit.", "excl.matrix"))]:
            del st.session_state[key]
        ui.flash(f"{message}: saved as settings v{version}; it takes effect after "
                 f"{new_cfg.propagation_minutes} minutes (pending until then).")
        st.rerun()


tab_excl, tab_rules, tab_history = st.tabs(["Exclusions", "Rulesets", "History"], key="excl.tabs")

# --- exclusions --------------------------------------------------------------------------------------
with tab_excl:
    overview = settingsview.overview(cfg)
    st.dataframe(overview, hide_index=True, width="stretch", key="excl.overview", height=38 + 35 * len(overview),
                 column_config={"criteria": st.column_config.TextColumn(width="large")})

    ids = [e.id for e in cfg.exclusions]
    NEW = "__new__"
    choice = st.selectbox("Exclusion", [*ids, *([NEW] if can_edit else [])], key="excl.pick",
                          format_func=lambda k: "+ New exclusion" if k == NEW else cfg.exclusion(k).name)
    current = None if choice == NEW else cfg.exclusion(choice)

    if current is not None:
        st.subheader(ui.md(current.name))
        if current.description:
            st.caption(ui.md(current.description))
        st.markdown(f"**Criteria:** {ui.md(vocabulary.describe(current.criteria))}")
        scope_text = ("company-wide: when any contact or company record of a domain matches, every contact of "
                      "the domain is excluded" if current.company_wide else "the person only")
        st.markdown(
            f"**Scope:** {scope_text}  \n"
            f"**Exclude from sequences (organisation):** {'on' if current.exclude_from_sequences else 'off'}  \n"
            f"**Remove from active sequences:** {'on' if current.remove_from_active_sequences else 'off'}  \n"
            f"**On in rulesets:** {ui.md(', '.join(settingsview.rulesets_on(cfg, current.id)) or 'none')}")
        other_filters = [f for f in current.filters if not is_override(f)]
        if other_filters:
            st.markdown("**Filters** (the exclusion does not apply when a filter does not hold):")
            for f in other_filters:
                st.markdown(f"- {ui.md(vocabulary.describe(f))}")

        # "Email is not" overrides: list, add
        overrides = [f["value"] for f in current.filters if is_override(f)]
        st.markdown(f"**\"Email is not\" overrides** ({len(overrides)})")
        if overrides:
            st.caption(", ".join(ui.code(o) for o in overrides))
        if can_override:
            with st.form("excl.override", clear_on_submit=True):
                c1, c2 = st.columns(2)
                address = c1.text_input("Let this email through", key="excl.override.email",
                                        placeholder="ann@acme.com")
                note = c2.text_input("Note (required)", key="excl.override.note",
                                     placeholder="why this contact may be emailed")
                if st.form_submit_button("Add \"Email is not\" filter", icon=":material/person_add:",
                                         key="excl.override.submit"):
                    ok, version = ui.run_write(lambda cur: settings.add_email_override(
                        cur, actor, current.id, address, note=note))
                    if ok:
                        with ui.cursor() as cur:
                            warning = optouts.override_warning(cur, address)
                        ui.flash(f"Added \"Email is not {ui.code(address.strip().lower())}\" to {ui.md(current.name)} "
                                 f"(settings v{version}). It takes effect after {cfg.propagation_minutes} minutes."
                                 + (f" Note: {ui.md(warning)}." if warning else ""),
                                 icon=":material/warning:" if warning else ":material/check_circle:",
                                 warning=bool(warning))
                        st.rerun()

    if can_edit:
        st.divider()
        st.subheader("Edit" if current is not None else "New exclusion")
        base = current or settings.Exclusion(id="", name="", criteria={"field": "title", "op": "contains",
                                                                         "value": "example"})
        prefix = f"excl.edit.{choice}"
        leaves = base.criteria.get("all") or base.criteria.get("any") or [base.criteria]
        flat = all("field" in leaf for leaf in leaves)
        vocab = vocabulary.export_vocabulary()
        field_names = [f["name"] for f in vocab["fields"]]

        c1, c2 = st.columns(2)
        new_id = c1.text_input("Id", value=base.id, key=f"{prefix}.id", disabled=current is not None)
        name = c2.text_input("Name", value=base.name, key=f"{prefix}.name")
        description = st.text_input("Description", value=base.description, key=f"{prefix}.description")
        t1, t2, t3 = st.columns(3)
        org_on = t1.toggle("Exclude from sequences", value=base.exclude_from_sequences, key=f"{prefix}.org",
                           help="The organisation-level toggle: off means it blocks no sequence.")
        remove_active = t2.toggle("Remove from active sequences", value=base.remove_from_active_sequences,
                                  key=f"{prefix}.remove",
                                  help="On: active participants who start matching are removed mid-sequence. "
                                       "Off: they keep receiving steps; only new entries are blocked.")
        company = t3.toggle("Company-wide", value=base.company_wide, key=f"{prefix}.company",
                            help="Any contact or company record of the domain matching excludes the whole domain.")

        advanced = st.toggle("Edit criteria as YAML (for nested all/any/not)", value=not flat,
                             key=f"{prefix}.advanced")
        criteria = None
        problems: list[str] = []
        if advanced:
            text = st.text_area("Criteria (YAML)", value=documents.dump_yaml(base.criteria),
                                key=f"{prefix}.yaml", height=180)
            try:
                criteria = documents.parse_document(text, "criteria").data
            except LoadError as err:
                problems.extend(str(p) for p in err.problems)
        else:
            rows_key = f"{prefix}.rows"
            if rows_key not in st.session_state:
                st.session_state[rows_key] = list(range(len(leaves)))
                for i, leaf in enumerate(leaves):
                    st.session_state[f"{prefix}.{i}.field"] = leaf["field"]
                    st.session_state[f"{prefix}.{i}.op.{leaf['field']}"] = leaf["op"]
                    st.session_state[f"{prefix}.{i}.raw"] = leaf.get("value")
            combinator = st.radio("Match", ["all", "any"], horizontal=True, key=f"{prefix}.combinator",
                                  index=1 if "any" in base.criteria else 0,
                                  format_func=lambda k: "all of these conditions" if k == "all" else "any of them")
            conditions = []
            for i in list(st.session_state[rows_key]):
                f1, f2, f3, f4 = st.columns([2, 2, 2, 0.5], vertical_alignment="bottom")
                field = f1.selectbox("Field", field_names, key=f"{prefix}.{i}.field",
                                     format_func=lambda n: FIELDS[n].label)
                ops = [o.name for o in vocabulary.operators_for(field)]
                op_key = f"{prefix}.{i}.op.{field}"
                if st.session_state.get(op_key) not in ops:
                    st.session_state.pop(op_key, None)
                op = f2.selectbox("Operator", ops, key=op_key, format_func=lambda n: OPERATORS[n].label)
                kind, ftype = OPERATORS[op].value, FIELDS[field].type
                raw = st.session_state.get(f"{prefix}.{i}.raw")
                value = None
                if kind == "days":
                    value = f3.number_input("Days", min_value=0, max_value=vocabulary.MAX_DAYS, step=1,
                                            key=f"{prefix}.{i}.days.{op}",
                                            value=int(raw) if isinstance(raw, (int, float)) else 30)
                elif kind == "scalar" and ftype == vocabulary.NUMBER:
                    value = f3.number_input("Value", key=f"{prefix}.{i}.num.{op}", format="%g",
                                            value=float(raw) if isinstance(raw, (int, float)) else 0.0)
                    value = int(value) if float(value).is_integer() else value
                elif kind == "scalar":
                    value = f3.text_input("Value", key=f"{prefix}.{i}.text.{field}.{op}",
                                          value=str(raw) if isinstance(raw, str) else "")
                elif kind == "list":
                    text = f3.text_input("Values (comma-separated)", key=f"{prefix}.{i}.list.{field}.{op}",
                                         value=", ".join(str(v) for v in raw) if isinstance(raw, list) else "")
                    items = [v.strip() for v in text.split(",") if v.strip()]
                    if ftype == vocabulary.NUMBER:
                        try:
                            items = [float(v) for v in items]
                        except ValueError:
                            problems.append(f"condition {i + 1}: {FIELDS[field].label} takes numbers")
                    value = items
                else:
                    f3.caption("no value")
                if f4.button("", icon=":material/delete:", key=f"{prefix}.{i}.del", help="Remove this condition",
                             disabled=len(st.session_state[rows_key]) == 1):
                    st.session_state[rows_key].remove(i)
                    st.rerun()
                cond = {"field": field, "op": op}
                if kind != "none":
                    cond["value"] = value
                conditions.append(cond)
            if st.button("Add condition", icon=":material/add:", key=f"{prefix}.add"):
                rows = st.session_state[rows_key]
                rows.append(max(rows, default=-1) + 1)
                st.rerun()
            criteria = conditions[0] if len(conditions) == 1 else {combinator: conditions}

        # filters: the "Email is not" overrides (remove some) and any other filter (YAML)
        kept_overrides = [f for f in base.filters if is_override(f)]
        if kept_overrides:
            drop = st.multiselect("Remove \"Email is not\" overrides", [f["value"] for f in kept_overrides],
                                  key=f"{prefix}.drop")
            kept_overrides = [f for f in kept_overrides if f["value"] not in drop]
        other = [f for f in base.filters if not is_override(f)]
        filters_text = st.text_area(
            "Other filters (YAML list; the exclusion does not apply to a contact when a filter does not hold)",
            value=documents.dump_yaml(other) if other else "[]", key=f"{prefix}.filters", height=100)
        filters: list = []
        try:
            parsed = documents.parse_document(filters_text, "filters").data or []
            if not isinstance(parsed, list):
                problems.append("filters: expected a YAML list of conditions")
            else:
                for j, f in enumerate(parsed):
                    vocabulary.validate(f, f"filters[{j}]")
                filters = parsed
        except LoadError as err:
            problems.extend(str(p) for p in err.problems)
        except vocabulary.RuleError as err:
            problems.append(str(err))

        if criteria is not None:
            try:
                vocabulary.validate(criteria)
                st.markdown(f"**Reads as:** {ui.md(vocabulary.describe(criteria))}")
            except vocabulary.RuleError as err:
                problems.append(str(err))
        for p in problems:
            st.error(ui.md(p))

        note = st.text_input("Note (required)", key=f"{prefix}.note", placeholder="what changed and why")
        if st.button("Validate and save", type="primary", icon=":material/save:", key=f"{prefix}.save",
                     disabled=bool(problems)):
            try:
                edited = dataclasses.replace(
                    base, id=new_id.strip(), name=name.strip() or new_id.strip(), description=description.strip(),
                    criteria=criteria, scope="company" if company else "person", exclude_from_sequences=org_on,
                    remove_from_active_sequences=remove_active, filters=(*filters, *kept_overrides))
                if current is None and new_id.strip() in ids:
                    raise settings.SettingsError("id", f"an exclusion {new_id.strip()!r} already exists")
                if not edited.id:
                    raise settings.SettingsError("id", "is required")
                new_cfg = cfg.with_exclusion(edited)
            except UnifyError as err:
                ui.show_error(err)
            else:
                save(new_cfg, note, f"{ui.md(edited.name)} saved")

# --- rulesets ----------------------------------------------------------------------------------------
with tab_rules:
    st.caption("An exclusion blocks enrollment into a sequence only when it is on at the organisation level "
               "**and** in the ruleset of that sequence. Turning one level off does not help while the other "
               "level that applies still blocks… and the reverse: both must be on.")
    for r in cfg.rulesets:
        used = ", ".join(settingsview.sequences_of(cfg, r.id)) or "no sequence"
        st.markdown(f"**{ui.md(r.name)}** ({ui.code(r.id)}): used by {ui.md(used)}")
    matrix = settingsview.matrix(cfg)
    edited = st.data_editor(matrix, key="excl.matrix", disabled=["exclusion"] if can_edit else True,
                            hide_index=True, width="stretch")
    if can_edit:
        toggles, removals = settingsview.matrix_changes(cfg, edited)
        n = len(toggles) + len(removals)
        note = st.text_input("Note (required)", key="excl.matrix.note", disabled=n == 0)
        if st.button(f"Save {ui.plural(n, 'change')}", key="excl.matrix.save", type="primary", disabled=n == 0,
                     icon=":material/save:"):
            try:
                new_cfg = settingsview.with_matrix_changes(cfg, toggles, removals)
            except UnifyError as err:
                ui.show_error(err)
            else:
                save(new_cfg, note, "Rulesets saved")

# --- history -----------------------------------------------------------------------------------------
with tab_history:
    with ui.cursor() as cur:
        total = metrics.settings_history(cur, limit=0)["total"]
    st.caption(f"Every saved change, who made it, when, and when it takes effect ({ui.plural(total, 'change')}).")
    offset, limit = ui.pager(total, key="excl.history.page")
    with ui.cursor() as cur:
        changes = metrics.settings_history(cur, offset=offset, limit=limit)["rows"]
    st.dataframe(changes, hide_index=True, width="stretch", key="excl.history",
                 column_config={"changed_at": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
                                "effective_at": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm")})
