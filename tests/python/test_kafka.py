#!/usr/bin/env python3
"""End-to-end test of `strata consume` against a real Kafka-compatible broker and the real
`strata serve`.

Starts tansu (a Kafka-compatible broker, memory storage; tests/setup/kafka.sh unpacks it to
.venv/bin/tansu) and `strata serve` on free loopback ports, generates the data set at scale
0.001 with `strata gen`, and produces rows the way the old pipeline's producer did
(pipeline_producer.py: one schemaless Avro datum per CSV row). Then:

- the four tables, produced as Avro (click_stream Confluent-framed, with nulls), consumed with
  --until-caught-up (--server, and --data-dir for one): every field equals the CSV's;
- bad records land in the rejects table under their offsets; --max-rejects exits 3 with the
  offsets stored; an unknown table is a configuration error (exit 2);
- the consumer is killed with SIGKILL at seeded random points over several rounds while the
  producer keeps producing, and restarted: the table holds exactly the produced records, each
  cell one version whose timestamp is the record's Kafka timestamp (none missing, none
  doubled);
- the broker is paused (SIGSTOP) for 10 s mid-stream and resumed: nothing is lost, and
  SIGTERM stops the consumer with exit 0 and its offsets stored;
- the server is killed (SIGKILL) mid-stream and restarted on its address: the consumer
  retries, sends its unacknowledged batches again, and the table is exact;
- TLS to the broker (`--broker-tls --broker-ca`, through a TLS terminator in front of a
  second broker) reads a topic; SASL is not tested (tansu's memory store has no users);
- `strata demo --kafka` streams the click events through a topic and counts them all;
- after the broker restarts empty, the stored offsets are above the high watermark: the
  consumer stops with an error naming topic, partition and offsets.

Prints one line per test and `N passed, M failed`; exits non-zero if any failed. Run:
`.venv/bin/python tests/python/test_kafka.py [TEST_NAME...]` (scripts/test.sh does, after
building the binary).
"""

import json
import os
import random
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grpc  # noqa: E402
import pipeline_producer as pp  # noqa: E402
import test_strata as ts  # noqa: E402
from confluent_kafka.admin import AdminClient  # noqa: E402

SCHEMAS = os.path.join(ts.REPO, "loader", "schemas")
FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
SEED = 1414
CONSUME_TIMEOUT = 120

# The brief's table layouts: table -> (key columns, {family: [qualifiers]}, CSV, schema file).
LAYOUTS = {
    "customers": (
        ["customer_id"],
        {
            "personal_info": ["first_name", "last_name", "username", "email", "gender", "birthdate"],
            "device_info": ["device_type", "device_id", "device_version"],
            "location_info": ["home_location_lat", "home_location_long", "home_location", "home_country"],
            "join_info": ["first_join_date"],
        },
        "customer.csv",
        "customer_schema.avsc",
    ),
    "product": (
        ["id"],
        {
            "product_info": ["productDisplayName"],
            "product_details": ["gender", "masterCategory", "subCategory", "articleType", "baseColour"],
            "metadata": ["season", "year", "usage"],
        },
        "product.csv",
        "product_schema.avsc",
    ),
    "transactions": (
        ["booking_id"],
        {
            "transaction_details": ["created_at", "customer_id", "session_id", "product_metadata"],
            "payment_info": ["payment_method", "payment_status", "promo_amount", "promo_code"],
            "shipment_info": [
                "shipment_fee",
                "shipment_date_limit",
                "shipment_location_lat",
                "shipment_location_long",
            ],
            "transaction_summary": ["total_amount"],
        },
        "transactions.csv",
        "transactions_schema.avsc",
    ),
    "clickstream": (
        ["session_id", "event_time", "event_id"],
        {
            "event_details": ["event_name", "event_time", "event_id", "session_id"],
            "traffic_info": ["traffic_source"],
            "metadata": ["event_metadata"],
        },
        "click_stream.csv",
        "click_stream_schema.avsc",
    ),
}


def tansu_bin():
    p = os.environ.get("TANSU_BIN") or os.path.join(ts.REPO, ".venv", "bin", "tansu")
    if not os.access(p, os.X_OK):
        sys.exit("tansu not found at %s: run `bash tests/setup/kafka.sh` first" % p)
    return p


class Broker:
    """tansu as a child process (memory storage: a restart empties every topic)."""

    def __init__(self, root):
        self.root = root
        self.proc = None
        self.starts = 0

    def start(self):
        self.port = ts.free_port()
        self.addr = "127.0.0.1:%d" % self.port
        url = "tcp://%s" % self.addr
        self.starts += 1
        self.log = open(os.path.join(self.root, "tansu-%d.log" % self.starts), "wb")
        self.proc = subprocess.Popen(
            [tansu_bin(), "broker", "--listener-url", url, "--advertised-listener-url", url],
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        # log_level 0: no "connection refused" lines while tansu starts.
        admin = AdminClient({"bootstrap.servers": self.addr, "log_level": 0})
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("tansu exited with %s" % self.proc.returncode)
            try:
                admin.list_topics(timeout=1)
                return
            except Exception:  # noqa: BLE001 - not up yet
                time.sleep(0.1)
        raise AssertionError("tansu did not answer within 30 s")

    def pause(self):
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)

    def stop(self):
        if self.proc is not None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait()
            self.proc = None
            self.log.close()


class TlsTerminator:
    """A TLS listener forwarding each connection to a plain one (tansu's TLS options did not
    work here), serving fixtures/broker-cert.pem."""

    def __init__(self, backend_port):
        import socket
        import ssl

        self.backend = ("127.0.0.1", backend_port)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(FIXTURES, "broker-cert.pem"), os.path.join(FIXTURES, "broker-key.pem"))
        self.ctx = ctx
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.handshakes = 0
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        import socket

        while True:
            try:
                conn, _ = self.sock.accept()
                tls = self.ctx.wrap_socket(conn, server_side=True)
            except OSError:
                continue
            self.handshakes += 1
            try:
                plain = socket.create_connection(self.backend)
            except OSError:
                # The broker behind is not listening yet: this client retries, the
                # terminator keeps accepting (an uncaught error here ended its thread).
                tls.close()
                continue
            for a, b in ((tls, plain), (plain, tls)):
                threading.Thread(target=self.pump, args=(a, b), daemon=True).start()

    @staticmethod
    def pump(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.close()
            except OSError:
                pass


class Env:
    def __init__(self, root, broker, srv):
        self.root = root
        self.broker = broker
        self.srv = srv
        self.pb = srv.pb
        self.data = os.path.join(root, "gen")

    def csv_rows(self, table):
        return list(pp.csv_rows(os.path.join(self.data, LAYOUTS[table][2])))

    def schema_path(self, table):
        return os.path.join(SCHEMAS, LAYOUTS[table][3])

    def consume_args(self, topic, table, *extra, target=None):
        return [
            ts.strata_bin(),
            "consume",
            "--brokers",
            self.broker.addr,
            "--topic",
            topic,
            "--table",
            table,
            *(target or ["--server", "http://" + self.srv.addr]),
            "--quiet",
            "--json",
            *extra,
        ]

    def consume(self, topic, table, *extra, target=None):
        """Run a consumer to its end; returns (exit code, JSON summary or None, stderr)."""
        r = subprocess.run(
            self.consume_args(topic, table, *extra, target=target),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=CONSUME_TIMEOUT,
        )
        out = r.stdout.decode()
        summary = json.loads(out) if out.strip() else None
        return r.returncode, summary, r.stderr.decode("utf-8", "replace")

    def scan(self, table, versions=1, stub=None):
        """{row key: {"family:qualifier": [(timestamp, value), ...]}}."""
        stub = stub or self.srv.stub
        rows = {}
        req = self.pb.ScanRequest(table=table, max_versions=versions)
        for reply in stub.Scan(req, timeout=ts.CALL_TIMEOUT):
            for row in reply.rows:
                cells = rows.setdefault(row.key.decode(), {})
                for c in row.cells:
                    col = "%s:%s" % (c.family, c.qualifier.decode())
                    value = c.value.decode("utf-8", "surrogateescape")
                    cells.setdefault(col, []).append((c.timestamp_micros, value))
        return rows

    def stored_offsets(self, name, topic, partitions):
        out = {}
        for p in range(partitions):
            try:
                r = self.srv.stub.Get(
                    self.pb.GetRequest(table="_consumer_offsets", row=("%s#%s#%d" % (name, topic, p)).encode()),
                    timeout=ts.CALL_TIMEOUT,
                )
            except grpc.RpcError as e:
                if e.code() == grpc.StatusCode.NOT_FOUND:
                    return {}  # the consumer has not created the table yet
                raise
            if r.found:
                (v,) = [c.value for c in r.row.cells if c.family == "offset" and c.qualifier == b"next"]
                assert len(v) == 8, v
                out[p] = struct.unpack(">q", v)[0]
        return out

    def wait_stored(self, name, topic, partitions, at_least, proc, what, timeout=90):
        """Wait until the consumer `proc` has stored offsets summing to `at_least`."""
        deadline = time.monotonic() + timeout
        while sum(self.stored_offsets(name, topic, partitions).values()) < at_least:
            assert time.monotonic() < deadline, "the consumer did not %s" % what
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.05)

    def create_table(self, table, versions):
        fams = LAYOUTS["clickstream"][1]
        self.srv.stub.CreateTable(
            self.pb.CreateTableRequest(
                table=table,
                families=[self.pb.FamilyOptions(name=f, max_versions=versions) for f in fams],
            ),
            timeout=ts.CALL_TIMEOUT,
        )


def number_text(v):
    """A double as strata consume writes it: shortest round-trip digits, integral without a
    fraction (Python's repr is also shortest round-trip; the data has no exponents)."""
    x = float(v)
    if x == int(x):
        return str(int(x))
    r = repr(x)
    assert "e" not in r, r
    return r


def expected_rows(table, rows):
    """{row key: {"family:qualifier": value}} of CSV rows, as the mapping lays them out."""
    keys, families, _, schema_file = LAYOUTS[table]
    types = pp.field_types(pp.load_schema(os.path.join(SCHEMAS, schema_file)))

    def text(name, v):
        return number_text(v) if types[name] == "double" else v

    out = {}
    for row in rows:
        key = "#".join(text(k, row[k]) for k in keys)
        out[key] = {
            "%s:%s" % (f, q): text(q, row[q]) for f, quals in families.items() for q in quals
        }
    return out


def produce(env, topic, table, rows, partitions, confluent_id=None, null_empty=False, key=None):
    """Produce rows as the pipeline did; returns {row key: Kafka timestamp ms}."""
    schema = pp.load_schema(env.schema_path(table))
    types = pp.field_types(schema)
    pp.create_topic(env.broker.addr, topic, partitions)
    p = pp.producer(env.broker.addr)
    delivered = pp.Delivered()
    keys = list(expected_rows(table, rows))
    for i, row in enumerate(rows):
        value = pp.encode(schema, pp.to_record(row, types, null_empty), confluent_id)
        k = row[key].encode() if key else None
        p.produce(topic, value=value, key=k, on_delivery=delivered.callback(keys[i]))
        if i % 1000 == 0:
            p.poll(0)
    assert p.flush(60) == 0, "undelivered records"
    assert not delivered.errors, delivered.errors[:3]
    return {k: r[2] for k, r in delivered.reports.items()}


def assert_table_is(env, table, want, versions=1, timestamps=None, stub=None):
    got = env.scan(table, versions=versions, stub=stub)
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    assert not missing and not extra, "%s: %d rows missing (%s), %d unexpected (%s)" % (
        table,
        len(missing),
        missing[:3],
        len(extra),
        extra[:3],
    )
    for key, cells in want.items():
        g = got[key]
        assert set(g) == set(cells), "%s %s: columns %s, want %s" % (table, key, sorted(g), sorted(cells))
        for col, value in cells.items():
            vs = g[col]
            assert len(vs) == 1, "%s %s %s: %d versions %s" % (table, key, col, len(vs), vs)
            assert vs[0][1] == value, "%s %s %s: %r, want %r" % (table, key, col, vs[0][1], value)
            if timestamps is not None:
                assert vs[0][0] == timestamps[key] * 1000, "%s %s %s: timestamp %d, want %d" % (
                    table,
                    key,
                    col,
                    vs[0][0],
                    timestamps[key] * 1000,
                )


# ---------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------


def test_four_tables_match_the_csv(env):
    cases = [
        # (topic, table, partitions, Confluent id, Kafka key column)
        ("customer", "customers", 2, None, "customer_id"),
        ("product", "product", 1, None, None),
        ("transactions", "transactions", 3, None, "booking_id"),
        ("click_stream", "clickstream", 3, 5, "session_id"),
    ]
    for topic, table, parts, cid, key in cases:
        rows = env.csv_rows(table)
        stamps = produce(env, topic, table, rows, parts, confluent_id=cid, null_empty=cid is not None, key=key)
        extra = ["--create-table"]
        if cid is not None:
            extra += ["--format", "avro-confluent", "--avro-schema", "%d=%s" % (cid, env.schema_path(table))]
        code, summary, err = env.consume(topic, table, "--until-caught-up", *extra)
        assert code == 0, "%s: exit %d\n%s" % (table, code, err)
        assert summary["stopped"] == "caught-up", summary
        assert summary["records"] == len(rows) and summary["rejects"] == 0, summary
        assert sum(p["end_offset"] for p in summary["partitions"]) == len(rows), summary
        assert all(p["lag"] == 0 for p in summary["partitions"]), summary
        assert_table_is(env, table, expected_rows(table, rows), timestamps=stamps)
    # --data-dir: straight into a store no server holds, then served and read back.
    root2 = os.path.join(env.root, "dirstore")
    os.makedirs(root2)
    code, summary, err = env.consume(
        "product", "product", "--until-caught-up", "--create-table", target=["--data-dir", os.path.join(root2, "data")]
    )
    assert code == 0, err
    assert summary["rows"] == len(env.csv_rows("product")), summary
    srv2 = ts.Server(root2, env.pb, env.srv.pb_grpc)
    try:
        srv2.start()
        assert_table_is(env, "product", expected_rows("product", env.csv_rows("product")), stub=srv2.stub)
        assert srv2.stop() == 0
    finally:
        srv2.kill()


def bad_values(env, good):
    """(values, which are bad) for a rejects topic: good datums mixed with bad ones."""
    schema = pp.load_schema(env.schema_path("clickstream"))
    types = pp.field_types(schema)
    enc = [pp.encode(schema, pp.to_record(r, types)) for r in good]
    return [
        (enc[0], False),
        (b"\x00\x01 not avro at all", True),
        (enc[1], False),
        (enc[2][:-5], True),  # truncated
        (None, True),  # a tombstone
        (b"", True),
        (enc[3], False),
    ]


def produce_values(env, topic, values):
    pp.create_topic(env.broker.addr, topic, 1)
    p = pp.producer(env.broker.addr)
    delivered = pp.Delivered()
    for i, v in enumerate(values):
        p.produce(topic, value=v, on_delivery=delivered.callback(i))
        p.flush(30)  # one at a time: offsets in order
    assert not delivered.errors, delivered.errors
    return [delivered.reports[i][1] for i in range(len(values))]


def test_bad_records_land_in_the_rejects_table(env):
    good = env.csv_rows("clickstream")[:8]
    values = bad_values(env, good)
    offsets = produce_values(env, "bad", [v for v, _ in values])
    code, _, err = env.consume("bad", "clicks_bad", "--until-caught-up", "--mapping", "clickstream")
    assert code == 2 and "table clicks_bad does not exist" in err, (code, err)
    code, summary, err = env.consume(
        "bad", "clicks_bad", "--until-caught-up", "--mapping", "clickstream", "--create-table", "--rejects-table", "rej"
    )
    assert code == 0, err
    nbad = sum(1 for _, b in values if b)
    assert summary["rejects"] == nbad and summary["rows"] == len(values) - nbad, summary
    rejects = env.scan("rej")
    want_keys = {"bad#0#%020d" % off for (v, b), off in zip(values, offsets) if b}
    assert set(rejects) == want_keys, sorted(rejects)
    for (v, b), off in zip(values, offsets):
        if not b:
            continue
        r = rejects["bad#0#%020d" % off]
        assert r["reject:topic"][0][1] == "bad"
        assert r["reject:partition"][0][1] == "0"
        assert r["reject:offset"][0][1] == str(off)
        assert r["reject:reason"][0][1], r
        raw = r["reject:raw"][0][1]
        assert raw == (v or b"").decode("utf-8", "surrogateescape"), (raw, v)
    reasons = [rejects["bad#0#%020d" % off]["reject:reason"][0][1] for (v, b), off in zip(values, offsets) if b]
    assert any("tombstone" in r for r in reasons), reasons
    assert any(r.startswith("not an Avro datum") for r in reasons), reasons
    assert_table_is(
        env, "clicks_bad", expected_rows("clickstream", [good[0], good[1], good[3]])
    )

    # --max-rejects 1: stops after the second reject (offset 3) with the offsets stored.
    offsets = produce_values(env, "bad2", [v for v, _ in values])
    code, summary, err = env.consume(
        "bad2", "clicks_bad", "--until-caught-up", "--mapping", "clickstream", "--rejects-table", "rej",
        "--max-rejects", "1", "--name", "m1",
    )
    assert code == 3, (code, err)
    assert "too many rejected records" in err, err
    assert summary["stopped"] == "max-rejects" and summary["rejects"] == 2, summary
    assert env.stored_offsets("m1", "bad2", 1) == {0: offsets[3] + 1}
    assert {k for k in env.scan("rej") if k.startswith("bad2#")} == {
        "bad2#0#%020d" % offsets[1],
        "bad2#0#%020d" % offsets[3],
    }
    # Without the limit it goes on from there.
    code, summary, err = env.consume(
        "bad2", "clicks_bad", "--until-caught-up", "--mapping", "clickstream", "--rejects-table", "rej", "--name", "m1"
    )
    assert code == 0, err
    assert summary["rejects"] == 2 and summary["rows"] == 1, summary
    assert env.stored_offsets("m1", "bad2", 1) == {0: offsets[-1] + 1}


def test_sigkill_rounds_lose_and_double_nothing(env):
    rows = env.csv_rows("clickstream")
    want = expected_rows("clickstream", rows)
    keys = list(want)
    env.create_table("clicks_crash", versions=10)
    topic, parts = "crash", 3
    pp.create_topic(env.broker.addr, topic, parts)
    schema = pp.load_schema(env.schema_path("clickstream"))
    types = pp.field_types(schema)
    delivered = pp.Delivered()
    done = threading.Event()

    def producer():
        p = pp.producer(env.broker.addr)
        try:
            for i, row in enumerate(rows):
                value = pp.encode(schema, pp.to_record(row, types))
                p.produce(topic, value=value, key=row["session_id"].encode(), on_delivery=delivered.callback(keys[i]))
                if i % 250 == 249:
                    p.poll(0)
                    time.sleep(0.08)
            p.flush(60)
        finally:
            done.set()

    t = threading.Thread(target=producer)
    t.start()
    rnd = random.Random(SEED)
    rounds = progressed = 0
    last = 0
    args = env.consume_args(topic, "clicks_crash", "--mapping", "clickstream", "--batch-rows", "300")
    while rounds < 5 or not done.is_set():
        c = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rnd.uniform(0.3, 1.5))
        c.send_signal(signal.SIGKILL)
        c.wait()
        rounds += 1
        now = sum(env.stored_offsets("clicks_crash", topic, parts).values())
        progressed += now > last
        last = now
        assert rounds < 60, "the producer did not finish"
    t.join()
    assert not delivered.errors, delivered.errors[:3]
    assert len(delivered.reports) == len(rows)
    assert progressed >= 3, "only %d of %d rounds stored offsets" % (progressed, rounds)
    code, summary, err = env.consume(topic, "clicks_crash", "--until-caught-up", "--mapping", "clickstream")
    assert code == 0, err
    stamps = {k: r[2] for k, r in delivered.reports.items()}
    assert_table_is(env, "clicks_crash", want, versions=10, timestamps=stamps)
    assert sum(env.stored_offsets("clicks_crash", topic, parts).values()) == len(rows)
    print("       %d SIGKILL rounds, %d stored new offsets" % (rounds, progressed), flush=True)


def test_broker_pause_loses_nothing(env):
    rows = env.csv_rows("clickstream")
    half = len(rows) // 2
    topic, parts = "pause", 2
    pp.create_topic(env.broker.addr, topic, parts)
    schema = pp.load_schema(env.schema_path("clickstream"))
    types = pp.field_types(schema)
    p = pp.producer(env.broker.addr, **{"message.timeout.ms": 120000})

    def send(rs):
        for i, row in enumerate(rs):
            p.produce(topic, value=pp.encode(schema, pp.to_record(row, types)), key=row["session_id"].encode())
            if i % 1000 == 0:
                p.poll(0)

    args = env.consume_args(topic, "clicks_pause", "--mapping", "clickstream", "--create-table")
    c = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        send(rows[:half])
        assert p.flush(60) == 0
        env.wait_stored("clicks_pause", topic, parts, half // 4, c, "make progress", 60)
        env.broker.pause()
        paused = time.monotonic()
        send(rows[half:])  # buffered by the producer while the broker is stopped
        time.sleep(max(0.0, 10 - (time.monotonic() - paused)))
        env.broker.resume()
        assert p.flush(120) == 0
        env.wait_stored("clicks_pause", topic, parts, len(rows), c, "catch up after the pause")
        c.send_signal(signal.SIGTERM)
        out, err = c.communicate(timeout=60)
    finally:
        env.broker.resume()
        if c.poll() is None:
            c.kill()
            c.wait()
    assert c.returncode == 0, (c.returncode, err.decode())
    summary = json.loads(out)
    assert summary["stopped"] == "signal", summary
    stored = env.stored_offsets("clicks_pause", topic, parts)
    assert {p["partition"]: p["end_offset"] for p in summary["partitions"]} == stored
    assert_table_is(env, "clicks_pause", expected_rows("clickstream", rows))


def test_server_restart_is_retried(env):
    rows = env.csv_rows("clickstream")
    half = len(rows) // 2
    topic, parts = "restart", 2
    pp.create_topic(env.broker.addr, topic, parts)
    schema = pp.load_schema(env.schema_path("clickstream"))
    types = pp.field_types(schema)
    p = pp.producer(env.broker.addr)
    for row in rows[:half]:
        p.produce(topic, value=pp.encode(schema, pp.to_record(row, types)), key=row["session_id"].encode())
    assert p.flush(60) == 0
    args = env.consume_args(
        topic, "clicks_restart", "--mapping", "clickstream", "--create-table", "--batch-rows", "200"
    )
    c = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        env.wait_stored("clicks_restart", topic, parts, 1000, c, "make progress", 60)
        port = env.srv.port
        env.srv.kill()  # SIGKILL: acknowledged writes survive, the rest is sent again
        for row in rows[half:]:
            p.produce(topic, value=pp.encode(schema, pp.to_record(row, types)), key=row["session_id"].encode())
        assert p.flush(60) == 0
        time.sleep(1)
        assert c.poll() is None, "the consumer gave up while the server was down"
        env.srv.start(port)
        env.wait_stored("clicks_restart", topic, parts, len(rows), c, "catch up after the restart")
        c.send_signal(signal.SIGTERM)
        out, err = c.communicate(timeout=60)
    finally:
        if c.poll() is None:
            c.kill()
            c.wait()
    assert c.returncode == 0, (c.returncode, err.decode())
    assert "the server is unavailable" in err.decode() or "MutateStream broke" in err.decode(), err
    assert_table_is(env, "clicks_restart", expected_rows("clickstream", rows))


def test_tls_to_the_broker(env):
    # A second broker that advertises a TLS terminator's address, so every connection of the
    # consumer (bootstrap and partition leaders) goes through TLS.
    backend = ts.free_port()
    term = TlsTerminator(backend)
    url = "tcp://127.0.0.1:%d" % backend
    log = open(os.path.join(env.root, "tansu-tls.log"), "wb")
    tansu = subprocess.Popen(
        [tansu_bin(), "broker", "--listener-url", url, "--advertised-listener-url", "tcp://127.0.0.1:%d" % term.port],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        tls = "127.0.0.1:%d" % term.port
        conf = {"security.protocol": "SSL", "ssl.ca.location": os.path.join(FIXTURES, "ca.pem")}
        rows = env.csv_rows("product")
        deadline = time.monotonic() + 60
        while True:
            try:
                pp.create_topic_with(tls, "tls_products", 2, conf)
                break
            except Exception:  # noqa: BLE001 - not up yet
                assert time.monotonic() < deadline, "the TLS broker did not come up"
                time.sleep(0.2)
        schema = pp.load_schema(env.schema_path("product"))
        types = pp.field_types(schema)
        p = pp.producer(tls, **conf)
        for row in rows:
            p.produce("tls_products", value=pp.encode(schema, pp.to_record(row, types)))
        assert p.flush(30) == 0
        args = ["--until-caught-up", "--create-table", "--mapping", "product"]
        before = term.handshakes
        cmd = env.consume_args("tls_products", "product_tls", *args, "--broker-tls", "--broker-ca", os.path.join(FIXTURES, "ca.pem"))
        cmd[cmd.index("--brokers") + 1] = tls
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=CONSUME_TIMEOUT)
        assert r.returncode == 0, r.stderr.decode()
        assert json.loads(r.stdout)["rows"] == len(rows)
        assert term.handshakes > before
        assert_table_is(env, "product_tls", expected_rows("product", rows))
    finally:
        tansu.kill()
        tansu.wait()
        log.close()


def test_offsets_above_the_high_watermark_stop_the_consumer(env):
    # tansu keeps topics in memory: after a restart the stored offsets point past the end.
    env.broker.stop()
    env.broker.start()
    code, _, err = env.consume("pause", "clicks_pause", "--until-caught-up", "--mapping", "clickstream")
    assert code == 2 and "topic pause does not exist" in err, (code, err)
    pp.create_topic(env.broker.addr, "pause", 2)
    code, _, err = env.consume("pause", "clicks_pause", "--until-caught-up", "--mapping", "clickstream")
    assert code == 2, (code, err)
    assert "topic pause partition" in err and "high watermark 0" in err, err
    assert "never resets or skips" in err, err


def test_demo_streams_the_click_events_through_kafka(env):
    r = subprocess.run(
        [ts.strata_bin(), "demo", "--scale", "0.001", "--kafka", env.broker.addr],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=CONSUME_TIMEOUT,
    )
    out = r.stdout.decode()
    assert r.returncode == 0, (r.returncode, out, r.stderr.decode())
    assert "kafka produce" in out and "into topic strata-demo-click_stream-" in out, out
    clicks = len(env.csv_rows("clickstream"))  # the demo's data is the same scale and seed
    line = [ln for ln in out.splitlines() if ln.strip().startswith("clickstream ")]
    assert line and line[0].split()[-3:] == [str(clicks)] * 3, line


TESTS = [
    test_four_tables_match_the_csv,
    test_bad_records_land_in_the_rejects_table,
    test_sigkill_rounds_lose_and_double_nothing,
    test_broker_pause_loses_nothing,
    test_server_restart_is_retried,
    test_demo_streams_the_click_events_through_kafka,
    test_tls_to_the_broker,
    test_offsets_above_the_high_watermark_stop_the_consumer,
]


def main(names):
    tests = [t for t in TESTS if not names or t.__name__ in names]
    passed = failed = 0
    with tempfile.TemporaryDirectory(prefix="strata-kafka-") as root:
        pb, pb_grpc = ts.generate_stubs(os.path.join(root, "stubs"))
        broker = Broker(root)
        srv = ts.Server(root, pb, pb_grpc)
        try:
            subprocess.run(
                [ts.strata_bin(), "gen", "--out", os.path.join(root, "gen"), "--scale", "0.001"],
                check=True,
                capture_output=True,
            )
            broker.start()
            srv.start()
            env = Env(root, broker, srv)
            for test in tests:
                started = time.monotonic()
                try:
                    test(env)
                    passed += 1
                    print("ok     %s (%.1f s)" % (test.__name__, time.monotonic() - started), flush=True)
                except Exception:  # noqa: BLE001 - report every failure, keep going
                    failed += 1
                    print("FAILED %s" % test.__name__, flush=True)
                    traceback.print_exc()
        except Exception:  # noqa: BLE001
            failed += 1
            traceback.print_exc()
        finally:
            if failed:
                print("--- server log\n%s" % srv.stderr()[-5000:], flush=True)
            srv.kill()
            broker.stop()
    print("%d passed, %d failed" % (passed, failed), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
