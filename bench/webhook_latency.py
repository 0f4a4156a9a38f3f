"""How fast does a webhook reach the target, and is any lost? Received → written, with workers running.

Run by hand: `.venv/bin/python bench/webhook_latency.py` (about 2 minutes). It makes a fresh data folder
(SQLite, the django-q2 ORM broker: the embedded defaults), serves the portal with its workers as `make run`
does (`manage.py serve`, the demo CRM under /sandbox/), and sets up one integration whose Product table
takes `product.updated` webhooks of a REST source and writes the demo CRM's /Products (`--in-flight` writes
at once, 4 by default; each record is looked up by its code, then created). Then it posts
N events (`--events`, 1,000) at a steady rate (`--rate`, 10 a second), each a new product, signed as
Standard Webhooks signs (the `standardwebhooks` library), and waits for every event to settle.

It prints, from the portal's own records: the answers (all 200 expected), the events processed, p50/p95/max
of received → written (`WebhookEvent.written_at - received_at`), the products the CRM holds against the
products sent, and last `latency_p95_s` (**target ≤ 5 s**) and `lost` (**target 0**: events not answered
200, not processed, or whose product the CRM does not hold exactly once).
"""

import argparse
import base64
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from standardwebhooks.webhooks import Webhook

ROOT = Path(__file__).resolve().parent.parent
SECRET = "whsec_" + base64.b64encode(b"bench-webhook-latency-secret-32by").decode()

SETUP = """
from demo.seed import ensure_knobs
from sync.models import Connection, FieldMapping, Integration, SyncTable, WebhookReceiver
key = ensure_knobs()["crm"].api_key
shop = Connection.objects.create(name="Shop", kind="rest", base_url="http://127.0.0.1:9/shop", timeout_seconds=2)
crm = Connection.objects.create(
    name="Demo CRM", kind="rest", base_url="{origin}/sandbox/crm", auth_kind="api_key", api_key_header="User-Key",
    api_key=key, pagination="odata", records_path="value", timeout_seconds=10, max_in_flight={in_flight},
)
integration = Integration.objects.create(
    name="Shop ↔ Demo CRM", integration_type="rest", erp_name="Shop", crm_name="Demo CRM",
    erp_connection=shop, crm_connection=crm, schedule_kind="none",
)
table = SyncTable.objects.create(
    integration=integration, name="Product", order=1, source_object="/products", target_object="/Products",
    update_object="/Products({{id}})", record_key="Code", webhook_event_types="product.updated",
    webhook_records_path="data",
)
FieldMapping.objects.create(table=table, position=1, source_path="Code", target_field="Code", value_type="text")
FieldMapping.objects.create(table=table, position=2, source_path="Name", target_field="Name", transform="trim")
FieldMapping.objects.create(
    table=table, position=3, source_path="Price", target_field="Price", transform="decimal",
    transform_options={{"decimal_separator": ","}}, value_type="decimal",
)
receiver = WebhookReceiver.objects.create(connection=shop, scheme="standard", secret="{secret}")
print(json.dumps({{"token": receiver.token}}))
"""

PROBE = """
from monitoring.models import WebhookEvent
events = WebhookEvent.objects.filter(delivery_id__startswith="bench_", verdict="accepted")
print(json.dumps({"settled": events.exclude(status__in=["received", "processing"]).count(),
                   "total": events.count()}))
"""

FIGURES = """
from collections import Counter
from demo.models import CrmProduct
from monitoring.models import WebhookEvent
events = WebhookEvent.objects.filter(delivery_id__startswith="bench_", verdict="accepted")
latencies = sorted(
    (event.written_at - event.received_at).total_seconds()
    for event in events.filter(status="processed", written_at__isnull=False)
)
codes = Counter(CrmProduct.objects.filter(code__startswith="BENCH-").values_list("code", flat=True))
print(json.dumps({
    "statuses": dict(Counter(events.values_list("status", flat=True))),
    "latencies": latencies,
    "held_once": sum(1 for count in codes.values() if count == 1),
    "held_twice": sum(1 for count in codes.values() if count > 1),
    "runs": len(set(events.values_list("run_id", flat=True))),
}))
"""


def manage(env, *args):
    result = subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], env=env, capture_output=True, text=True)
    if result.returncode:
        sys.exit(f"manage.py {args[0]} failed:\n{result.stderr}")
    return result.stdout


def shell(env, code):
    out = manage(env, "shell", "-c", "import json\n" + code)
    return json.loads(out.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_up(origin: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(origin + "/accounts/login/", timeout=2).close()
            return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    sys.exit(f"the portal did not answer on {origin}")


def post(url: str, number: int) -> int:
    delivery_id = f"bench_{number}"
    body = json.dumps(
        {
            "type": "product.updated",
            "data": {"Code": f"BENCH-{number:05d}", "Name": f" Product {number} ", "Price": "12,50"},
        }
    ).encode()
    at = datetime.now(UTC)
    headers = {
        "Content-Type": "application/json",
        "webhook-id": delivery_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(SECRET).sign(delivery_id, at, body.decode()),
    }
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as refused:
        return refused.code
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0


def send_steadily(url: str, count: int, rate: float) -> tuple[list[int], list[float]]:
    """Post ``count`` events, one every 1/rate s (each on its own thread, so a slow answer does not delay the next)."""
    statuses, answer_seconds = [0] * count, [0.0] * count
    threads = []

    def send(number):
        started = time.monotonic()
        statuses[number] = post(url, number)
        answer_seconds[number] = time.monotonic() - started

    start = time.monotonic()
    for number in range(count):
        time.sleep(max(0.0, start + number / rate - time.monotonic()))
        thread = threading.Thread(target=send, args=(number,))
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()
    return statuses, answer_seconds


def percentile(values: list[float], percent: int) -> float:
    """Nearest rank, as the dashboard computes it."""
    if not values:
        return float("nan")
    rank = max(1, -(-len(values) * percent // 100))
    return values[rank - 1]


def stop(process):
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=10.0, help="events posted per second")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for the events to settle")
    parser.add_argument("--in-flight", type=int, default=4, help="the CRM connection's writes in flight")
    options = parser.parse_args()
    data = tempfile.mkdtemp(prefix="portal-bench-")
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DEBUG": "1",
        "SANDBOX_ENABLED": "1",
        "PORTAL_DATA_DIR": data,
        "LOG_LEVEL": "WARNING",
        "OUTBOUND_ALLOW_LOOPBACK": "1",
    }
    manage(env, "migrate", "--no-input", "-v0")
    token = shell(env, SETUP.format(origin=origin, secret=SECRET, in_flight=options.in_flight))["token"]
    portal = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "serve", f"127.0.0.1:{port}"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_until_up(origin, time.monotonic() + 60)
        started = time.monotonic()
        statuses, answers = send_steadily(f"{origin}/hooks/{token}/", options.events, options.rate)
        sent_seconds = time.monotonic() - started
        deadline = time.monotonic() + options.timeout
        while time.monotonic() < deadline:
            seen = shell(env, PROBE)
            if seen["settled"] >= seen["total"]:
                break
            time.sleep(1)
        else:
            print(f"not every event settled within {options.timeout} s: {seen}")
        figures = shell(env, FIGURES)
    finally:
        stop(portal)
    latencies = figures["latencies"]
    answered = sum(1 for status in statuses if status == 200)
    processed = figures["statuses"].get("processed", 0)
    lost = options.events - min(answered, processed, figures["held_once"]) + figures["held_twice"]
    answers.sort()
    print(f"events posted: {options.events} in {sent_seconds:.1f} s ({options.events / sent_seconds:.1f}/s)")
    print(
        f"answered 200: {answered}; answer time p50 {percentile(answers, 50) * 1000:.0f} ms, "
        f"p95 {percentile(answers, 95) * 1000:.0f} ms, max {answers[-1] * 1000:.0f} ms"
    )
    print(f"events by status: {figures['statuses']}; webhook runs: {figures['runs']}")
    print(f"products in the CRM: {figures['held_once']} once, {figures['held_twice']} more than once")
    if latencies:
        print(
            f"received → written: p50 {percentile(latencies, 50):.2f} s, p95 {percentile(latencies, 95):.2f} s, "
            f"max {latencies[-1]:.2f} s"
        )
    print(f"latency_p95_s: {percentile(latencies, 95):.2f} (target <= 5)")
    print(f"lost: {lost} (target 0)")


if __name__ == "__main__":
    main()
