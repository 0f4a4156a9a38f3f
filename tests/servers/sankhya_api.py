"""A Sankhya ERP on 127.0.0.1 answering its JSON services (``mge/service.sbr``) as the real one does.

The quirks it copies from Sankhya Om's service broker and its API gateway:

* every service answers **HTTP 200, errors included**: ``status`` "1" ok, "0" error with a Portuguese
  ``statusMessage``, "3" with "Não autorizado." when the session is missing or expired; every answer carries
  ``serviceName``, ``status``, ``pendingPrinting: "false"`` and a ``transactionId``;
* values travel wrapped, ``{"$": "text"}``, an empty value as ``{}``; numbers and dates as text (decimals
  with a dot, dates ``dd/MM/yyyy HH:mm:ss``); the JSON is converted from the broker's XML, so a list of
  exactly one element arrives as an object (one row, one metadata field) and an empty one is left out;
* ``MobileLoginSP.login`` (``NOMUSU``/``INTERNO``) opens a session: ``jsessionid`` in the body and
  ``Set-Cookie: JSESSIONID=…; Path=/mge``; other services take the cookie or ``?mgeSession=``;
  ``MobileLoginSP.logout`` ends it; :meth:`FakeSankhya.expire_sessions` drops them all as a server restart
  or the session timeout does;
* ``CRUDServiceProvider.loadRecords`` reads one page (``offsetPage``, 0-based, a fixed page size) of an
  entity, ordered by its primary key, as positional columns ``f0…fN`` named by ``metadata.fields``, with
  ``total`` and ``hasMoreResult``; ``criteria.expression`` holds ``this.FIELD <op> ?`` clauses joined by
  ``AND`` with typed ``parameter`` values (``D`` date, ``I`` integer, ``F`` decimal, ``S`` text);
* ``CRUDServiceProvider.saveRecord`` creates (no ``key``; the next code) or updates (``key``) one record,
  refusing an unknown field ("Campo inexistente: X"), an unknown key, a missing required field, a value
  not wrapped in ``{"$": …}`` and a non-number in a numeric field; the record's ``DTALTER`` is stamped;
* the newer gateway: ``POST /authenticate`` (client credentials and the ``X-Token`` header) gives a bearer
  token that lives 300 s (by this server's clock) and ``/gateway/v1/mge/service.sbr`` takes it in place of
  the session, with the same bodies and answers.

What the server supports of Sankhya's criteria is that subset; anything else answers status "0".
"""

from __future__ import annotations

import json
import re
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from urllib.parse import parse_qsl

from tests.servers.erp_apis import ErpApiServer, Reply

SERVICE_PATH = "/mge/service.sbr"
GATEWAY_PATH = "/gateway/v1/mge/service.sbr"
UNAUTHORIZED = "Não autorizado."
TOKEN_SECONDS = 300
DATE_FORMATS = ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y")
CLAUSE = re.compile(r"^\(?\s*this\.(\w+)\s*(>=|<=|=|>|<)\s*\?\s*\)?$", re.IGNORECASE)
OPERATORS = {
    "=": lambda a, b: a == b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}


class Refusal(Exception):
    """A service call refused with status "0" and this message."""


@dataclass(frozen=True)
class Entity:
    key: str
    fields: dict[str, str]  # name -> int | text | decimal | datetime, in the entity's order
    required: tuple[str, ...]


ENTITIES = {
    "Parceiro": Entity(
        key="CODPARC",
        fields={
            "CODPARC": "int",
            "NOMEPARC": "text",
            "RAZAOSOCIAL": "text",
            "TIPPESSOA": "text",
            "CGC_CPF": "text",
            "EMAIL": "text",
            "TELEFONE": "text",
            "ATIVO": "text",
            "CLIENTE": "text",
            "DTALTER": "datetime",
        },
        required=("NOMEPARC", "TIPPESSOA"),
    ),
    "Produto": Entity(
        key="CODPROD",
        fields={
            "CODPROD": "int",
            "DESCRPROD": "text",
            "REFERENCIA": "text",
            "CODVOL": "text",
            "ATIVO": "text",
            "PESOBRUTO": "decimal",
            "DTALTER": "datetime",
        },
        required=("DESCRPROD", "CODVOL"),
    ),
}


@dataclass
class FakeSankhya(ErpApiServer):
    user: str = "INTEGRACAO"
    password: str = "senha-sankhya-7c1e"
    client_id: str = "client-id-3b9d"
    client_secret: str = "client-secret-51fa"
    x_token: str = "x-token-d04e"
    page_size: int = 50
    records: dict[str, dict[int, dict]] = field(default_factory=lambda: {name: {} for name in ENTITIES})
    sessions: set[str] = field(default_factory=set)
    tokens: dict[str, datetime] = field(default_factory=dict)  # bearer token -> when it expires
    logins: int = 0  # sessions opened by MobileLoginSP.login
    authentications: int = 0  # tokens given by /authenticate

    # --- seeding and reading -------------------------------------------------------------------------------

    def add_partner(self, **values) -> dict:
        return self.add("Parceiro", **values)

    def add_product(self, **values) -> dict:
        return self.add("Produto", **values)

    def add(self, entity: str, **values) -> dict:
        """Store a record as given (Python values: int, str, Decimal, datetime, None); the key and DTALTER
        default to the next code and the clock."""
        definition = ENTITIES[entity]
        unknown = set(values) - set(definition.fields)
        if unknown:
            raise KeyError(f"{entity} has no field {sorted(unknown)}")
        with self._lock:
            table = self.records[entity]
            key = values.get(definition.key) or max(table, default=0) + 1
            record = dict.fromkeys(definition.fields)
            record.update(values, **{definition.key: key})
            record["DTALTER"] = values.get("DTALTER") or self.clock()
            table[key] = record
            return dict(record)

    def partners(self) -> list[dict]:
        return self.rows("Parceiro")

    def products(self) -> list[dict]:
        return self.rows("Produto")

    def partner(self, code: int) -> dict | None:
        return next((r for r in self.partners() if r["CODPARC"] == code), None)

    def product(self, code: int) -> dict | None:
        return next((r for r in self.products() if r["CODPROD"] == code), None)

    def rows(self, entity: str) -> list[dict]:
        """The records held, by primary key, with Python values."""
        with self._lock:
            return [dict(record) for _key, record in sorted(self.records[entity].items())]

    def expire_sessions(self) -> None:
        """Every session and bearer token stops working: the next call answers status "3"."""
        with self._lock:
            self.sessions.clear()
            self.tokens.clear()

    # --- HTTP ----------------------------------------------------------------------------------------------

    def answer(self, method, path, query, headers, text) -> Reply:
        if method == "POST" and path == "/authenticate":
            return self.authenticate(headers, text)
        if method == "POST" and path in (SERVICE_PATH, GATEWAY_PATH):
            return self.service(path, query, headers, text)
        return Reply(404, {"status": 404, "error": "Not Found", "path": path})

    def authenticate(self, headers: dict, text: str) -> Reply:
        form = dict(parse_qsl(text, keep_blank_values=True))
        if form.get("grant_type") != "client_credentials":
            return Reply(400, {"error": "unsupported_grant_type"})
        if (
            _header(headers, "X-Token") != self.x_token
            or form.get("client_id") != self.client_id
            or form.get("client_secret") != self.client_secret
        ):
            return Reply(401, {"error": "invalid_client"})
        token = secrets.token_urlsafe(32)
        with self._lock:
            self.tokens[token] = self.clock() + timedelta(seconds=TOKEN_SECONDS)
            self.authentications += 1
        return Reply(200, {"access_token": token, "expires_in": TOKEN_SECONDS, "token_type": "Bearer"})

    def service(self, path: str, query: dict, headers: dict, text: str) -> Reply:
        try:
            body = json.loads(text) if text else {}
        except ValueError:
            body = None
        name = query.get("serviceName") or (body or {}).get("serviceName", "")
        if not isinstance(body, dict):
            return _refused(name, "Requisição inválida: o corpo não é um JSON válido.")
        request = body.get("requestBody") if isinstance(body.get("requestBody"), dict) else {}
        if path == GATEWAY_PATH:
            if not self.token_valid(headers):
                return _unauthorized(name)
        elif name == "MobileLoginSP.login":
            return self.login(name, request)
        elif self.session_of(query, headers) not in self.sessions:
            return _unauthorized(name)
        if name == "MobileLoginSP.logout":
            with self._lock:
                self.sessions.discard(self.session_of(query, headers))
            return Reply(200, _envelope(name, "1"))
        handler = {"CRUDServiceProvider.loadRecords": self.load, "CRUDServiceProvider.saveRecord": self.save}.get(name)
        if handler is None:
            return _refused(name, f"Serviço não encontrado: {name}")
        try:
            return Reply(200, {**_envelope(name, "1"), "responseBody": handler(request.get("dataSet"))})
        except Refusal as refusal:
            return _refused(name, str(refusal))

    def login(self, name: str, request: dict) -> Reply:
        user, password = _plain(request.get("NOMUSU")), _plain(request.get("INTERNO"))
        if user != self.user or password != self.password:
            return _refused(name, "Usuário/Senha inválido.")
        session = uuid.uuid4().hex.upper()
        with self._lock:
            self.sessions.add(session)
            self.logins += 1
        answer = {
            "callID": {"$": uuid.uuid4().hex.upper()},
            "jsessionid": {"$": session},
            "kID": {"$": uuid.uuid4().hex},
            "idusu": {"$": "0"},
        }
        return Reply(
            200, {**_envelope(name, "1"), "responseBody": answer}, {"Set-Cookie": f"JSESSIONID={session}; Path=/mge"}
        )

    def session_of(self, query: dict, headers: dict) -> str:
        if query.get("mgeSession"):
            return query["mgeSession"]
        for part in _header(headers, "Cookie").split(";"):
            name, _eq, value = part.strip().partition("=")
            if name == "JSESSIONID":
                return value
        return ""

    def token_valid(self, headers: dict) -> bool:
        scheme, _space, token = _header(headers, "Authorization").partition(" ")
        with self._lock:
            expires = self.tokens.get(token)
        return scheme.lower() == "bearer" and expires is not None and self.clock() < expires

    # --- CRUDServiceProvider -------------------------------------------------------------------------------

    def load(self, data_set) -> dict:
        entity, definition = _entity(data_set)
        names = _fieldset(data_set, definition) or [definition.key]
        matches = _criteria(data_set.get("criteria"), definition)
        page = _page(data_set.get("offsetPage", "0"))
        with self._lock:
            rows = [dict(r) for _k, r in sorted(self.records[entity].items()) if all(m(r) for m in matches)]
        start = page * self.page_size
        shown = rows[start : start + self.page_size]
        answer = {
            "total": str(len(rows)),
            "hasMoreResult": "true" if start + self.page_size < len(rows) else "false",
            "offsetPage": str(page),
            "offset": str(start),
            "metadata": {"fields": {"field": _one_or_list([{"name": name} for name in names])}},
        }
        if shown:
            answer["entity"] = _one_or_list(
                [{f"f{i}": _wrapped(row[name]) for i, name in enumerate(names)} for row in shown]
            )
        return {"entities": answer}

    def save(self, data_set) -> dict:
        entity, definition = _entity(data_set)
        names = _fieldset(data_set, definition)
        row = data_set.get("dataRow") if isinstance(data_set.get("dataRow"), dict) else {}
        local = row.get("localFields") or {}
        if not isinstance(local, dict):
            raise Refusal("Requisição inválida: dataRow.localFields deve ser um objeto.")
        values = {name: _typed(definition, name, wrapped) for name, wrapped in local.items()}
        key = _key(definition, row.get("key"))
        with self._lock:
            table = self.records[entity]
            if key is None:
                key = values.get(definition.key) or max(table, default=0) + 1
                if key in table:
                    raise Refusal(f"Registro duplicado: {definition.key}={key}")
                record = dict.fromkeys(definition.fields)
            elif key not in table or values.get(definition.key, key) != key:
                raise Refusal("Registro não encontrado")
            else:
                record = dict(table[key])
            record.update(values, **{definition.key: key})
            for required in definition.required:
                if record.get(required) in (None, ""):
                    raise Refusal(f"Campo obrigatório não informado: {required}")
            record["DTALTER"] = self.clock()
            table[key] = record
            answered = names or [definition.key, *[n for n in local if n != definition.key]]
            return {"entities": {"total": "1", "entity": {name: _wrapped(record[name]) for name in answered}}}


# --- the envelope ----------------------------------------------------------------------------------------


def _envelope(name: str, status: str) -> dict:
    return {
        "serviceName": name,
        "status": status,
        "pendingPrinting": "false",
        "transactionId": uuid.uuid4().hex.upper(),
    }


def _refused(name: str, message: str) -> Reply:
    return Reply(200, {**_envelope(name, "0"), "statusMessage": message})


def _unauthorized(name: str) -> Reply:
    return Reply(200, {**_envelope(name, "3"), "statusMessage": UNAUTHORIZED})


def _header(headers: dict, name: str) -> str:
    return next((value for key, value in headers.items() if key.lower() == name.lower()), "")


# --- values ----------------------------------------------------------------------------------------------


def _plain(value) -> str:
    """The text inside ``{"$": …}`` (a bare value is read as is)."""
    if isinstance(value, dict):
        return "" if value.get("$") is None else str(value["$"])
    return "" if value is None else str(value)


def _wrapped(value) -> dict:
    if value is None or value == "":
        return {}
    if isinstance(value, datetime):
        return {"$": value.strftime("%d/%m/%Y %H:%M:%S")}
    if isinstance(value, Decimal):
        return {"$": format(value.normalize(), "f")}
    return {"$": str(value)}


def _one_or_list(items: list):
    """The broker's XML-to-JSON turns a list of one element into that element."""
    return items[0] if len(items) == 1 else items


def _date(text: str) -> datetime:
    for pattern in DATE_FORMATS:
        try:
            return datetime.strptime(text.strip(), pattern)
        except ValueError:
            continue
    raise Refusal(f'Data inválida: "{text}"')


def _convert(kind: str, text: str, name: str):
    """``text`` as a value of ``kind``; refused with the field's name when it is not one."""
    if kind == "int":
        try:
            return int(text)
        except ValueError:
            raise Refusal(f'Valor numérico inválido para o campo {name}: "{text}"')
    if kind == "decimal":
        try:
            return Decimal(text)
        except InvalidOperation:
            raise Refusal(f'Valor numérico inválido para o campo {name}: "{text}"')
    if kind == "datetime":
        try:
            return _date(text)
        except Refusal:
            raise Refusal(f'Data inválida para o campo {name}: "{text}"')
    return text


def _typed(definition: Entity, name: str, wrapped):
    """A localFields value: ``{"$": text}`` or ``{}`` (empty), typed by the field."""
    if name not in definition.fields:
        raise Refusal(f"Campo inexistente: {name}")
    if not isinstance(wrapped, dict) or set(wrapped) - {"$"}:
        raise Refusal(f'Formato inválido para o campo {name}: informe o valor como {{"$": valor}}.')
    text = _plain(wrapped)
    return None if text == "" else _convert(definition.fields[name], text, name)


# --- request parts ---------------------------------------------------------------------------------------


def _entity(data_set) -> tuple[str, Entity]:
    if not isinstance(data_set, dict):
        raise Refusal("Requisição inválida: dataSet não informado.")
    name = str(data_set.get("rootEntity", ""))
    if name not in ENTITIES:
        raise Refusal(f"Entidade não encontrada: {name}")
    return name, ENTITIES[name]


def _fieldset(data_set: dict, definition: Entity) -> list[str]:
    """The names asked in ``entity.fieldset.list`` (``*`` = every field); none asked: an empty list."""
    entity = data_set.get("entity")
    if isinstance(entity, list):
        entity = next((e for e in entity if isinstance(e, dict) and not e.get("path")), {})
    fieldset = (entity or {}).get("fieldset") if isinstance(entity, dict) else None
    listed = _plain((fieldset or {}).get("list")) if isinstance(fieldset, dict) else ""
    if listed.strip() == "*":
        return list(definition.fields)
    names = [name.strip() for name in listed.split(",") if name.strip()]
    for name in names:
        if name not in definition.fields:
            raise Refusal(f"Campo inexistente: {name}")
    return names


def _page(value) -> int:
    try:
        page = int(str(value).strip() or "0")
    except ValueError:
        raise Refusal(f'Valor inválido para offsetPage: "{value}"')
    if page < 0:
        raise Refusal(f'Valor inválido para offsetPage: "{value}"')
    return page


def _key(definition: Entity, key) -> int | None:
    if not key:
        return None
    if not isinstance(key, dict):
        raise Refusal("Requisição inválida: dataRow.key deve ser um objeto.")
    for name in key:
        if name not in definition.fields:
            raise Refusal(f"Campo inexistente: {name}")
        if name != definition.key:
            raise Refusal(f"Chave inválida: {name} não é a chave de {definition.key}")
    value = _typed(definition, definition.key, key.get(definition.key))
    if value is None:
        raise Refusal(f"Campo obrigatório não informado: {definition.key}")
    return value


def _criteria(criteria, definition: Entity) -> list:
    """One predicate per ``this.FIELD <op> ?`` clause, each comparing the field to its typed parameter."""
    if not criteria:
        return []
    if not isinstance(criteria, dict):
        raise Refusal("Requisição inválida: criteria deve ser um objeto.")
    expression = _plain(criteria.get("expression")).strip()
    if not expression:
        return []
    parameters = criteria.get("parameter") or []
    parameters = [parameters] if isinstance(parameters, dict) else list(parameters)
    clauses = re.split(r"\s+AND\s+", expression, flags=re.IGNORECASE)
    if len(clauses) != len(parameters):
        raise Refusal(f"Quantidade de parâmetros ({len(parameters)}) diferente da expressão: {expression}")
    predicates = []
    for clause, parameter in zip(clauses, parameters, strict=True):
        found = CLAUSE.match(clause.strip())
        if not found:
            raise Refusal(f"Expressão inválida: {clause.strip()}")
        name, operator = found.groups()
        if name not in definition.fields:
            raise Refusal(f"Campo inexistente: {name}")
        value = _comparable(definition.fields[name], name, _parameter(parameter))
        predicates.append(_predicate(name, OPERATORS[operator], value))
    return predicates


def _parameter(parameter):
    if not isinstance(parameter, dict):
        raise Refusal("Requisição inválida: parâmetro sem tipo.")
    kind, text = str(parameter.get("type", "")).upper(), _plain(parameter)
    if kind == "D":
        return _date(text)
    if kind == "I":
        try:
            return int(text)
        except ValueError:
            raise Refusal(f'Valor inválido para parâmetro do tipo I: "{text}"')
    if kind == "F":
        try:
            return Decimal(text)
        except InvalidOperation:
            raise Refusal(f'Valor inválido para parâmetro do tipo F: "{text}"')
    if kind == "S":
        return text
    raise Refusal(f'Tipo de parâmetro desconhecido: "{kind}"')


def _comparable(kind: str, name: str, value):
    """The parameter as the field's kind (a date against a date, a number against a number…)."""
    if kind == "datetime" and isinstance(value, datetime):
        return value
    if kind in ("int", "decimal") and isinstance(value, int | Decimal):
        return value
    if kind == "text":
        return value.strftime("%d/%m/%Y %H:%M:%S") if isinstance(value, datetime) else str(value)
    if isinstance(value, str):
        return _convert("decimal" if kind == "int" else kind, value, name)
    raise Refusal(f"Tipo do parâmetro incompatível com o campo {name}")


def _predicate(name: str, operator, value):
    def matches(record: dict) -> bool:
        held = record.get(name)
        return held is not None and operator(held, value)

    return matches
