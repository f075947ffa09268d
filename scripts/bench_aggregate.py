#!/usr/bin/env python3
"""Time Aggregate calls against a running `strata serve`: wall time per call (best of 3) and
the server's CPU time over the call (utime + stime from /proc/PID/stat), with the reply's
cells_scanned, so the figure holds up on a busy machine. Needs the test venv (grpcio).

Usage: .venv/bin/python scripts/bench_aggregate.py GRPC_ADDR SERVER_PID
(the tables are the four of `strata gen`, loaded under the brief's names; see
docs/benchmarks.md, "Aggregation and the dashboard").
"""

import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "python"))
import grpc  # noqa: E402
from test_strata import generate_stubs  # noqa: E402

CASES = [
    ("clickstream", "traffic_info", "traffic_source", "", "", ""),
    ("clickstream", "event_details", "event_name", "", "", ""),
    ("clickstream", "event_details", "event_time", "hour-of-day", "", ""),
    ("transactions", "payment_info", "payment_method", "", "transaction_summary", "total_amount"),
    ("customers", "personal_info", "birthdate", "age", "", ""),
]


def main():
    addr, pid = sys.argv[1], int(sys.argv[2])
    pb, pb_grpc = generate_stubs(tempfile.mkdtemp(prefix="strata-stubs-"))
    stub = pb_grpc.StrataStub(grpc.insecure_channel(addr))

    def cpu():
        fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    for table, family, qualifier, bucket, sum_family, sum_qualifier in CASES:
        best = None
        for _ in range(3):
            c0, t0 = cpu(), time.monotonic()
            r = stub.Aggregate(
                pb.AggregateRequest(
                    table=table, family=family, qualifier=qualifier.encode(), bucket=bucket,
                    sum_family=sum_family, sum_qualifier=sum_qualifier.encode(),
                ),
                timeout=600,
            )
            wall, used = time.monotonic() - t0, cpu() - c0
            if best is None or wall < best[0]:
                best = (wall, used, r)
        wall, used, r = best
        print(
            "%-12s %-34s %-12s rows %9d cells %10d  wall %6.2f s  %5.2fM cells/s  "
            "cpu %6.2f s  %5.2fM cells/cpu-s"
            % (table, family + ":" + qualifier, bucket or "value", r.rows_scanned,
               r.cells_scanned, wall, r.cells_scanned / wall / 1e6, used,
               r.cells_scanned / max(used, 1e-9) / 1e6)
        )


if __name__ == "__main__":
    main()
