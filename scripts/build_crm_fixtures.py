"""Build tests/data/crm/ from the Salesforce sample orgs' public data (see tests/data/crm/README.md).

    python scripts/build_crm_fixtures.py LWC_RECIPES_GIT DREAMHOUSE_GIT EBIKES_GIT

Each argument is a git directory of the repository (github.com/trailheadapps/lwc-recipes, dreamhouse-lwc,
ebikes-lwc); the script reads their ``data/*.json`` sample records (the SFDX tree-import format) at HEAD
and writes them as a Salesforce Data Export would (API field names, every value quoted, ``true``/``false``,
ISO dates) and as HubSpot exports (property labels, the download names HubSpot gives). Nothing else is
invented: ids are generated (15-character Salesforce ids with their 18-character checksum, HubSpot
numeric ids), IsClosed/IsWon follow the standard stage picklist (Closed Won / Closed Lost), HubSpot deal
stages are the default pipeline's nearest stage, and the dreamhouse contacts (which have no account in
that org) are attached to the ebikes accounts in turn.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "crm"
CREATED = "2025-03-01T09:00:00.000+0000"
HS_CREATED = "2025-03-01 09:00"
CHECKSUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
# Salesforce standard stage -> HubSpot default sales pipeline stage (label, as a label export shows it)
HS_STAGE = {"Prospecting": "Appointment Scheduled", "Qualification": "Qualified To Buy",
            "Needs Analysis": "Presentation Scheduled", "Value Proposition": "Presentation Scheduled",
            "Id. Decision Makers": "Decision Maker Bought-In", "Perception Analysis": "Decision Maker Bought-In",
            "Proposal/Price Quote": "Contract Sent", "Negotiation/Review": "Contract Sent",
            "Closed Won": "Closed Won", "Closed Lost": "Closed Lost"}


def sfid(prefix: str, n: int) -> str:
    """An 18-character Salesforce id (key prefix 001/003/006 ...)."""
    letters = "abcdefghijklmnopqrstuvwxyz" if n % 2 else "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    base = f"{prefix}Hp00000{'ABCDEFGHIJKLMNOPQRSTUVWXYZ'[n % 26]}{letters[(n * 7) % 26]}X{n:02d}"
    assert len(base) == 15, base
    suffix = "".join(CHECKSUM[sum(1 << j for j in range(5) if "A" <= base[i * 5 + j] <= "Z")] for i in range(3))
    return base + suffix


def records(git_dir: str, path: str) -> list[dict]:
    text = subprocess.run(["git", f"--git-dir={git_dir}", "show", f"HEAD:{path}"], check=True,
                          capture_output=True, text=True).stdout
    return json.loads(text)["records"]


def write(rel: str, header: list[str], rows: list[list], *, quote_all: bool) -> None:
    path = OUT / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    w = csv.writer(buf, quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL, lineterminator="\r\n"
                   if quote_all else "\n")
    w.writerow(header)
    w.writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")


def b(v: bool) -> str:
    return "true" if v else "false"


def lwc_recipes(git_dir: str) -> None:
    accounts = records(git_dir, "data/Accounts.json")
    contacts = records(git_dir, "data/Contacts.json")
    opps = records(git_dir, "data/Opportunities.json")
    acc_id = {a["attributes"]["referenceId"]: sfid("001", i + 1) for i, a in enumerate(accounts)}
    hs_co = {a["attributes"]["referenceId"]: str(15000000001 + i) for i, a in enumerate(accounts)}
    write("lwc-recipes/salesforce/Account.csv",
          ["Id", "IsDeleted", "Name", "Type", "Phone", "Website", "NumberOfEmployees", "BillingCountry", "CreatedDate"],
          [[acc_id[a["attributes"]["referenceId"]], "false", a["Name"], a.get("Type", ""), a.get("Phone", ""), "",
            a.get("NumberOfEmployees", ""), "", CREATED] for a in accounts], quote_all=True)
    write("lwc-recipes/salesforce/Contact.csv",
          ["Id", "IsDeleted", "AccountId", "FirstName", "LastName", "Email", "Title", "Phone", "MailingCountry",
           "HasOptedOutOfEmail", "IsEmailBounced", "CreatedDate"],
          [[sfid("003", i + 1), "false", acc_id[c["AccountId"].lstrip("@")], c["FirstName"], c["LastName"], c["Email"],
            c["Title"], c["Phone"], "", "false", "false", CREATED] for i, c in enumerate(contacts)], quote_all=True)
    write("lwc-recipes/salesforce/Opportunity.csv",
          ["Id", "IsDeleted", "AccountId", "Name", "StageName", "Amount", "CloseDate", "IsClosed", "IsWon",
           "CreatedDate"],
          [[sfid("006", i + 1), "false", acc_id[o["AccountId"].lstrip("@")], o["Name"], o["StageName"], o["Amount"],
            o["CloseDate"], b(o["StageName"].startswith("Closed")), b(o["StageName"] == "Closed Won"), CREATED]
           for i, o in enumerate(opps)], quote_all=True)
    day = "2025-03-01"
    write(f"lwc-recipes/hubspot/hubspot-crm-exports-all-companies-{day}.csv",
          ["Record ID", "Company name", "Company Domain Name", "Website URL", "Phone Number", "Number of Employees",
           "Lifecycle Stage", "Create Date"],
          [[hs_co[a["attributes"]["referenceId"]], a["Name"], "", "", a.get("Phone", ""), a.get("NumberOfEmployees", ""),
            "customer" if a.get("Type", "").startswith("Customer") else "other", HS_CREATED] for a in accounts],
          quote_all=False)
    write(f"lwc-recipes/hubspot/hubspot-crm-exports-all-contacts-{day}.csv",
          ["Record ID", "First Name", "Last Name", "Email", "Job Title", "Phone Number", "Country/Region",
           "Unsubscribed from all email", "Associated Company IDs", "Create Date"],
          [[str(51 + i), c["FirstName"], c["LastName"], c["Email"], c["Title"], c["Phone"], "", "false",
            hs_co[c["AccountId"].lstrip("@")], HS_CREATED] for i, c in enumerate(contacts)], quote_all=False)
    write(f"lwc-recipes/hubspot/hubspot-crm-exports-all-deals-{day}.csv",
          ["Record ID", "Deal Name", "Deal Stage", "Pipeline", "Amount", "Close Date", "Create Date", "Is Deal Closed?",
           "Is Closed Won", "Associated Company IDs"],
          [[str(9000000001 + i), o["Name"], HS_STAGE[o["StageName"]], "Sales Pipeline", o["Amount"],
            f"{o['CloseDate']} 00:00", HS_CREATED, b(o["StageName"].startswith("Closed")),
            b(o["StageName"] == "Closed Won"), hs_co[o["AccountId"].lstrip("@")]] for i, o in enumerate(opps)],
          quote_all=False)


def ebikes_dreamhouse(ebikes_git: str, dreamhouse_git: str) -> None:
    accounts = records(ebikes_git, "data/Accounts.json")
    contacts = records(dreamhouse_git, "data/contacts-data.json")
    ids = [sfid("001", 40 + i) for i in range(len(accounts))]
    write("ebikes-dreamhouse/salesforce/Account.csv",
          ["Id", "IsDeleted", "Name", "Website", "BillingStreet", "BillingCity", "BillingState", "BillingPostalCode",
           "BillingCountry", "CreatedDate"],
          [[ids[i], "false", a["Name"], "", a["BillingStreet"], a["BillingCity"], a["BillingState"],
            a["BillingPostalCode"], a["BillingCountry"], CREATED] for i, a in enumerate(accounts)], quote_all=True)
    write("ebikes-dreamhouse/salesforce/Contact.csv",
          ["Id", "IsDeleted", "AccountId", "FirstName", "LastName", "Email", "Phone", "MailingCountry",
           "HasOptedOutOfEmail", "IsEmailBounced", "CreatedDate"],
          [[sfid("003", 40 + i), "false", ids[i % len(ids)], c["FirstName"], c["LastName"], c["Email"], c["Phone"], "",
            "false", "false", CREATED] for i, c in enumerate(contacts)], quote_all=True)


if __name__ == "__main__":
    lwc, dreamhouse, ebikes = sys.argv[1:4]
    lwc_recipes(lwc)
    ebikes_dreamhouse(ebikes, dreamhouse)
    print(f"written under {OUT}")
