//! The old pipeline's producer, for `strata demo --kafka` and the benchmarks: a CSV file's
//! rows as bare (schemaless) Avro datums of a built-in mapping's shipped schema, `double`
//! fields parsed from the CSV text, produced into a topic created with N partitions.
//!
//! Owns only this encoding and the produce calls. It must never write to Strata (the
//! consumer does) and never drop a row silently (a row that does not fit the schema is
//! counted as a reject).

use std::path::Path;

use apache_avro::types::Value;
use rskafka::client::partition::{Compression, UnknownTopicHandling};
use rskafka::record::Record;

use super::decode::avro::NamedSchema;
use super::decode::builtin_schema;
use super::error::ConsumeError;
use super::source::{KafkaOptions, connect};
use crate::csv_input::{ChunkReader, RecordIter};

/// Records per produce call.
const PRODUCE_BATCH: usize = 2000;

/// What a produce run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Produced {
    /// Records produced.
    pub records: u64,
    /// CSV rows that did not fit the schema (not produced).
    pub rejects: u64,
}

fn kafka(what: &str) -> impl Fn(rskafka::client::error::Error) -> ConsumeError + '_ {
    move |e| ConsumeError::Kafka(format!("{what}: {e}"))
}

/// Create `topic` with `partitions` partitions (an existing topic is fine).
pub async fn create_topic(
    o: &KafkaOptions,
    topic: &str,
    partitions: i32,
) -> Result<(), ConsumeError> {
    let client = connect(o).await?;
    if super::source::partitions(&client, topic)
        .await
        .map_err(kafka("listing topics"))?
        .is_some()
    {
        return Ok(());
    }
    client
        .controller_client()
        .map_err(kafka("the controller"))?
        .create_topic(topic, partitions, 1, 30_000)
        .await
        .map_err(kafka(&format!("creating topic {topic}")))
}

/// Produce the rows of `csv` into `topic` (created if missing) as the pipeline did, with the
/// schema of the built-in mapping `mapping`; batches go to the partitions in turn.
pub async fn produce_csv(
    o: &KafkaOptions,
    topic: &str,
    partitions: i32,
    csv: &Path,
    mapping: &str,
) -> Result<Produced, ConsumeError> {
    let text = builtin_schema(mapping)
        .ok_or_else(|| ConsumeError::Config(format!("no built-in mapping {mapping:?}")))?;
    let schema =
        NamedSchema::parse(format!("the {mapping} schema"), text).map_err(ConsumeError::Config)?;
    let apache_avro::Schema::Record(record) = &schema.schema else {
        return Err(ConsumeError::Config("not a record schema".into()));
    };
    let writer = apache_avro::writer::datum::GenericDatumWriter::builder(&schema.schema)
        .build()
        .map_err(|e| ConsumeError::Config(e.to_string()))?;
    let mut reader =
        ChunkReader::open(csv, b',', 1 << 20).map_err(|e| ConsumeError::Config(e.to_string()))?;
    let header = reader.header().to_vec();
    let columns: Vec<(usize, bool)> = record
        .fields
        .iter()
        .map(|f| {
            let col = header.iter().position(|h| *h == f.name).ok_or_else(|| {
                ConsumeError::Config(format!("{} has no column {}", csv.display(), f.name))
            })?;
            Ok((col, matches!(f.schema, apache_avro::Schema::Double)))
        })
        .collect::<Result<_, ConsumeError>>()?;
    create_topic(o, topic, partitions).await?;
    let client = connect(o).await?;
    let mut clients = Vec::new();
    for p in 0..partitions.max(1) {
        clients.push(
            client
                .partition_client(topic, p, UnknownTopicHandling::Retry)
                .await
                .map_err(kafka(&format!("partition {p} of {topic}")))?,
        );
    }
    let mut out = Produced::default();
    let mut pending: Vec<Record> = Vec::with_capacity(PRODUCE_BATCH);
    let mut turn = 0usize;
    let send = async |records: Vec<Record>, turn: &mut usize| -> Result<(), ConsumeError> {
        let pc = &clients[*turn % clients.len()];
        *turn += 1;
        pc.produce(records, Compression::NoCompression)
            .await
            .map(|_| ())
            .map_err(kafka(&format!("producing to {topic}")))
    };
    while let Some(chunk) = reader
        .next_chunk()
        .map_err(|e| ConsumeError::Config(e.to_string()))?
    {
        let mut it = RecordIter::new(&chunk.data, chunk.first_line, b',');
        while let Some(rec) = it.next() {
            let Ok(rec) = rec else {
                out.rejects += 1;
                continue;
            };
            let mut fields = Vec::with_capacity(columns.len());
            let mut ok = true;
            for (f, (col, double)) in record.fields.iter().zip(&columns) {
                let text = String::from_utf8_lossy(rec.fields.get(*col).unwrap_or_default());
                let v = if *double {
                    match text.parse::<f64>() {
                        Ok(x) => Value::Double(x),
                        Err(_) => {
                            ok = false;
                            break;
                        }
                    }
                } else if matches!(f.schema, apache_avro::Schema::Union(_)) {
                    Value::Union(0, Box::new(Value::String(text.into_owned())))
                } else {
                    Value::String(text.into_owned())
                };
                fields.push((f.name.clone(), v));
            }
            let datum = if ok {
                writer.write_value_to_vec(Value::Record(fields)).ok()
            } else {
                None
            };
            let Some(datum) = datum else {
                out.rejects += 1;
                continue;
            };
            let now_ms = strata_engine::now_micros() / 1000;
            let timestamp =
                rskafka::chrono::DateTime::from_timestamp_millis(now_ms).unwrap_or_default();
            pending.push(Record {
                key: None,
                value: Some(datum),
                headers: Default::default(),
                timestamp,
            });
            out.records += 1;
            if pending.len() == PRODUCE_BATCH {
                send(std::mem::take(&mut pending), &mut turn).await?;
            }
        }
    }
    if !pending.is_empty() {
        send(pending, &mut turn).await?;
    }
    Ok(out)
}
