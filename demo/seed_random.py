"""The building blocks of the demo data: one random generator per record, Brazilian names, documents, phones.

Every record is drawn from its own ``random.Random`` seeded by (seed, table,
position), so the data set is reproducible and the first N records are the
same whatever the sizes.
"""

import functools
import random
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from . import documents
from .seed_data import CITIES, COMPANY_CORES, COMPANY_SEGMENTS, FIRST_NAMES, LEGAL_SUFFIXES, STREETS, SURNAMES


def rng_for(seed: int, table: str, position: int) -> random.Random:
    return random.Random(f"{seed}:{table}:{position}")


def ascii_slug(text: str, separator: str = "") -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    words = "".join(ch if ch.isalnum() else " " for ch in folded).split()
    return separator.join(words)


def recent(rng: random.Random, now: datetime, days: int = 30) -> datetime:
    return now - timedelta(seconds=rng.randint(60, days * 86400))


def landline(rng: random.Random, area: str) -> str:
    return f"({area}) 3{rng.randint(0, 999):03d}-{rng.randint(0, 9999):04d}"


def mobile(rng: random.Random, area: str) -> str:
    return f"({area}) 9{rng.randint(6000, 9999):04d}-{rng.randint(0, 9999):04d}"


def weighted(rng: random.Random, choices: Iterable[tuple]):
    values, weights = zip(*choices, strict=True)
    return rng.choices(values, weights=weights)[0]


def cnpj_for_customer(position: int) -> str:
    # A bijection on 8 digits (the multiplier is prime to 10): distinct roots, no collisions.
    return documents.make_cnpj((position * 7_919_333 + 12_345_678) % 10**8)


def cnpj_for_lead(position: int) -> str:
    return documents.make_cnpj((position * 3_141_593 + 55_555_555) % 10**8, branch=1 + position % 3)


def cpf_for_person(table: str, position: int) -> str:
    offset = 98_765_432 if table == "erp" else 123_456_789
    return documents.make_cpf((position * 48_271 + offset) % 10**9)


def person_name(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(SURNAMES)} {rng.choice(SURNAMES)}"


def unique_email(local: str, domain: str, taken: set[str]) -> str:
    email, suffix = f"{local}@{domain}", 2
    while email in taken:
        email, suffix = f"{local}{suffix}@{domain}", suffix + 1
    taken.add(email)
    return email


@dataclass(frozen=True)
class Company:
    """One generated company, shared by the ERP customer and its CRM copy."""

    position: int
    code: str
    trade_name: str
    legal_name: str
    cnpj: str  # 14 digits
    domain: str
    city: str
    state: str
    area_code: str
    street_address: str
    zip_code: str
    phone: str


@functools.lru_cache(maxsize=8192)
def company(seed: int, position: int, *, lead: bool = False) -> Company:
    rng = rng_for(seed, "lead" if lead else "company", position)
    short, long = rng.choice(COMPANY_SEGMENTS)
    core = rng.choice(COMPANY_CORES)
    city, state, area = rng.choice(CITIES)
    trade_name = f"{short} {core}"
    return Company(
        position=position,
        code=f"C{position:06d}",
        trade_name=trade_name,
        legal_name=f"{long} {core} {rng.choice(LEGAL_SUFFIXES)}",
        cnpj=cnpj_for_lead(position) if lead else cnpj_for_customer(position),
        domain=f"{ascii_slug(trade_name)}.com.br",
        city=city,
        state=state,
        area_code=area,
        street_address=f"{rng.choice(STREETS)} {rng.randint(10, 3999)}",
        zip_code=f"{rng.randint(1000, 99999):05d}-{rng.randint(0, 999):03d}",
        phone=landline(rng, area),
    )
