"""An Omie ERP on 127.0.0.1 answering its JSON-RPC style API (``POST /api/v1/{module}/{service}/``) as Omie does.

The quirks it copies from Omie's API:

* one body for every call: ``{"call": "<Method>", "app_key", "app_secret", "param": [{…}]}``; the
  credentials travel in the body and both are checked;
* **every refusal is HTTP 500** with ``{"faultstring": "ERROR: …", "faultcode": "SOAP-ENV:Client-<n>"}``
  (the API is a SOAP service with a JSON face): a wrong or missing key (Client-101), an unknown method,
  a tag outside the structure ("Tag [X] não faz parte da estrutura do tipo complexo [clientes_cadastro]!"),
  a required tag missing, a text where an integer is expected, an invalid CNPJ/CPF, a client not found;
* ``Listar…`` pages with ``pagina`` (from 1) and ``registros_por_pagina`` (at most 500) and answers
  ``pagina``, ``total_de_paginas``, ``registros``, ``total_de_registros``; **a page past the last, or a
  filter matching nothing, is an error**: "ERROR: Não existem registros para a página [N]!" (Client-5113);
  ``filtrar_por_data_de``/``filtrar_por_data_ate`` (``dd/mm/aaaa``, inclusive) compare the change date
  with ``filtrar_apenas_alteracao: "S"``, the creation date with ``filtrar_apenas_inclusao: "S"``, either
  without them; ``apenas_importado_api: "S"`` keeps the records created through the API;
* ``UpsertCliente`` is keyed by ``codigo_cliente_integracao`` ("Cliente cadastrado com sucesso!" /
  "Cliente alterado com sucesso!"); ``ConsultarCliente`` finds by that code or ``codigo_cliente_omie``;
  records carry ``info`` with ``dInc``/``hInc``/``dAlt``/``hAlt`` stamped by this server's clock;
* Omie refuses a call while too many of the same method run for the same app: "ERROR: Já existe uma
  requisição desse método sendo executada…" (Client-1880). ``max_concurrent`` (4, as Omie documents;
  users report refusals from the second) and ``latency`` (seconds each call holds its slot) let a
  test provoke it.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime

from tests.servers.erp_apis import ErpApiServer, Reply

KEY_REFUSED = "ERROR: A chave de acesso não está preenchida ou não é válida!"
MAX_PER_PAGE = 500
CLIENT_TAGS = {
    "codigo_cliente_omie": "int",
    "codigo_cliente_integracao": "text",
    "razao_social": "text",
    "nome_fantasia": "text",
    "cnpj_cpf": "text",
    "email": "text",
    "telefone1_ddd": "text",
    "telefone1_numero": "text",
    "cidade": "text",
    "estado": "text",
    "inativo": "text",
}
PRODUCT_TAGS = {
    "codigo_produto": "int",
    "codigo_produto_integracao": "text",
    "codigo": "text",
    "descricao": "text",
    "unidade": "text",
    "valor_unitario": "number",
    "ncm": "text",
    "inativo": "text",
}


class Fault(Exception):
    """An Omie refusal: HTTP 500 with this faultstring and faultcode."""

    def __init__(self, faultstring: str, code: int):
        super().__init__(faultstring)
        self.faultstring, self.faultcode = faultstring, f"SOAP-ENV:Client-{code}"


@dataclass
class FakeOmie(ErpApiServer):
    app_key: str = "1234567890123"
    app_secret: str = "omie-secret-6a0b2c"
    max_concurrent: int = 4  # simultaneous calls of one method for one app
    latency: float = 0.0  # seconds each call holds its slot
    client_records: dict[int, dict] = field(default_factory=dict)  # codigo_cliente_omie -> client
    product_records: dict[int, dict] = field(default_factory=dict)  # codigo_produto -> product
    running: Counter = field(default_factory=Counter)  # method -> calls under way
    _next_code: int = 2485001001

    # --- seeding and reading -------------------------------------------------------------------------------

    def add_client(self, **values) -> dict:
        """Store a client as given (``cnpj_cpf`` formatted as Omie shows it); the code defaults to the next
        one, ``info`` to made in Omie's screens now (entries given in ``info`` replace those)."""
        return self._add(self.client_records, CLIENT_TAGS, "codigo_cliente_omie", values)

    def add_product(self, **values) -> dict:
        return self._add(self.product_records, PRODUCT_TAGS, "codigo_produto", values)

    def clients(self) -> list[dict]:
        """The clients held, by ``codigo_cliente_omie``, as Omie shows them."""
        with self._lock:
            return [_copy(c) for _code, c in sorted(self.client_records.items())]

    def products(self) -> list[dict]:
        with self._lock:
            return [_copy(p) for _code, p in sorted(self.product_records.items())]

    def client(self, integration_code: str) -> dict | None:
        return next((c for c in self.clients() if c["codigo_cliente_integracao"] == integration_code), None)

    def _add(self, table: dict, tags: dict, key: str, values: dict) -> dict:
        unknown = set(values) - set(tags) - {"info"}
        if unknown:
            raise KeyError(f"no tag {sorted(unknown)}")
        with self._lock:
            code = values.get(key) or self._new_code()
            record = {name: "" if kind == "text" else 0 for name, kind in tags.items()}
            record.update({name: value for name, value in values.items() if name != "info"})
            record.update(inativo=values.get("inativo", "N"), **{key: code})
            record["info"] = {**_info(self.clock(), self.clock(), imported=False), **values.get("info", {})}
            table[code] = record
            return _copy(record)

    def _new_code(self) -> int:
        code, self._next_code = self._next_code, self._next_code + 1
        return code

    # --- HTTP ----------------------------------------------------------------------------------------------

    def answer(self, method, path, query, headers, text) -> Reply:
        routes = {
            "/api/v1/geral/clientes/": {
                "ListarClientes": self.list_clients,
                "UpsertCliente": self.upsert_client,
                "ConsultarCliente": self.find_client,
            },
            "/api/v1/geral/produtos/": {"ListarProdutos": self.list_products},
        }
        if method != "POST" or path not in routes:
            return Reply(404, {"faultstring": f"ERROR: O serviço [{path}] não existe!", "faultcode": "SOAP-ENV:Server"})
        try:
            try:
                body = json.loads(text)
            except ValueError:
                raise Fault("ERROR: Não foi possível interpretar a requisição JSON!", 1) from None
            if not isinstance(body, dict):
                raise Fault("ERROR: Não foi possível interpretar a requisição JSON!", 1)
            if body.get("app_key") != self.app_key or body.get("app_secret") != self.app_secret:
                raise Fault(KEY_REFUSED, 101)
            call = str(body.get("call", ""))
            handler = routes[path].get(call)
            if handler is None:
                raise Fault(f"ERROR: Method [{call}] não existe no serviço [{path}]!", 3)
            with self._slot(call):
                return Reply(200, handler(_param(body.get("param"))))
        except Fault as fault:
            return Reply(500, {"faultstring": fault.faultstring, "faultcode": fault.faultcode})

    @contextmanager
    def _slot(self, call: str):
        """Hold one of the method's ``max_concurrent`` places for the call, ``latency`` seconds at least."""
        with self._lock:
            if self.running[call] >= self.max_concurrent:
                raise Fault(
                    "ERROR: Já existe uma requisição desse método sendo executada para este aplicativo! "
                    "Aguarde a conclusão e tente novamente.",
                    1880,
                )
            self.running[call] += 1
        try:
            if self.latency:
                time.sleep(self.latency)  # the call's own work time on the server, not a wait in a test
            yield
        finally:
            with self._lock:
                self.running[call] -= 1

    # --- methods -------------------------------------------------------------------------------------------

    def list_clients(self, param: dict) -> dict:
        return self._list(param, "clientes_cadastro", self.clients())

    def list_products(self, param: dict) -> dict:
        return self._list(param, "produto_servico_cadastro", self.products())

    def _list(self, param: dict, answer_key: str, records: list[dict]) -> dict:
        page = _integer(param, "pagina", 1)
        size = _integer(param, "registros_por_pagina", 50)
        if page < 1:
            raise Fault(f"ERROR: Tag [PAGINA] com valor inválido [{page}]!", 5)
        if not 1 <= size <= MAX_PER_PAGE:
            raise Fault(f"ERROR: O número de registros por página [{size}] deve estar entre 1 e {MAX_PER_PAGE}!", 5)
        records = [r for r in records if _matches(r, param)]
        pages = math.ceil(len(records) / size)
        if page > pages:
            raise Fault(f"ERROR: Não existem registros para a página [{page}]!", 5113)
        shown = records[(page - 1) * size : page * size]
        return {
            "pagina": page,
            "total_de_paginas": pages,
            "registros": len(shown),
            "total_de_registros": len(records),
            answer_key: shown,
        }

    def upsert_client(self, param: dict) -> dict:
        for tag in param:
            if tag not in CLIENT_TAGS:
                raise Fault(
                    f"ERROR: Tag [{tag.upper()}] não faz parte da estrutura do tipo complexo [clientes_cadastro]!", 8
                )
        for tag in ("codigo_cliente_integracao", "razao_social"):
            if not str(param.get(tag) or "").strip():
                raise Fault(f"ERROR: Tag [{tag.upper()}] obrigatória não informada!", 8)
        if "codigo_cliente_omie" in param:
            _integer(param, "codigo_cliente_omie", 0)
        values = {tag: _text(value) for tag, value in param.items() if CLIENT_TAGS[tag] == "text"}
        if values.get("cnpj_cpf"):
            values["cnpj_cpf"] = _document(values["cnpj_cpf"])
        integration_code = values["codigo_cliente_integracao"]
        now = self.clock()
        with self._lock:
            found = next(
                (c for c in self.client_records.values() if c["codigo_cliente_integracao"] == integration_code),
                None,
            )
            if found is None and param.get("codigo_cliente_omie"):
                found = self.client_records.get(param["codigo_cliente_omie"])
            if found is None:
                found = {name: "" for name, kind in CLIENT_TAGS.items() if kind == "text"}
                found.update(codigo_cliente_omie=self._new_code(), inativo="N", info=_info(now, now, imported=True))
                self.client_records[found["codigo_cliente_omie"]] = found
                status = "Cliente cadastrado com sucesso!"
            else:
                status = "Cliente alterado com sucesso!"
            found.update(values)
            found["info"].update(dAlt=now.strftime("%d/%m/%Y"), hAlt=now.strftime("%H:%M:%S"))
            return {
                "codigo_cliente_omie": found["codigo_cliente_omie"],
                "codigo_cliente_integracao": found["codigo_cliente_integracao"],
                "codigo_status": "0",
                "descricao_status": status,
            }

    def find_client(self, param: dict) -> dict:
        integration_code = str(param.get("codigo_cliente_integracao") or "")
        code = _integer(param, "codigo_cliente_omie", 0)
        for client in self.clients():
            if (integration_code and client["codigo_cliente_integracao"] == integration_code) or (
                code and client["codigo_cliente_omie"] == code
            ):
                return client
        if integration_code:
            raise Fault(f"ERROR: Cliente não cadastrado para o Código de Integração [{integration_code}] !", 103)
        raise Fault(f"ERROR: Cliente não cadastrado para o Código [{code}] !", 103)


# --- helpers --------------------------------------------------------------------------------------------------


def _param(param) -> dict:
    """The first element of ``param`` (Omie reads one structure per call)."""
    if isinstance(param, list) and param and isinstance(param[0], dict):
        return param[0]
    raise Fault("ERROR: Tag [PARAM] obrigatória não informada ou com estrutura inválida!", 8)


def _integer(param: dict, tag: str, default: int) -> int:
    value = param.get(tag, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise Fault(f"ERROR: Tag [{tag.upper()}] com valor inválido [{value}]! Era esperado um número inteiro.", 5)
    return value


def _text(value) -> str:
    return "" if value is None else str(value)


def _info(created: datetime, changed: datetime, *, imported: bool) -> dict:
    return {
        "dInc": created.strftime("%d/%m/%Y"),
        "hInc": created.strftime("%H:%M:%S"),
        "dAlt": changed.strftime("%d/%m/%Y"),
        "hAlt": changed.strftime("%H:%M:%S"),
        "uInc": "WEBSERVICE" if imported else "OMIE",
        "uAlt": "WEBSERVICE" if imported else "OMIE",
        "cImpAPI": "S" if imported else "N",
    }


def _copy(record: dict) -> dict:
    return {**record, "info": dict(record.get("info") or {})}


def _day(param: dict, tag: str) -> date | None:
    text = param.get(tag)
    if not text:
        return None
    try:
        return datetime.strptime(str(text), "%d/%m/%Y").date()
    except ValueError:
        raise Fault(f"ERROR: Tag [{tag.upper()}] com data inválida [{text}]! Use o formato dd/mm/aaaa.", 5) from None


def _matches(record: dict, param: dict) -> bool:
    """Omie's list filters: the date range (inclusive) on the change or creation date, records made by the API."""
    if param.get("apenas_importado_api") == "S" and record["info"].get("cImpAPI") != "S":
        return False
    first, last = _day(param, "filtrar_por_data_de"), _day(param, "filtrar_por_data_ate")
    if first is None and last is None:
        return True
    changed = datetime.strptime(record["info"]["dAlt"], "%d/%m/%Y").date()
    created = datetime.strptime(record["info"]["dInc"], "%d/%m/%Y").date()
    if param.get("filtrar_apenas_alteracao") == "S":
        days = [changed]
    elif param.get("filtrar_apenas_inclusao") == "S":
        days = [created]
    else:
        days = [created, changed]
    return any((first is None or first <= day) and (last is None or day <= last) for day in days)


def _document(text: str) -> str:
    """A CPF or CNPJ whose check digits hold, formatted as Omie shows it; else a fault."""
    digits = re.sub(r"\D", "", text)
    if len(digits) == 11 and _cpf_valid(digits):
        return f"{digits[:3]}.{digits[3:6]}.{digits[6:9]}-{digits[9:]}"
    if len(digits) == 14 and _cnpj_valid(digits):
        return f"{digits[:2]}.{digits[2:5]}.{digits[5:8]}/{digits[8:12]}-{digits[12:]}"
    raise Fault(f"ERROR: O CNPJ/CPF informado [{text}] não é válido!", 8)


def _check_digit(digits: str, weights: list[int]) -> str:
    rest = sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11
    return "0" if rest < 2 else str(11 - rest)


def _cpf_valid(digits: str) -> bool:
    if len(set(digits)) == 1:
        return False
    first = _check_digit(digits[:9], list(range(10, 1, -1)))
    return digits[9:] == first + _check_digit(digits[:9] + first, list(range(11, 1, -1)))


def _cnpj_valid(digits: str) -> bool:
    if len(set(digits)) == 1:
        return False
    weights = [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]
    first = _check_digit(digits[:12], weights)
    return digits[12:] == first + _check_digit(digits[:12] + first, [6, *weights])
