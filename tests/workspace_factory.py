"""A small complete workspace for tests, written into a folder; any file can be overridden.

    from workspace_factory import write_workspace
    folder = write_workspace(tmp_path, {"contacts.csv": "contact_id,email\\nc1,a@x.com\\n"})
    folder = write_workspace(tmp_path, {"events.csv": None})  # None removes a file

Every value here is referenced by tests (test_loader.py and others): change with care.
The workspace pins its clock at :data:`NOW`.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

NOW = dt.datetime(2026, 11, 26, 9, 0, 0)

WORKSPACE_YAML = """\
name: Test workspace
now: "2026-11-26T09:00:00"
"""

SETTINGS_YAML = """\
org:
  propagation_minutes: 15
exclusions:
  - id: open_opp
    name: Open opportunity
    scope: company
    criteria: {field: open_opportunities, op: gt, value: 0}
    remove_from_active_sequences: true
  - id: customers
    name: Current customers
    scope: company
    criteria: {field: is_customer, op: is_true}
  - id: personal_email
    name: Personal email domains
    criteria:
      field: is_free_mail
      op: is_true
    filters:
      - {field: email, op: not_equals, value: carol@gmail.com}
rulesets:
  - id: default
    name: Default
    exclusions: {open_opp: true, customers: true, personal_email: true}
  - id: nurture
    name: Nurture
    exclusions: {open_opp: false, customers: true}
sequences:
  - id: seq_outbound
    name: Outbound
    ruleset: default
    steps:
      - {delay_days: 0, subject: Hello}
      - {delay_days: 3, subject: Follow-up}
  - id: seq_nurture
    name: Nurture
    ruleset: nurture
    steps:
      - {delay_days: 0, subject: News}
plays:
  - id: play_main
    name: Main play
    audience: {field: country, op: in, value: [US, UK, DE]}
    audience_exclusions: {personal_email: true}
    nodes:
      - {id: n1, sequence: seq_outbound}
crm_mapping:
  salesforce: {field: HasOptedOutOfEmail, mode: read_only}
  hubspot: {field: hs_email_optout, mode: read_write}
"""

CONTACTS_CSV = """\
contact_id,email,first_name,last_name,title,country,company_website,sf_contact_id,sf_lead_id,hs_contact_id,sf_email_opt_out,sf_do_not_email,hs_opt_out,last_contacted_at,job_changed_at,created_at
c1,Ana@Acme.com ,Ana,Lopez,VP Sales,US,https://www.acme.com,003A1,,,false,false,false,2026-11-01T10:00:00,,2026-01-05
c2,bob@acme.com,Bob,Smith,Engineer,US,,,,,false,false,false,,,2026-02-01
c3,carol@gmail.com,Carol,Jones,Founder,UK,,,,101,false,false,true,,,2026-03-01
c4,dan@globex.io,Dan,Brown,CTO,DE,globex.io,003A4,,,true,false,false,,2026-10-01,2026-03-02
c5,eve@initech.com,Eve,Davis,Director,US,,,,,no,no,no,,,
"""

COMPANY_RECORDS_CSV = """\
record_id,crm,crm_id,name,website,is_customer,industry,employees
sf:001A,salesforce,001A,Acme,acme.com,false,Software,500
hs:9001,hubspot,9001,ACME Inc,https://www.acme.com/about,false,Software,
sf:001G,salesforce,001G,Globex,globex.io,true,Manufacturing,1200
"""

OPPORTUNITIES_CSV = """\
opportunity_id,crm,record_id,is_closed,crm_id,name,stage,is_won,close_date,amount,created_at
sf:006A,salesforce,sf:001A,false,006A,Acme renewal,Negotiation,false,2026-12-15,25000,2026-10-01T09:00:00Z
hs:7001,hubspot,hs:9001,true,7001,Acme pilot,closedwon,true,2026-06-01,5000,2026-04-01
"""

ENROLLMENTS_CSV = """\
enrollment_id,contact_id,sequence_id,state,play_id,node_id,completion_reason,current_step,next_step_at,enrolled_at,updated_at
e1,c2,seq_outbound,active,play_main,n1,,1,2026-11-27T09:00:00,2026-11-20T09:00:00,2026-11-24T09:00:00
e2,c5,seq_outbound,queued,play_main,n1,,0,2026-11-26T10:00:00,2026-11-25T09:00:00,
e3,c1,seq_nurture,completed,,,finished,1,,2026-10-01,2026-10-20
"""

EVENTS_CSV = """\
event_id,occurred_at,type,email,contact_id,sequence_id,enrollment_id,step,source,actor,text,label,detail
ev1,2026-11-24T09:00:00,send,bob@acme.com,c2,seq_outbound,e1,1,,,,,
ev2,2026-11-25T08:00:00,opt_out,eve@initech.com,,,,,link,,,,
ev3,2026-11-25T09:30:00,reply,,c1,seq_nurture,e3,1,,,Please remove me from your list,opt_out,
"""

FILES: dict[str, str] = {
    "workspace.yaml": WORKSPACE_YAML,
    "settings.yaml": SETTINGS_YAML,
    "contacts.csv": CONTACTS_CSV,
    "company_records.csv": COMPANY_RECORDS_CSV,
    "opportunities.csv": OPPORTUNITIES_CSV,
    "enrollments.csv": ENROLLMENTS_CSV,
    "events.csv": EVENTS_CSV,
}


def write_workspace(root: Path, overrides: dict[str, str | bytes | None] | None = None, *,
                    name: str = "workspace") -> Path:
    """Write :data:`FILES` (with ``overrides``; ``None`` removes a file) into ``root/name`` and return it.

    Keys may be nested paths such as ``"salesforce/Contact.csv"``. Strings are written as UTF-8,
    bytes as they are (for encoding tests).
    """
    folder = Path(root) / name
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, str | bytes | None] = {**FILES, **(overrides or {})}
    for rel, content in files.items():
        path = folder / rel
        if content is None:
            if path.exists():
                path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return folder


def with_row(text: str, row: str) -> str:
    """``text`` (a CSV) with one more row at the end."""
    return text.rstrip("\n") + "\n" + row + "\n"


def replace_row(text: str, row_number: int, row: str) -> str:
    """``text`` with spreadsheet row ``row_number`` (header = 1) replaced by ``row``."""
    lines = text.rstrip("\n").split("\n")
    lines[row_number - 1] = row
    return "\n".join(lines) + "\n"


def line_of(text: str, needle: str, start: int = 1) -> int:
    """The 1-based number of the first line at or after ``start`` that contains ``needle``."""
    for i, line in enumerate(text.split("\n"), start=1):
        if i >= start and needle in line:
            return i
    raise ValueError(needle)


def csv_row(text: str, **values: str) -> str:
    """A complete row for the header of the CSV ``text``: ``values`` by column name, other columns empty
    (quoted as a CSV writer would)."""
    import csv
    import io

    header = next(csv.reader(io.StringIO(text.split("\n", 1)[0])))
    unknown = set(values) - set(header)
    if unknown:
        raise KeyError(f"not columns of this file: {sorted(unknown)}")
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow([values.get(h, "") for h in header])
    return out.getvalue()[:-1]


def with_column(text: str, name: str, value: str = "") -> str:
    """``text`` (a CSV) with one more column ``name``, ``value`` on every row."""
    lines = text.rstrip("\n").split("\n")
    return "\n".join([lines[0] + "," + name] + [line + "," + value for line in lines[1:]]) + "\n"
