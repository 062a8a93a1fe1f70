"""Local fakes of the Salesforce REST API and the HubSpot API for tests/test_connectors.py.

Each fake is an HTTPS server on 127.0.0.1 with a certificate of a throw-away CA (``trustme``), passed to
the client the way a user would: ``SSL_CERT_FILE``. The shapes follow the CRMs' documentation (see
docs/connectors.md for the pages), not the connector's code:

* Salesforce: ``GET /services/data/vNN.N/query?q=SELECT ... FROM Obj`` answers ``totalSize``, ``done``,
  ``records`` (each with ``attributes``) and ``nextRecordsUrl`` (``/services/data/vNN.N/query/01g...-N``)
  while more records remain; deleted records only under ``queryAll``; an unknown field is a 400
  ``INVALID_FIELD``. ``PATCH /services/data/vNN.N/composite/sobjects`` answers one SaveResult per record
  (``id``, ``success``, ``errors`` of ``statusCode`` / ``message`` / ``fields``).
* HubSpot: ``GET /crm/v3/objects/{type}?limit&properties&associations&after`` answers ``results``
  (``id``, ``properties`` as strings, ``associations.companies.results``) and ``paging.next.after``;
  ``POST /communication-preferences/v4/statuses/{email}/unsubscribe-all?channel=EMAIL``.

Records come from the trailheadapps-derived export fixtures (tests/data/crm/lwc-recipes): the Salesforce
Data Export rows with their API names, the HubSpot rows with their labels turned into internal names.
Every fake checks the Bearer token (401 otherwise), logs every request (method, path, JSON body, time,
status) and serves injected failures first (``fail(503, retry_after="1")``).
"""

from __future__ import annotations

import csv
import json
import re
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

import trustme

from unify_dash.io.recognise import HS_ALIASES

DATA = Path(__file__).parent / "data" / "crm" / "lwc-recipes"
SF_NUMBERS = {"NumberOfEmployees", "Amount"}
# standard fields of each object (Salesforce's Object Reference) the fake knows beyond the fixtures' columns;
# a query naming any other field is refused as Salesforce refuses it
SF_STANDARD = {
    "Account": {"Id", "IsDeleted", "Name", "Type", "Website", "Industry", "NumberOfEmployees", "BillingCountry",
                "ShippingCountry", "AccountNumber", "ParentId", "Phone", "CreatedDate"},
    "Contact": {"Id", "IsDeleted", "AccountId", "FirstName", "LastName", "Email", "Title", "Phone", "MailingCountry",
                "OtherCountry", "HasOptedOutOfEmail", "IsEmailBounced", "CreatedDate", "LastActivityDate"},
    "Lead": {"Id", "IsDeleted", "FirstName", "LastName", "Email", "Title", "Company", "Website", "Country", "Status",
             "IsConverted", "HasOptedOutOfEmail", "IsEmailBounced", "CreatedDate", "LastActivityDate"},
    "Opportunity": {"Id", "IsDeleted", "AccountId", "Name", "StageName", "IsClosed", "IsWon", "CloseDate", "Amount",
                    "CreatedDate"},
}


def _sf_value(field: str, text: str):
    if text == "":
        return None
    if text in ("true", "false"):
        return text == "true"
    if field in SF_NUMBERS:
        return float(text) if "." in text else int(text)
    return text


def sf_records(folder: Path = DATA / "salesforce") -> dict[str, list[dict]]:
    out = {"Lead": []}
    for path in sorted(folder.glob("*.csv")):
        with open(path, encoding="utf-8", newline="") as fh:
            out[path.stem] = [{k: _sf_value(k, v) for k, v in row.items()} for row in csv.DictReader(fh)]
    return out


def _hs_value(text: str) -> str | None:
    if text == "":
        return None
    if text in ("Yes", "No"):
        return "true" if text == "Yes" else "false"
    m = re.fullmatch(r"(\d{4}-\d\d-\d\d) (\d\d:\d\d)", text)
    return f"{m[1]}T{m[2]}:00Z" if m else text


def hs_records(folder: Path = DATA / "hubspot") -> dict[str, list[dict]]:
    """type -> [{"id", "properties": {internal name: str}, "companies": [ids]}]."""
    out = {}
    for obj in ("contacts", "companies", "deals"):
        [path] = folder.glob(f"*-{obj}-*.csv")
        internal = {label: aliases[0] for label, aliases in HS_ALIASES[obj].items()}
        recs = []
        with open(path, encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                props = {internal.get(k, k.lower().replace(" ", "_")): _hs_value(v) for k, v in row.items()
                         if k != "Associated Company IDs"}
                props["hs_object_id"] = row["Record ID"]
                companies = [c for c in re.split(r"[;,]", row.get("Associated Company IDs") or "") if c.strip()]
                recs.append({"id": row["Record ID"], "properties": props, "companies": companies})
        out[obj] = recs
    return out


class CA:
    """A throw-away CA and a certificate for 127.0.0.1; ``pem``: the CA file for SSL_CERT_FILE."""

    def __init__(self, folder: Path):
        self.ca = trustme.CA()
        self.cert = self.ca.issue_cert("127.0.0.1", "localhost")
        self.pem = Path(folder) / "fake-ca.pem"
        self.ca.cert_pem.write_to_path(str(self.pem))

    def context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.cert.configure_cert(ctx)
        return ctx


class FakeApi:
    """The server side shared by both fakes: token check, request log, injected failures."""

    token = "fake-token-0123456789"

    def __init__(self, ca: CA, page_size: int = 2):
        self.page_size = page_size
        self.log: list[dict] = []
        self.failures: list[tuple[int, dict]] = []
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: one TLS handshake per client session
            def log_message(self, *_a):  # quiet
                pass

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                entry = {"method": self.command, "path": self.path, "body": body, "at": time.monotonic(),
                         "auth": self.headers.get("Authorization") == f"Bearer {fake.token}"}
                with fake.lock:
                    fake.log.append(entry)
                    injected = fake.failures.pop(0) if fake.failures else None
                if not entry["auth"] or (injected is not None and injected[0] == 401):
                    status, headers, answer = 401, {}, fake.unauthorized()
                elif injected is not None:
                    status, headers = injected
                    answer = {"message": f"injected {status}"}
                else:
                    status, answer = fake.handle(self.command, urlparse(self.path), body)
                    headers = {}
                entry["status"] = status
                data = b"" if answer is None else json.dumps(answer).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = ca.context().wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}"

    def fail(self, status: int, times: int = 1, retry_after: str | None = None, after: int = 0) -> None:
        """The next ``times`` requests (after ``after`` served normally) answer ``status``."""
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        self.failures += [None] * after + [(status, headers)] * times

    def writes(self) -> list[dict]:
        return [e for e in self.log if e["method"] in ("PATCH", "POST") and e.get("status") == 200]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class FakeSalesforce(FakeApi):
    version = "62.0"

    def __init__(self, ca: CA, page_size: int = 2):
        self.records = sf_records()
        self.cursors: dict[str, list[dict]] = {}
        self.refuse: dict[str, str] = {}
        self.custom_fields: dict[str, set[str]] = {}  # object -> custom fields of this org (Do_Not_Email__c)  # id -> message: a validation rule refusing that record
        super().__init__(ca, page_size)

    def unauthorized(self):
        return [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]

    def record(self, obj: str, email: str) -> dict:
        return next(r for r in self.records[obj] if (r.get("Email") or "").lower() == email)

    def _page(self, rows: list[dict], total: int):
        page, rest = rows[: self.page_size], rows[self.page_size:]
        out = {"totalSize": total, "done": not rest, "records": page}
        if rest:
            key = f"01gFAKE{len(self.cursors):04d}-{total - len(rest)}"
            self.cursors[key] = rest
            out["nextRecordsUrl"] = f"/services/data/v{self.version}/query/{key}"
        return 200, out

    def handle(self, method, url, body):
        base = f"/services/data/v{self.version}/"
        if not url.path.startswith(base):
            return 404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]
        rest = url.path[len(base):]
        if method == "GET" and rest.rstrip("/") in ("query", "queryAll"):
            q = parse_qs(url.query)["q"][0]
            m = re.fullmatch(r"SELECT (.+) FROM (\w+)", q.strip(), re.I)
            fields, obj = [f.strip() for f in m[1].split(",")], m[2]
            known = SF_STANDARD[obj] | self.custom_fields.get(obj, set()) | set().union(
                *(r.keys() for r in self.records[obj]))
            unknown = [f for f in fields if f not in known]
            if unknown:
                return 400, [{"errorCode": "INVALID_FIELD",
                              "message": f"No such column '{unknown[0]}' on entity '{obj}'."}]
            rows = [r for r in self.records[obj] if rest.startswith("queryAll") or not r.get("IsDeleted")]
            rows = [{"attributes": {"type": obj, "url": f"{base}sobjects/{obj}/{r['Id']}"},
                     **{f: r.get(f, False if f == "IsDeleted" else None) for f in fields}} for r in rows]
            return self._page(rows, len(rows))
        if method == "GET" and rest.startswith("query/"):
            key = rest.split("/", 1)[1]
            rows = self.cursors.pop(key, None)
            if rows is None:
                return 400, [{"errorCode": "INVALID_QUERY_LOCATOR", "message": "invalid query locator"}]
            return self._page(rows, int(key.rsplit("-", 1)[1]) + len(rows))
        if method == "PATCH" and rest == "composite/sobjects":
            return 200, [self._update(r) for r in body["records"]]
        return 404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]

    def _update(self, rec: dict) -> dict:
        obj = rec["attributes"]["type"]
        target = next((r for r in self.records.get(obj, []) if r["Id"] == rec["id"]), None)
        if target is None:
            return {"id": rec["id"], "success": False, "errors": [
                {"statusCode": "ENTITY_IS_DELETED", "message": "entity is deleted", "fields": []}]}
        if rec["id"] in self.refuse:
            return {"id": rec["id"], "success": False, "errors": [
                {"statusCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION", "message": self.refuse[rec["id"]], "fields": []}]}
        for k, v in rec.items():
            if k not in ("attributes", "id"):
                target[k] = v
        return {"id": rec["id"], "success": True, "errors": []}


class FakeHubSpot(FakeApi):
    def __init__(self, ca: CA, page_size: int = 2):
        self.records = hs_records()
        super().__init__(ca, page_size)

    def unauthorized(self):
        return {"status": "error", "category": "INVALID_AUTHENTICATION",
                "message": "Authentication credentials not found."}

    def contact(self, email: str) -> dict:
        return next(r for r in self.records["contacts"] if r["properties"].get("email") == email)

    def handle(self, method, url, body):
        m = re.fullmatch(r"/crm/v3/objects/(\w+)", url.path)
        if method == "GET" and m and m[1] in self.records:
            q = {k: v[0] for k, v in parse_qs(url.query).items()}
            limit = min(int(q.get("limit", 10)), 100, self.page_size)
            props = q.get("properties", "").split(",") if q.get("properties") else ["hs_object_id"]
            start = int(q.get("after", 0))
            rows = self.records[m[1]]
            page = rows[start:start + limit]
            results = []
            for r in page:
                item = {"id": r["id"], "properties": {p: r["properties"].get(p) for p in props},
                        "createdAt": "2025-03-01T09:00:00Z", "updatedAt": "2025-03-01T09:00:00Z", "archived": False}
                if q.get("associations") == "companies" and r["companies"]:
                    kind = {"contacts": "contact_to_company", "deals": "deal_to_company"}[m[1]]
                    item["associations"] = {"companies": {"results": [{"id": c, "type": kind} for c in r["companies"]]}}
                results.append(item)
            out = {"results": results}
            if start + limit < len(rows):
                out["paging"] = {"next": {"after": str(start + limit), "link": f"{url.path}?after={start + limit}"}}
            return 200, out
        m = re.fullmatch(r"/communication-preferences/v4/statuses/([^/]+)/unsubscribe-all", url.path)
        if method == "POST" and m and parse_qs(url.query).get("channel") == ["EMAIL"]:
            email = unquote(m[1])
            rec = next((r for r in self.records["contacts"] if r["properties"].get("email") == email), None)
            if rec is None:
                return 400, {"status": "error", "category": "VALIDATION_ERROR",
                             "message": f"{email} is not a contact of this portal"}
            rec["properties"]["hs_email_optout"] = "true"
            now = "2026-11-26T09:00:00Z"
            return 200, {"status": "COMPLETE", "requestedAt": now, "startedAt": now, "completedAt": now,
                         "results": [{"channel": "EMAIL", "status": "UNSUBSCRIBED", "subscriberIdString": email,
                                      "timestamp": now, "wideStatusType": "PORTAL_WIDE"}]}
        return 404, {"status": "error", "category": "OBJECT_NOT_FOUND", "message": "resource not found"}
