//! Confluent framing: magic byte 0, a 4-byte big-endian schema id, then a bare Avro datum.
//! The ids map to schema files given as `--avro-schema ID=FILE` (no registry is asked).
//!
//! Owns the frame: its checks (length, magic byte, a known id) and the choice of decoder by
//! id. It must never decode a datum with a schema other than its id's.

use std::collections::HashMap;

use super::Fields;
use super::avro::AvroDecoder;

/// The magic byte of the Confluent wire format.
pub const MAGIC: u8 = 0;

/// Split a framed value into (schema id, datum); `Err` is the reject reason.
pub fn split_frame(value: &[u8]) -> Result<(u32, &[u8]), String> {
    match value {
        [MAGIC, a, b, c, d, datum @ ..] => Ok((u32::from_be_bytes([*a, *b, *c, *d]), datum)),
        [m, ..] if *m != MAGIC => Err(format!(
            "not Confluent-framed: the first byte is {m}, not the magic byte 0"
        )),
        _ => Err(format!(
            "not Confluent-framed: {} bytes, shorter than the 5-byte header",
            value.len()
        )),
    }
}

/// Decodes framed datums with the decoder of their schema id.
pub struct ConfluentDecoder<'p> {
    by_id: HashMap<u32, (usize, AvroDecoder<'p>)>,
    ids: String,
}

impl<'p> ConfluentDecoder<'p> {
    /// Decoders by schema id, each with the index of its layout.
    pub fn new(decoders: Vec<(u32, usize, AvroDecoder<'p>)>) -> Self {
        let mut ids: Vec<u32> = decoders.iter().map(|d| d.0).collect();
        ids.sort_unstable();
        let ids = ids
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        ConfluentDecoder {
            by_id: decoders
                .into_iter()
                .map(|(id, layout, d)| (id, (layout, d)))
                .collect(),
            ids,
        }
    }

    /// Decode one framed value; returns the index of the layout it filled.
    pub fn decode(&self, value: &[u8], fields: &mut Fields) -> Result<usize, String> {
        let (id, datum) = split_frame(value)?;
        let (layout, d) = self.by_id.get(&id).ok_or_else(|| {
            format!(
                "schema id {id} is not one of the --avro-schema ids ({})",
                self.ids
            )
        })?;
        d.decode(datum, fields)?;
        Ok(*layout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_and_bad_frames_are_named() {
        assert_eq!(
            split_frame(&[0, 0, 0, 1, 2, 9, 9]).unwrap(),
            (258, &[9u8, 9][..])
        );
        assert_eq!(split_frame(&[0, 0, 0, 0, 7]).unwrap(), (7, &[][..]));
        assert_eq!(
            split_frame(&[1, 0, 0, 0, 7]).unwrap_err(),
            "not Confluent-framed: the first byte is 1, not the magic byte 0"
        );
        assert_eq!(
            split_frame(&[0, 0, 1]).unwrap_err(),
            "not Confluent-framed: 3 bytes, shorter than the 5-byte header"
        );
        assert!(split_frame(&[]).is_err());
    }
}
