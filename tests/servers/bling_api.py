"""A Bling API v3 on 127.0.0.1 for connector tests: OAuth2 with rotating refresh tokens, contacts, products.

Use it as a context manager (a fixture that ``yield``s inside ``with`` stops it on teardown, also when the
test fails). It answers as Bling does (developer.bling.com.br: "Autenticação", "Aplicativos", "Erros
comuns", "Limites"), refusals included; every error is Bling's ``{"error": {"type", "message",
"description"}}``:

* ``GET /Api/v3/oauth/authorize?response_type=code&client_id=&state=``: the consent step, approved at once:
  302 to :attr:`redirect_uri` with ``code`` and the same ``state`` (``error=access_denied`` when
  :attr:`deny_consent`); an unknown client: 400. A code lives one minute and works once.
* ``POST /Api/v3/oauth/token``: the client authenticates by HTTP Basic ``client_id:client_secret``; the
  form says ``grant_type=authorization_code&code=`` or ``grant_type=refresh_token&refresh_token=``. Access
  tokens live :attr:`token_lifetime` seconds (6 h), refresh tokens 30 days; **each refresh issues a new
  refresh token and the old one stops working** (a second use: 400 ``invalid_grant``). The error texts are
  those of the OAuth2 server Bling runs ("The access token provided is invalid", "Invalid refresh token").
  :meth:`revoke_all` is the user removing the app: every token stops working.
* ``GET /Api/v3/contatos?pagina=&limite=&criterio=&pesquisa=&dataAlteracaoInicial=&dataAlteracaoFinal=``
  → ``{"data": [...]}`` without any total, a page past the end ``{"data": []}``; ``limite`` at most 100;
  change dates are Brasília time (UTC-3) as ``YYYY-MM-DD HH:MM:SS``, a range at most one year.
  ``GET /Api/v3/contatos/{id}`` → ``{"data": full contact}``; ``POST`` → 201 ``{"data": {"id"}}``;
  ``PUT /Api/v3/contatos/{id}`` replaces the whole contact → 200 ``{"data": {"id"}}``. A contact without a
  name, a ``tipo`` other than J/F/E or an invalid CPF/CNPJ: 400 VALIDATION_ERROR naming the field.
* ``GET /Api/v3/produtos`` (same paging and dates) and ``GET /Api/v3/produtos/{id}``.
* At most :attr:`rate_limit` calls a second per access token (Bling: 3), else 429 TOO_MANY_REQUESTS; 0 turns
  the limit off. Unknown routes: 404 RESOURCE_NOT_FOUND.

Timestamps and token lifetimes read :attr:`clock` (move it with :meth:`advance`); only the rate window
reads the real monotonic time, since a client's pacing is real time.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import parse_qsl, urlencode

from tests.servers.local_http import LocalHandler, Received, ServedLocally

ROOT = "/Api/v3"
PAGE_LIMIT = 100
CODE_LIFETIME = timedelta(minutes=1)
REFRESH_LIFETIME = timedelta(days=30)
LONGEST_RANGE = timedelta(days=366)
BRASILIA = timezone(timedelta(hours=-3))
CLOCK_START = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
CONTACT_TYPES = ("J", "F", "E")
# criterio of the lists: which situations each shows (1, the default, everything not deleted).
CONTACT_CRITERIA = {"1": "AIS", "2": "A", "3": "I", "4": "E"}
PRODUCT_CRITERIA = {"1": "AI", "2": "A", "3": "I", "4": "E", "5": "AIE"}


def blank_contact() -> dict:
    """Every field of a full contact, empty: what a PUT leaves of the fields it does not send."""
    address = {"endereco": "", "numero": "", "complemento": "", "bairro": "", "cep": "", "municipio": "", "uf": ""}
    return {
        "nome": "",
        "codigo": "",
        "situacao": "A",
        "numeroDocumento": "",
        "telefone": "",
        "celular": "",
        "fantasia": "",
        "tipo": "J",
        "indicadorIe": 9,
        "ie": "",
        "rg": "",
        "email": "",
        "emailNotaFiscal": "",
        "endereco": {"geral": dict(address)},
    }


CONTACT_LIST_FIELDS = ("id", "nome", "codigo", "situacao", "numeroDocumento", "telefone", "celular")
PRODUCT_FIELDS = ("id", "nome", "codigo", "preco", "tipo", "situacao", "formato", "descricaoCurta")


@dataclass
class FakeBling(ServedLocally):
    client_id: str = "bling-client-id"
    client_secret: str = "bling-client-secret"
    redirect_uri: str = "http://127.0.0.1:9/bling/callback"  # the app's registered redirect link
    scope: str = "98309 5990556 318257570"
    token_lifetime: int = 21600  # seconds an access token works
    rate_limit: int = 3  # calls a second per access token; 0: no limit
    deny_consent: bool = False  # the user refuses the app at the consent step
    clock: datetime = CLOCK_START
    contacts: dict[int, dict] = field(default_factory=dict)  # id -> full contact, as GET /contatos/{id} shows it
    products: dict[int, dict] = field(default_factory=dict)
    changed: dict[tuple[str, int], datetime] = field(default_factory=dict)  # (kind, id) -> when it last changed
    received: list[Received] = field(default_factory=list)
    refreshes: int = 0  # refresh grants honoured
    refresh_tokens: list[str] = field(default_factory=list)  # every refresh token issued, oldest first
    access_tokens: dict[str, datetime] = field(default_factory=dict)  # token -> when it expires
    _codes: dict[str, datetime] = field(default_factory=dict)  # unused authorization code -> issued at
    _live_refresh: dict[str, datetime] = field(default_factory=dict)  # usable refresh token -> issued at
    _calls: dict[str, deque] = field(default_factory=dict)  # access token -> monotonic times of its calls
    _next_id: int = 16_000_000_001
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # Lifecycle.

    def start(self):
        return self.serve(_Handler)

    @property
    def authorize_url(self) -> str:
        return f"{self.url}{ROOT}/oauth/authorize"

    @property
    def token_url(self) -> str:
        return f"{self.url}{ROOT}/oauth/token"

    # Knobs and helpers for tests.

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.clock += timedelta(seconds=seconds)

    def issue_code(self) -> str:
        """An authorization code, as the consent step would hand it to the app."""
        with self._lock:
            code = secrets.token_hex(20)
            self._codes[code] = self.clock
            return code

    def issue_tokens(self) -> dict:
        """A token answer for an app already authorized (what the code exchange would answer)."""
        with self._lock:
            return self._grant()

    def revoke_all(self) -> None:
        """The user removed the app: no code, access token or refresh token works any more."""
        with self._lock:
            self._codes.clear()
            self.access_tokens.clear()
            self._live_refresh.clear()

    @property
    def newest_refresh_token(self) -> str | None:
        with self._lock:
            return self.refresh_tokens[-1] if self.refresh_tokens else None

    def seed_contact(self, *, changed: datetime | None = None, **values) -> int:
        """Hold a contact (the fields of :func:`blank_contact`, ``endereco`` merged); its id."""
        contact = _merged(blank_contact(), values)
        with self._lock:
            return self._store("contatos", self.contacts, contact, changed or self.clock)

    def seed_product(self, *, changed: datetime | None = None, **values) -> int:
        product = {"nome": "", "codigo": "", "preco": 0, "tipo": "P", "situacao": "A", "formato": "S"}
        product = {**product, "descricaoCurta": "", "unidade": "UN", **values}
        with self._lock:
            return self._store("produtos", self.products, product, changed or self.clock)

    def contact(self, contact_id: int) -> dict | None:
        with self._lock:
            found = self.contacts.get(int(contact_id))
            return json.loads(json.dumps(found)) if found else None

    def contact_by(self, name: str, value: str) -> dict | None:
        with self._lock:
            ids = [key for key, c in self.contacts.items() if str(c.get(name, "")) == value]
        return self.contact(ids[0]) if ids else None

    # Requests.

    def handle(self, method: str, path: str, query: dict, headers, text: str) -> tuple[int, object, dict]:
        """(status, JSON body or None, headers) for one request."""
        if path == f"{ROOT}/oauth/authorize" and method == "GET":
            return self.authorize(query)
        if path == f"{ROOT}/oauth/token" and method == "POST":
            status, body = self.token(headers.get("Authorization", ""), dict(parse_qsl(text)))
            return status, body, {"Cache-Control": "no-store"}
        token = _bearer(headers.get("Authorization", ""))
        with self._lock:
            expires = self.access_tokens.get(token)
            if expires is None or expires <= self.clock:
                why = "The access token provided has expired" if expires else "The access token provided is invalid"
                return 401, _error("invalid_token", "invalid_token", why), {}
            if self._over_rate(token):
                return (
                    429,
                    _error(
                        "TOO_MANY_REQUESTS",
                        "Limite de requisições atingido.",
                        "Limite de requisições por segundo atingido, tente novamente mais tarde.",
                    ),
                    {},
                )
        try:
            body = json.loads(text) if text else None
        except ValueError:
            return 400, _error("VALIDATION_ERROR", "JSON inválido", "O corpo da requisição não é um JSON válido."), {}
        status, answer = self.route(method, path[len(ROOT) :] if path.startswith(ROOT) else path, query, body)
        return status, answer, {}

    def route(self, method: str, path: str, query: dict, body) -> tuple[int, object]:
        parts = [part for part in path.split("/") if part]
        if parts[:1] == ["contatos"] and len(parts) <= 2:
            if len(parts) == 1:
                return self.listing("contatos", query) if method == "GET" else self.save_contact(None, body, method)
            if parts[1].isdigit():
                return (
                    self.read("contatos", int(parts[1]))
                    if method == "GET"
                    else self.save_contact(int(parts[1]), body, method)
                )
        if parts[:1] == ["produtos"] and method == "GET":
            if len(parts) == 1:
                return self.listing("produtos", query)
            if len(parts) == 2 and parts[1].isdigit():
                return self.read("produtos", int(parts[1]))
        return 404, _not_found()

    def authorize(self, query: dict) -> tuple[int, object, dict]:
        if query.get("client_id") != self.client_id or query.get("response_type") != "code":
            return 400, _error("invalid_client", "invalid_client", "No client id supplied or client not found"), {}
        state = query.get("state", "")
        if self.deny_consent:
            answer = {"error": "access_denied", "error_description": "The user denied access", "state": state}
        else:
            answer = {"code": self.issue_code(), "state": state}
        return 302, None, {"Location": f"{self.redirect_uri}?{urlencode(answer)}"}

    def token(self, authorization: str, form: dict) -> tuple[int, dict]:
        if _basic(authorization) != (self.client_id, self.client_secret):
            return 401, _error("invalid_client", "invalid_client", "The client credentials are invalid")
        grant = form.get("grant_type", "")
        with self._lock:
            if grant == "authorization_code":
                if not form.get("code"):
                    return 400, _error("invalid_request", "invalid_request", 'Missing parameter: "code" is required')
                issued = self._codes.pop(form["code"], None)
                if issued is None:
                    return 400, _invalid_grant("Authorization code doesn't exist or is invalid for the client")
                if self.clock - issued > CODE_LIFETIME:
                    return 400, _invalid_grant("The authorization code has expired")
                return 200, self._grant()
            if grant == "refresh_token":
                presented = form.get("refresh_token", "")
                if not presented:
                    return 400, _error(
                        "invalid_request", "invalid_request", 'Missing parameter: "refresh_token" is required'
                    )
                issued = self._live_refresh.pop(presented, None)
                if issued is None:
                    return 400, _invalid_grant("Invalid refresh token")
                if self.clock - issued > REFRESH_LIFETIME:
                    return 400, _invalid_grant("Refresh token has expired")
                self.refreshes += 1
                return 200, self._grant()
        return 400, _error("unsupported_grant_type", "unsupported_grant_type", f'Grant type "{grant}" not supported')

    def listing(self, kind: str, query: dict) -> tuple[int, dict]:
        page, limit = _whole(query.get("pagina", "1")), _whole(query.get("limite", str(PAGE_LIMIT)))
        if page is None or page < 1:
            return 400, _validation(kind, "pagina", "A página deve ser um número maior que zero")
        if limit is None or not 1 <= limit <= PAGE_LIMIT:
            return 400, _validation(kind, "limite", f"O limite deve ser um número entre 1 e {PAGE_LIMIT}")
        criteria = CONTACT_CRITERIA if kind == "contatos" else PRODUCT_CRITERIA
        shown = criteria.get(query.get("criterio", "1"))
        if shown is None:
            return 400, _validation(kind, "criterio", "Critério de listagem inválido")
        since, until = _moment(query.get("dataAlteracaoInicial")), _moment(query.get("dataAlteracaoFinal"))
        if since is False or until is False:
            return 400, _validation(kind, "dataAlteracao", "A data deve estar no formato YYYY-MM-DD HH:MM:SS")
        if since and until and until - since > LONGEST_RANGE:
            return 400, _validation(kind, "dataAlteracao", "O intervalo entre as datas deve ser de no máximo 1 ano")
        search = query.get("pesquisa", "").casefold()
        fields = CONTACT_LIST_FIELDS if kind == "contatos" else PRODUCT_FIELDS
        with self._lock:
            held = self.contacts if kind == "contatos" else self.products
            rows = [
                {name: record.get(name) for name in fields}
                for key, record in sorted(held.items())
                if record["situacao"] in shown
                and (since is None or self.changed[kind, key] >= since)
                and (until is None or self.changed[kind, key] <= until)
                and (not search or search in f"{record.get('nome')} {record.get('codigo')}".casefold())
            ]
        return 200, {"data": rows[(page - 1) * limit : page * limit]}

    def read(self, kind: str, key: int) -> tuple[int, dict]:
        with self._lock:
            record = (self.contacts if kind == "contatos" else self.products).get(key)
            if record is None:
                return 404, _not_found()
            return 200, {"data": json.loads(json.dumps(record))}

    def save_contact(self, key: int | None, body, method: str) -> tuple[int, object]:
        if (key is None and method != "POST") or (key is not None and method != "PUT"):
            return 404, _not_found()
        if not isinstance(body, dict):
            return 400, _validation("contatos", "body", "O corpo da requisição deve ser um contato")
        problems = _contact_problems(body)
        if problems:
            return 400, {
                "error": {
                    "type": "VALIDATION_ERROR",
                    "message": "Não foi possível salvar o contato",
                    "description": "Não foi possível salvar o contato",
                    "fields": problems,
                }
            }
        contact = _merged(blank_contact(), {k: v for k, v in body.items() if k != "id"})
        with self._lock:
            if key is None:
                return 201, {"data": {"id": self._store("contatos", self.contacts, contact, self.clock)}}
            if key not in self.contacts:
                return 404, _not_found()
            self.contacts[key] = {"id": key, **contact}
            self.changed["contatos", key] = self.clock
            return 200, {"data": {"id": key}}

    # Internals (called with the lock held).

    def _grant(self) -> dict:
        access, refresh = secrets.token_hex(20), secrets.token_hex(20)
        self.access_tokens[access] = self.clock + timedelta(seconds=self.token_lifetime)
        self._live_refresh[refresh] = self.clock
        self.refresh_tokens.append(refresh)
        return {
            "access_token": access,
            "expires_in": self.token_lifetime,
            "token_type": "Bearer",
            "scope": self.scope,
            "refresh_token": refresh,
        }

    def _over_rate(self, token: str) -> bool:
        if not self.rate_limit:
            return False
        now = time.monotonic()
        calls = self._calls.setdefault(token, deque())
        while calls and now - calls[0] >= 1:
            calls.popleft()
        if len(calls) >= self.rate_limit:
            return True
        calls.append(now)
        return False

    def _store(self, kind: str, held: dict, record: dict, changed: datetime) -> int:
        key = self._next_id
        self._next_id += 1
        held[key] = {"id": key, **record}
        self.changed[kind, key] = changed
        return key


def _merged(base: dict, values: dict) -> dict:
    """``values`` over ``base``, the address merged field by field."""
    merged = {**base, **values}
    address = (values.get("endereco") or {}).get("geral") if isinstance(values.get("endereco"), dict) else None
    merged["endereco"] = {"geral": {**base["endereco"]["geral"], **(address or {})}}
    return merged


def _contact_problems(body: dict) -> list[dict]:
    """Bling's field errors for a contact: its name, its kind of person, its CPF/CNPJ."""
    problems = []
    if not str(body.get("nome") or "").strip():
        problems.append(_field(49, "O nome do contato deve ser informado", "nome"))
    kind = body.get("tipo", "J")
    if kind not in CONTACT_TYPES:
        problems.append(_field(50, "O tipo de pessoa deve ser J (jurídica), F (física) ou E (estrangeira)", "tipo"))
    digits = "".join(ch for ch in str(body.get("numeroDocumento") or "") if ch.isdigit())
    if digits and kind == "J" and not _valid_cnpj(digits):
        problems.append(_field(51, "O CNPJ informado é inválido", "numeroDocumento"))
    if digits and kind == "F" and not _valid_cpf(digits):
        problems.append(_field(51, "O CPF informado é inválido", "numeroDocumento"))
    return problems


def _field(code: int, message: str, element: str) -> dict:
    return {"code": code, "msg": message, "element": element, "namespace": "CONTATOS"}


def _valid_cpf(digits: str) -> bool:
    if len(digits) != 11 or len(set(digits)) == 1:
        return False
    for size in (9, 10):
        total = sum(int(d) * w for d, w in zip(digits[:size], range(size + 1, 1, -1), strict=True))
        if (total * 10 % 11) % 10 != int(digits[size]):
            return False
    return True


def _valid_cnpj(digits: str) -> bool:
    if len(digits) != 14 or len(set(digits)) == 1:
        return False
    for size in (12, 13):
        weights = list(range(size - 7, 1, -1)) + list(range(9, 1, -1))
        total = sum(int(d) * w for d, w in zip(digits[:size], weights, strict=True))
        check = 11 - total % 11
        if (0 if check >= 10 else check) != int(digits[size]):
            return False
    return True


def _moment(text: str | None) -> datetime | bool | None:
    """A Bling date filter (Brasília time) as an aware instant; None when absent, False when unreadable."""
    if not text:
        return None
    for pattern in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, pattern).replace(tzinfo=BRASILIA)
        except ValueError:
            continue
    return False


def _whole(text: str) -> int | None:
    return int(text) if str(text).isdigit() else None


def _bearer(header: str) -> str:
    scheme, _space, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _basic(header: str) -> tuple[str, str] | None:
    scheme, _space, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _colon, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return user, password


def _error(kind: str, message: str, description: str) -> dict:
    return {"error": {"type": kind, "message": message, "description": description}}


def _invalid_grant(description: str) -> dict:
    return _error("invalid_grant", "invalid_grant", description)


def _not_found() -> dict:
    return _error("RESOURCE_NOT_FOUND", "Recurso não encontrado", "O recurso requisitado não foi encontrado.")


def _validation(kind: str, element: str, message: str) -> dict:
    return {
        "error": {
            "type": "VALIDATION_ERROR",
            "message": "Não foi possível processar a requisição",
            "description": message,
            "fields": [{"code": 0, "msg": message, "element": element, "namespace": kind.upper()}],
        }
    }


class _Handler(LocalHandler):
    def do_PUT(self):
        self._dispatch()

    def do_PATCH(self):
        self._dispatch()

    def do_DELETE(self):
        self._dispatch()

    def _dispatch(self):
        api: FakeBling = self.server.api
        parts, query, text = self.read_request()
        status, payload, headers = api.handle(self.command, parts.path, query, self.headers, text)
        body = b"" if payload is None else json.dumps(payload).encode()
        try:
            self.send_response(status)
            if payload is not None:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
