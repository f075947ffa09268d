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
use crate::csv_input::{ChunkReader, Fields, RecordIter};

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

/// A CSV file's rows as the pipeline producer's Avro datums (one per row; `None` for a row
/// that does not fit the schema: a `double` field that is not a number, a broken record).
pub struct CsvDatums {
    schema: NamedSchema,
    /// Per schema field: its CSV column and whether it is a `double`.
    columns: Vec<(usize, bool)>,
    reader: ChunkReader,
    /// Datums of the current chunk, in order.
    ready: std::collections::VecDeque<Option<Vec<u8>>>,
}

impl CsvDatums {
    /// Open `csv` for the schema of the built-in mapping `mapping`.
    pub fn open(csv: &Path, mapping: &str) -> Result<CsvDatums, ConsumeError> {
        let text = builtin_schema(mapping)
            .ok_or_else(|| ConsumeError::Config(format!("no built-in mapping {mapping:?}")))?;
        let schema = NamedSchema::parse(format!("the {mapping} schema"), text)
            .map_err(ConsumeError::Config)?;
        let reader = ChunkReader::open(csv, b',', 1 << 20)
            .map_err(|e| ConsumeError::Config(e.to_string()))?;
        let header = reader.header().to_vec();
        let columns = match &schema.schema {
            apache_avro::Schema::Record(r) => r
                .fields
                .iter()
                .map(|f| {
                    let col = header.iter().position(|h| *h == f.name).ok_or_else(|| {
                        ConsumeError::Config(format!("{} has no column {}", csv.display(), f.name))
                    })?;
                    Ok((col, matches!(f.schema, apache_avro::Schema::Double)))
                })
                .collect::<Result<_, ConsumeError>>()?,
            _ => Vec::new(),
        };
        Ok(CsvDatums {
            schema,
            columns,
            reader,
            ready: Default::default(),
        })
    }

    fn encode(&self, rec: Fields<'_>) -> Option<Vec<u8>> {
        let apache_avro::Schema::Record(record) = &self.schema.schema else {
            return None;
        };
        let mut fields = Vec::with_capacity(self.columns.len());
        for (f, (col, double)) in record.fields.iter().zip(&self.columns) {
            let text = String::from_utf8_lossy(rec.get(*col).unwrap_or_default());
            let v = if *double {
                Value::Double(text.parse::<f64>().ok()?)
            } else if matches!(f.schema, apache_avro::Schema::Union(_)) {
                Value::Union(0, Box::new(Value::String(text.into_owned())))
            } else {
                Value::String(text.into_owned())
            };
            fields.push((f.name.clone(), v));
        }
        apache_avro::writer::datum::GenericDatumWriter::builder(&self.schema.schema)
            .build()
            .ok()?
            .write_value_to_vec(Value::Record(fields))
            .ok()
    }
}

impl Iterator for CsvDatums {
    type Item = Result<Option<Vec<u8>>, ConsumeError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(d) = self.ready.pop_front() {
                return Some(Ok(d));
            }
            let chunk = match self.reader.next_chunk() {
                Ok(Some(c)) => c,
                Ok(None) => return None,
                Err(e) => return Some(Err(ConsumeError::Config(e.to_string()))),
            };
            let mut it = RecordIter::new(&chunk.data, chunk.first_line, b',');
            let mut ready = std::mem::take(&mut self.ready);
            while let Some(rec) = it.next() {
                ready.push_back(self.encode(rec.fields));
            }
            self.ready = ready;
        }
    }
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
    let datums = CsvDatums::open(csv, mapping)?;
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
    for datum in datums {
        let Some(datum) = datum? else {
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
    if !pending.is_empty() {
        send(pending, &mut turn).await?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consume::decode::layout::MappingFlags;
    use crate::consume::decode::{DecodeOptions, Fields, Format, Plan};

    #[test]
    fn csv_rows_encode_as_the_pipeline_did_and_decode_back() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("p.csv");
        std::fs::write(
            &csv,
            "id,gender,masterCategory,subCategory,articleType,baseColour,season,year,usage,productDisplayName\n\
             15970,Men,Apparel,Topwear,Shirts,Navy Blue,Fall,2011,Casual,\"Turtle, Shirt\"\n\
             x,Men,Apparel,Topwear,Shirts,Navy Blue,Fall,2011,Casual,bad id\n",
        )
        .unwrap();
        let datums: Vec<Option<Vec<u8>>> = CsvDatums::open(&csv, "product")
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(datums.len(), 2);
        assert!(
            datums[1].is_none(),
            "a non-numeric double field is not produced"
        );
        let plan = Plan::new(&DecodeOptions {
            format: Format::Avro,
            schemas: vec![],
            fields: None,
            mapping: MappingFlags::choose("product", None, None, None, None).unwrap(),
        })
        .unwrap();
        let mut f = Fields::default();
        plan.decoder()
            .unwrap()
            .decode(datums[0].as_deref().unwrap(), &mut f)
            .unwrap();
        assert_eq!(f.get(0), b"15970");
        assert_eq!(f.get(9), b"Turtle, Shirt");
    }
}
