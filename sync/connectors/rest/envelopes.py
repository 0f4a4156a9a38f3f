"""Answers whose HTTP status does not say what they mean, recognised by their shape.

* **Sankhya** answers every call 200 with ``{"serviceName", "status", "statusMessage"}``: status
  ``"1"`` is done, ``"0"`` an error (a refused record, an unknown field), ``"3"`` "Não autorizado."
  (no session, or an expired one), taken as a 401.
* **Omie** answers its faults 500 with ``{"faultstring": "ERROR: …", "faultcode": "SOAP-ENV:Client-…"}``:
  a ``Client`` fault is the caller's (a refused record, a wrong key) and is not retried; the fault
  ``Client-5113`` ("Não existem registros para a página [1]!") means an empty page, not a failure.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

SNIFFED = 400  # characters of an answer looked at before parsing it whole
NO_RECORDS_FAULTS = ("-5113",)


@dataclass(frozen=True)
class Refusal:
    status: int  # the HTTP status the answer means
    message: str  # the system's own words


def _object(content: bytes):
    try:
        data = json.loads(content)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def service_refusal(content: bytes) -> Refusal | None:
    """A 200 answer that is a refusal (Sankhya's status 0 or 3), or None."""
    if b'"serviceName"' not in content[:SNIFFED]:
        return None  # most answers: not parsed twice
    data = _object(content)
    if data is None or "serviceName" not in data:
        return None
    status = str(data.get("status", ""))
    if status not in ("0", "3"):
        return None
    message = str(data.get("statusMessage") or "").strip()
    return Refusal(401 if status == "3" else 422, message or f"status {status}")


def client_fault(content: bytes) -> bool:
    """Whether a 500 answer is a fault of the caller (Omie's ``SOAP-ENV:Client-…``): not worth retrying."""
    if b"faultcode" not in content[: SNIFFED * 4]:
        return False
    data = _object(content)
    return data is not None and str(data.get("faultcode", "")).startswith("SOAP-ENV:Client")


def no_records(content: bytes) -> bool:
    """Whether an error answer to a listing means "no records on this page" (Omie's fault 5113)."""
    if b"faultcode" not in content[: SNIFFED * 4]:
        return False
    data = _object(content)
    return data is not None and str(data.get("faultcode", "")).endswith(NO_RECORDS_FAULTS)
