#!/usr/bin/env python3
"""Produce-to-visible latency of `strata consume`: one click event at a time is produced (and
its delivery awaited), then a Get for its row key is repeated every 0.5 ms until the row is
visible; the time from produce() to the first Get that finds it is one sample. Prints
p50/p90/p99/max over the samples. Run by hand (docs/benchmarks.md), with a broker, a running
`strata serve` and a `strata consume` of the topic into the table already started:

    .venv/bin/python benches/kafka_latency.py --broker 127.0.0.1:9092 \
        --server 127.0.0.1:50051 --topic latency --table clickstream --samples 500
"""

import argparse
import os
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "python"))

import grpc  # noqa: E402
import pipeline_producer as pp  # noqa: E402
import test_strata as ts  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--broker", required=True)
    ap.add_argument("--server", required=True, help="HOST:PORT of strata serve")
    ap.add_argument("--topic", required=True)
    ap.add_argument("--table", default="clickstream")
    ap.add_argument("--samples", type=int, default=500)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as stubs:
        pb, pb_grpc = ts.generate_stubs(stubs)
        stub = pb_grpc.StrataStub(grpc.insecure_channel(args.server))
        schema = pp.load_schema(os.path.join(HERE, "..", "loader", "schemas", "click_stream_schema.avsc"))
        p = pp.producer(args.broker, **{"linger.ms": 0})
        lat = []
        for i in range(args.samples):
            session, event = str(uuid.uuid4()), str(uuid.uuid4())
            when = "2022-07-29T15:22:01.%06dZ" % i
            rec = {
                "session_id": session,
                "event_name": "HOMEPAGE",
                "event_time": when,
                "event_id": event,
                "traffic_source": "WEB",
                "event_metadata": "",
            }
            key = ("%s#%s#%s" % (session, when, event)).encode()
            value = pp.encode(schema, rec)
            t0 = time.perf_counter()
            p.produce(args.topic, value=value)
            p.flush(10)
            while True:
                r = stub.Get(pb.GetRequest(table=args.table, row=key), timeout=10)
                if r.found:
                    break
                if time.perf_counter() - t0 > 30:
                    sys.exit("row %d not visible after 30 s" % i)
                time.sleep(0.0005)
            lat.append(time.perf_counter() - t0)
        lat.sort()

        def pct(q):
            return lat[min(len(lat) - 1, int(q * len(lat)))] * 1000

        print(
            "%d samples: p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms"
            % (len(lat), pct(0.50), pct(0.90), pct(0.99), lat[-1] * 1000)
        )


if __name__ == "__main__":
    main()
