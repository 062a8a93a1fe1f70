"""One HTTP session per CRM: Bearer auth, TLS verified, retries of 429/5xx honouring ``Retry-After``.

* TLS is verified against ``REQUESTS_CA_BUNDLE``, else ``SSL_CERT_FILE``, else the system CA store
  (``ssl.get_default_verify_paths()``; Debian's ``/etc/ssl/certs/ca-certificates.crt``), never switched off.
* 429 and 5xx answers (and connection failures) are retried with exponential backoff by tenacity; a
  ``Retry-After`` header (seconds or an HTTP date) is waited for instead, capped at ``max_wait``. The
  backoff base comes from ``UNIFY_CRM_BACKOFF`` (seconds, default 1) so tests stay fast.
* 401 / 403 is one :class:`AuthError` sentence naming the CRM and the variable to fix; other 4xx answers
  are :class:`HttpError` with the CRM's own message, so a write-back can record it.
* The token is only ever in the ``Authorization`` header: no message, log line or repr carries it.
"""

from __future__ import annotations

import email.utils
import os
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin

import requests
import tenacity

from unify_dash.errors import UnifyError

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
DEBIAN_CA = "/etc/ssl/certs/ca-certificates.crt"


class ConnectorError(UnifyError):
    """A CRM call that cannot succeed now (configuration, TLS, the network, the CRM's refusal)."""


class AuthError(ConnectorError):
    """401 / 403: the token is missing, expired or lacks a permission."""


class HttpError(ConnectorError):
    """A 4xx answer other than 401/403 (or a 5xx after every retry), with the CRM's message."""

    def __init__(self, message: str, status: int, body=None):
        super().__init__(message)
        self.status = status
        self.body = body


class _Retry(Exception):
    """A retryable answer: its status and how long the CRM asked us to wait (None: not said)."""

    def __init__(self, status: int | None, retry_after: float | None, what: str):
        super().__init__(what)
        self.status = status
        self.retry_after = retry_after


def ca_bundle() -> str | bool:
    """The CA file TLS is verified against (see the module docstring); ``True``: requests' own bundle."""
    for var in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        value = os.environ.get(var)
        if value:
            if not Path(value).is_file():
                raise ConnectorError(f"{var} names {value}, which is not a file; expected a PEM file of CA "
                                     "certificates (or unset it to use the system CA store)")
            return value
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, DEBIAN_CA):
        if candidate and Path(candidate).is_file():
            return candidate
    return True


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds: a number of seconds or an HTTP date (RFC 9110 section 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _backoff() -> float:
    try:
        return max(0.0, float(os.environ.get("UNIFY_CRM_BACKOFF", "1")))
    except ValueError:
        return 1.0


@dataclass
class Client:
    """A session on one CRM's API. ``base`` is the API root (``https://x.my.salesforce.com``)."""

    crm_label: str
    base: str
    token: str = field(repr=False)
    token_var: str = ""
    attempts: int = 5
    backoff: float | None = None  # seconds; None: UNIFY_CRM_BACKOFF
    max_wait: float = 60.0
    timeout: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    requests_made: int = 0
    retries: int = 0

    def __post_init__(self):
        if not self.token:
            raise AuthError(f"no {self.crm_label} access token: set {self.token_var}")
        self.session = requests.Session()
        self.session.trust_env = False  # proxies / netrc from the environment never see the token
        self.session.verify = ca_bundle()
        self.session.headers.update({"Authorization": f"Bearer {self.token}", "Accept": "application/json"})

    def __repr__(self) -> str:  # never the token
        return f"Client({self.crm_label!r}, {self.base!r})"

    def url(self, path: str) -> str:
        return urljoin(self.base.rstrip("/") + "/", path.lstrip("/"))

    def _wait(self, state: tenacity.RetryCallState) -> float:
        err = state.outcome.exception() if state.outcome else None
        if isinstance(err, _Retry) and err.retry_after is not None:
            return min(err.retry_after, self.max_wait)
        base = self.backoff if self.backoff is not None else _backoff()
        return min(base * 2 ** (state.attempt_number - 1), self.max_wait)

    def request(self, method: str, path: str, **kw):
        """The JSON answer of one call (``None`` for 204), retried as the module docstring says."""
        retrying = tenacity.Retrying(stop=tenacity.stop_after_attempt(self.attempts), wait=self._wait,
                                     retry=tenacity.retry_if_exception_type(_Retry), sleep=self.sleep,
                                     reraise=True)
        try:
            return retrying(self._once, method, path, **kw)
        except _Retry as err:
            raise HttpError(f"{self.crm_label} did not answer {method} {_short(path)} after {self.attempts} "
                            f"attempts: {err}; try again later", err.status or 0) from None

    def _once(self, method: str, path: str, **kw):
        url = self.url(path)
        self.requests_made += 1
        try:
            resp = self.session.request(method, url, timeout=self.timeout, **kw)
        except requests.exceptions.SSLError as err:
            raise ConnectorError(f"cannot verify the TLS certificate of {self.crm_label} ({_host(url)}): "
                                 f"{_reason(err)}; if the server uses a private CA, set SSL_CERT_FILE or "
                                 "REQUESTS_CA_BUNDLE to its PEM file") from None
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as err:
            self.retries += 1
            raise _Retry(None, None, f"cannot connect to {_host(url)} ({type(err).__name__})") from None
        if resp.status_code in RETRY_STATUSES:
            self.retries += 1
            raise _Retry(resp.status_code, retry_after_seconds(resp.headers.get("Retry-After")),
                         f"HTTP {resp.status_code}")
        if resp.status_code in (401, 403):
            raise AuthError(f"{self.crm_label} refused the access token (HTTP {resp.status_code}: "
                            f"{_message(resp)}); set a valid token in {self.token_var} and run this again")
        if resp.status_code >= 400:
            raise HttpError(f"{self.crm_label} answered HTTP {resp.status_code} to {method} {_short(path)}: "
                            f"{_message(resp)}", resp.status_code, _json(resp))
        if resp.status_code == 204 or not resp.content:
            return None
        body = _json(resp)
        if body is None:
            raise HttpError(f"{self.crm_label} answered {method} {_short(path)} with something that is not JSON",
                            resp.status_code)
        return body


def _json(resp):
    try:
        return resp.json()
    except ValueError:
        return None


def _message(resp) -> str:
    """The CRM's own error text: Salesforce ``[{"errorCode", "message"}]``, HubSpot ``{"message"}``."""
    body = _json(resp)
    if isinstance(body, list) and body and isinstance(body[0], dict):
        return "; ".join(f"{b.get('errorCode', '')}: {b.get('message', '')}".strip(": ") for b in body[:3])
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])[:300]
    return (resp.reason or "no message")[:300]


def _host(url: str) -> str:
    return requests.utils.urlparse(url).netloc


def _short(path: str) -> str:
    return path.split("?", 1)[0]


def _reason(err: Exception) -> str:
    text = str(err)
    for marker in ("certificate verify failed", "hostname mismatch", "self-signed", "unable to get local issuer"):
        if marker in text:
            return marker
    return type(err).__name__
