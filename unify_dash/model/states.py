"""The product's names, each declared once with its label: enrollment states, completion reasons, event
types, opt-out sources and CRMs. Everything else (the loader's enum checks, SQL filters, metrics labels,
the Exclusion tab's English) derives from these mappings.
"""

from __future__ import annotations

from unify_dash.model import crms

# enrollment state -> label
ENROLLMENT_STATES: dict[str, str] = {
    "queued": "Queued",
    "active": "Active",
    "completed": "Completed",
    "unenrolled": "Unenrolled",
    "not_enrolled": "Not enrolled (at the entry attempt)",
}
# states in which steps are still to be sent (the scheduler's "active participants")
ACTIVE_STATES: tuple[str, ...] = ("queued", "active")
# states of an enrollment that entered its sequence (every state but not_enrolled)
ENTERED_STATES: tuple[str, ...] = tuple(s for s in ENROLLMENT_STATES if s != "not_enrolled")


def sql_in(values: tuple[str, ...]) -> str:
    """``('a', 'b')`` for a SQL ``IN`` over code constants (never user values: those are parameters)."""
    assert all(v.isidentifier() for v in values), values
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


ACTIVE_SQL = sql_in(ACTIVE_STATES)  # "('queued', 'active')"

# completion reason -> label
COMPLETION_REASONS: dict[str, str] = {
    "finished": "Finished all steps",
    "replied": "Replied",
    "opted_out": "Opted out",
    "excluded": "Excluded (skipped at send time)",
    "excluded_mid_sequence": "Excluded mid-sequence",
    "unenrolled": "Unenrolled",
}

# why a contact is not enrolled at a node besides an exclusion (whose name is the reason) -> label
BLOCK_REASONS: dict[str, str] = {
    "active_elsewhere": "One active sequence at a time",
    "unrouted": "No node's condition matches (Play branching)",
}

# event type -> label (as counted on the activity chart)
EVENT_TYPES: dict[str, str] = {
    "send": "Emails sent",
    "opt_out": "Opt-outs",
    "opt_out_reversal": "Opt-out reversals",
    "reply": "Replies",
    "reply_handled": "Opt-out replies handled",
    "unenroll": "Unenrollments",
    "exclusion_skip": "Skipped by an exclusion",
    "enroll": "Enrollments",
    "complete": "Completions",
    "crm_sync": "CRM syncs",
}

# execution-log outcome -> label (what the scheduler decided at an entry attempt or a send-time check)
LOG_OUTCOMES: dict[str, str] = {
    "enrolled": "Enrolled",
    "not_enrolled": "Not enrolled (blocked at the node)",
    "excluded_at_audience": "Excluded at the audience",
    "opted_out": "Opted out",
    "sent": "Step sent",
    "skipped": "Skipped at send time",
    "removed": "Removed mid-sequence",
}

# opt-out source -> label (where an opt-out originated)
OPT_OUT_SOURCES: dict[str, str] = {
    "link": "Opt-out link click",
    "reply": "Handled opt-out reply",
    "admin": "Admin opt-out",
    "crm": "CRM field",
}

# connected CRM -> label (the CRMs themselves are declared in model/crms.py)
CRMS: dict[str, str] = {key: crm.label for key, crm in crms.CRMS.items()}


def label(names: dict[str, str], key) -> str:
    """The label of ``key`` in one of the mappings above, or the key itself when it is not declared."""
    return names.get(key, key) if key is not None else ""
