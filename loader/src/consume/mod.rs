//! `strata consume`: streaming ingest from a Kafka topic, exactly once. Every partition of the
//! topic is read (assigned by the consumer itself: no consumer group), each record decoded
//! (`decode`) and mapped to cells as `strata load` maps a CSV row with the same header
//! (`batch`), written in batches through a [`sink::Sink`] (MutateStream to a server, or a
//! store no server holds), and each partition's next offset stored in `_consumer_offsets`
//! (`offsets`) only after the batch holding those records is durable. Bad records go to the
//! rejects table (`rejects`). `docs/streaming.md` has the exactly-once argument.
//!
//! This module owns the options and the entry point; the loop is `run`. It must never store
//! an offset before the records below it are durable, and never take a cell timestamp from
//! the wall clock.

pub mod batch;
pub mod decode;
pub mod error;
pub mod offsets;
pub mod produce;
pub mod progress;
pub mod rejects;
pub mod remote;
pub mod retry;
mod run;
pub mod sink;
pub mod source;

use std::time::Duration;

use strata_engine::Limits;

pub use decode::layout::{MappingFlags, MappingSpec, builtin_mapping_name};
pub use decode::{DecodeOptions, Format, SchemaFile};
pub use error::ConsumeError;
pub use progress::{Stats, Stop, Summary};
pub use remote::{ChannelFuture, Remote};
pub use sink::{DbSink, GrpcSink, Sink, SinkError};
pub use source::{KafkaOptions, SaslMechanism, SaslOptions, TlsOptions};

/// Default rows (records) per write.
pub const DEFAULT_BATCH_ROWS: usize = 2000;
/// Default bytes (keys and values) per write, at most.
pub const DEFAULT_BATCH_BYTES: usize = 8 << 20;

/// Everything a consumer run needs.
#[derive(Clone, Debug)]
pub struct ConsumeOptions {
    /// Brokers, TLS, SASL, fetch sizes.
    pub kafka: KafkaOptions,
    /// The topic.
    pub topic: String,
    /// The table written.
    pub table: String,
    /// Format, schemas, field names and mapping.
    pub decode: DecodeOptions,
    /// Records per write, at most.
    pub batch_rows: usize,
    /// Bytes per write, at most (one record may exceed it alone).
    pub batch_bytes: usize,
    /// The consumer's name (`CONSUMER` in `_consumer_offsets` rows).
    pub name: String,
    /// Stop once every partition is at its end.
    pub until_caught_up: bool,
    /// Where rejects go.
    pub rejects_table: String,
    /// Stop (exit 3) once more records than this are rejected in a run.
    pub max_rejects: Option<u64>,
    /// Create the table with the mapping's families if it does not exist (else that is a
    /// configuration error).
    pub create_table: bool,
    /// Row key and value limits (records over them are rejected).
    pub limits: Limits,
    /// No progress line.
    pub quiet: bool,
    /// How often the topic's partitions are listed again (new ones are picked up).
    pub metadata_interval: Duration,
}

impl ConsumeOptions {
    /// Options with defaults for everything but the brokers, topic, table and decoding.
    pub fn new(brokers: Vec<String>, topic: &str, table: &str, decode: DecodeOptions) -> Self {
        ConsumeOptions {
            kafka: KafkaOptions {
                brokers,
                tls: None,
                sasl: None,
                fetch_max_bytes: 4 << 20,
                fetch_wait: Duration::from_millis(50),
            },
            topic: topic.to_string(),
            table: table.to_string(),
            decode,
            batch_rows: DEFAULT_BATCH_ROWS,
            batch_bytes: DEFAULT_BATCH_BYTES,
            name: table.to_string(),
            until_caught_up: false,
            rejects_table: rejects::DEFAULT_REJECTS_TABLE.to_string(),
            max_rejects: None,
            create_table: false,
            limits: Limits::default(),
            quiet: false,
            metadata_interval: Duration::from_secs(5),
        }
    }

    fn check(&self) -> Result<(), ConsumeError> {
        let bad = |s: String| Err(ConsumeError::Config(s));
        if self.kafka.brokers.is_empty() {
            return bad("--brokers lists no broker".into());
        }
        if self.topic.is_empty() {
            return bad("--topic is empty".into());
        }
        if self.batch_rows == 0 {
            return bad("--batch-rows must be at least 1".into());
        }
        if self.name.is_empty() || self.name.contains('#') {
            return bad(format!(
                "--name {:?}: a consumer name is not empty and has no '#' (it is the first \
                 part of its _consumer_offsets rows)",
                self.name
            ));
        }
        for t in [&self.table, &self.rejects_table] {
            strata_engine::options::validate_name("table", t).map_err(ConsumeError::Config)?;
        }
        if self.rejects_table == self.table || self.table == offsets::OFFSETS_TABLE {
            return bad(format!(
                "table {:?} cannot be both the data table and a system table",
                self.table
            ));
        }
        Ok(())
    }
}

/// Consume `o.topic` into `o.table` through `sink` until `stop` resolves (SIGINT/SIGTERM),
/// every partition is at its end (`until_caught_up`), or too many records are rejected
/// (`Summary::stop` is then [`Stop::MaxRejects`]; see [`Summary::error`]). Whatever ends the
/// run, the writes taken so far are made durable and their offsets stored first.
pub async fn consume<S: Sink>(
    o: &ConsumeOptions,
    sink: S,
    stop: impl Future<Output = ()>,
) -> Result<Summary, ConsumeError> {
    o.check()?;
    run::run(o, sink, stop).await
}

impl Summary {
    /// The error a run that ended on too many rejects stands for (exit code 3).
    pub fn error(&self, o: &ConsumeOptions) -> Option<ConsumeError> {
        (self.stop == Stop::MaxRejects).then(|| ConsumeError::TooManyRejects {
            rejects: self.stats.rejects,
            max: o.max_rejects.unwrap_or(0),
            table: o.rejects_table.clone(),
        })
    }
}
