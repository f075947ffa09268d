//! Why `strata consume` stopped with an error. Owns every way a consumer run can fail and the
//! exit code each means (3: too many rejects, offsets stored; 2: a configuration or offsets
//! problem that a restart will not fix; 1: anything else).
//! It must never hide the topic, partition, offsets, table or file involved.

/// Everything a consumer run can stop with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsumeError {
    /// The flags, the schema or the target table do not fit (caught before any record is
    /// written).
    #[error("configuration error: {0}")]
    Config(String),
    /// A partition's next offset is outside what the broker holds.
    #[error(
        "topic {topic} partition {partition}: the next offset {offset} is outside the \
         partition's offsets ({}); the consumer never resets or skips offsets: if the topic \
         was recreated, delete this consumer's rows in _consumer_offsets to read it from the \
         start",
        range_text(*log_start, *high_watermark)
    )]
    OffsetOutOfRange {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// The stored (or next) offset.
        offset: i64,
        /// The partition's log start offset, if known.
        log_start: Option<i64>,
        /// The partition's high watermark (-1: not known).
        high_watermark: i64,
    },
    /// More records were rejected than `--max-rejects` allows (their offsets are stored).
    #[error(
        "too many rejected records: {rejects} > --max-rejects {max}; stopped after storing \
         the offsets of everything written (the rejects are in table {table})"
    )]
    TooManyRejects {
        /// Rejects this run.
        rejects: u64,
        /// The limit.
        max: u64,
        /// The rejects table.
        table: String,
    },
    /// A stored offset is not an 8-byte big-endian number.
    #[error("the stored offset in _consumer_offsets row {row:?} is damaged: {what}")]
    CorruptOffset {
        /// The row key.
        row: String,
        /// What is wrong.
        what: String,
    },
    /// The Kafka brokers answered with an error that retrying cannot fix.
    #[error("Kafka: {0}")]
    Kafka(String),
    /// Writing to Strata failed in a way that retrying cannot fix.
    #[error(transparent)]
    Sink(#[from] super::sink::SinkError),
}

fn range_text(log_start: Option<i64>, hwm: i64) -> String {
    match (log_start, hwm) {
        (Some(s), h) if h >= 0 => format!("log start {s}, high watermark {h}"),
        (Some(s), _) => format!("log start {s}"),
        (None, h) => format!("high watermark {h}"),
    }
}

impl ConsumeError {
    /// The process exit code this error means.
    pub fn exit_code(&self) -> u8 {
        match self {
            ConsumeError::TooManyRejects { .. } => 3,
            ConsumeError::Config(_)
            | ConsumeError::OffsetOutOfRange { .. }
            | ConsumeError::CorruptOffset { .. } => 2,
            _ => 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_errors_name_topic_partition_and_offsets() {
        let e = ConsumeError::OffsetOutOfRange {
            topic: "clicks".into(),
            partition: 2,
            offset: 120,
            log_start: Some(0),
            high_watermark: 40,
        };
        let s = e.to_string();
        assert!(
            s.starts_with("topic clicks partition 2: the next offset 120"),
            "{s}"
        );
        assert!(s.contains("log start 0, high watermark 40"), "{s}");
        assert_eq!(e.exit_code(), 2);
        let r = ConsumeError::TooManyRejects {
            rejects: 4,
            max: 3,
            table: "_rejects".into(),
        };
        assert_eq!(r.exit_code(), 3);
        assert!(r.to_string().contains("4 > --max-rejects 3"));
    }
}
