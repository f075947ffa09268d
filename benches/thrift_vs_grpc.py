#!/usr/bin/env python3
"""Whole-table scan rows/s and point gets/s through the Thrift gateway (happybase) against the
same work through gRPC (Python grpcio), one client each, on one `strata serve`.

Run by hand on a release build (never in CI; it takes a minute and wants a quiet machine):

    cargo build --release --bin strata
    .venv/bin/python benches/thrift_vs_grpc.py --bin target/release/strata --scale 0.02

It generates the data set (`strata gen`), loads click_stream.csv into `click_stream` and
customer.csv into `customers` with `strata load --data-dir`, starts `strata serve
--thrift-listen` on free loopback ports, then times, per path: full scans of click_stream
(rows/s, best of --repeat), and --gets point gets of random customers rows (gets/s). Prints a
Markdown table for docs/thrift.md.
"""

import argparse
import os
import platform
import random
import subprocess
import sys
import tempfile
import time

import grpc
import happybase

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "python"))
from test_strata import free_port, generate_stubs  # noqa: E402

CLICK_COLUMNS = (
    "event_details:session_id,event_details:event_name,event_details:event_time,"
    "event_details:event_id,traffic_info:traffic_source,metadata:event_metadata"
)


def run(bin_path, *args):
    subprocess.run([bin_path, *args], check=True, stdout=subprocess.DEVNULL)


def cpu_seconds(pid):
    """The process's user + system CPU time so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def best(fn, repeat, pid):
    """Best wall time of `repeat` runs, the server CPU seconds of that run, and fn's result."""
    runs = []
    result = None
    for _ in range(repeat):
        c0 = cpu_seconds(pid)
        t0 = time.perf_counter()
        result = fn()
        runs.append((time.perf_counter() - t0, cpu_seconds(pid) - c0))
    secs, cpu = min(runs)
    return secs, cpu, result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/strata")
    ap.add_argument("--scale", default="0.02")
    ap.add_argument("--gets", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="strata-thrift-bench-") as root:
        gen = os.path.join(root, "gen")
        data = os.path.join(root, "data")
        run(args.bin, "gen", "--out", gen, "--scale", args.scale)
        run(
            args.bin, "load", "--data-dir", data, "--table", "click_stream", "-q",
            "--csv", os.path.join(gen, "click_stream.csv"),
            "--row-key", "{session_id}#{event_time}#{event_id}", "--columns", CLICK_COLUMNS,
        )
        run(
            args.bin, "load", "--data-dir", data, "--table", "customers", "-q",
            "--csv", os.path.join(gen, "customer.csv"),
        )
        grpc_addr = "127.0.0.1:%d" % free_port()
        thrift_port = free_port()
        log = open(os.path.join(root, "server.log"), "wb")
        proc = subprocess.Popen(
            [args.bin, "serve", "--data-dir", data, "--listen", grpc_addr,
             "--thrift-listen", "127.0.0.1:%d" % thrift_port],
            stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            pb, pb_grpc = generate_stubs(os.path.join(root, "stubs"))
            channel = grpc.insecure_channel(grpc_addr)
            stub = pb_grpc.StrataStub(channel)
            for _ in range(200):
                try:
                    stub.ListTables(pb.ListTablesRequest(), timeout=1)
                    break
                except grpc.RpcError:
                    time.sleep(0.05)
            conn = happybase.Connection("127.0.0.1", thrift_port)
            click = conn.table("click_stream")
            customers = conn.table("customers")

            def thrift_scan():
                return sum(1 for _ in click.scan(batch_size=1000))

            def grpc_scan():
                # The same work per row as happybase's scan: a dict keyed b"family:qualifier".
                req = pb.ScanRequest(table="click_stream", batch_size=1000)
                n = 0
                for reply in stub.Scan(req, timeout=600):
                    for row in reply.rows:
                        {c.family.encode() + b":" + c.qualifier: c.value for c in row.cells}
                        n += 1
                return n

            keys = [k for k, _ in customers.scan()]
            rng = random.Random(7)
            sample = [rng.choice(keys) for _ in range(args.gets)]

            def thrift_gets():
                return sum(1 for k in sample if customers.row(k))

            def grpc_gets():
                return sum(
                    1 for k in sample
                    if stub.Get(pb.GetRequest(table="customers", row=k), timeout=10).found
                )

            results = []
            thrift, grpc_path = "Thrift (happybase)", "gRPC (grpcio)"
            for work, unit, paths in [
                ("whole-table scan, click_stream", "rows",
                 [(thrift, thrift_scan), (grpc_path, grpc_scan)]),
                ("point gets, customers, one client", "gets",
                 [(thrift, thrift_gets), (grpc_path, grpc_gets)]),
            ]:
                for path, fn in paths:
                    secs, cpu, n = best(fn, args.repeat, proc.pid)
                    results.append((work, path, n, secs, cpu, unit))
            conn.close()
            channel.close()
        finally:
            proc.terminate()
            proc.wait(timeout=60)
            log.close()

    print("machine: %s, %d cores, Python %s; scale %s; best of %d" % (
        platform.platform(), os.cpu_count(), platform.python_version(), args.scale, args.repeat))
    print()
    print("| work | path | count | seconds | per second | server CPU s |")
    print("|---|---|---|---|---|---|")
    for work, path, n, secs, cpu, unit in results:
        print("| %s | %s | %d %s | %.2f | %s %s/s | %.2f |" % (
            work, path, n, unit, secs, f"{n / secs:,.0f}", unit, cpu))


if __name__ == "__main__":
    main()
