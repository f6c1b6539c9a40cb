"""Loopback protocol peers for the Dynamics 365 connector: an Entra ID token endpoint and an
OData v4 service, both over HTTPS with a self-signed certificate made here."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
import ssl
import threading
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

DEFAULT_COMPANY = "usmf"


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """Write a self-signed certificate for localhost and 127.0.0.1; return (cert, key) paths."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path = folder / "loopback-cert.pem"
    key_path = folder / "loopback-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def encode(value: Any) -> str:
    """JSON text with Decimals written exactly (as D365 does), never through float."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(encode(v) for v in value) + "]"
    return json.dumps(value)


class _Server(ThreadingHTTPServer):
    daemon_threads = True


def _serve(handler: type[BaseHTTPRequestHandler], cert: Path, key: Path) -> _Server:
    server = _Server(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep pytest output clean

    def reply(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        data = b"" if body is None else encode(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json; odata.metadata=minimal")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""


# -- Entra ID ------------------------------------------------------------------------------------


@dataclass
class TokenServer:
    """Entra ID's OpenID metadata and token endpoint for one tenant and one app."""

    tenant: str
    client_id: str
    client_secret: str
    resource: str  # the scope must be <resource>/.default
    expires_in: int = 3600
    token_requests: int = 0
    refused: int = 0
    # token -> expiry (epoch seconds); shared with the OData server, which checks it.
    tokens: dict[str, float] = field(default_factory=dict)
    revoked: set[str] = field(default_factory=set)
    base_url: str = ""
    _server: _Server | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, cert: Path, key: Path) -> TokenServer:
        """Serve on a free loopback port."""
        peer = self

        class Handler(_Handler):
            def do_GET(self) -> None:
                if self.path == f"/{peer.tenant}/v2.0/.well-known/openid-configuration":
                    root = f"{peer.base_url}/{peer.tenant}"
                    self.reply(
                        200,
                        {
                            "issuer": f"{root}/v2.0",
                            "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
                            "token_endpoint": f"{root}/oauth2/v2.0/token",
                            "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
                            "token_endpoint_auth_methods_supported": ["client_secret_post"],
                        },
                    )
                else:
                    self.reply(404, {"error": "not_found"})

            def do_POST(self) -> None:
                if self.path != f"/{peer.tenant}/oauth2/v2.0/token":
                    self.reply(404, {"error": "not_found"})
                    return
                form = dict(urllib.parse.parse_qsl(self.body().decode()))
                self.reply(*peer.issue(form))

        self._server = _serve(Handler, cert, key)
        self.base_url = f"https://localhost:{self._server.server_address[1]}"
        return self

    def issue(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """Answer a token request."""
        import time

        with self._lock:
            self.token_requests += 1
            if form.get("grant_type") != "client_credentials":
                return 400, {"error": "unsupported_grant_type"}
            if (
                form.get("client_id") != self.client_id
                or form.get("client_secret") != self.client_secret
            ):
                self.refused += 1
                return 401, {
                    "error": "invalid_client",
                    "error_description": "AADSTS7000215: Invalid client secret provided.\r\n"
                    "Trace ID: 0000",
                    "error_codes": [7000215],
                }
            if form.get("scope") != f"{self.resource}/.default":
                return 400, {"error": "invalid_scope", "error_description": form.get("scope")}
            token = f"tok-{uuid.uuid4().hex}"
            self.tokens[token] = time.time() + self.expires_in
            return 200, {
                "token_type": "Bearer",
                "expires_in": self.expires_in,
                "ext_expires_in": self.expires_in,
                "access_token": token,
            }

    def valid(self, token: str) -> bool:
        """Tell whether the OData server should accept a token."""
        import time

        with self._lock:
            expiry = self.tokens.get(token)
            return expiry is not None and expiry > time.time() and token not in self.revoked

    def revoke_all(self) -> None:
        """Make every token issued so far invalid (as after a key roll-over)."""
        with self._lock:
            self.revoked.update(self.tokens)

    def stop(self) -> None:
        """Shut the server down."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


# -- OData $filter -------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<lp>\()|(?P<rp>\))"
    r"|(?P<enum>[A-Za-z_][\w.]*\.[A-Za-z_]\w*'(?:[^']|'')*')"
    r"|(?P<str>'(?:[^']|'')*')"
    r"|(?P<dt>\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:\d\d))"
    r"|(?P<num>-?\d+(?:\.\d+)?)"
    r"|(?P<word>[A-Za-z_]\w*))"
)
_OPS = {"eq", "ne", "gt", "ge", "lt", "le"}


class FilterError(ValueError):
    """The $filter is not one this peer (or D365) accepts."""


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise FilterError(f"cannot read $filter at {text[pos:]!r}")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


def _literal(kind: str, text: str) -> Any:
    if kind == "str":
        return ("str", text[1:-1].replace("''", "'"))
    if kind == "enum":
        type_name, _, member = text.partition("'")
        return ("enum", type_name, member[:-1])
    if kind == "dt":
        return ("dt", dt.datetime.fromisoformat(text))
    if kind == "num":
        return ("num", Decimal(text))
    raise FilterError(f"not a literal: {text!r}")


def _compare(row_value: Any, op: str, literal: tuple[Any, ...]) -> bool:
    kind = literal[0]
    if row_value is None:
        return op == "ne"
    if kind == "dt":
        if isinstance(row_value, str) and not re.match(r"\d{4}-", row_value):
            raise FilterError("date-time literal compared with a non-date field")
        left: Any = dt.datetime.fromisoformat(str(row_value))
        right: Any = literal[1]
    elif kind == "enum":
        if not literal[1].startswith("Microsoft.Dynamics.DataEntities."):
            raise FilterError(f"unknown enum type {literal[1]}")
        left, right = str(row_value), literal[2]
    elif kind == "num":
        left, right = Decimal(str(row_value)), literal[1]
    else:
        left, right = str(row_value).lower(), literal[1].lower()  # D365 compares case-blind
    return bool(
        {
            "eq": left == right,
            "ne": left != right,
            "gt": left > right,
            "ge": left >= right,
            "lt": left < right,
            "le": left <= right,
        }[op]
    )


def parse_filter(text: str) -> Callable[[dict[str, Any]], bool]:
    """Compile an OData $filter of comparisons joined by and/or with parentheses."""
    tokens = _tokens(text)
    pos = 0

    def peek() -> tuple[str, str] | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> tuple[str, str]:
        nonlocal pos
        if pos >= len(tokens):
            raise FilterError("$filter ends early")
        pos += 1
        return tokens[pos - 1]

    def expr() -> Callable[[dict[str, Any]], bool]:
        parts = [conj()]
        while (tok := peek()) is not None and tok == ("word", "or"):
            take()
            parts.append(conj())
        return lambda row: any(p(row) for p in parts)

    def conj() -> Callable[[dict[str, Any]], bool]:
        parts = [atom()]
        while (tok := peek()) is not None and tok == ("word", "and"):
            take()
            parts.append(atom())
        return lambda row: all(p(row) for p in parts)

    def atom() -> Callable[[dict[str, Any]], bool]:
        kind, value = take()
        if kind == "lp":
            inner = expr()
            if take()[0] != "rp":
                raise FilterError("missing )")
            return inner
        if kind != "word":
            raise FilterError(f"expected a property, got {value!r}")
        op_kind, op = take()
        if op_kind != "word" or op not in _OPS:
            raise FilterError(f"expected an operator, got {op!r}")
        literal = _literal(*take())
        return lambda row: _compare(row.get(value), op, literal)

    predicate = expr()
    if pos != len(tokens):
        raise FilterError(f"unexpected {tokens[pos][1]!r}")
    return predicate


# -- OData v4 ------------------------------------------------------------------------------------

_KEY_PART = re.compile(r"(\w+)=('(?:[^']|'')*'|[-\d.]+)")


@dataclass
class Fault:
    """A reply the server gives instead of the real one, to the next matching request."""

    status: int
    retry_after: str | None = None
    body: Any = None


@dataclass
class ODataServer:
    """D365's /data service: entity sets in memory, bearer checks, paging and faults."""

    tokens: TokenServer
    entities: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    server_page_limit: int = 10_000
    faults: list[Fault] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    # Called before each authorised GET page with its request number; tests use it to act
    # mid-run (e.g. revoke tokens).
    on_page: Callable[[int], None] | None = None
    base_url: str = ""
    _server: _Server | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _numbers: Iterator[int] = field(default_factory=lambda: iter(range(1, 1_000_000)))

    def start(self, cert: Path, key: Path) -> ODataServer:
        """Serve on a free loopback port."""
        peer = self

        class Handler(_Handler):
            def do_GET(self) -> None:
                self.reply(*peer.handle("GET", self.path, self.headers, b""))

            def do_POST(self) -> None:
                self.reply(*peer.handle("POST", self.path, self.headers, self.body()))

            def do_PATCH(self) -> None:
                self.reply(*peer.handle("PATCH", self.path, self.headers, self.body()))

        self._server = _serve(Handler, cert, key)
        self.base_url = f"https://127.0.0.1:{self._server.server_address[1]}"
        return self

    def stop(self) -> None:
        """Shut the server down."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def handle(  # noqa: PLR0911 - one return per kind of answer
        self, method: str, raw_path: str, headers: Any, body: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        """Answer one request: (status, JSON body or None, headers)."""
        url = urllib.parse.urlsplit(raw_path)
        query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        auth = headers.get("Authorization") or ""
        record = {
            "method": method,
            "path": urllib.parse.unquote(url.path),
            "query": query,
            "prefer": headers.get("Prefer"),
            "authorized": False,
            "body": json.loads(body, parse_float=Decimal) if body else None,
        }
        with self._lock:
            self.requests.append(record)
            number = len(self.requests)
        if not auth.startswith("Bearer ") or not self.tokens.valid(auth[7:]):
            return 401, None, {"WWW-Authenticate": 'Bearer error="invalid_token"'}
        record["authorized"] = True
        with self._lock:
            fault = self.faults.pop(0) if self.faults else None
        if fault is not None:
            extra = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            return fault.status, fault.body, extra
        if method == "GET" and self.on_page is not None:
            self.on_page(number)
        match = re.fullmatch(r"/data/(\w+)(?:\((.*)\))?", record["path"])
        if match is None:
            return 404, _error("NotFound", "no such resource"), {}
        entity_set, key_text = match.group(1), match.group(2)
        if entity_set not in self.entities:
            return 404, _error("NotFound", f"Resource not found for '{entity_set}'."), {}
        try:
            if method == "GET" and key_text is None:
                return self._collection(entity_set, query, headers, raw_path)
            if method == "POST" and key_text is None:
                return self._create(entity_set, record["body"])
            if method == "PATCH" and key_text is not None:
                return self._update(entity_set, key_text, record["body"])
        except FilterError as exc:
            return 400, _error("BadRequest", f"The query in the URI is not valid. {exc}"), {}
        return 405, _error("MethodNotAllowed", method), {}

    def _collection(
        self, entity_set: str, query: dict[str, str], headers: Any, raw_path: str
    ) -> tuple[int, Any, dict[str, str]]:
        rows = self.entities[entity_set]
        if query.get("cross-company", "").lower() != "true":
            # Like D365: without cross-company only the default company is visible.
            rows = [r for r in rows if str(r.get("dataAreaId", "")).lower() == DEFAULT_COMPANY]
        if "$filter" in query:
            predicate = parse_filter(query["$filter"])
            rows = [r for r in rows if predicate(r)]
        if "$select" in query:
            fields = query["$select"].split(",")
            rows = [{f: r[f] for f in fields if f in r} for r in rows]
        limit = self.server_page_limit
        prefer = headers.get("Prefer") or ""
        applied: dict[str, str] = {}
        found = re.search(r"odata\.maxpagesize=(\d+)", prefer)
        if found:
            limit = min(limit, int(found.group(1)))
            applied["Preference-Applied"] = f"odata.maxpagesize={limit}"
        skip = int(query.get("$skiptoken", "0"))
        page = rows[skip : skip + limit]
        body: dict[str, Any] = {
            "@odata.context": f"{self.base_url}/data/$metadata#{entity_set}",
            "value": page,
        }
        if skip + limit < len(rows):
            rest = {k: v for k, v in query.items() if k != "$skiptoken"}
            rest["$skiptoken"] = str(skip + limit)
            body["@odata.nextLink"] = (
                f"{self.base_url}/data/{entity_set}?"
                + urllib.parse.urlencode(rest, quote_via=urllib.parse.quote)
            )
        return 200, body, applied

    def _create(self, entity_set: str, body: Any) -> tuple[int, Any, dict[str, str]]:
        if not isinstance(body, dict):
            return 400, _error("BadRequest", "body is not an entity"), {}
        row = dict(body)
        if entity_set == "PurchaseRequisitionHeaders":
            row["RequisitionNumber"] = f"PR-{next(self._numbers):06d}"
        if entity_set == "PurchaseRequisitionLines":
            numbers = {h["RequisitionNumber"] for h in self.entities["PurchaseRequisitionHeaders"]}
            if row.get("RequisitionNumber") not in numbers:
                return 400, _error("BadRequest", "Requisition does not exist."), {}
        with self._lock:
            self.entities[entity_set].append(row)
        return 201, row, {}

    def _update(self, entity_set: str, key_text: str, body: Any) -> tuple[int, Any, dict[str, str]]:
        key: dict[str, Any] = {}
        for name, literal in _KEY_PART.findall(key_text):
            quoted = literal.startswith("'")
            key[name] = literal[1:-1].replace("''", "'") if quoted else Decimal(literal)
        for row in self.entities[entity_set]:
            if all(
                (str(row.get(k)).lower() == str(v).lower())
                if isinstance(v, str)
                else Decimal(str(row.get(k))) == v
                for k, v in key.items()
            ):
                row.update(body)
                return 204, None, {}
        return 404, _error("NotFound", f"no {entity_set} with key {key_text}"), {}


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "innererror": {"message": message}}}
