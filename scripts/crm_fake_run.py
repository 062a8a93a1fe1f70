"""A pull / push run against the local CRM fakes (tests/crm_fakes.py), with its figures.

    .venv/bin/python scripts/crm_fake_run.py [--copies N] [--opt-outs N]

The fakes serve the trailheadapps-derived fixtures (tests/data/crm/lwc-recipes) with every contact repeated
``--copies`` times under new ids and addresses (``amy+17@demo.net``) in both CRMs, Salesforce in pages of
2,000 records (its default batch) and HubSpot in pages of 100 (its largest). The run: settings only, pull
Salesforce, pull HubSpot, ``--opt-outs`` admin opt-outs, push (one 503 with Retry-After: 1 injected), push
again. Prints one line per step and a JSON summary.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import yaml  # noqa: E402
from crm_fakes import CA, FakeHubSpot, FakeSalesforce  # noqa: E402
from workspace_factory import NOW, SETTINGS_YAML  # noqa: E402

from unify_dash.actions import optouts  # noqa: E402
from unify_dash.connectors.pull import pull  # noqa: E402
from unify_dash.connectors.push import push  # noqa: E402
from unify_dash.model import roles  # noqa: E402
from unify_dash.model import settings as settings_mod  # noqa: E402
from unify_dash.store import db  # noqa: E402

SETTINGS = (SETTINGS_YAML.replace("audience: {field: country, op: in, value: [US, UK, DE]}", "audience: null")
            .replace("salesforce: {field: HasOptedOutOfEmail, mode: read_only}",
                     "salesforce: {field: HasOptedOutOfEmail, mode: read_write}"))


def _email(email: str, k: int) -> str:
    local, _, domain = email.partition("@")
    return f"{local}+{k}@{domain}"


def replicate(sf: FakeSalesforce, hs: FakeHubSpot, copies: int) -> None:
    base = sf.records["Contact"]
    sf.records["Contact"] = []
    for k in range(copies):
        for i, r in enumerate(base):
            c = dict(r, Email=_email(r["Email"], k), Id=f"003Hp{k * len(base) + i:010d}AAA")
            sf.records["Contact"].append(c)
    base = hs.records["contacts"]
    hs.records["contacts"] = []
    for k in range(copies):
        for r in base:
            c = copy.deepcopy(r)
            c["id"] = str(int(r["id"]) + 1000 * (k + 1))
            c["properties"].update(hs_object_id=c["id"], email=_email(r["properties"]["email"], k))
            hs.records["contacts"].append(c)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", type=int, default=1000)
    ap.add_argument("--opt-outs", type=int, default=50)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="crm-fake-run-"))
    ca = CA(tmp)
    sf, hs = FakeSalesforce(ca, page_size=2000), FakeHubSpot(ca, page_size=100)
    replicate(sf, hs, args.copies)
    os.environ.pop("REQUESTS_CA_BUNDLE", None)  # it would win over SSL_CERT_FILE
    os.environ.update(SSL_CERT_FILE=str(ca.pem), SALESFORCE_INSTANCE_URL=sf.url, SALESFORCE_ACCESS_TOKEN=sf.token,
                      SALESFORCE_API_VERSION=sf.version, HUBSPOT_API_BASE=hs.url, HUBSPOT_ACCESS_TOKEN=hs.token)
    who = roles.Actor("ops", "revops")
    con = db.connect(tmp / "run.duckdb")
    with db.transaction(con):
        settings_mod.save_version(con, settings_mod.parse_settings(yaml.safe_load(SETTINGS)), actor="run",
                                  at=NOW, effective_at=NOW)
        db.set_clock(con, NOW)
    out = {}
    for crm in ("salesforce", "hubspot"):
        res = pull(con, who, crm)
        out[f"pull_{crm}"] = {**res["pull"], "contacts_after": res["contacts"]}
        print(f"pull {crm}: {res['pull']['records']} in {res['pull']['requests']} requests, "
              f"{res['pull']['seconds']}s; contacts now {res['contacts']:,}")
    emails = [r[0] for r in con.execute("SELECT email FROM contacts ORDER BY email LIMIT ?", [args.opt_outs]).fetchall()]
    started = time.perf_counter()
    for e in emails:
        optouts.opt_out(con, who, e, source="admin")
    print(f"{len(emails)} opt-outs in {time.perf_counter() - started:.2f}s")
    sf.fail(503, retry_after="1")
    res = push(con, who)
    out["push"] = res["crms"] | {"seconds": res["seconds"]}
    print(f"push: {json.dumps(res['crms'])} in {res['seconds']}s")
    again = push(con, who)
    out["push_again"] = again["crms"]
    print(f"second push: {again['crms'] or 'nothing to push'}; writes received: Salesforce "
          f"{len(sf.writes())} PATCH, HubSpot {len(hs.writes())} POST")
    print(json.dumps(out, sort_keys=True))
    con.close()
    sf.close()
    hs.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
