//! Thrift's binary protocol (`TBinaryProtocol`, HBase's and happybase's default): big-endian
//! fixed-width integers, i32-length-prefixed binaries, one type byte and an i16 id per field.
//! Reads both the strict message header (`0x8001` version word, what every current client
//! writes) and the old non-strict one (name first); writes the strict one.
//!
//! This file owns the binary encoding only; what the fields mean is `types.rs`'s.

use bytes::Bytes;

use super::{
    Codec, Cursor, DecodeError, InputProtocol, MessageHeader, MessageType, OutputProtocol, TType,
};

/// Longest method name accepted (the longest in the IDL is 31 bytes).
const MAX_NAME: usize = 1024;
const VERSION_1: u32 = 0x8001_0000;
const VERSION_MASK: u32 = 0xffff_0000;

/// The binary protocol.
#[derive(Clone, Copy, Debug, Default)]
pub struct Binary;

/// The binary protocol's type byte.
pub fn type_code(t: TType) -> u8 {
    match t {
        TType::Bool => 2,
        TType::Byte => 3,
        TType::Double => 4,
        TType::I16 => 6,
        TType::I32 => 8,
        TType::I64 => 10,
        TType::Binary => 11,
        TType::Struct => 12,
        TType::Map => 13,
        TType::Set => 14,
        TType::List => 15,
        TType::Uuid => 16,
    }
}

fn type_of(code: u8) -> Result<TType, DecodeError> {
    Ok(match code {
        2 => TType::Bool,
        3 => TType::Byte,
        4 => TType::Double,
        6 => TType::I16,
        8 => TType::I32,
        10 => TType::I64,
        11 => TType::Binary,
        12 => TType::Struct,
        13 => TType::Map,
        14 => TType::Set,
        15 => TType::List,
        16 => TType::Uuid,
        other => {
            return Err(DecodeError::invalid(format!(
                "unknown binary type code {other}"
            )));
        }
    })
}

fn length(c: &mut Cursor<'_>, what: &str) -> Result<usize, DecodeError> {
    let n = i32::from_be_bytes(c.array::<4>()?);
    usize::try_from(n).map_err(|_| DecodeError::invalid(format!("negative {what} length {n}")))
}

/// A binary-protocol reader.
#[derive(Clone, Copy, Debug)]
pub struct BinaryReader<'a> {
    cur: Cursor<'a>,
}

fn binary_length(c: &mut Cursor<'_>) -> Result<usize, DecodeError> {
    length(c, "binary")
}

impl InputProtocol for BinaryReader<'_> {
    fn read_message_begin(&mut self) -> Result<MessageHeader, DecodeError> {
        let mut c = self.cur;
        let first = i32::from_be_bytes(c.array::<4>()?);
        let (name, kind, seqid);
        if first < 0 {
            let word = first as u32;
            if word & VERSION_MASK != VERSION_1 {
                return Err(DecodeError::invalid(format!(
                    "bad binary protocol version word {word:#010x}"
                )));
            }
            kind = MessageType::from_code((word & 0xff) as u8)?;
            let n = length(&mut c, "method name")?;
            name = method_name(&mut c, n)?;
            seqid = i32::from_be_bytes(c.array::<4>()?);
        } else {
            // The old non-strict header: name length, name, type byte, seqid.
            name = method_name(&mut c, first as usize)?;
            kind = MessageType::from_code(c.byte()?)?;
            seqid = i32::from_be_bytes(c.array::<4>()?);
        }
        self.cur = c;
        Ok(MessageHeader { name, kind, seqid })
    }

    fn read_struct_begin(&mut self) -> Result<(), DecodeError> {
        Ok(())
    }

    fn read_struct_end(&mut self) -> Result<(), DecodeError> {
        Ok(())
    }

    fn read_field_begin(&mut self) -> Result<Option<(TType, i16)>, DecodeError> {
        let code = self.cur.peek(1)?[0];
        if code == 0 {
            self.cur.take(1)?;
            return Ok(None);
        }
        let h = self.cur.peek(3)?;
        let t = type_of(h[0])?;
        let id = i16::from_be_bytes([h[1], h[2]]);
        self.cur.take(3)?;
        Ok(Some((t, id)))
    }

    fn read_bool(&mut self) -> Result<bool, DecodeError> {
        Ok(self.cur.byte()? != 0)
    }

    fn read_byte(&mut self) -> Result<i8, DecodeError> {
        Ok(self.cur.byte()? as i8)
    }

    fn read_i16(&mut self) -> Result<i16, DecodeError> {
        Ok(i16::from_be_bytes(self.cur.array()?))
    }

    fn read_i32(&mut self) -> Result<i32, DecodeError> {
        Ok(i32::from_be_bytes(self.cur.array()?))
    }

    fn read_i64(&mut self) -> Result<i64, DecodeError> {
        Ok(i64::from_be_bytes(self.cur.array()?))
    }

    fn read_double(&mut self) -> Result<f64, DecodeError> {
        Ok(f64::from_bits(u64::from_be_bytes(self.cur.array()?)))
    }

    fn read_uuid(&mut self) -> Result<[u8; 16], DecodeError> {
        self.cur.array()
    }

    fn read_binary(&mut self) -> Result<Bytes, DecodeError> {
        self.cur.prefixed(binary_length)
    }

    fn skip_binary(&mut self) -> Result<(), DecodeError> {
        self.cur.skip_prefixed(binary_length)
    }

    fn read_list_begin(&mut self) -> Result<(TType, usize), DecodeError> {
        let mut c = self.cur;
        let t = type_of(c.byte()?)?;
        let n = length(&mut c, "list")?;
        self.cur = c;
        Ok((t, n))
    }

    fn read_map_begin(&mut self) -> Result<(TType, TType, usize), DecodeError> {
        let mut c = self.cur;
        let k = type_of(c.byte()?)?;
        let v = type_of(c.byte()?)?;
        let n = length(&mut c, "map")?;
        self.cur = c;
        Ok((k, v, n))
    }

    fn position(&self) -> usize {
        self.cur.position()
    }

    fn remaining(&self) -> usize {
        self.cur.remaining()
    }

    fn min_size(&self, t: TType) -> usize {
        match t {
            TType::Bool | TType::Byte | TType::Struct => 1,
            TType::I16 => 2,
            TType::I32 | TType::Binary | TType::Map => 4,
            TType::List | TType::Set => 5,
            TType::I64 | TType::Double => 8,
            TType::Uuid => 16,
        }
    }
}

/// A method name of `n` bytes, which must be short UTF-8.
pub(super) fn method_name(c: &mut Cursor<'_>, n: usize) -> Result<String, DecodeError> {
    if n > MAX_NAME {
        return Err(DecodeError::invalid(format!(
            "method name of {n} bytes (at most {MAX_NAME})"
        )));
    }
    let raw = c.take(n)?;
    String::from_utf8(raw.to_vec()).map_err(|_| DecodeError::invalid("method name is not UTF-8"))
}

/// A binary-protocol writer.
#[derive(Debug, Default)]
pub struct BinaryWriter {
    out: Vec<u8>,
}

fn len_i32(n: usize) -> [u8; 4] {
    // Replies are bounded by the message limit (< 2 GiB, checked in the settings).
    (i32::try_from(n).unwrap_or(i32::MAX)).to_be_bytes()
}

impl OutputProtocol for BinaryWriter {
    fn write_message_begin(&mut self, name: &str, kind: MessageType, seqid: i32) {
        self.out
            .extend_from_slice(&(VERSION_1 | u32::from(kind.code())).to_be_bytes());
        self.write_binary(name.as_bytes());
        self.out.extend_from_slice(&seqid.to_be_bytes());
    }

    fn write_struct_begin(&mut self) {}

    fn write_struct_end(&mut self) {
        self.out.push(0);
    }

    fn write_field_begin(&mut self, t: TType, id: i16) {
        self.out.push(type_code(t));
        self.out.extend_from_slice(&id.to_be_bytes());
    }

    fn write_bool(&mut self, v: bool) {
        self.out.push(u8::from(v));
    }

    fn write_byte(&mut self, v: i8) {
        self.out.push(v as u8);
    }

    fn write_i16(&mut self, v: i16) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }

    fn write_i32(&mut self, v: i32) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }

    fn write_i64(&mut self, v: i64) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }

    fn write_double(&mut self, v: f64) {
        self.out.extend_from_slice(&v.to_bits().to_be_bytes());
    }

    fn write_binary(&mut self, v: &[u8]) {
        self.out.extend_from_slice(&len_i32(v.len()));
        self.out.extend_from_slice(v);
    }

    fn write_list_begin(&mut self, elem: TType, len: usize) {
        self.out.push(type_code(elem));
        self.out.extend_from_slice(&len_i32(len));
    }

    fn write_map_begin(&mut self, key: TType, value: TType, len: usize) {
        self.out.push(type_code(key));
        self.out.push(type_code(value));
        self.out.extend_from_slice(&len_i32(len));
    }

    fn len(&self) -> usize {
        self.out.len()
    }

    fn finish(self) -> Vec<u8> {
        self.out
    }
}

impl Codec for Binary {
    type State = ();
    type Reader<'a> = BinaryReader<'a>;
    type Writer = BinaryWriter;
    const NAME: &'static str = "binary";

    fn reader(cursor: Cursor<'_>, _state: ()) -> BinaryReader<'_> {
        BinaryReader { cur: cursor }
    }

    fn suspend(reader: &BinaryReader<'_>) -> (usize, ()) {
        (reader.cur.position(), ())
    }

    fn writer(capacity: usize) -> BinaryWriter {
        BinaryWriter {
            out: Vec::with_capacity(capacity),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(buf: &[u8]) -> BinaryReader<'_> {
        Binary::reader(Cursor::new(buf, 0), ())
    }

    #[test]
    fn the_dashboards_first_request_header_decodes() {
        // Bytes happybase sent, from the reference's wire log.
        let mut msg = vec![0x80, 0x01, 0x00, 0x01, 0, 0, 0, 0x13];
        msg.extend_from_slice(b"scannerOpenWithScan");
        msg.extend_from_slice(&[0, 0, 0, 0]);
        msg.extend_from_slice(&[0x0b, 0x00, 0x01, 0, 0, 0, 7]);
        msg.extend_from_slice(b"product");
        let mut r = reader(&msg);
        let h = r.read_message_begin().expect("header");
        assert_eq!(h.name, "scannerOpenWithScan");
        assert_eq!(h.kind, MessageType::Call);
        assert_eq!(h.seqid, 0);
        assert_eq!(r.read_field_begin(), Ok(Some((TType::Binary, 1))));
        assert_eq!(r.read_binary().expect("table"), &b"product"[..]);
    }

    #[test]
    fn the_old_non_strict_header_decodes() {
        let mut msg = vec![0, 0, 0, 3];
        msg.extend_from_slice(b"get");
        msg.push(1);
        msg.extend_from_slice(&7i32.to_be_bytes());
        let h = reader(&msg).read_message_begin().expect("header");
        assert_eq!(
            (h.name.as_str(), h.kind, h.seqid),
            ("get", MessageType::Call, 7)
        );
    }

    #[test]
    fn bad_versions_types_and_lengths_are_errors() {
        assert!(matches!(
            reader(&[0x80, 0x02, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]).read_message_begin(),
            Err(DecodeError::Invalid(_))
        ));
        assert!(matches!(
            reader(&[0x07, 0, 1]).read_field_begin(),
            Err(DecodeError::Invalid(_))
        ));
        assert!(matches!(
            reader(&[0xff, 0xff, 0xff, 0xfe]).read_binary(),
            Err(DecodeError::Invalid(_))
        ));
        assert!(matches!(
            reader(&[15, 0xff, 0xff, 0xff, 0xff]).read_list_begin(),
            Err(DecodeError::Invalid(_))
        ));
    }

    #[test]
    fn a_partial_token_is_incomplete_and_leaves_the_reader_unchanged() {
        let buf = [0, 0, 0, 10, b'a', b'b'];
        let mut r = reader(&buf);
        assert_eq!(r.read_binary(), Err(DecodeError::Incomplete { need: 14 }));
        assert_eq!(r.position(), 0);
        let mut r = reader(&[0x80, 0x01]);
        assert!(matches!(
            r.read_message_begin(),
            Err(DecodeError::Incomplete { .. })
        ));
        assert_eq!(r.position(), 0);
    }

    #[test]
    fn writer_output_reads_back() {
        let mut w = Binary::writer(64);
        w.write_message_begin("getTableNames", MessageType::Reply, 42);
        w.write_field_begin(TType::I64, -3);
        w.write_i64(i64::MIN);
        w.write_field_begin(TType::Double, 2);
        w.write_double(1.5);
        w.write_map_begin(TType::Binary, TType::Bool, 1);
        w.write_binary(b"k");
        w.write_bool(true);
        w.write_struct_end();
        let buf = w.finish();
        let mut r = reader(&buf);
        let h = r.read_message_begin().expect("header");
        assert_eq!(
            (h.name.as_str(), h.kind, h.seqid),
            ("getTableNames", MessageType::Reply, 42)
        );
        assert_eq!(r.read_field_begin(), Ok(Some((TType::I64, -3))));
        assert_eq!(r.read_i64(), Ok(i64::MIN));
        assert_eq!(r.read_field_begin(), Ok(Some((TType::Double, 2))));
        assert_eq!(r.read_double(), Ok(1.5));
        assert_eq!(r.read_map_begin(), Ok((TType::Binary, TType::Bool, 1)));
        assert_eq!(r.read_binary().expect("key"), &b"k"[..]);
        assert_eq!(r.read_bool(), Ok(true));
        assert_eq!(r.read_field_begin(), Ok(None));
        assert_eq!(r.remaining(), 0);
    }
}
