//! Unary read replies against the message limit: a Get reply (and each result of a MultiGet)
//! must fit in `max_message_bytes`. A row too large for one reply is refused by name with
//! RESOURCE_EXHAUSTED, its size and the way to read it (Scan, which sends a large row in
//! parts), instead of reaching tonic's encoder and failing there.
//!
//! It measures replies only; it must never build or change them.

use prost::Message as _;
use strata_proto::v1 as pb;
use tonic::Status;

use crate::escape;

/// What the results of one unary read reply have used of the message limit.
#[derive(Debug)]
pub struct ReplyBudget<'a> {
    table: &'a str,
    limit: usize,
    used: usize,
}

impl<'a> ReplyBudget<'a> {
    /// An empty reply to a read of `table`, under a message limit of `limit` bytes.
    pub fn new(table: &'a str, limit: usize) -> ReplyBudget<'a> {
        ReplyBudget {
            table,
            limit,
            used: 0,
        }
    }

    /// Count one result (a Get's reply, or one result of a MultiGet, whose framing is counted
    /// too). RESOURCE_EXHAUSTED naming the row when the reply would pass the limit.
    pub fn add(&mut self, result: &pb::GetResponse) -> Result<(), Status> {
        let len = result.encoded_len();
        let framed = 1 + prost::length_delimiter_len(len) + len;
        let used = self.used.saturating_add(framed);
        if used <= self.limit {
            self.used = used;
            return Ok(());
        }
        let key = result.row.as_ref().map_or(&[][..], |r| &r.key[..]);
        let key = escape::display(key);
        let table = self.table;
        let limit = self.limit;
        Err(Status::resource_exhausted(if framed > limit {
            format!(
                "row {key} of table {table} is {len} bytes, above the reply limit of {limit} \
                 bytes (max_message_bytes): read it with Scan, which sends a row this large in \
                 parts (Row.partial)"
            )
        } else {
            format!(
                "the reply would pass the limit of {limit} bytes (max_message_bytes) at row {key} \
                 of table {table} ({len} bytes): ask for fewer rows per call, or read them with \
                 Scan"
            )
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    fn found(key: &str, value_bytes: usize) -> pb::GetResponse {
        pb::GetResponse {
            found: true,
            row: Some(pb::Row {
                key: key.as_bytes().to_vec().into(),
                cells: vec![pb::Cell {
                    family: "f".into(),
                    qualifier: "q".as_bytes().to_vec().into(),
                    timestamp_micros: 1,
                    value: vec![0u8; value_bytes].into(),
                }],
                partial: false,
            }),
        }
    }

    #[test]
    fn a_row_above_the_limit_is_resource_exhausted_naming_it_and_scan() {
        let mut b = ReplyBudget::new("t", 1000);
        b.add(&found("small", 100)).expect("fits");
        let r = found("wide", 2000);
        let s = b.add(&r).expect_err("too large");
        assert_eq!(s.code(), Code::ResourceExhausted);
        for needle in [
            "row wide",
            "table t",
            &r.encoded_len().to_string(),
            "max_message_bytes",
            "Scan",
        ] {
            assert!(s.message().contains(needle), "{needle}: {}", s.message());
        }
    }

    #[test]
    fn results_that_fit_alone_but_not_together_name_the_row_that_passes() {
        let mut b = ReplyBudget::new("t", 1000);
        b.add(&found("a", 600)).expect("fits");
        let s = b.add(&found("b", 600)).expect_err("together too large");
        assert_eq!(s.code(), Code::ResourceExhausted);
        assert!(s.message().contains("at row b"), "{}", s.message());
        assert!(s.message().contains("fewer rows"), "{}", s.message());
    }

    #[test]
    fn the_count_covers_the_encoded_reply() {
        let r = found("k", 5000);
        let mut exact = ReplyBudget::new("t", r.encoded_len() + 8);
        exact
            .add(&r)
            .expect("a Get reply of exactly its size plus framing fits");
        let mut short = ReplyBudget::new("t", r.encoded_len() - 1);
        assert!(short.add(&r).is_err());
    }
}
