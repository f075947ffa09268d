#!/usr/bin/env python3
"""Browser test of Strata's dashboard: a real `strata serve` holding the four generated tables,
its page loaded in headless Chromium through Selenium.

Generates scale-0.001 data with `strata gen`, loads the four tables with `strata load
--data-dir`, starts `strata serve --http-listen 127.0.0.1:PORT` over https with `--auth-tokens`
(a CA and server certificate made here with `cryptography`, a `read` token for the principal
`dashboard`), loads `/` in Debian's
chromium (installed by tests/setup/browser.sh; Selenium runs with SE_OFFLINE=true so it
downloads nothing) and checks that every chart of the old pipeline's dashboard is there and
that the numbers it shows equal both the server's Aggregate replies (over gRPC) and counts
computed here from the CSV files. Then loads a table page, saves a screenshot (to
$STRATA_SCREENSHOT_DIR, else a temporary directory), and parses /metrics with
prometheus_client, checking that its counters move after requests.

The browser authenticates the way a person does: the server answers 401 with a Basic
challenge, and Chromium answers it with the user and password of the URL (the principal and
its token), then sends them on the page's refreshes too. Chromium has no flag to trust an extra
CA (its store is NSS's, whose tool is not installed), so it is told to accept exactly the
server's key (`--ignore-certificate-errors-spki-list`, the SHA-256 of that certificate's
public key): any other certificate is still refused. Python's clients trust the CA itself.

Prints one line per test and `N passed, M failed`; exits non-zero if any test failed.
Run: `.venv/bin/python tests/python/test_dashboard.py` after `cargo build --bin strata`.
"""

import collections
import csv
import datetime
import base64
import hashlib
import json
import os
import ssl
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request

os.environ["SE_OFFLINE"] = "true"

from prometheus_client.openmetrics.parser import text_string_to_metric_families  # noqa: E402
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service as ChromeService  # noqa: E402
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_security import Ca, write  # noqa: E402
from test_strata import free_ports, generate_stubs, strata_bin  # noqa: E402

PRINCIPAL = "dashboard"
TOKEN = "0123456789abcdef-dashboard-token"
# An operator who may write, flush and compact (for the store counters' test).
OPERATOR_TOKEN = "0123456789abcdef-operator-token"
PROBE_TABLE = "metrics_probe"

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
START_TIMEOUT = 30.0
CALL_TIMEOUT = 60.0

# The charts the old dashboard had: id -> (table, CSV file, column, bucket, top, measure).
CHARTS = {
    "customers-by-gender": ("customers", "customer.csv", "gender", "value", 0, "count"),
    "customers-by-device-type": ("customers", "customer.csv", "device_type", "value", 0, "count"),
    "customers-by-age": ("customers", "customer.csv", "birthdate", "age", 0, "count"),
    "products-by-master-category": ("product", "product.csv", "masterCategory", "value", 0, "count"),
    "products-by-sub-category": ("product", "product.csv", "subCategory", "value", 5, "count"),
    "products-by-usage": ("product", "product.csv", "usage", "value", 0, "count"),
    "clicks-by-traffic-source": ("clickstream", "click_stream.csv", "traffic_source", "value", 0, "count"),
    "clicks-by-event-name": ("clickstream", "click_stream.csv", "event_name", "value", 0, "count"),
    "clicks-by-hour-of-day": ("clickstream", "click_stream.csv", "event_time", "hour-of-day", 0, "count"),
    "transactions-by-payment-method": ("transactions", "transactions.csv", "payment_method", "value", 0, "count"),
    "total-amount-by-payment-method": ("transactions", "transactions.csv", "payment_method", "value", 0, "sum"),
    "transactions-by-payment-status": ("transactions", "transactions.csv", "payment_status", "value", 0, "count"),
    "transactions-per-year": ("transactions", "transactions.csv", "created_at", "year", 0, "count"),
}
TABLES = {
    "customers": "customer.csv",
    "product": "product.csv",
    "transactions": "transactions.csv",
    "clickstream": "click_stream.csv",
}
KEYS = {
    "customer.csv": ("customer_id",),
    "product.csv": ("id",),
    "transactions.csv": ("booking_id",),
    "click_stream.csv": ("session_id", "event_time", "event_id"),
}


def run(args):
    out = subprocess.run(
        [strata_bin()] + args, stdin=subprocess.DEVNULL, capture_output=True, timeout=120
    )
    if out.returncode != 0:
        raise AssertionError(
            "strata %s failed (%d):\n%s" % (" ".join(args), out.returncode, out.stderr.decode())
        )


def csv_rows(path, file):
    """Rows by row key (the last line of a key wins), as dicts."""
    rows = {}
    with open(path, newline="", encoding="utf-8") as f:
        for rec in csv.DictReader(f):
            rows["#".join(rec[k] for k in KEYS[file])] = rec
    return rows


def bucket(kind, value, today):
    if kind == "value":
        return value
    if kind == "year":
        return value[:4]
    if kind == "hour-of-day":
        assert value.endswith("Z"), value
        return value[11:13]
    if kind == "age":
        born = datetime.date.fromisoformat(value[:10])
        return str(today.year - born.year - ((today.month, today.day) < (born.month, born.day)))
    raise AssertionError("no model for bucket " + kind)


def expected_from_csv(chart, rows, today):
    """[(key, number)] in the dashboard's order, from the CSV rows."""
    _, _, column, kind, top, measure = CHARTS[chart]
    counts = collections.Counter()
    sums = collections.Counter()
    for rec in rows.values():
        k = bucket(kind, rec[column], today)
        counts[k] += 1
        sums[k] += int(rec["total_amount"]) if measure == "sum" else 0
    order = sorted(counts, key=lambda k: (-counts[k], k))
    if top:
        order = order[:top]
    if kind != "value":
        order.sort(key=lambda k: int(k))
    return [(k, sums[k] if measure == "sum" else counts[k]) for k in order]


def number(shown):
    """`1,234 (12.5%)` -> 1234."""
    token = shown.strip().split(" ")[0].replace(",", "")
    return float(token) if "." in token else int(token)


class Stack:
    """Generated data, loaded tables, a running server with HTTP, a browser."""

    def __init__(self, root):
        self.root = root
        self.csv = os.path.join(root, "csv")
        self.data = os.path.join(root, "data")
        self.pb, self.pb_grpc = generate_stubs(os.path.join(root, "stubs"))
        run(["gen", "--out", self.csv, "--scale", "0.001", "--seed", "42"])
        for table, file in TABLES.items():
            run(
                ["load", "--table", table, "--csv", os.path.join(self.csv, file),
                 "--data-dir", self.data, "--quiet"]
            )
        self.rows = {f: csv_rows(os.path.join(self.csv, f), f) for f in TABLES.values()}
        self.today = datetime.datetime.now(datetime.timezone.utc).date()
        grpc_port, http_port = free_ports(2)
        self.grpc_addr = "127.0.0.1:%d" % grpc_port
        self.host = "127.0.0.1:%d" % http_port
        self.http = "https://" + self.host
        self.ca = Ca("Strata dashboard test CA")
        cert, key = self.ca.issue("strata-server", server=True)
        self.spki = base64.b64encode(
            hashlib.sha256(
                x509.load_pem_x509_certificate(cert).public_key().public_bytes(
                    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
                )
            ).digest()
        ).decode()
        digest = hashlib.sha256(TOKEN.encode()).hexdigest()
        operator = hashlib.sha256(OPERATOR_TOKEN.encode()).hexdigest()
        tokens = write(
            root, "tokens.toml",
            ('[[principal]]\nname = "%s"\ntoken_sha256 = "%s"\npermissions = ["read"]\n'
             '[[principal]]\nname = "operator"\ntoken_sha256 = "%s"\n'
             'permissions = ["read", "write", "admin"]\n'
             % (PRINCIPAL, digest, operator)).encode(),
        )
        self.tls = ssl.create_default_context(cadata=self.ca.pem.decode())
        self.log = open(os.path.join(root, "server.log"), "wb")
        self.proc = subprocess.Popen(
            [strata_bin(), "serve", "--data-dir", self.data, "--listen", self.grpc_addr,
             "--http-listen", self.host,
             "--tls-cert", write(root, "server.pem", cert),
             "--tls-key", write(root, "server.key", key),
             "--auth-tokens", tokens],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
        )
        import grpc

        self.channel = grpc.secure_channel(
            self.grpc_addr, grpc.ssl_channel_credentials(root_certificates=self.ca.pem)
        )
        self.stub = self.pb_grpc.StrataStub(self.channel)
        self.wait_serving()
        self.driver = self.browser()

    def wait_serving(self):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("strata serve exited:\n" + self.server_log())
            try:
                self.fetch("/api/tables", timeout=2)
                return
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        raise AssertionError("strata serve did not answer HTTP:\n" + self.server_log())

    def fetch(self, path, token=TOKEN, timeout=60):
        """GET `path` over https trusting the test CA, with the token (None: without)."""
        req = urllib.request.Request(self.http + path)
        if token is not None:
            req.add_header("Authorization", "Bearer " + token)
        return urllib.request.urlopen(req, timeout=timeout, context=self.tls).read()

    def page(self, path):
        """Open `path` in the browser as the principal (its token as the Basic password)."""
        self.driver.get("https://%s:%s@%s%s" % (PRINCIPAL, TOKEN, self.host, path))

    def server_log(self):
        with open(os.path.join(self.root, "server.log"), "rb") as f:
            return f.read().decode("utf-8", "replace")

    def browser(self):
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for flag in [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", "--window-size=1400,2400",
            "--user-data-dir=" + os.path.join(self.root, "chromium-profile"),
            "--ignore-certificate-errors-spki-list=" + self.spki,
        ]:
            opts.add_argument(flag)
        return webdriver.Chrome(options=opts, service=ChromeService(executable_path=CHROMEDRIVER))

    def aggregate(self, table, column, bucket_kind, top, sum_column):
        family, qualifier = column.split(":", 1)
        req = self.pb.AggregateRequest(
            table=table, family=family, qualifier=qualifier.encode(), bucket=bucket_kind, top=top
        )
        if sum_column:
            sf, sq = sum_column.split(":", 1)
            req.sum_family, req.sum_qualifier = sf, sq.encode()
        return self.stub.Aggregate(
            req, timeout=CALL_TIMEOUT, metadata=(("authorization", "Bearer " + TOKEN),)
        )

    def metrics(self):
        text = self.fetch("/metrics", timeout=30).decode()
        samples = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
        return samples

    def close(self):
        for step in (self.driver.quit, self.channel.close):
            try:
                step()
            except Exception:  # noqa: BLE001 - best-effort clean-up
                pass
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


# ---------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------


def test_every_chart_shows_the_aggregate_and_csv_numbers(st):
    st.page("/?refresh=3600")
    sections = {
        s.get_attribute("data-chart"): s
        for s in st.driver.find_elements(By.CSS_SELECTOR, "section[data-chart]")
    }
    assert set(sections) == set(CHARTS), sorted(set(CHARTS) ^ set(sections))
    for chart, (table, file, _col, kind, top, measure) in CHARTS.items():
        sec = sections[chart]
        assert sec.find_elements(By.CSS_SELECTOR, "svg"), chart + ": no chart drawn"
        assert sec.get_attribute("data-table") == table, chart
        shown = [
            (
                p.get_attribute("data-key"),
                number(p.find_element(By.CSS_SELECTOR, "text.value").get_attribute("textContent")),
            )
            for p in sec.find_elements(By.CSS_SELECTOR, "g.point")
        ]
        assert shown, chart + ": no data points on the page"
        reply = st.aggregate(
            table, sec.get_attribute("data-column"), sec.get_attribute("data-bucket"),
            int(sec.get_attribute("data-top")), sec.get_attribute("data-sum"),
        )
        from_rpc = [
            (b.key.decode(), int(round(b.sum)) if measure == "sum" else b.count)
            for b in reply.buckets
        ]
        assert shown == from_rpc, "%s: page %s != Aggregate %s" % (chart, shown, from_rpc)
        want = expected_from_csv(chart, st.rows[file], st.today)
        assert shown == want, "%s: page %s != CSV %s" % (chart, shown, want)
        assert int(sec.get_attribute("data-rows-scanned")) == reply.rows_scanned, chart
        assert sec.find_element(By.CSS_SELECTOR, "time.computed").text.endswith("UTC"), chart


def test_totals_are_the_csv_row_counts(st):
    st.page("/?refresh=3600")
    totals = {
        t.get_attribute("data-role"): t
        for t in st.driver.find_elements(By.CSS_SELECTOR, "div.total")
    }
    assert set(totals) == set(TABLES), sorted(totals)
    for table, file in TABLES.items():
        shown = number(totals[table].find_element(By.CSS_SELECTOR, ".value").text)
        assert shown == len(st.rows[file]), "%s: %s != %d" % (table, shown, len(st.rows[file]))
        assert "computed" in totals[table].find_element(By.CSS_SELECTOR, ".when").text


def test_a_table_page_and_a_screenshot(st):
    st.page("/tables")
    links = [a.text for a in st.driver.find_elements(By.CSS_SELECTOR, "#tables a")]
    assert links == sorted(TABLES), links
    st.page("/tables/clickstream")
    assert st.driver.find_element(By.ID, "table-name").get_attribute("data-table") == "clickstream"
    families = [
        r.get_attribute("data-family")
        for r in st.driver.find_elements(By.CSS_SELECTOR, "#families tr[data-family]")
    ]
    assert families == ["event_details", "metadata", "traffic_info"], families
    assert st.driver.find_elements(By.CSS_SELECTOR, "#levels tr"), "no storage levels"
    out_dir = os.environ.get("STRATA_SCREENSHOT_DIR") or tempfile.mkdtemp(prefix="strata-shot-")
    os.makedirs(out_dir, exist_ok=True)
    st.page("/?refresh=3600")
    path = os.path.join(out_dir, "dashboard.png")
    assert st.driver.save_screenshot(path), "screenshot failed"
    assert os.path.getsize(path) > 10_000, "screenshot is too small to hold the page"
    print("   screenshot: " + path)


def test_without_the_token_the_server_challenges(st):
    for token in (None, "wrong-token"):
        try:
            st.fetch("/api/tables", token=token)
            raise AssertionError("answered without a valid token")
        except urllib.error.HTTPError as e:
            assert e.code == 401, e.code
            assert e.headers["WWW-Authenticate"].startswith('Basic realm="strata"'), e.headers
    try:
        urllib.request.urlopen(st.http + "/", timeout=10)
        raise AssertionError("the system's roots trusted the test CA")
    except urllib.error.URLError as e:
        assert "CERTIFICATE_VERIFY_FAILED" in str(e), e


def test_metrics_counters_move_after_requests(st):
    before = st.metrics()
    page = ("strata_rpc_requests_total", (("api", "http"), ("method", "/")))
    agg = ("strata_rpc_requests_total", (("api", "grpc"), ("method", "Aggregate")))
    st.fetch("/?refresh=3600")
    st.aggregate("customers", "personal_info:gender", "value", 0, "")
    try:
        st.aggregate("customers", "personal_info:gender", "fortnight", 0, "")
        raise AssertionError("a bad bucket was accepted")
    except Exception as e:  # grpc.RpcError
        assert "fortnight" in str(e), e
    after = st.metrics()
    assert after[page] >= before.get(page, 0) + 1, (before.get(page), after[page])
    assert after[agg] >= before.get(agg, 0) + 2, (before.get(agg), after[agg])
    err = (
        "strata_rpc_errors_total",
        (("api", "grpc"), ("code", "INVALID_ARGUMENT"), ("method", "Aggregate")),
    )
    assert after[err] >= before.get(err, 0) + 1
    files = ("strata_table_files", (("table", "clickstream"),))
    assert after[files] >= 1, after.get(files)
    hist = ("strata_rpc_duration_seconds_count", (("api", "grpc"), ("method", "Aggregate")))
    assert after[hist] >= 2


def test_store_counters_move_after_writes_flushes_compactions_and_scans(st):
    """The engine's counters on /metrics: cells written, bytes flushed and compacted, block
    cache lookups, open scans, and the aggregation result cache's hits and misses. A table of
    its own, dropped at the end, so the dashboard's tables keep their CSV counts."""
    pb = st.pb
    op = (("authorization", "Bearer " + OPERATOR_TOKEN),)

    def call(name, req):
        return getattr(st.stub, name)(req, timeout=CALL_TIMEOUT, metadata=op)

    def one(name):
        return st.metrics().get((name, ()), None)

    names = [
        "strata_cells_written_total", "strata_bytes_flushed_total",
        "strata_bytes_compacted_total", "strata_block_cache_hits_total",
        "strata_block_cache_misses_total", "strata_open_scans",
        "strata_aggregation_cache_hits_total", "strata_aggregation_cache_misses_total",
    ]
    before = {n: one(n) for n in names}
    missing = [n for n, v in before.items() if v is None]
    assert not missing, "not on /metrics: %s" % missing
    call("CreateTable", pb.CreateTableRequest(
        table=PROBE_TABLE, families=[pb.FamilyOptions(name="f")]))
    try:
        for batch in range(2):
            rows = [
                pb.RowMutations(row=b"r%05d" % (batch * 500 + i), mutations=[
                    pb.Mutation(set_cell=pb.SetCell(family="f", qualifier=b"q",
                                                    value=b"v%d" % (i % 7)))])
                for i in range(500)
            ]
            call("MutateRows", pb.MutateRowsRequest(table=PROBE_TABLE, entries=rows))
            if batch == 0:
                written = one("strata_cells_written_total")
                assert written >= before["strata_cells_written_total"] + 500, written
            call("Flush", pb.FlushRequest(table=PROBE_TABLE))
        flushed = one("strata_bytes_flushed_total")
        assert flushed > before["strata_bytes_flushed_total"], flushed
        call("Compact", pb.CompactRequest(table=PROBE_TABLE, major=True))
        compacted = one("strata_bytes_compacted_total")
        assert compacted > before["strata_bytes_compacted_total"], compacted
        info = json.loads(st.fetch("/api/tables/" + PROBE_TABLE))
        kinds = [e["kind"] for e in info["recent_events"]]
        # Newest first: the major compaction of the two flushed files, after both flushes.
        assert kinds[0] == "compaction" and kinds.count("flush") == 2, kinds
        assert info["recent_events"][0]["input_files"] >= 2, info["recent_events"][0]
        assert info["cells_written"] == 1000, info["cells_written"]
        lookups = one("strata_block_cache_hits_total") + one("strata_block_cache_misses_total")
        scan = call("Scan", pb.ScanRequest(table=PROBE_TABLE))
        got = sum(len(r.rows) for r in scan)
        assert got == 1000, got
        after = one("strata_block_cache_hits_total") + one("strata_block_cache_misses_total")
        assert after > lookups, (lookups, after)
        # A scan left open holds a snapshot: it is counted until it is cancelled.
        open_scan = st.stub.Scan(pb.ScanRequest(table="clickstream"), timeout=CALL_TIMEOUT,
                                 metadata=(("authorization", "Bearer " + TOKEN),))
        next(open_scan)
        assert one("strata_open_scans") >= 1, one("strata_open_scans")
        open_scan.cancel()
        misses = one("strata_aggregation_cache_misses_total")
        hits = one("strata_aggregation_cache_hits_total")
        for _ in range(2):
            req = pb.AggregateRequest(table=PROBE_TABLE, family="f", qualifier=b"q")
            reply = call("Aggregate", req)
            assert reply.rows_scanned == 1000, reply.rows_scanned
        assert one("strata_aggregation_cache_misses_total") >= misses + 1
        assert one("strata_aggregation_cache_hits_total") >= hits + 1
    finally:
        call("DeleteTable", pb.DeleteTableRequest(table=PROBE_TABLE))


def main():
    passed = failed = 0
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="strata-dash-") as root:
        try:
            st = Stack(root)
        except Exception:
            traceback.print_exc()
            print("0 passed, 1 failed")
            return 1
        try:
            for name, fn in sorted(globals().items()):
                if not name.startswith("test_") or not callable(fn):
                    continue
                try:
                    fn(st)
                    passed += 1
                    print("ok   " + name)
                except Exception:
                    failed += 1
                    print("FAIL " + name)
                    traceback.print_exc()
        finally:
            st.close()
    print("(%.1f s)" % (time.monotonic() - started))
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
