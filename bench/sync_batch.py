"""Batch writes: how many calls a first load takes when the target writes 100 records a call.

    .venv/bin/python bench/sync_batch.py [--records 1000] [--batch-size 100] [--in-flight 1]

The engine runs in this process on a temporary SQLite database (production-like: ``DEBUG`` off).
The source is a local REST API holding N contacts (``tests/servers/rest_api.py``, OData pages of
500); the target answers as HubSpot's ``batch/upsert`` does (``tests/servers/batch_apis.py``: per-input
validation, 100 inputs at most, results in no particular order). One table maps three fields and
writes through ``batch/upsert`` by e-mail. One run loads every record; the bench checks that it
succeeded with N created, that the target holds each e-mail once with the mapped values, and that
every record is linked to its HubSpot id.

It prints the time and records/s, the calls by kind, and as its last line ``calls_per_1000: C``
(the calls to the target per 1,000 records; target C ≤ 12 at batches of 100).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.servers.batch_apis import FakeHubSpot  # noqa: E402
from tests.servers.rest_api import FakeRestApi  # noqa: E402

KEY = "bench-source-key"
TOKEN = "bench-hubspot-token"  # noqa: S105 - the local fake server's throwaway token


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1000, help="Contacts to load (default 1000).")
    parser.add_argument("--batch-size", type=int, default=100, help="Records per batch call (2-100, default 100).")
    parser.add_argument("--in-flight", type=int, default=1, help="Batch calls in flight at once (default 1).")
    args = parser.parse_args(argv)
    if args.records < 1 or not 2 <= args.batch_size <= 100 or not 1 <= args.in_flight <= 32:
        parser.error("--records ≥ 1, --batch-size 2-100, --in-flight 1-32")
    return args


def setup_django(data_dir: Path) -> None:
    from cryptography.fernet import Fernet

    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "integration_portal.settings",
            "PORTAL_DATA_DIR": str(data_dir),
            "DEBUG": "0",
            "SECRET_KEY": "bench-" + os.urandom(16).hex(),
            "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "SANDBOX_ENABLED": "0",
            "OUTBOUND_ALLOW_LOOPBACK": "1",
            "ALLOWED_HOSTS": "127.0.0.1",
            "LOG_LEVEL": "WARNING",
        }
    )
    for name in ("DATABASE_URL", "REDIS_URL"):
        os.environ.pop(name, None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def configure(source_url: str, target_url: str, args):
    from sync.choices import BatchKind, IntegrationType
    from sync.models import Connection, FieldMapping, Integration, SyncTable

    erp = Connection.objects.create(
        name="ERP", kind="rest", base_url=source_url, auth_kind="api_key", api_key_header="User-Key",
        api_key=KEY, pagination="odata", records_path="value", page_size=500,
    )  # fmt: skip
    crm = Connection.objects.create(
        name="HubSpot", kind="rest", base_url=target_url, auth_kind="bearer", token=TOKEN,
        max_in_flight=args.in_flight,
    )  # fmt: skip
    integration = Integration.objects.create(
        name="ERP ↔ HubSpot", integration_type=IntegrationType.REST, erp_name="ERP", crm_name="HubSpot",
        erp_connection=erp, crm_connection=crm,
    )  # fmt: skip
    table = SyncTable.objects.create(
        integration=integration, name="Contact", source_object="/Contacts", target_object="/crm/v3/objects/contacts",
        record_key="Email", target_key="id", match_field="email", batch_kind=BatchKind.HUBSPOT_UPSERT,
        batch_size=args.batch_size,
    )  # fmt: skip
    for position, (source, target) in enumerate(
        (("Email", "email"), ("Name", "firstname"), ("Revenue", "annualrevenue")), start=1
    ):
        FieldMapping.objects.create(table=table, position=position, source_path=source, target_field=target)
    return integration


def check(condition: bool, message) -> None:
    """A failed check stops the benchmark (not an ``assert``: ``python -O`` would skip it)."""
    if not condition:
        raise AssertionError(message)


def main(argv=None) -> int:
    args = parse_args(argv)
    data_dir = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    source = FakeRestApi(auth="api_key", api_key=KEY).start()
    target = FakeHubSpot(token=TOKEN).start()
    try:
        setup_django(data_dir)
        from monitoring.choices import Trigger
        from monitoring.models import RequestLog, TableRun
        from sync.engine import execute_run, queue_run
        from sync.models import RecordLink

        people = [
            source.add_contact(Email=f"pessoa{number:06d}@example.com", Name=f"Pessoa {number}", Revenue=number + 0.5)
            for number in range(args.records)
        ]
        integration = configure(source.url, target.url, args)
        started = time.perf_counter()
        run = execute_run(queue_run(integration, Trigger.COMMAND).pk)
        seconds = time.perf_counter() - started

        check(run.status == "succeeded", f"the run ended {run.status}: {run.error}")
        table_run = TableRun.objects.get(run=run)
        check(table_run.created == args.records, f"TableRun created {table_run.created}, not {args.records}")
        held = {contact["email"]: contact for contact in target.contacts()}
        check(len(target.contacts()) == len(held) == args.records, "the target does not hold each e-mail once")
        for person in people:
            contact = held[person["Email"]]
            check(contact["firstname"] == person["Name"], contact)
            check(contact["annualrevenue"] == str(person["Revenue"]), contact)
        links = dict(RecordLink.objects.values_list("source_key", "target_key"))
        check(links == {email: contact["id"] for email, contact in held.items()}, "links differ from the target's ids")

        calls = Counter(RequestLog.objects.filter(run=run).values_list("method", "operation"))
        total = sum(calls.values())
        writes = sum(count for (_method, operation), count in calls.items() if operation == "batch")
        print(f"records: {args.records}, batches of {args.batch_size}, {args.in_flight} in flight")
        print(f"run: {seconds:.2f} s, {args.records / seconds:.0f} records/s; each record once in the target")
        print(f"calls: {total} ({', '.join(f'{m} {o}: {n}' for (m, o), n in sorted(calls.items()))})")
        print(f"every call per 1000 records, the source's reads included: {total * 1000 / args.records:.1f}")
        print(f"calls_per_1000: {writes * 1000 / args.records:.1f}")
        return 0
    finally:
        source.stop()
        target.stop()
        if "django.db" in sys.modules:
            sys.modules["django.db"].connections.close_all()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
