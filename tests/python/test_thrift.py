#!/usr/bin/env python3
"""End-to-end test of Strata's HBase Thrift1 gateway with the real happybase client.

Starts the real `strata serve --thrift-listen` binary on free loopback ports with a temporary
data directory and checks, through unchanged happybase 1.3.0 calls, what HBase's Thrift
gateway answers: tables (enabled state: disabled tables refuse reads and writes, an enabled
one is not deleted), families and regions, put/batch/row/rows/cells with versions and
millisecond timestamps, scans (row_start/row_stop/row_prefix/columns/limit/batch_size/
include_timestamp/sorted_columns/scan_batching/filter/reverse, with each filter of HBase's
language and its HBase result), deletes, counters incremented from several threads at once (a
connection each) with counter_get/set/dec, increment/incrementRows/append/checkAndPut through
the raw client, compaction calls, a 20,000-row scan with nothing lost or repeated
(also through a filter that drops almost every row), the framed transport and the compact
protocol, an unknown method leaving the connection usable, data written over gRPC read over
Thrift and back, the gateway's calls counted in /metrics, and the pipeline dashboard's access
pattern (one connection, four whole-table scans of data from `strata gen --scale 0.001` loaded with `strata load --data-dir`, `b'family:qualifier'` keys,
pandas DataFrames with the CSVs' row counts). Prints one line per test and a closing line
`N passed, M failed`; exits non-zero if any test failed.

Run: `.venv/bin/python tests/python/test_thrift.py` (scripts/test.sh does, after building the
binary). The binary is $STRATA_BIN, else $CARGO_TARGET_DIR/debug/strata, else
target/debug/strata in the repository.
"""

import csv
import os
import re
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.request

import happybase
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_strata import CALL_TIMEOUT, START_TIMEOUT, free_ports, generate_stubs, strata_bin  # noqa: E402

# The dashboard's four tables, how each CSV loads into it, and columns its charts read.
CUSTOMER_COLUMNS = (
    "HBASE_ROW_KEY,personal_info:first_name,personal_info:last_name,personal_info:username,"
    "personal_info:email,personal_info:gender,personal_info:birthdate,device_info:device_type,"
    "device_info:device_id,device_info:device_version,location_info:home_location_lat,"
    "location_info:home_location_long,location_info:home_location,location_info:home_country,"
    "join_info:first_join_date"
)
CLICK_COLUMNS = (
    "event_details:session_id,event_details:event_name,event_details:event_time,"
    "event_details:event_id,traffic_info:traffic_source,metadata:event_metadata"
)
DASHBOARD = [
    # table, csv, extra load flags, a column the dashboard charts, its possible values
    ("product", "product.csv", [], b"product_details:masterCategory", None),
    (
        "customer",
        "customer.csv",
        ["--columns", CUSTOMER_COLUMNS],
        b"personal_info:gender",
        {b"M", b"F"},
    ),
    (
        "transactions",
        "transactions.csv",
        [],
        b"payment_info:payment_method",
        {b"Debit Card", b"Credit Card", b"OVO", b"Gopay", b"LinkAja"},
    ),
    (
        "click_stream",
        "click_stream.csv",
        ["--row-key", "{session_id}#{event_time}#{event_id}", "--columns", CLICK_COLUMNS],
        b"traffic_info:traffic_source",
        {b"MOBILE", b"WEB"},
    ),
]


def run(*args):
    out = subprocess.run(
        [strata_bin(), *args], stdin=subprocess.DEVNULL, capture_output=True, timeout=120
    )
    if out.returncode != 0:
        raise AssertionError(
            "strata %s failed (%d):\n%s" % (" ".join(args), out.returncode, out.stderr.decode())
        )
    return out.stdout.decode()


class Server:
    """`strata serve --thrift-listen` as a child process."""

    def __init__(self, root, name, data_dir, *flags, http=False):
        """With `http`, the server serves HTTP too, on `self.http_addr` (picked at start)."""
        self.log_path = os.path.join(root, "%s.log" % name)
        self.data_dir = data_dir
        self.flags = list(flags)
        self.http = http
        self.http_addr = None
        self.proc = None
        self.framed = "--thrift-framed" in flags
        self.compact = "--thrift-compact" in flags

    def start(self):
        ports = free_ports(3 if self.http else 2)
        self.grpc_addr = "127.0.0.1:%d" % ports[0]
        self.port = ports[1]
        http_flags = []
        if self.http:
            self.http_addr = "127.0.0.1:%d" % ports[2]
            http_flags = ["--http-listen", self.http_addr]
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [
                strata_bin(),
                "serve",
                "--data-dir",
                self.data_dir,
                "--listen",
                self.grpc_addr,
                "--thrift-listen",
                "127.0.0.1:%d" % self.port,
                *http_flags,
                *self.flags,
            ],
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    "strata serve exited with %s:\n%s" % (self.proc.returncode, self.output())
                )
            try:
                c = self.connect()
                c.tables()
                c.close()
                return self
            except Exception:  # noqa: BLE001 - not listening yet
                time.sleep(0.05)
        raise AssertionError("the Thrift gateway did not answer:\n%s" % self.output())

    def connect(self):
        return happybase.Connection(
            "127.0.0.1",
            self.port,
            timeout=CALL_TIMEOUT * 1000,
            transport="framed" if self.framed else "buffered",
            protocol="compact" if self.compact else "binary",
        )

    def output(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self):
        if self.proc is None:
            return None
        self.proc.terminate()
        try:
            code = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            code = None
        self.proc = None
        self.log.close()
        return code


def expect_raises(fn, exc_name, *needles):
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - matched by name below
        assert type(e).__name__ == exc_name, "expected %s, got %r" % (exc_name, e)
        text = repr(e)
        for n in needles:
            assert n in text, "%r should name %r" % (text, n)
        return e
    raise AssertionError("expected %s, the call succeeded" % exc_name)


# ---------------------------------------------------------------------------------------------
# Tests against the default server (buffered transport, binary protocol)
# ---------------------------------------------------------------------------------------------


def test_tables_families_regions(ctx):
    c = ctx.conn
    before = set(c.tables())
    c.create_table("hb_admin", {"cf": dict(max_versions=5, time_to_live=3600), "cg": {}})
    c.create_table("hb_admin0", {"z": {}})
    tables = c.tables()
    assert tables == sorted(tables), tables
    assert set(tables) - before == {b"hb_admin", b"hb_admin0"}, tables
    fams = c.table("hb_admin").families()
    assert sorted(fams) == [b"cf", b"cg"], fams
    assert fams[b"cf"]["max_versions"] == 5 and fams[b"cf"]["time_to_live"] == 3600, fams
    assert fams[b"cg"]["max_versions"] == 3 and fams[b"cg"]["time_to_live"] == 2**31 - 1, fams
    assert fams[b"cg"]["compression"] == b"NONE", fams
    regions = c.table("hb_admin").regions()
    assert len(regions) == 1 and regions[0]["start_key"] == b"" and regions[0]["end_key"] == b""
    assert c.table("no_such_table").regions() == []
    expect_raises(lambda: c.create_table("hb_admin", {"cf": {}}), "AlreadyExists", "hb_admin")
    assert c.is_table_enabled("hb_admin") is True
    c.compact_table("hb_admin")
    c.compact_table("hb_admin", major=True)
    # As HBase: an enabled table is not deleted; delete_table(disable=True) disables it first.
    expect_raises(lambda: c.delete_table("hb_admin0"), "IOError", "hb_admin0", "enabled")
    c.delete_table("hb_admin0", disable=True)
    assert b"hb_admin0" not in c.tables()
    expect_raises(lambda: c.delete_table("hb_admin0"), "IOError", "hb_admin0")


def test_disabled_tables_refuse_reads_and_writes(ctx):
    c = ctx.conn
    c.create_table("hb_disabled", {"cf": {}})
    t = c.table("hb_disabled")
    t.put(b"r1", {b"cf:a": b"1"})
    c.disable_table("hb_disabled")
    assert c.is_table_enabled("hb_disabled") is False
    for call in [
        lambda: t.row(b"r1"),
        lambda: t.rows([b"r1"]),
        lambda: list(t.scan()),
        lambda: list(t.scan(reverse=True)),
        lambda: t.put(b"r2", {b"cf:a": b"2"}),
        lambda: t.delete(b"r1"),
    ]:
        expect_raises(call, "IOError", "hb_disabled", "disabled")
    c.enable_table("hb_disabled")
    assert c.is_table_enabled("hb_disabled") is True
    assert t.row(b"r1") == {b"cf:a": b"1"}
    # Over gRPC too (FAILED_PRECONDITION naming it), and the state is the same on both paths.
    c.disable_table("hb_disabled")
    import grpc

    try:
        ctx.stub.Get(ctx.pb.GetRequest(table="hb_disabled", row=b"r1"), timeout=CALL_TIMEOUT)
        raise AssertionError("a disabled table answered a gRPC Get")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.FAILED_PRECONDITION, e
        assert "hb_disabled" in e.details(), e.details()
    ctx.stub.EnableTable(ctx.pb.EnableTableRequest(table="hb_disabled"), timeout=CALL_TIMEOUT)
    assert c.is_table_enabled("hb_disabled") is True
    c.delete_table("hb_disabled", disable=True)


def test_put_row_rows_cells(ctx):
    c = ctx.conn
    c.create_table("hb_rw", {"cf": dict(max_versions=3), "cg": {}})
    t = c.table("hb_rw")
    t.put(b"r1", {b"cf:a": b"1", b"cf:": b"empty qualifier", b"cg:b": b"2"})
    assert t.row(b"r1") == {b"cf:a": b"1", b"cf:": b"empty qualifier", b"cg:b": b"2"}
    # `cf` is the family, `cf:` the empty qualifier, `cf:a` one column.
    assert t.row(b"r1", columns=[b"cf"]) == {b"cf:a": b"1", b"cf:": b"empty qualifier"}
    assert t.row(b"r1", columns=[b"cf:"]) == {b"cf:": b"empty qualifier"}
    assert t.row(b"r1", columns=[b"cf:a", b"cg"]) == {b"cf:a": b"1", b"cg:b": b"2"}
    assert t.row(b"missing") == {}
    # Timestamps are milliseconds, both ways.
    t.put(b"r2", {b"cf:v": b"old"}, timestamp=1000)
    t.put(b"r2", {b"cf:v": b"mid"}, timestamp=2000)
    t.put(b"r2", {b"cf:v": b"new"}, timestamp=3000)
    assert t.row(b"r2", include_timestamp=True) == {b"cf:v": (b"new", 3000)}
    # A read timestamp is an exclusive upper bound.
    assert t.row(b"r2", timestamp=3000, include_timestamp=True) == {b"cf:v": (b"mid", 2000)}
    assert t.cells(b"r2", b"cf:v") == [b"new", b"mid", b"old"]
    assert t.cells(b"r2", b"cf:v", versions=2, include_timestamp=True) == [
        (b"new", 3000),
        (b"mid", 2000),
    ]
    assert t.cells(b"r2", b"cf:v", timestamp=2001) == [b"mid", b"old"]
    now_ms = int(time.time() * 1000)
    _, ts = t.row(b"r1", columns=[b"cf:a"], include_timestamp=True)[b"cf:a"]
    assert abs(ts - now_ms) < 600_000, (ts, now_ms)
    rows = t.rows([b"r2", b"missing", b"r1"], columns=[b"cf:a", b"cf:v"])
    assert rows == [(b"r2", {b"cf:v": b"new"}), (b"r1", {b"cf:a": b"1"})], rows
    assert t.rows([b"r1", b"r2"], timestamp=2500) == [(b"r2", {b"cf:v": b"mid"})]
    assert not t.rows([])  # no call at all
    # Counters are 8-byte big-endian cells; counter_set is a put.
    t.counter_set(b"ctr", b"cf:n", 42)
    assert t.row(b"ctr")[b"cf:n"] == struct.pack(">q", 42)


def test_counters_from_several_threads_at_once(ctx):
    """happybase's counters (atomicIncrement) from 8 threads, a connection each: none lost."""
    ctx.conn.create_table("hb_ctr", {"cf": {}})
    threads, each = 8, 50
    errors = []

    def work():
        conn = ctx.srv.connect()
        try:
            t = conn.table("hb_ctr")
            for _ in range(each):
                t.counter_inc(b"hits", b"cf:n")
                t.counter_inc(b"hits", b"cf:down", -2)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)
        finally:
            conn.close()

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not errors, errors
    t = ctx.conn.table("hb_ctr")
    assert t.counter_get(b"hits", b"cf:n") == threads * each
    assert t.counter_get(b"hits", b"cf:down") == -2 * threads * each
    # counter_get of a missing counter creates it at 0 (HBase does: it is an increment by 0).
    assert t.counter_get(b"new", b"cf:n") == 0
    assert t.row(b"new") == {b"cf:n": struct.pack(">q", 0)}
    assert t.counter_inc(b"new", b"cf:n", 5) == 5
    assert t.counter_dec(b"new", b"cf:n", 7) == -2
    t.counter_set(b"new", b"cf:n", 1000)
    assert t.counter_get(b"new", b"cf:n") == 1000
    assert t.counter_dec(b"new", b"cf:n") == 999
    # A cell that is not 8 bytes is no counter: an IOError naming it, the cell unchanged.
    t.put(b"text", {b"cf:t": b"abc"})
    expect_raises(lambda: t.counter_inc(b"text", b"cf:t"), "IOError", "cf:t", "8-byte")
    assert t.row(b"text") == {b"cf:t": b"abc"}


def test_increment_append_and_check_and_put_through_the_raw_client(ctx):
    """The atomic methods happybase has in its IDL but no API for, through its Thrift client."""
    from Hbase_thrift import Mutation, TAppend, TIncrement

    c = ctx.conn
    c.create_table("hb_atomic", {"cf": {}})
    t = c.table("hb_atomic")
    c.client.increment(TIncrement(table=b"hb_atomic", row=b"r", column=b"cf:n", ammount=4))
    c.client.incrementRows(
        [
            TIncrement(table=b"hb_atomic", row=b"r", column=b"cf:n", ammount=1),
            TIncrement(table=b"hb_atomic", row=b"s", column=b"cf:n", ammount=2),
        ]
    )
    assert t.counter_get(b"r", b"cf:n") == 5
    assert t.counter_get(b"s", b"cf:n") == 2
    t.put(b"a", {b"cf:log": b"ab"})
    before_ms = int(time.time() * 1000) - 1
    cells = c.client.append(
        TAppend(table=b"hb_atomic", row=b"a", columns=[b"cf:log", b"cf:new"], values=[b"cd", b"x"])
    )
    assert [x.value for x in cells] == [b"abcd", b"x"], cells
    assert all(x.timestamp >= before_ms for x in cells), cells
    assert t.row(b"a") == {b"cf:log": b"abcd", b"cf:new": b"x"}

    def check_and_put(value, column, new):
        put = Mutation(isDelete=False, column=column, value=new, writeToWAL=True)
        return c.client.checkAndPut(b"hb_atomic", b"k", b"cf:owner", value, put, {})

    # No expected value: applied only while the column does not exist.
    assert check_and_put(None, b"cf:owner", b"me") is True
    assert check_and_put(None, b"cf:owner", b"you") is False
    assert check_and_put(b"you", b"cf:x", b"1") is False
    assert check_and_put(b"me", b"cf:x", b"2") is True
    assert t.row(b"k") == {b"cf:owner": b"me", b"cf:x": b"2"}


def test_batch_and_deletes(ctx):
    c = ctx.conn
    c.create_table("hb_del", {"cf": {}, "cg": {}})
    t = c.table("hb_del")
    with t.batch(batch_size=2) as b:
        for i in range(5):
            b.put(b"r%d" % i, {b"cf:a": b"%d" % i, b"cf:b": b"x", b"cg:c": b"y"})
        b.delete(b"r4", columns=[b"cf:a"])
    assert [k for k, _ in t.scan()] == [b"r0", b"r1", b"r2", b"r3", b"r4"]
    assert t.row(b"r4") == {b"cf:b": b"x", b"cg:c": b"y"}
    t.delete(b"r1", columns=[b"cf:a"])
    assert t.row(b"r1") == {b"cf:b": b"x", b"cg:c": b"y"}
    t.delete(b"r2", columns=[b"cf"])
    assert t.row(b"r2") == {b"cg:c": b"y"}
    t.delete(b"r3")  # whole row: one family delete per family
    assert t.row(b"r3") == {}
    assert [k for k, _ in t.scan()] == [b"r0", b"r1", b"r2", b"r4"]
    # A put after a delete is visible (write order).
    t.put(b"r3", {b"cf:a": b"back"})
    assert t.row(b"r3") == {b"cf:a": b"back"}
    with t.batch(timestamp=5000) as b:
        b.put(b"r9", {b"cf:a": b"at 5000"})
    assert t.row(b"r9", include_timestamp=True) == {b"cf:a": (b"at 5000", 5000)}
    expect_raises(lambda: t.put(b"r5", {b"cf": b"no qualifier"}), "IllegalArgument", "qualifier")
    expect_raises(lambda: t.put(b"r5", {b"nofam:q": b"v"}), "IOError", "nofam")
    expect_raises(lambda: c.table("ghost").row(b"x"), "IOError", "ghost")


def test_deletes_with_a_timestamp_cover_the_versions_at_or_before_it(ctx):
    c = ctx.conn
    c.create_table("hb_del_ts", {"cf": dict(max_versions=5), "cg": dict(max_versions=5)})
    t = c.table("hb_del_ts")
    for ts, v in ((1000, b"old"), (2000, b"mid"), (3000, b"new")):
        t.put(b"r", {b"cf:v": v, b"cg:w": v}, timestamp=ts)
    # deleteAllTs of one column: the versions at or before 2000 ms go, 3000 stays.
    t.delete(b"r", columns=[b"cf:v"], timestamp=2000)
    assert t.cells(b"r", b"cf:v", versions=5) == [b"new"]
    assert t.cells(b"r", b"cg:w", versions=5) == [b"new", b"mid", b"old"]
    # A delete inside a timestamped batch (mutateRowsTs) does the same for a family.
    with t.batch(timestamp=1500) as b:
        b.delete(b"r", columns=[b"cg"])
    assert t.cells(b"r", b"cg:w", versions=5) == [b"new", b"mid"]
    # deleteAllRowTs: the whole row up to 3000 ms.
    t.delete(b"r", timestamp=3000)
    assert t.row(b"r") == {}
    # A put after the delete stays whatever its timestamp (write order).
    t.put(b"r", {b"cf:v": b"late"}, timestamp=500)
    assert t.row(b"r", include_timestamp=True) == {b"cf:v": (b"late", 500)}


def test_scans(ctx):
    c = ctx.conn
    c.create_table("hb_scan", {"cf": {}, "cg": {}})
    t = c.table("hb_scan")
    with t.batch(batch_size=100) as b:
        for p in "abc":
            for i in range(10):
                b.put(("%s%02d" % (p, i)).encode(), {b"cf:x": b"1", b"cf:y": b"2", b"cg:z": b"3"})
    keys = [k for k, _ in t.scan()]
    assert len(keys) == 30 and keys == sorted(keys)
    assert [k for k, _ in t.scan(row_start=b"a05", row_stop=b"b02")] == keys[5:12]
    assert [k for k, _ in t.scan(row_prefix=b"b")] == keys[10:20]
    assert [k for k, _ in t.scan(row_start=b"c05")] == keys[25:]
    assert [k for k, _ in t.scan(limit=7, batch_size=3)] == keys[:7]
    assert [k for k, _ in t.scan(batch_size=1)] == keys
    rows = list(t.scan(row_prefix=b"a0", columns=[b"cf:y", b"cg"], include_timestamp=True))
    assert len(rows) == 10
    assert set(rows[0][1]) == {b"cf:y", b"cg:z"}, rows[0]
    assert all(isinstance(v, tuple) and v[1] > 0 for v in rows[0][1].values())
    ordered = list(t.scan(limit=1, sorted_columns=True))[0][1]
    assert list(ordered) == [b"cf:x", b"cf:y", b"cg:z"], ordered
    parts = list(t.scan(row_prefix=b"a00", scan_batching=2))
    assert [(k, len(d)) for k, d in parts] == [(b"a00", 2), (b"a00", 1)], parts
    # Rows without a matching cell are omitted.
    assert list(t.scan(columns=[b"cf:nothing"])) == []
    # Each scan closed its scanner: a new one still opens on the same connection.
    assert len(list(t.scan(row_prefix=b"c"))) == 10


def test_reverse_scans(ctx):
    c = ctx.conn
    c.create_table("hb_reverse", {"cf": {}, "cg": {}})
    t = c.table("hb_reverse")
    with t.batch(batch_size=100) as b:
        for p in "abc":
            for i in range(10):
                b.put(("%s%02d" % (p, i)).encode(), {b"cf:x": b"1", b"cf:y": b"2", b"cg:z": b"3"})
    t.put(b"b05", {b"cf:x": b"new"})
    keys = [k for k, _ in t.scan()]
    down = keys[::-1]
    assert [k for k, _ in t.scan(reverse=True)] == down
    # HBase's reversed scan: row_start inclusive is the high end, row_stop exclusive the low.
    assert [k for k, _ in t.scan(row_start=b"b02", row_stop=b"a05", reverse=True)] == keys[6:13][::-1]
    # happybase sends a reversed prefix scan as start=increment(prefix), stop=prefix.
    assert [k for k, _ in t.scan(row_prefix=b"b", reverse=True)] == keys[10:20][::-1]
    # limit and batch_size page through the scanner, which lets go of its version between calls.
    assert [k for k, _ in t.scan(reverse=True, limit=7, batch_size=3)] == down[:7]
    assert [k for k, _ in t.scan(reverse=True, batch_size=1)] == down
    rows = dict(t.scan(row_start=b"b06", row_stop=b"b04", reverse=True, columns=[b"cf:x"]))
    assert rows == {b"b06": {b"cf:x": b"1"}, b"b05": {b"cf:x": b"new"}}, rows
    # A row cut into parts (scan_batching) comes in forward column order.
    parts = list(t.scan(row_start=b"a01", row_stop=b"a00", reverse=True, scan_batching=2))
    assert [(k, sorted(d)) for k, d in parts] == [(b"a01", [b"cf:x", b"cf:y"]), (b"a01", [b"cg:z"])], parts
    # Filters run in the scan's direction.
    assert [k for k, _ in t.scan(reverse=True, filter="PrefixFilter('a')")] == keys[:10][::-1]
    assert [k for k, _ in t.scan(reverse=True, filter="InclusiveStopFilter('c07')")] == down[:3]


# The filter cases of tests/tests/grpc_filter.rs over the same cells, through happybase's
# `scan(filter=...)`. Thrift row results carry the newest version each column keeps after the
# filter, and TimestampsFilter takes milliseconds.
T0_MS = 1_700_000_000_000
FILTER_CELLS = [
    (b"r1", b"a:x", 3, b"v1"),
    (b"r1", b"a:x", 2, b"old"),
    (b"r1", b"a:y", 3, b"gopay"),
    (b"r1", b"b:z", 3, b"1"),
    (b"r2", b"a:x", 3, b"v2"),
    (b"r2", b"b:z", 3, b"2"),
    (b"r3", b"a:y", 3, b"OVO"),
    (b"r3", b"b:w", 3, b""),
    (b"r3", b"b:z", 3, b"3"),
    (b"s1", b"a:x", 3, b"v1"),
    (b"t1", b"b:z", 3, b"9"),
]
F_R1 = (b"r1", {b"a:x": b"v1", b"a:y": b"gopay", b"b:z": b"1"})
F_R2 = (b"r2", {b"a:x": b"v2", b"b:z": b"2"})
F_R3 = (b"r3", {b"a:y": b"OVO", b"b:w": b"", b"b:z": b"3"})
F_S1 = (b"s1", {b"a:x": b"v1"})
F_T1 = (b"t1", {b"b:z": b"9"})
FILTER_CASES = [
    ("PrefixFilter('r')", [F_R1, F_R2, F_R3]),
    ("PrefixFilter('r2') AND KeyOnlyFilter()", [(b"r2", {b"a:x": b"", b"b:z": b""})]),
    (
        "PrefixFilter('r2') AND KeyOnlyFilter(true)",
        [(b"r2", {b"a:x": struct.pack(">i", 2), b"b:z": struct.pack(">i", 1)})],
    ),
    (
        "FirstKeyOnlyFilter()",
        [(b"r1", {b"a:x": b"v1"}), (b"r2", {b"a:x": b"v2"}), (b"r3", {b"a:y": b"OVO"}), F_S1, F_T1],
    ),
    ("SingleColumnValueFilter('a', 'x', =, 'binary:v1')", [F_R1, F_R3, F_S1, F_T1]),
    ("SingleColumnValueFilter('a', 'x', =, 'binary:v1', true, true)", [F_R1, F_S1]),
    ("SingleColumnValueFilter('a', 'x', =, 'binary:old', true, true)", []),
    ("SingleColumnValueFilter('a', 'x', =, 'binary:old', true, false)", [F_R1]),
    (
        "SingleColumnValueExcludeFilter('a', 'x', =, 'binary:v1')",
        [(b"r1", {b"a:y": b"gopay", b"b:z": b"1"}), F_R3, F_T1],
    ),
    ("RowFilter(<=, 'binary:r2')", [F_R1, F_R2]),
    ("RowFilter(=, 'regexstring:^[st]')", [F_S1, F_T1]),
    (
        "FamilyFilter(=, 'binary:b')",
        [(b"r1", {b"b:z": b"1"}), (b"r2", {b"b:z": b"2"}), (b"r3", {b"b:w": b"", b"b:z": b"3"}), F_T1],
    ),
    (
        "QualifierFilter(>, 'binaryprefix:x')",
        [
            (b"r1", {b"a:y": b"gopay", b"b:z": b"1"}),
            (b"r2", {b"b:z": b"2"}),
            (b"r3", {b"a:y": b"OVO", b"b:z": b"3"}),
            F_T1,
        ],
    ),
    ("ValueFilter(=, 'substring:GOPAY')", [(b"r1", {b"a:y": b"gopay"})]),
    # The newest version that passes: the older one.
    ("ValueFilter(=, 'binary:old')", [(b"r1", {b"a:x": b"old"})]),
    ("ColumnPrefixFilter('y')", [(b"r1", {b"a:y": b"gopay"}), (b"r3", {b"a:y": b"OVO"})]),
    (
        "MultipleColumnPrefixFilter('y', 'w')",
        [(b"r1", {b"a:y": b"gopay"}), (b"r3", {b"a:y": b"OVO", b"b:w": b""})],
    ),
    (
        "ColumnRangeFilter('x', false, 'z', false)",
        [(b"r1", {b"a:y": b"gopay"}), (b"r3", {b"a:y": b"OVO"})],
    ),
    ("TimestampsFilter(%d)" % (T0_MS + 2), [(b"r1", {b"a:x": b"old"})]),
    ("InclusiveStopFilter('r2')", [F_R1, F_R2]),
    ("PageFilter(2)", [F_R1, F_R2]),
    ("SingleColumnValueFilter('b', 'z', =, 'binary:3') AND PageFilter(1)", [F_R3]),
    ("ColumnCountGetFilter(2)", [(b"r1", {b"a:x": b"v1", b"a:y": b"gopay"})]),
    ("SKIP ValueFilter(!=, 'binary:')", [F_R1, F_R2, F_S1, F_T1]),
    ("WHILE RowFilter(<, 'binary:r3')", [F_R1, F_R2]),
    ("WHILE ValueFilter(!=, 'binary:3')", [F_R1, F_R2, (b"r3", {b"a:y": b"OVO", b"b:w": b""})]),
    (
        "RowFilter(=, 'binary:r2') OR ValueFilter(=, 'binary:v1')",
        [(b"r1", {b"a:x": b"v1"}), F_R2, (b"s1", {b"a:x": b"v1"})],
    ),
    (
        "(PrefixFilter('r1') OR PrefixFilter('t')) AND "
        "(ColumnPrefixFilter('x') OR FamilyFilter(=, 'binary:b'))",
        [(b"r1", {b"a:x": b"v1", b"b:z": b"1"}), F_T1],
    ),
]


def test_scan_filters(ctx):
    c = ctx.conn
    c.create_table("hb_filter", {"a": dict(max_versions=3), "b": {}})
    t = c.table("hb_filter")
    for row, col, ts, value in FILTER_CELLS:
        t.put(row, {col: value}, timestamp=T0_MS + ts)
    assert list(t.scan()) == [F_R1, F_R2, F_R3, F_S1, F_T1]
    for f, want in FILTER_CASES:
        # batch_size=2: the filter's state carries across scannerGetList calls.
        got = list(t.scan(filter=f, batch_size=2))
        assert got == want, "%s: %r" % (f, got)
    got = list(t.scan(filter="TimestampsFilter(%d)" % (T0_MS + 2), include_timestamp=True))
    assert got == [(b"r1", {b"a:x": (b"old", T0_MS + 2)})], got
    # With the scan's own range and columns.
    got = list(t.scan(row_start=b"r2", columns=[b"b"], filter="ValueFilter(!=, 'binary:9')"))
    assert got == [(b"r2", {b"b:z": b"2"}), (b"r3", {b"b:w": b"", b"b:z": b"3"})], got
    for bad, needle in [
        ("PrefixFilter('a') AND", "byte 21"),
        ("NoSuchFilter()", "unknown filter 'NoSuchFilter'"),
        ("ValueFilter(=, 'regexstring:(a')", "unclosed group"),
    ]:
        expect_raises(lambda: list(t.scan(filter=bad)), "IOError", "bad filter at byte", needle)
    assert len(list(t.scan(filter="FirstKeyOnlyFilter()"))) == 5, "the connection still works"


def test_a_filter_dropping_almost_every_row_loses_nothing(ctx):
    t = ctx.conn.table("hb_big")  # 20,000 rows, written by test_twenty_thousand_rows_scan_whole
    want = [b"row000017", b"row012345", b"row019999"]
    f = "RowFilter(=, 'regexstring:^row0(00017|12345|19999)$')"
    assert [k for k, _ in t.scan(filter=f, batch_size=1)] == want
    assert [k for k, _ in t.scan(filter=f + " AND KeyOnlyFilter()", batch_size=1000)] == want


def test_twenty_thousand_rows_scan_whole(ctx):
    c = ctx.conn
    c.create_table("hb_big", {"f": {}})
    t = c.table("hb_big")
    n = 20_000
    with t.batch(batch_size=2000) as b:
        for i in range(n):
            b.put(b"row%06d" % i, {b"f:v": b"%d" % i})
    seen = []
    for key, data in t.scan(batch_size=1000):
        seen.append(key)
        assert data == {b"f:v": b"%d" % int(key[3:])}, (key, data)
    assert len(seen) == n, len(seen)
    assert len(set(seen)) == n, "rows repeated"
    assert seen == sorted(seen), "rows out of order"
    assert sum(1 for _ in t.scan(row_start=b"row010000", batch_size=777)) == n // 2


def test_unknown_method_keeps_the_connection_usable(ctx):
    c = ctx.conn
    # getRowOrBefore is in happybase's IDL but not served: TApplicationException(UNKNOWN_METHOD).
    e = expect_raises(
        lambda: c.client.getRowOrBefore(b"hb_rw", b"r", b"cf"), "TApplicationException"
    )
    assert e.type == 1, e  # UNKNOWN_METHOD
    assert b"hb_rw" in c.tables()
    assert c.table("hb_rw").row(b"r1")[b"cf:a"] == b"1"


def test_grpc_and_thrift_see_the_same_data(ctx):
    pb, stub = ctx.pb, ctx.stub
    stub.CreateTable(
        pb.CreateTableRequest(table="hb_x", families=[pb.FamilyOptions(name="f", max_versions=2)]),
        timeout=CALL_TIMEOUT,
    )
    cell = pb.SetCell(family="f", qualifier=b"g", value=b"from grpc", timestamp_micros=5_000_123)
    stub.Mutate(
        pb.MutateRequest(table="hb_x", row=b"k1", mutations=[pb.Mutation(set_cell=cell)]),
        timeout=CALL_TIMEOUT,
    )
    t = ctx.conn.table("hb_x")
    assert t.row(b"k1", include_timestamp=True) == {b"f:g": (b"from grpc", 5000)}
    assert ctx.conn.table("hb_x").families()[b"f"]["max_versions"] == 2
    t.put(b"k2", {b"f:t": b"from thrift"}, timestamp=7000)
    t.put(b"k1", {b"f:t": b"also thrift"})
    got = stub.Get(pb.GetRequest(table="hb_x", row=b"k2"), timeout=CALL_TIMEOUT)
    assert [(c.family, c.qualifier, c.value, c.timestamp_micros) for c in got.row.cells] == [
        ("f", b"t", b"from thrift", 7_000_000)
    ], got
    rows = [
        r.key for reply in stub.Scan(pb.ScanRequest(table="hb_x"), timeout=CALL_TIMEOUT)
        for r in reply.rows
    ]
    assert rows == [b"k1", b"k2"], rows
    t.delete(b"k1", columns=[b"f:g"])
    got = stub.Get(pb.GetRequest(table="hb_x", row=b"k1"), timeout=CALL_TIMEOUT)
    assert [c.qualifier for c in got.row.cells] == [b"t"], got


def test_dashboard_access_pattern(ctx):
    """design.py's fetch: one connection, a whole-table scan per table, DataFrames."""
    conn = ctx.dashboard.connect()
    frames = {}
    for table, _, _, _, _ in DASHBOARD:
        rows = [data for _, data in conn.table(table).scan()]
        frames[table] = pd.DataFrame(rows)
    conn.close()
    for table, csv_name, _, column, values in DASHBOARD:
        df = frames[table]
        assert len(df) == ctx.csv_rows[csv_name], (table, len(df), ctx.csv_rows[csv_name])
        assert column in df.columns, (table, list(df.columns)[:5])
        got = set(df[column].unique())
        if values is not None:
            assert got <= values and got, (table, got)
    assert frames["customer"].shape[1] == 14, frames["customer"].columns
    tx = frames["transactions"]
    # Quoted CSV fields with commas arrive whole.
    assert tx[b"transaction_details:product_metadata"].map(lambda v: v.startswith(b"[{")).all()
    years = tx[b"transaction_details:created_at"].map(lambda v: v[:4]).value_counts()
    assert years.sum() == len(tx)


def thrift_metrics(ctx):
    """The `api="thrift"` series of the server's /metrics: {(name, labels): value}."""
    with urllib.request.urlopen("http://%s/metrics" % ctx.http_addr, timeout=CALL_TIMEOUT) as r:
        text = r.read().decode()
    series = {}
    for line in text.splitlines():
        m = re.match(r'^(strata_rpc_\w+)\{api="thrift",([^}]*)\} (\S+)$', line)
        if m:
            series[(m.group(1), m.group(2))] = float(m.group(3))
    return series


def test_metrics_count_thrift_calls(ctx):
    before = thrift_metrics(ctx)
    t = ctx.conn.table("hb_rw")
    for _ in range(3):
        t.row(b"r1")
    expect_raises(lambda: ctx.conn.table("ghost").row(b"x"), "IOError", "ghost")
    after = thrift_metrics(ctx)

    def grew(name, labels, by):
        key = (name, labels)
        assert after.get(key, 0) >= before.get(key, 0) + by, (key, before.get(key), after.get(key))

    grew("strata_rpc_requests_total", 'method="getRowWithColumns"', 4)
    grew("strata_rpc_errors_total", 'method="getRowWithColumns",code="IOError"', 1)
    grew("strata_rpc_duration_seconds_count", 'method="getRowWithColumns"', 4)
    # Every call of the tests before this one was counted too.
    assert after[("strata_rpc_requests_total", 'method="scannerOpenWithScan"')] >= 10, after
    assert ("strata_rpc_errors_total", 'method="unknown",code="UNKNOWN_METHOD"') in after, after


# ---------------------------------------------------------------------------------------------
# Other transports and protocols (a server each)
# ---------------------------------------------------------------------------------------------


def check_transport(srv):
    c = srv.connect()
    c.create_table("hb_proto", {"cf": {}})
    t = c.table("hb_proto")
    with t.batch() as b:
        for i in range(50):
            b.put(b"k%02d" % i, {b"cf:v": b"%d" % i, b"cf:w": b"x" * 3000})
    assert t.row(b"k07") == {b"cf:v": b"7", b"cf:w": b"x" * 3000}
    assert [k for k, _ in t.scan(batch_size=8)] == [b"k%02d" % i for i in range(50)]
    assert t.cells(b"k01", b"cf:v") == [b"1"]
    expect_raises(lambda: c.client.getRowOrBefore(b"hb_proto", b"r", b"cf"), "TApplicationException")
    assert c.tables() == [b"hb_proto"]
    c.close()


def main():
    passed = failed = 0

    def record(name, fn):
        nonlocal passed, failed
        started = time.monotonic()
        try:
            fn()
            passed += 1
            print("ok     %s (%.1f s)" % (name, time.monotonic() - started), flush=True)
            return True
        except Exception:  # noqa: BLE001 - report every failure, keep going
            failed += 1
            print("FAILED %s" % name, flush=True)
            traceback.print_exc()
            return False

    servers = []
    with tempfile.TemporaryDirectory(prefix="strata-thrift-") as root:

        class Ctx:
            pass

        ctx = Ctx()
        try:
            # The dashboard's data: generated, loaded offline, then served.
            gen = os.path.join(root, "gen")
            run("gen", "--out", gen, "--scale", "0.001")
            ctx.csv_rows = {}
            dash_dir = os.path.join(root, "dashboard")
            for table, csv_name, flags, _, _ in DASHBOARD:
                path = os.path.join(gen, csv_name)
                with open(path, newline="") as f:
                    ctx.csv_rows[csv_name] = sum(1 for _ in csv.reader(f)) - 1
                run("load", "--data-dir", dash_dir, "--table", table, "--csv", path, "-q", *flags)
            ctx.dashboard = Server(root, "dashboard", dash_dir).start()
            servers.append(ctx.dashboard)

            srv = Server(root, "main", os.path.join(root, "main"), http=True)
            srv.start()
            ctx.http_addr = srv.http_addr
            servers.append(srv)
            ctx.srv = srv
            ctx.conn = srv.connect()
            import grpc

            pb, pb_grpc = generate_stubs(os.path.join(root, "stubs"))
            channel = grpc.insecure_channel(srv.grpc_addr)
            ctx.pb, ctx.stub = pb, pb_grpc.StrataStub(channel)
            for test in TESTS:
                record(test.__name__, lambda: test(ctx))
            ctx.conn.close()
            channel.close()

            for name, flags in [
                ("framed_transport", ["--thrift-framed"]),
                ("compact_protocol", ["--thrift-compact"]),
                ("framed_compact", ["--thrift-framed", "--thrift-compact"]),
            ]:
                other = Server(root, name, os.path.join(root, name), *flags)
                servers.append(other)
                record(name, lambda: check_transport(other.start()))

            for s in servers:
                code = s.stop()
                record("sigterm_exits_zero_%s" % os.path.basename(s.log_path)[:-4], lambda: _zero(code))
        except Exception:  # noqa: BLE001
            failed += 1
            traceback.print_exc()
        finally:
            for s in servers:
                if failed:
                    print("--- %s\n%s" % (s.log_path, s.output()[-4000:]), flush=True)
                if s.proc is not None:
                    s.proc.kill()
                    s.proc.wait()
    print("%d passed, %d failed" % (passed, failed), flush=True)
    return 1 if failed else 0


def _zero(code):
    assert code == 0, "exit code %s" % code


TESTS = [
    test_tables_families_regions,
    test_disabled_tables_refuse_reads_and_writes,
    test_put_row_rows_cells,
    test_counters_from_several_threads_at_once,
    test_increment_append_and_check_and_put_through_the_raw_client,
    test_batch_and_deletes,
    test_deletes_with_a_timestamp_cover_the_versions_at_or_before_it,
    test_scans,
    test_reverse_scans,
    test_scan_filters,
    test_twenty_thousand_rows_scan_whole,
    test_a_filter_dropping_almost_every_row_loses_nothing,
    test_unknown_method_keeps_the_connection_usable,
    test_grpc_and_thrift_see_the_same_data,
    test_dashboard_access_pattern,
    test_metrics_count_thrift_calls,
]


if __name__ == "__main__":
    sys.exit(main())
