"""What a count counts, declared once: **contacts** (each person once) or **enrollments** (one record per
contact and sequence: a contact in two sequences counts twice), and the replies and events of the
activity charts. Every page that shows a count takes its unit, axis title and caption from here, so
"Enrolled" on the Play view (contacts the engine would enroll now) and "Enrolled" on Metrics
(enrollment records) say on screen which one they are."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Unit:
    key: str
    one: str
    many: str
    meaning: str

    def of(self, n: int) -> str:
        """"1 contact", "3,000 contacts"."""
        return f"{n:,} {self.one if n == 1 else self.many}"


CONTACTS = Unit("contacts", "contact", "contacts", "each person counted once, whatever the number of sequences")
ENROLLMENTS = Unit("enrollments", "enrollment", "enrollments",
                   "one record per contact and sequence: a contact in two sequences counts twice")
REPLIES = Unit("replies", "reply", "replies", "each reply received")
EVENTS = Unit("events", "event", "events", "each recorded event (a send, an opt-out, a reply, ...)")

# every count of the engine (the Play view's funnel, Not Enrolled, the clock preview) is of contacts
ENGINE = CONTACTS
# the Metrics families (unify_dash.reports.metrics) -> what their counts are
FAMILIES: dict[str, Unit] = {"state": ENROLLMENTS, "completed": ENROLLMENTS, "opt_outs": CONTACTS,
                             "replies": REPLIES, "activity": EVENTS, "activity_week": EVENTS}


def of_family(family: str) -> Unit:
    return FAMILIES.get(family, CONTACTS)


def legend(*units: Unit) -> str:
    """One caption line: "Counts: contacts = each person counted once ...; enrollments = ..."."""
    return "Counts: " + "; ".join(f"{u.many} = {u.meaning}" for u in units) + "."


def titled(title: str, unit: Unit) -> str:
    """"Enrolled (contacts)": a title with its unit, for help texts and list headings."""
    return f"{title} ({unit.many})"
