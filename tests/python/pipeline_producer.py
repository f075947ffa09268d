#!/usr/bin/env python3
"""The old pipeline's Kafka producer: each CSV row as one bare (schemaless) Avro datum, written
with the data set's schema (loader/schemas/*.avsc), one topic per table. `double` fields are
the CSV text as a float, the rest the CSV text; with --null-empty, an empty value of a nullable
field is written as null (the pipeline wrote ""), and with --confluent-id N each datum is
Confluent-framed (magic byte 0, 4-byte schema id N).

Used by tests/python/test_kafka.py (imported) and by hand for the benchmarks in
docs/benchmarks.md:

    .venv/bin/python tests/python/pipeline_producer.py --broker 127.0.0.1:9092 \
        --topic click_stream --csv DIR/click_stream.csv \
        --schema loader/schemas/click_stream_schema.avsc --partitions 3
"""

import argparse
import csv
import io
import json
import struct
import sys
import time

import fastavro
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic


def load_schema(path):
    with open(path) as f:
        return fastavro.parse_schema(json.load(f))


def field_types(schema):
    """{name: type} of a record schema's fields (unions as lists)."""
    return {f["name"]: f["type"] for f in schema["fields"]}


def csv_rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        yield from csv.DictReader(f)


def to_record(row, types, null_empty=False):
    """A CSV row as the pipeline's producer typed it."""
    rec = {}
    for name, t in types.items():
        v = row[name]
        if t == "double":
            rec[name] = float(v)
        elif isinstance(t, list) and "null" in t and null_empty and v == "":
            rec[name] = None
        else:
            rec[name] = v
    return rec


def encode(schema, record, confluent_id=None):
    buf = io.BytesIO()
    if confluent_id is not None:
        buf.write(b"\x00" + struct.pack(">I", confluent_id))
    fastavro.schemaless_writer(buf, schema, record)
    return buf.getvalue()


def create_topic(broker, topic, partitions):
    create_topic_with(broker, topic, partitions, {})


def create_topic_with(broker, topic, partitions, conf):
    admin = AdminClient({"bootstrap.servers": broker, **conf})
    futures = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
    for f in futures.values():
        f.result(30)


def producer(broker, **extra):
    conf = {"bootstrap.servers": broker, "linger.ms": 5, "batch.num.messages": 10000}
    conf.update(extra)
    return Producer(conf)


class Delivered:
    """Collects delivery reports: (partition, offset, timestamp_ms) per message id."""

    def __init__(self):
        self.reports = {}
        self.errors = []

    def callback(self, ident):
        def cb(err, msg):
            if err is not None:
                self.errors.append((ident, err))
            else:
                self.reports[ident] = (msg.partition(), msg.offset(), msg.timestamp()[1])

        return cb


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--broker", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--csv", required=True)
    ap.add_argument("--schema", required=True)
    ap.add_argument("--partitions", type=int, default=1)
    ap.add_argument("--key", help="CSV column used as the Kafka key")
    ap.add_argument("--repeat", type=int, default=1, help="produce the file this many times")
    ap.add_argument("--confluent-id", type=int)
    ap.add_argument("--null-empty", action="store_true")
    args = ap.parse_args()
    schema = load_schema(args.schema)
    types = field_types(schema)
    create_topic(args.broker, args.topic, args.partitions)
    p = producer(args.broker)
    started = time.monotonic()
    n = 0
    for _ in range(args.repeat):
        for row in csv_rows(args.csv):
            value = encode(schema, to_record(row, types, args.null_empty), args.confluent_id)
            key = row[args.key].encode() if args.key else None
            while True:
                try:
                    p.produce(args.topic, value=value, key=key)
                    break
                except BufferError:
                    p.poll(0.05)
            n += 1
            if n % 5000 == 0:
                p.poll(0)
    left = p.flush(120)
    took = time.monotonic() - started
    print("produced %d records to %s in %.2f s (%.0f/s), %d undelivered" % (n, args.topic, took, n / took, left))
    return 1 if left else 0


if __name__ == "__main__":
    sys.exit(main())
