"""A loopback SAP Gateway: OData v2 from the real EDMX files, a token endpoint, and SOAP.

It checks every name the client uses (entity sets, properties in $select/$filter/$orderby,
navigation in $expand) against the EDMX it loaded, so a connector asking for a field SAP
does not have fails here as it would against SAP.
"""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import json
import re
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "erp" / "sap"
ODATA_ROOT = "/sap/opu/odata/sap"
SOAP_PATH = "/sap/bc/srt/scs/sap/managepurchaseorderin"
TOKEN_PATH = "/oauth/token"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_EDM = "{http://schemas.microsoft.com/ado/2008/09/edm}"


class Raw(str):
    """A value sent exactly as given (to serve malformed data)."""

    __slots__ = ()


@dataclass
class EntityType:
    name: str
    keys: list[str]
    properties: dict[str, str]  # name -> Edm type
    navigation: dict[str, str]  # nav name -> target entity set


@dataclass
class Service:
    name: str
    edmx: bytes
    sets: dict[str, EntityType]


# No EDMX of API_PURCHASEREQ_PROCESS_SRV is shipped in ../shared; this hand-written subset
# names the entity sets and fields of SAP's published service that the connector uses.
REQUISITION_EDMX = b"""<?xml version="1.0" encoding="utf-8"?>
<edmx:Edmx Version="1.0" xmlns:edmx="http://schemas.microsoft.com/ado/2007/06/edmx"
 xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata">
<edmx:DataServices m:DataServiceVersion="2.0">
<Schema Namespace="API_PURCHASEREQ_PROCESS_SRV" xmlns="http://schemas.microsoft.com/ado/2008/09/edm">
<EntityType Name="A_PurchaseRequisitionHeaderType">
 <Key><PropertyRef Name="PurchaseRequisition"/></Key>
 <Property Name="PurchaseRequisition" Type="Edm.String" Nullable="false" MaxLength="10"/>
 <Property Name="PurchaseRequisitionType" Type="Edm.String" MaxLength="4"/>
 <Property Name="PurReqnDescription" Type="Edm.String" MaxLength="40"/>
 <NavigationProperty Name="to_PurchaseReqnItem"
  Relationship="API_PURCHASEREQ_PROCESS_SRV.assoc_Header_Item"
  FromRole="FromRole_Header" ToRole="ToRole_Item"/>
</EntityType>
<EntityType Name="A_PurchaseRequisitionItemType">
 <Key><PropertyRef Name="PurchaseRequisition"/><PropertyRef Name="PurchaseRequisitionItem"/></Key>
 <Property Name="PurchaseRequisition" Type="Edm.String" Nullable="false" MaxLength="10"/>
 <Property Name="PurchaseRequisitionItem" Type="Edm.String" Nullable="false" MaxLength="5"/>
 <Property Name="PurchaseRequisitionItemText" Type="Edm.String" MaxLength="40"/>
 <Property Name="Material" Type="Edm.String" MaxLength="40"/>
 <Property Name="RequestedQuantity" Type="Edm.Decimal" Precision="13" Scale="3"/>
 <Property Name="BaseUnit" Type="Edm.String" MaxLength="3"/>
 <Property Name="PurchaseRequisitionPrice" Type="Edm.Decimal" Precision="12" Scale="3"/>
 <Property Name="PurReqnPriceQuantity" Type="Edm.Decimal" Precision="5" Scale="0"/>
 <Property Name="PurReqnItemCurrency" Type="Edm.String" MaxLength="5"/>
 <Property Name="Plant" Type="Edm.String" MaxLength="4"/>
 <Property Name="FixedSupplier" Type="Edm.String" MaxLength="10"/>
 <Property Name="DeliveryDate" Type="Edm.DateTime" Precision="0"/>
</EntityType>
<Association Name="assoc_Header_Item">
 <End Type="API_PURCHASEREQ_PROCESS_SRV.A_PurchaseRequisitionHeaderType" Multiplicity="1"
  Role="FromRole_Header"/>
 <End Type="API_PURCHASEREQ_PROCESS_SRV.A_PurchaseRequisitionItemType" Multiplicity="*"
  Role="ToRole_Item"/>
</Association>
<EntityContainer Name="API_PURCHASEREQ_PROCESS_SRV_Entities" m:IsDefaultEntityContainer="true">
 <EntitySet Name="A_PurchaseRequisitionHeader"
  EntityType="API_PURCHASEREQ_PROCESS_SRV.A_PurchaseRequisitionHeaderType"/>
 <EntitySet Name="A_PurchaseRequisitionItem"
  EntityType="API_PURCHASEREQ_PROCESS_SRV.A_PurchaseRequisitionItemType"/>
</EntityContainer>
</Schema>
</edmx:DataServices>
</edmx:Edmx>
"""


def load_service(name: str) -> Service:
    """Read one EDMX: entity sets, their types' properties and navigation targets."""
    return service_from_edmx(name, (FIXTURES / f"{name}.edmx").read_bytes())


def service_from_edmx(name: str, edmx: bytes) -> Service:
    """Read entity sets, properties and navigation targets from EDMX bytes."""
    root = ET.fromstring(edmx)
    schema = next(root.iter(f"{_EDM}Schema"))
    namespace = schema.attrib["Namespace"]
    types: dict[str, ET.Element] = {e.attrib["Name"]: e for e in schema.iter(f"{_EDM}EntityType")}
    assoc_ends: dict[tuple[str, str], str] = {}
    for assoc in schema.iter(f"{_EDM}Association"):
        for end in assoc.iter(f"{_EDM}End"):
            assoc_ends[(assoc.attrib["Name"], end.attrib["Role"])] = end.attrib["Type"].split(".")[
                -1
            ]
    set_of_type = {
        s.attrib["EntityType"].split(".")[-1]: s.attrib["Name"]
        for s in root.iter(f"{_EDM}EntitySet")
    }
    sets: dict[str, EntityType] = {}
    for type_name, set_name in set_of_type.items():
        element = types[type_name]
        navigation = {}
        for nav in element.iter(f"{_EDM}NavigationProperty"):
            relation = str(nav.attrib["Relationship"]).removeprefix(namespace + ".")
            target = assoc_ends[(relation, str(nav.attrib["ToRole"]))]
            navigation[nav.attrib["Name"]] = set_of_type[target]
        sets[set_name] = EntityType(
            name=type_name,
            keys=[p.attrib["Name"] for p in element.iter(f"{_EDM}PropertyRef")],
            properties={
                p.attrib["Name"]: p.attrib["Type"] for p in element.iter(f"{_EDM}Property")
            },
            navigation=navigation,
        )
    return Service(name=name, edmx=edmx, sets=sets)


def wire(value: Any, edm_type: str) -> Any:
    """Encode a Python value the way SAP's OData v2 JSON does."""
    if value is None or isinstance(value, Raw):
        return None if value is None else str(value)
    if edm_type == "Edm.Decimal":
        return str(value)
    if edm_type in ("Edm.DateTime", "Edm.DateTimeOffset"):
        if isinstance(value, dt.datetime):
            moment = value
        else:
            moment = dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
        ms = int((moment - _EPOCH).total_seconds() * 1000)
        return f"/Date({ms}+0000)/" if edm_type == "Edm.DateTimeOffset" else f"/Date({ms})/"
    return value


class BadRequestError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


_COMPARE = re.compile(
    r"^\s*(\w+)\s+(eq|ne|ge|gt|le|lt)\s+"
    r"(?:datetimeoffset'([^']*)'|datetime'([^']*)'|'((?:[^']|'')*)')\s*$"
)


def _filter(expr: str, etype: EntityType) -> Callable[[dict[str, Any]], bool]:
    tests = []
    for part in re.split(r"\s+and\s+", expr):
        match = _COMPARE.match(part)
        if match is None:
            raise BadRequestError(400, "/IWBEP/CM_MGW_RT/022", f"Invalid filter expression: {part}")
        name, op, dto, dtm, text = match.groups()
        if name not in etype.properties:
            raise BadRequestError(400, "/IWBEP/CM_MGW_RT/021", f"Property {name} not found")
        edm = etype.properties[name]
        literal: Any
        if dto is not None:
            if edm != "Edm.DateTimeOffset" or not dto.endswith("Z"):
                raise BadRequestError(400, "/IWBEP/CM_MGW_RT/022", f"Invalid literal for {name}")
            literal = dt.datetime.fromisoformat(dto.replace("Z", "+00:00"))
        elif dtm is not None:
            if edm != "Edm.DateTime":
                raise BadRequestError(400, "/IWBEP/CM_MGW_RT/022", f"Invalid literal for {name}")
            literal = dt.datetime.fromisoformat(dtm).replace(tzinfo=dt.UTC)
        else:
            literal = text.replace("''", "'")
        tests.append((name, op, literal))

    def keep(row: dict[str, Any]) -> bool:
        for name, op, literal in tests:
            value = row.get(name)
            if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
                value = dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
            if value is None or isinstance(value, Raw):
                return False
            ok = {
                "eq": value == literal,
                "ne": value != literal,
                "ge": value >= literal,
                "gt": value > literal,
                "le": value <= literal,
                "lt": value < literal,
            }[op]
            if not ok:
                return False
        return True

    return keep


@dataclass
class Fault:
    path_contains: str
    status: int
    times: int = 1
    headers: dict[str, str] = field(default_factory=dict)
    message: str = "Injected fault"


@dataclass
class SapState:
    """What the loopback SAP holds and how it behaves; tests change it between calls."""

    data: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)
    services: dict[str, Service] = field(default_factory=dict)
    paging: str = "skip"  # "skip": honour $top/$skip; "skiptoken": server pages with __next
    server_page: int = 50
    user: str = "buyer"
    password: str = "s3cret-pass"
    client_id: str = "pricing-agent"
    client_secret: str = "client-secret-value"
    faults: list[Fault] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path?query)
    token_calls: int = 0
    tokens: set[str] = field(default_factory=set)
    csrf_token: str = "csrf-1"
    csrf_fetches: int = 0
    csrf_rejections: int = 0
    writes: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    # Services the test has no EDMX for: only the CSRF fetch and writes are served.
    unmodelled: set[str] = field(default_factory=lambda: {"API_PURCHASEREQ_PROCESS_SRV"})
    soap_requests: list[list[str]] = field(default_factory=list)
    soap_responder: Callable[[list[str]], bytes] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    _counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def apply_change(self, service_name: str, rest: str, payload: dict[str, Any]) -> bool:
        """Apply a MERGE to the served entity with those keys, as SAP would; False if none.

        Its document's ``LastChangeDateTime`` moves to now, so an incremental read sees it.
        """
        match = _KEYED.match(rest)
        if match is None:
            return False
        keys = {}
        for part in match.group(2).split(","):
            name, _, literal = part.partition("=")
            keys[name] = unquote(literal).strip("'").replace("''", "'")
        for rows in self.data.get(service_name, {}).values():
            for document in rows:
                for entity in _entities(document):
                    if all(str(entity.get(k)) == v for k, v in keys.items()):
                        for name, value in payload.items():
                            old = entity.get(name)
                            entity[name] = Decimal(value) if isinstance(old, Decimal) else value
                        document["LastChangeDateTime"] = dt.datetime.now(dt.UTC)
                        return True
        return False

    def rotate_csrf(self) -> None:
        """Make the client's cached CSRF token stale, as a session timeout does."""
        self.csrf_token = f"csrf-{next(self._counter) + 100}"


_KEYED = re.compile(r"^(\w+)\((.*)\)$")


def _entities(document: dict[str, Any]) -> list[dict[str, Any]]:
    """A document and the entities nested in its navigation lists."""
    found = [document]
    for value in document.values():
        if isinstance(value, list):
            for child in value:
                if isinstance(child, dict):
                    found.extend(_entities(child))
    return found


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # -- helpers --

    def _send(
        self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json", headers)

    def _error(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        self._json(
            status,
            {
                "error": {
                    "code": code,
                    "message": {"lang": "en", "value": message},
                    "innererror": {"transactionid": "0A1B2C", "timestamp": "20240101000000"},
                }
            },
            headers,
        )

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    # -- dispatch --

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_MERGE(self) -> None:
        self._dispatch("MERGE")

    def _dispatch(self, method: str) -> None:
        state = self.server.state
        body = self._body()
        with state.lock:
            state.requests.append((method, self.path))
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        for fault in list(state.faults):
            if fault.path_contains in self.path and fault.times > 0:
                fault.times -= 1
                if fault.times == 0:
                    state.faults.remove(fault)
                self._error(fault.status, "/IWFND/CM_CONSUMER/000", fault.message, fault.headers)
                return
        if path == TOKEN_PATH and method == "POST":
            self._token(body)
            return
        if path == SOAP_PATH and method == "POST":
            self._soap(body)
            return
        if not self._authorised():
            self._error(401, "/IWFND/CM_SEC/001", "Logon failed: user or password not valid")
            return
        if not path.startswith(ODATA_ROOT + "/"):
            self._error(404, "/IWFND/MED/170", f"No service found for {path}")
            return
        service_name, _, rest = path[len(ODATA_ROOT) + 1 :].partition("/")
        service = state.services.get(service_name)
        if service is None and service_name not in state.unmodelled:
            self._error(
                404, "/IWFND/MED/170", f"No service found for namespace, name {service_name}"
            )
            return
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        try:
            if method == "GET":
                self._get(service_name, service, rest, query)
            else:
                self._write(method, service_name, service, rest, body)
        except BadRequestError as exc:
            self._error(exc.status, exc.code, exc.message)

    def _authorised(self) -> bool:
        state = self.server.state
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            return auth[7:] in state.tokens
        if auth.startswith("Basic "):
            user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
            return (user, pw) == (state.user, state.password)
        return False

    def _token(self, body: bytes) -> None:
        state = self.server.state
        form = dict(parse_qsl(body.decode()))
        auth = self.headers.get("Authorization", "")
        cid, secret = form.get("client_id"), form.get("client_secret")
        if auth.startswith("Basic "):
            cid, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        with state.lock:
            state.token_calls += 1
        if form.get("grant_type") != "client_credentials" or (cid, secret) != (
            state.client_id,
            state.client_secret,
        ):
            self._json(401, {"error": "invalid_client"})
            return
        token = f"token-{next(state._counter)}"
        state.tokens.add(token)
        self._json(200, {"access_token": token, "token_type": "bearer", "expires_in": 3600})

    # -- reads --

    def _get(  # noqa: PLR0912 - one branch per OData system query option
        self, name: str, service: Service | None, rest: str, query: dict[str, str]
    ) -> None:
        state = self.server.state
        if rest in ("", "/"):
            headers = {}
            if self.headers.get("X-CSRF-Token", "").lower() == "fetch":
                with state.lock:
                    state.csrf_fetches += 1
                headers = {
                    "X-CSRF-Token": state.csrf_token,
                    "Set-Cookie": f"SAP_SESSIONID_X=session-{state.csrf_token}; Path=/",
                }
            sets = sorted(service.sets) if service else []
            self._json(200, {"d": {"EntitySets": sets}}, headers)
            return
        if service is None:
            raise BadRequestError(404, "/IWFND/MED/170", f"No metadata loaded for {name}")
        if rest == "$metadata":
            self._send(200, service.edmx, "application/xml")
            return
        if "(" in rest:
            raise BadRequestError(501, "/IWBEP/CM_MGW_RT/000", "Single-entity reads not served")
        etype = service.sets.get(rest)
        if etype is None:
            raise BadRequestError(
                404, "/IWBEP/CM_MGW_RT/020", f"Resource not found for segment '{rest}'"
            )
        rows = state.data.get(service.name, {}).get(rest, [])
        select = [s for s in query.get("$select", "").split(",") if s]
        expand = [s for s in query.get("$expand", "").split(",") if s]
        for selected in select:
            if selected not in etype.properties and selected not in etype.navigation:
                raise BadRequestError(400, "/IWBEP/CM_MGW_RT/021", f"Property {selected} not found")
        for nav in expand:
            if nav not in etype.navigation:
                raise BadRequestError(400, "/IWBEP/CM_MGW_RT/021", f"Navigation {nav} not found")
        if "$filter" in query:
            rows = [r for r in rows if _filter(query["$filter"], etype)(r)]
        if "$orderby" in query:
            name = query["$orderby"].split()[0]
            if name not in etype.properties:
                raise BadRequestError(400, "/IWBEP/CM_MGW_RT/021", f"Property {name} not found")
            rows = sorted(rows, key=lambda r: str(r.get(name) or ""))
        total = len(rows)
        next_link = None
        if state.paging == "skiptoken":
            start = int(query.get("$skiptoken") or query.get("$skip") or 0)
            page = rows[start : start + state.server_page]
            if start + state.server_page < total:
                kept = [
                    (k, v) for k, v in query.items() if k not in ("$skiptoken", "$skip", "$top")
                ]
                kept.append(("$skiptoken", str(start + state.server_page)))
                qs = "&".join(f"{k}={quote(v, safe=',')}" for k, v in kept)
                next_link = f"{rest}?{qs}"
        else:
            skip = int(query.get("$skip", 0))
            top = int(query["$top"]) if "$top" in query else total
            page = rows[skip : skip + top]
        results = [self._entity(service, rest, etype, row, select, expand) for row in page]
        d: dict[str, Any] = {"results": results}
        if query.get("$inlinecount") == "allpages":
            d["__count"] = str(total)
        if next_link:
            d["__next"] = f"http://{self.headers['Host']}{ODATA_ROOT}/{service.name}/{next_link}"
        self._json(200, {"d": d})

    def _entity(
        self,
        service: Service,
        set_name: str,
        etype: EntityType,
        row: dict[str, Any],
        select: list[str],
        expand: list[str],
    ) -> dict[str, Any]:
        keys = ",".join(f"{k}='{row.get(k)}'" for k in etype.keys)
        base = f"http://{self.headers['Host']}{ODATA_ROOT}/{service.name}/{set_name}({keys})"
        out: dict[str, Any] = {
            "__metadata": {"id": base, "uri": base, "type": f"{service.name}.{etype.name}"}
        }
        for name, value in row.items():
            if name in etype.navigation:
                continue
            assert name in etype.properties, f"{etype.name} has no property {name}"
            if select and name not in select:
                continue
            out[name] = wire(value, etype.properties[name])
        for nav, target in etype.navigation.items():
            if select and nav not in select:
                continue
            if nav in expand:
                child_type = service.sets[target]
                children = row.get(nav, [])
                out[nav] = {
                    "results": [
                        self._entity(service, target, child_type, c, [], []) for c in children
                    ]
                }
            else:
                out[nav] = {"__deferred": {"uri": f"{base}/{nav}"}}
        return out

    # -- writes --

    def _write(
        self, method: str, service_name: str, service: Service | None, rest: str, body: bytes
    ) -> None:
        state = self.server.state
        tunnelled = self.headers.get("X-HTTP-Method")
        if tunnelled:
            method = tunnelled.upper()
        cookie = self.headers.get("Cookie", "")
        if self.headers.get("X-CSRF-Token") != state.csrf_token or (
            f"session-{state.csrf_token}" not in cookie
        ):
            with state.lock:
                state.csrf_rejections += 1
            self._error(
                403,
                "/IWFND/CM_BEC/026",
                "CSRF token validation failed",
                {"X-CSRF-Token": "Required"},
            )
            return
        payload = json.loads(body, parse_float=Decimal)
        state.writes.append((method, f"{service_name}/{rest}", payload))
        if service is not None:
            set_name = rest.split("(", maxsplit=1)[0]
            etype = service.sets.get(set_name)
            if etype is None:
                raise BadRequestError(
                    404, "/IWBEP/CM_MGW_RT/020", f"Resource not found for segment '{set_name}'"
                )
            for name in payload:
                if name not in etype.properties and name not in etype.navigation:
                    raise BadRequestError(400, "/IWBEP/CM_MGW_RT/021", f"Property {name} not found")
        if method in ("MERGE", "PATCH", "PUT"):
            with state.lock:
                state.apply_change(service_name, rest, payload)
            self._send(204, b"", "application/json")
            return
        if rest == "A_PurchaseRequisitionHeader":
            self._json(201, {"d": {**payload, "PurchaseRequisition": "10000042"}})
            return
        self._json(201, {"d": payload})

    # -- SOAP --

    def _soap(self, body: bytes) -> None:
        state = self.server.state
        root = ET.fromstring(body)
        ids = [
            (e.text or "").strip()
            for e in root.iter()
            if e.tag.rsplit("}", 1)[-1] == "ID" and e.text and e.text.strip()
        ]
        state.soap_requests.append(ids)
        assert state.soap_responder is not None
        self._send(200, state.soap_responder(ids), "text/xml; charset=utf-8")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: SapState) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state


class SapServer:
    """Start the loopback SAP in a thread; ``url`` is its OData root."""

    def __init__(self, state: SapState) -> None:
        self.state = state
        self._server = _Server(state)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def origin(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def url(self) -> str:
        return self.origin + ODATA_ROOT

    def start(self) -> SapServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
