#!/usr/bin/env python3
"""End-to-end test of Strata from Python: the gRPC contract as other languages see it.

Generates the strata.v1 stubs from proto/proto with grpc_tools.protoc into a temporary
directory (stubs generated elsewhere may refuse this grpcio), starts the real `strata serve`
binary on a free loopback port with a temporary data directory, and checks put, get, scan and
MutateStream (running totals, and a bad batch ending the stream with a status naming its
index) plus the error codes of the brief. Prints one line per test and a closing line
`N passed, M failed`; exits non-zero if any test failed.

Run: `.venv/bin/python tests/python/test_strata.py` (scripts/test.sh does, after building the
binary). The binary is $STRATA_BIN, else $CARGO_TARGET_DIR/debug/strata, else
target/debug/strata in the repository.
"""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

import grpc
from grpc_tools import protoc

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PROTO_ROOT = os.path.join(REPO, "proto", "proto")
START_TIMEOUT = 30.0
CALL_TIMEOUT = 30.0


def strata_bin():
    candidates = []
    if os.environ.get("STRATA_BIN"):
        candidates.append(os.environ["STRATA_BIN"])
    target = os.environ.get("CARGO_TARGET_DIR")
    if target:
        if not os.path.isabs(target):
            target = os.path.join(REPO, target)
        candidates.append(os.path.join(target, "debug", "strata"))
    candidates.append(os.path.join(REPO, "target", "debug", "strata"))
    for c in candidates:
        if os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    sys.exit(
        "strata binary not found (tried %s); run `cargo build --bin strata` first" % candidates
    )


def generate_stubs(out_dir):
    """Compile strata/v1/strata.proto into out_dir and import the modules."""
    os.makedirs(out_dir, exist_ok=True)
    proto = os.path.join("strata", "v1", "strata.proto")
    include = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    rc = protoc.main(
        [
            "grpc_tools.protoc",
            "-I" + PROTO_ROOT,
            "-I" + include,
            "--python_out=" + out_dir,
            "--grpc_python_out=" + out_dir,
            proto,
        ]
    )
    if rc != 0:
        sys.exit("grpc_tools.protoc failed on %s (exit %d)" % (proto, rc))
    sys.path.insert(0, out_dir)
    from strata.v1 import strata_pb2, strata_pb2_grpc  # noqa: E402

    return strata_pb2, strata_pb2_grpc


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_ports(n):
    """`n` distinct free ports: all are held bound until the last is picked (two separate
    `free_port()` calls can return the same port, and one server then cannot bind both)."""
    held = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            held.append(s)
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in held]
    finally:
        for s in held:
            s.close()


class Server:
    """`strata serve` as a child process on a temporary data directory."""

    def __init__(self, root, pb, pb_grpc, extra_args=(), credentials=None, metadata=()):
        """extra_args go to `strata serve`; with `credentials` (grpc.ssl_channel_credentials)
        the channel is TLS; `metadata` (e.g. the authorization token) goes with the start-up
        probe."""
        self.root = root
        self.pb = pb
        self.pb_grpc = pb_grpc
        self.extra_args = list(extra_args)
        self.credentials = credentials
        self.metadata = tuple(metadata)
        self.log_path = os.path.join(root, "server.log")
        self.proc = None
        self.channel = None
        self.stub = None

    def start(self, port=None):
        """Start on `port` (a restart keeps its address), else on a free port."""
        self.port = port or free_port()
        self.addr = "127.0.0.1:%d" % self.port
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [
                strata_bin(),
                "serve",
                "--data-dir",
                os.path.join(self.root, "data"),
                "--listen",
                self.addr,
            ]
            + self.extra_args,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.channel = self.connect(self.credentials)
        self.stub = self.pb_grpc.StrataStub(self.channel)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    "strata serve exited with %s:\n%s" % (self.proc.returncode, self.stderr())
                )
            try:
                self.stub.ListTables(self.pb.ListTablesRequest(), timeout=1, metadata=self.metadata)
                return
            except grpc.RpcError:
                time.sleep(0.05)
        raise AssertionError(
            "strata serve did not answer within %ss:\n%s" % (START_TIMEOUT, self.stderr())
        )

    def connect(self, credentials):
        """A channel to the server: plain, or TLS with `credentials` (the certificates name
        localhost)."""
        if credentials is None:
            return grpc.insecure_channel(self.addr)
        return grpc.secure_channel(
            self.addr, credentials, options=[("grpc.ssl_target_name_override", "localhost")]
        )

    def stderr(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self):
        """SIGTERM and wait; returns the exit code."""
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        if self.proc is None:
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            code = None
        self.proc = None
        self.log.close()
        return code

    def kill(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
            self.log.close()


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def set_cell(pb, family, qualifier, value, ts=0):
    return pb.Mutation(
        set_cell=pb.SetCell(family=family, qualifier=qualifier, value=value, timestamp_micros=ts)
    )


def scan_keys(srv, **kw):
    req = srv.pb.ScanRequest(table=kw.pop("table", "t"), **kw)
    return [row.key for reply in srv.stub.Scan(req, timeout=CALL_TIMEOUT) for row in reply.rows]


def expect_error(fn, code, *needles):
    try:
        fn()
    except grpc.RpcError as e:
        assert e.code() == code, "expected %s, got %s: %s" % (code, e.code(), e.details())
        for n in needles:
            assert n in e.details(), "status message %r should name %r" % (e.details(), n)
        return e
    raise AssertionError("expected %s, the call succeeded" % code)


# ---------------------------------------------------------------------------------------------
# Tests (each gets the running server; they share it, each using its own table)
# ---------------------------------------------------------------------------------------------


def test_put_and_get(srv):
    pb, stub = srv.pb, srv.stub
    stub.CreateTable(
        pb.CreateTableRequest(
            table="py_get",
            families=[
                pb.FamilyOptions(name="info", max_versions=3),
                pb.FamilyOptions(name="raw", compression=pb.NONE),
            ],
        ),
        timeout=CALL_TIMEOUT,
    )
    binary = bytes(range(256))
    reply = stub.Mutate(
        pb.MutateRequest(
            table="py_get",
            row=b"cust-1",
            mutations=[
                set_cell(pb, "info", b"name", "Ani Wijaya".encode()),
                set_cell(pb, "info", b"city", b""),
                set_cell(pb, "raw", b"\x00\xff", binary),
            ],
        ),
        timeout=CALL_TIMEOUT,
    )
    assert (reply.rows, reply.cells) == (1, 3), reply
    got = stub.Get(pb.GetRequest(table="py_get", row=b"cust-1"), timeout=CALL_TIMEOUT)
    assert got.found
    cells = [(c.family, c.qualifier, c.value) for c in got.row.cells]
    assert cells == [
        ("info", b"city", b""),
        ("info", b"name", "Ani Wijaya".encode()),
        ("raw", b"\x00\xff", binary),
    ], cells
    assert all(c.timestamp_micros > 0 for c in got.row.cells)

    # Versions, column selection and time range.
    for ts in (1000, 2000, 3000):
        stub.Mutate(
            pb.MutateRequest(
                table="py_get",
                row=b"ver",
                mutations=[set_cell(pb, "info", b"q", b"v%d" % ts, ts)],
            ),
            timeout=CALL_TIMEOUT,
        )
    got = stub.Get(
        pb.GetRequest(
            table="py_get",
            row=b"ver",
            columns=[pb.ColumnSelector(family="info", qualifier=b"q")],
            max_versions=3,
            time_range=pb.TimeRange(start_micros=1000, end_micros=3000),
        ),
        timeout=CALL_TIMEOUT,
    )
    assert [c.value for c in got.row.cells] == [b"v2000", b"v1000"], got
    got = stub.Get(pb.GetRequest(table="py_get", row=b"missing"), timeout=CALL_TIMEOUT)
    assert not got.found


def test_scan(srv):
    pb, stub = srv.pb, srv.stub
    stub.CreateTable(
        pb.CreateTableRequest(table="t", families=[pb.FamilyOptions(name="f")]),
        timeout=CALL_TIMEOUT,
    )
    keys = [("%s%02d" % (p, i)).encode() for p in "abc" for i in range(10)]
    stub.MutateRows(
        pb.MutateRowsRequest(
            table="t",
            entries=[
                pb.RowMutations(row=k, mutations=[set_cell(pb, "f", b"q", k + b"-v")])
                for k in reversed(keys)
            ],
        ),
        timeout=CALL_TIMEOUT,
    )
    assert scan_keys(srv) == keys
    assert scan_keys(srv, prefix=b"b") == keys[10:20]
    assert scan_keys(srv, start_row=b"a05", stop_row=b"b02") == keys[5:12]
    assert scan_keys(srv, start_row=b"a05", start_row_exclusive=True, limit=3) == keys[6:9]
    assert scan_keys(srv, prefix=b"c", start_row=b"a00") == keys[20:30]
    # batch_size bounds the rows per reply.
    replies = list(srv.stub.Scan(pb.ScanRequest(table="t", batch_size=4), timeout=CALL_TIMEOUT))
    sizes = [len(r.rows) for r in replies]
    assert sum(sizes) == 30 and max(sizes) <= 4, sizes
    # Paging with limit + start_row_exclusive visits each row once.
    paged, start = [], b""
    for _ in range(20):
        page = scan_keys(srv, start_row=start, start_row_exclusive=bool(start), limit=7)
        if not page:
            break
        paged += page
        start = page[-1]
    assert paged == keys, paged
    rows = [r for reply in stub.Scan(pb.ScanRequest(table="t", prefix=b"a0"), timeout=CALL_TIMEOUT) for r in reply.rows]
    assert rows[3].cells[0].value == b"a03-v"


def test_mutate_stream(srv):
    pb, stub = srv.pb, srv.stub
    stub.CreateTable(
        pb.CreateTableRequest(table="py_stream", families=[pb.FamilyOptions(name="e")]),
        timeout=CALL_TIMEOUT,
    )

    def batch(first, n, cells_per_row, family="e"):
        return pb.MutateRowsRequest(
            table="py_stream",
            entries=[
                pb.RowMutations(
                    row=b"s%05d" % i,
                    mutations=[
                        set_cell(pb, family, b"q%d" % q, b"x") for q in range(cells_per_row)
                    ],
                )
                for i in range(first, first + n)
            ],
        )

    # Good batches: one acknowledgement each, with running totals.
    batches = [batch(0, 5, 2), batch(5, 3, 1), batch(8, 10, 3)]
    acks = list(stub.MutateStream(iter(batches), timeout=CALL_TIMEOUT))
    assert [(a.rows, a.cells, a.batches) for a in acks] == [
        (5, 10, 1),
        (8, 13, 2),
        (18, 43, 3),
    ], acks
    assert len(scan_keys(srv, table="py_stream")) == 18

    # A bad batch (index 2) ends the stream; batches 0 and 1 stay applied, 2 and 3 do not.
    batches = [batch(100, 2, 1), batch(102, 2, 1), batch(104, 2, 1, family="nope"), batch(106, 2, 1)]
    got = []
    try:
        for ack in stub.MutateStream(iter(batches), timeout=CALL_TIMEOUT):
            got.append(ack.batches)
        raise AssertionError("the stream should have failed, acks %s" % got)
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.NOT_FOUND, (e.code(), e.details())
        assert "batch 2" in e.details() and "nope" in e.details(), e.details()
    assert got == [1, 2], got
    keys = scan_keys(srv, table="py_stream", prefix=b"s001")
    assert keys == [b"s00100", b"s00101", b"s00102", b"s00103"], keys


def test_error_codes(srv):
    pb, stub = srv.pb, srv.stub
    stub.CreateTable(
        pb.CreateTableRequest(table="py_err", families=[pb.FamilyOptions(name="f")]),
        timeout=CALL_TIMEOUT,
    )
    expect_error(
        lambda: stub.Get(pb.GetRequest(table="ghost", row=b"r"), timeout=CALL_TIMEOUT),
        grpc.StatusCode.NOT_FOUND,
        "ghost",
    )
    expect_error(
        lambda: stub.Mutate(
            pb.MutateRequest(table="py_err", row=b"r", mutations=[set_cell(pb, "zz", b"q", b"v")]),
            timeout=CALL_TIMEOUT,
        ),
        grpc.StatusCode.NOT_FOUND,
        "zz",
    )
    expect_error(
        lambda: stub.Mutate(
            pb.MutateRequest(table="py_err", row=b"", mutations=[set_cell(pb, "f", b"q", b"v")]),
            timeout=CALL_TIMEOUT,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "row key",
    )
    expect_error(
        lambda: stub.Mutate(
            pb.MutateRequest(
                table="py_err", row=b"k" * 4097, mutations=[set_cell(pb, "f", b"q", b"v")]
            ),
            timeout=CALL_TIMEOUT,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "row key",
    )
    expect_error(
        lambda: stub.CreateTable(
            pb.CreateTableRequest(table="bad name", families=[pb.FamilyOptions(name="f")]),
            timeout=CALL_TIMEOUT,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "bad name",
    )
    expect_error(
        lambda: stub.CreateTable(
            pb.CreateTableRequest(table="py_err", families=[pb.FamilyOptions(name="f")]),
            timeout=CALL_TIMEOUT,
        ),
        grpc.StatusCode.ALREADY_EXISTS,
        "py_err",
    )
    d = stub.DescribeTable(pb.DescribeTableRequest(table="py_err"), timeout=CALL_TIMEOUT)
    assert [f.name for f in d.families] == ["f"]
    assert d.families[0].max_versions == 1 and d.families[0].compression_level == 3, d
    assert "py_err" in stub.ListTables(pb.ListTablesRequest(), timeout=CALL_TIMEOUT).tables


TESTS = [test_put_and_get, test_scan, test_mutate_stream, test_error_codes]


def run_tests(tests, arg):
    """Run each test with `arg`, printing one line per test; returns (passed, failed)."""
    passed = failed = 0
    for test in tests:
        try:
            test(arg)
            passed += 1
            print("ok     %s" % test.__name__, flush=True)
        except Exception:  # noqa: BLE001 - report every failure, keep going
            failed += 1
            print("FAILED %s" % test.__name__, flush=True)
            traceback.print_exc()
    return passed, failed


def main():
    passed = failed = 0
    with tempfile.TemporaryDirectory(prefix="strata-py-") as root:
        pb, pb_grpc = generate_stubs(os.path.join(root, "stubs"))
        srv = Server(root, pb, pb_grpc)
        try:
            srv.start()
            passed, failed = run_tests(TESTS, srv)
            code = srv.stop()
            if code == 0:
                passed += 1
                print("ok     sigterm_exits_zero", flush=True)
            else:
                failed += 1
                print("FAILED sigterm_exits_zero: exit code %s" % code, flush=True)
        except Exception:  # noqa: BLE001
            failed += 1
            traceback.print_exc()
        finally:
            if failed:
                print("--- server log\n%s" % srv.stderr(), flush=True)
            srv.kill()
    print("%d passed, %d failed" % (passed, failed), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
