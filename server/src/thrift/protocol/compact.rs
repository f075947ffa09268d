//! Thrift's compact protocol (`TCompactProtocol`, `--thrift-compact`): zigzag varints, field
//! ids as deltas from the previous field of the same struct, bool field values folded into
//! their field header, little-endian doubles.
//!
//! The reader's state beyond its position (the previous field id of each open struct and a
//! bool read from a field header) is a small `Copy` value, so the framer of unframed
//! connections can stop at any token and resume when more bytes arrive. This file owns the
//! compact encoding only.

use bytes::Bytes;

use super::binary::method_name;
use super::{
    Codec, Cursor, DecodeError, InputProtocol, MAX_DEPTH, MessageHeader, MessageType,
    OutputProtocol, TType, unzigzag64, zigzag64,
};

const PROTOCOL_ID: u8 = 0x82;
const VERSION: u8 = 1;
const VERSION_MASK: u8 = 0x1f;
const TYPE_SHIFT: u8 = 5;

/// The compact protocol.
#[derive(Clone, Copy, Debug, Default)]
pub struct Compact;

fn type_code(t: TType) -> u8 {
    match t {
        TType::Bool => 1,
        TType::Byte => 3,
        TType::I16 => 4,
        TType::I32 => 5,
        TType::I64 => 6,
        TType::Double => 7,
        TType::Binary => 8,
        TType::List => 9,
        TType::Set => 10,
        TType::Map => 11,
        TType::Struct => 12,
        TType::Uuid => 13,
    }
}

fn type_of(code: u8) -> Result<TType, DecodeError> {
    Ok(match code {
        1 | 2 => TType::Bool,
        3 => TType::Byte,
        4 => TType::I16,
        5 => TType::I32,
        6 => TType::I64,
        7 => TType::Double,
        8 => TType::Binary,
        9 => TType::List,
        10 => TType::Set,
        11 => TType::Map,
        12 => TType::Struct,
        13 => TType::Uuid,
        other => {
            return Err(DecodeError::invalid(format!(
                "unknown compact type code {other}"
            )));
        }
    })
}

/// A varint of at most `max_bytes` bytes, consumed from `c` (atomically).
fn varint(c: &mut Cursor<'_>, max_bytes: usize) -> Result<u64, DecodeError> {
    let mut v: u64 = 0;
    let mut probe = *c;
    for i in 0..max_bytes {
        let b = probe.byte()?;
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            *c = probe;
            return Ok(v);
        }
    }
    Err(DecodeError::invalid(format!(
        "varint longer than {max_bytes} bytes"
    )))
}

fn varint32(c: &mut Cursor<'_>) -> Result<u32, DecodeError> {
    let mut probe = *c;
    let v = varint(&mut probe, 5)?;
    let v = u32::try_from(v)
        .map_err(|_| DecodeError::invalid(format!("32-bit varint overflows: {v}")))?;
    *c = probe;
    Ok(v)
}

fn length(c: &mut Cursor<'_>, what: &str) -> Result<usize, DecodeError> {
    let mut probe = *c;
    let n = varint32(&mut probe)?;
    if n > i32::MAX as u32 {
        return Err(DecodeError::invalid(format!(
            "negative {what} length {}",
            n as i32
        )));
    }
    *c = probe;
    Ok(n as usize)
}

fn zigzag32(c: &mut Cursor<'_>) -> Result<i32, DecodeError> {
    let u = varint32(c)?;
    Ok(((u >> 1) as i32) ^ -((u & 1) as i32))
}

/// What a compact reader remembers besides its position.
#[derive(Clone, Copy, Debug)]
pub struct CompactState {
    /// The last field id read in the current struct.
    last: i16,
    /// The enclosing structs' last field ids.
    outer: [i16; MAX_DEPTH],
    depth: usize,
    /// A bool field's value, read with its header.
    pending_bool: Option<bool>,
}

impl Default for CompactState {
    fn default() -> Self {
        CompactState {
            last: 0,
            outer: [0; MAX_DEPTH],
            depth: 0,
            pending_bool: None,
        }
    }
}

/// A compact-protocol reader.
#[derive(Clone, Copy, Debug)]
pub struct CompactReader<'a> {
    cur: Cursor<'a>,
    st: CompactState,
}

fn binary_length(c: &mut Cursor<'_>) -> Result<usize, DecodeError> {
    length(c, "binary")
}

impl InputProtocol for CompactReader<'_> {
    fn read_message_begin(&mut self) -> Result<MessageHeader, DecodeError> {
        let mut c = self.cur;
        let id = c.byte()?;
        if id != PROTOCOL_ID {
            return Err(DecodeError::invalid(format!(
                "bad compact protocol id {id:#04x} (expected 0x82)"
            )));
        }
        let vt = c.byte()?;
        if vt & VERSION_MASK != VERSION {
            return Err(DecodeError::invalid(format!(
                "unsupported compact protocol version {}",
                vt & VERSION_MASK
            )));
        }
        let kind = MessageType::from_code(vt >> TYPE_SHIFT)?;
        let seqid = varint32(&mut c)? as i32;
        let n = length(&mut c, "method name")?;
        let name = method_name(&mut c, n)?;
        self.cur = c;
        Ok(MessageHeader { name, kind, seqid })
    }

    fn read_struct_begin(&mut self) -> Result<(), DecodeError> {
        if self.st.depth >= MAX_DEPTH {
            return Err(DecodeError::invalid(format!(
                "structs nested deeper than {MAX_DEPTH}"
            )));
        }
        self.st.outer[self.st.depth] = self.st.last;
        self.st.depth += 1;
        self.st.last = 0;
        Ok(())
    }

    fn read_struct_end(&mut self) -> Result<(), DecodeError> {
        if self.st.depth == 0 {
            return Err(DecodeError::invalid("struct end without a struct"));
        }
        self.st.depth -= 1;
        self.st.last = self.st.outer[self.st.depth];
        Ok(())
    }

    fn read_field_begin(&mut self) -> Result<Option<(TType, i16)>, DecodeError> {
        let mut c = self.cur;
        let b = c.byte()?;
        if b == 0 {
            self.cur = c;
            return Ok(None);
        }
        let code = b & 0x0f;
        let t = type_of(code)?;
        let delta = b >> 4;
        let id = if delta == 0 {
            let v = zigzag32(&mut c)?;
            i16::try_from(v)
                .map_err(|_| DecodeError::invalid(format!("field id {v} overflows i16")))?
        } else {
            self.st
                .last
                .checked_add(i16::from(delta))
                .ok_or_else(|| DecodeError::invalid("field id overflows i16"))?
        };
        self.cur = c;
        self.st.last = id;
        if t == TType::Bool {
            self.st.pending_bool = Some(code == 1);
        }
        Ok(Some((t, id)))
    }

    fn read_bool(&mut self) -> Result<bool, DecodeError> {
        if let Some(v) = self.st.pending_bool.take() {
            return Ok(v);
        }
        match self.cur.peek(1)?[0] {
            1 => {
                self.cur.take(1)?;
                Ok(true)
            }
            0 | 2 => {
                self.cur.take(1)?;
                Ok(false)
            }
            other => Err(DecodeError::invalid(format!(
                "bad compact bool byte {other}"
            ))),
        }
    }

    fn read_byte(&mut self) -> Result<i8, DecodeError> {
        Ok(self.cur.byte()? as i8)
    }

    fn read_i16(&mut self) -> Result<i16, DecodeError> {
        let mut c = self.cur;
        let v = zigzag32(&mut c)?;
        let v =
            i16::try_from(v).map_err(|_| DecodeError::invalid(format!("i16 overflows: {v}")))?;
        self.cur = c;
        Ok(v)
    }

    fn read_i32(&mut self) -> Result<i32, DecodeError> {
        zigzag32(&mut self.cur)
    }

    fn read_i64(&mut self) -> Result<i64, DecodeError> {
        Ok(unzigzag64(varint(&mut self.cur, 10)?))
    }

    fn read_double(&mut self) -> Result<f64, DecodeError> {
        Ok(f64::from_bits(u64::from_le_bytes(self.cur.array()?)))
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
        let b = c.byte()?;
        let t = type_of(b & 0x0f)?;
        let short = usize::from(b >> 4);
        let n = if short == 15 {
            length(&mut c, "list")?
        } else {
            short
        };
        self.cur = c;
        Ok((t, n))
    }

    fn read_map_begin(&mut self) -> Result<(TType, TType, usize), DecodeError> {
        let mut c = self.cur;
        let n = length(&mut c, "map")?;
        if n == 0 {
            self.cur = c;
            // No type byte follows an empty map; the types are never looked at.
            return Ok((TType::Binary, TType::Binary, 0));
        }
        let kv = c.byte()?;
        let k = type_of(kv >> 4)?;
        let v = type_of(kv & 0x0f)?;
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
            TType::Double => 8,
            TType::Uuid => 16,
            _ => 1,
        }
    }
}

/// A compact-protocol writer.
#[derive(Debug, Default)]
pub struct CompactWriter {
    out: Vec<u8>,
    last: i16,
    outer: Vec<i16>,
    bool_field: Option<i16>,
}

impl CompactWriter {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.out.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.out.push(v as u8);
    }

    fn len_varint(&mut self, n: usize) {
        // Replies are bounded by the message limit (< 2 GiB, checked in the settings).
        self.varint(u64::from(u32::try_from(n).unwrap_or(i32::MAX as u32)));
    }

    fn field_header(&mut self, code: u8, id: i16) {
        let delta = i32::from(id) - i32::from(self.last);
        if (1..=15).contains(&delta) {
            self.out.push(((delta as u8) << 4) | code);
        } else {
            self.out.push(code);
            self.varint(zigzag64(i64::from(id)));
        }
        self.last = id;
    }
}

impl OutputProtocol for CompactWriter {
    fn write_message_begin(&mut self, name: &str, kind: MessageType, seqid: i32) {
        self.out.push(PROTOCOL_ID);
        self.out.push(VERSION | (kind.code() << TYPE_SHIFT));
        self.varint(u64::from(seqid as u32));
        self.write_binary(name.as_bytes());
    }

    fn write_struct_begin(&mut self) {
        self.outer.push(self.last);
        self.last = 0;
    }

    fn write_struct_end(&mut self) {
        self.out.push(0);
        self.last = self.outer.pop().unwrap_or(0);
    }

    fn write_field_begin(&mut self, t: TType, id: i16) {
        if t == TType::Bool {
            self.bool_field = Some(id);
        } else {
            self.field_header(type_code(t), id);
        }
    }

    fn write_bool(&mut self, v: bool) {
        let code = if v { 1 } else { 2 };
        match self.bool_field.take() {
            Some(id) => self.field_header(code, id),
            None => self.out.push(code),
        }
    }

    fn write_byte(&mut self, v: i8) {
        self.out.push(v as u8);
    }

    fn write_i16(&mut self, v: i16) {
        self.varint(zigzag64(i64::from(v)));
    }

    fn write_i32(&mut self, v: i32) {
        self.varint(zigzag64(i64::from(v)));
    }

    fn write_i64(&mut self, v: i64) {
        self.varint(zigzag64(v));
    }

    fn write_double(&mut self, v: f64) {
        self.out.extend_from_slice(&v.to_bits().to_le_bytes());
    }

    fn write_binary(&mut self, v: &[u8]) {
        self.len_varint(v.len());
        self.out.extend_from_slice(v);
    }

    fn write_list_begin(&mut self, elem: TType, len: usize) {
        if len < 15 {
            self.out.push(((len as u8) << 4) | type_code(elem));
        } else {
            self.out.push(0xf0 | type_code(elem));
            self.len_varint(len);
        }
    }

    fn write_map_begin(&mut self, key: TType, value: TType, len: usize) {
        if len == 0 {
            self.out.push(0);
        } else {
            self.len_varint(len);
            self.out.push((type_code(key) << 4) | type_code(value));
        }
    }

    fn len(&self) -> usize {
        self.out.len()
    }

    fn finish(self) -> Vec<u8> {
        self.out
    }
}

impl Codec for Compact {
    type State = CompactState;
    type Reader<'a> = CompactReader<'a>;
    type Writer = CompactWriter;
    const NAME: &'static str = "compact";

    fn reader(cursor: Cursor<'_>, state: CompactState) -> CompactReader<'_> {
        CompactReader {
            cur: cursor,
            st: state,
        }
    }

    fn suspend(reader: &CompactReader<'_>) -> (usize, CompactState) {
        (reader.cur.position(), reader.st)
    }

    fn writer(capacity: usize) -> CompactWriter {
        CompactWriter {
            out: Vec::with_capacity(capacity),
            ..CompactWriter::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(buf: &[u8]) -> CompactReader<'_> {
        Compact::reader(Cursor::new(buf, 0), CompactState::default())
    }

    #[test]
    fn field_ids_are_deltas_and_long_jumps_are_explicit() {
        let mut w = Compact::writer(32);
        w.write_struct_begin();
        w.write_field_begin(TType::I32, 1);
        w.write_i32(-1);
        w.write_field_begin(TType::Bool, 2);
        w.write_bool(true);
        w.write_field_begin(TType::Bool, 40);
        w.write_bool(false);
        w.write_field_begin(TType::I64, 3);
        w.write_i64(300);
        w.write_struct_end();
        let buf = w.finish();
        // Field 1, delta 1, type i32: 0x15; zigzag(-1) = 1.
        assert_eq!(&buf[..3], &[0x15, 0x01, 0x11]);
        let mut r = reader(&buf);
        r.read_struct_begin().expect("struct");
        assert_eq!(r.read_field_begin(), Ok(Some((TType::I32, 1))));
        assert_eq!(r.read_i32(), Ok(-1));
        assert_eq!(r.read_field_begin(), Ok(Some((TType::Bool, 2))));
        assert_eq!(r.read_bool(), Ok(true));
        assert_eq!(r.read_field_begin(), Ok(Some((TType::Bool, 40))));
        assert_eq!(r.read_bool(), Ok(false));
        assert_eq!(r.read_field_begin(), Ok(Some((TType::I64, 3))));
        assert_eq!(r.read_i64(), Ok(300));
        assert_eq!(r.read_field_begin(), Ok(None));
        r.read_struct_end().expect("end");
        assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn message_header_round_trips_with_a_negative_seqid() {
        let mut w = Compact::writer(32);
        w.write_message_begin("scannerGetList", MessageType::Call, -5);
        let buf = w.finish();
        assert_eq!(buf[0], 0x82);
        assert_eq!(buf[1], 0x21);
        let h = reader(&buf).read_message_begin().expect("header");
        assert_eq!(h.name, "scannerGetList");
        assert_eq!(h.seqid, -5);
        assert_eq!(h.kind, MessageType::Call);
    }

    #[test]
    fn lists_maps_and_doubles_round_trip() {
        let mut w = Compact::writer(64);
        w.write_list_begin(TType::Binary, 20);
        w.write_map_begin(TType::Binary, TType::Struct, 0);
        w.write_map_begin(TType::Binary, TType::Struct, 3);
        w.write_double(-2.25);
        w.write_list_begin(TType::Bool, 2);
        w.write_bool(true);
        w.write_bool(false);
        let buf = w.finish();
        let mut r = reader(&buf);
        assert_eq!(r.read_list_begin(), Ok((TType::Binary, 20)));
        assert_eq!(r.read_map_begin().map(|m| m.2), Ok(0));
        assert_eq!(r.read_map_begin(), Ok((TType::Binary, TType::Struct, 3)));
        assert_eq!(r.read_double(), Ok(-2.25));
        assert_eq!(r.read_list_begin(), Ok((TType::Bool, 2)));
        assert_eq!(r.read_bool(), Ok(true));
        assert_eq!(r.read_bool(), Ok(false));
    }

    #[test]
    fn overlong_varints_and_deep_nesting_are_errors() {
        assert!(matches!(
            reader(&[0xff; 11]).read_i64(),
            Err(DecodeError::Invalid(_))
        ));
        assert!(matches!(
            reader(&[0xff, 0xff, 0xff, 0xff, 0x7f]).read_i32(),
            Err(DecodeError::Invalid(_))
        ));
        let mut r = reader(&[]);
        for _ in 0..MAX_DEPTH {
            r.read_struct_begin().expect("within the limit");
        }
        assert!(matches!(
            r.read_struct_begin(),
            Err(DecodeError::Invalid(_))
        ));
        assert!(matches!(
            reader(&[]).read_struct_end(),
            Err(DecodeError::Invalid(_))
        ));
    }

    #[test]
    fn a_partial_varint_is_incomplete_and_consumes_nothing() {
        let mut r = reader(&[0x80, 0x80]);
        assert_eq!(r.read_i64(), Err(DecodeError::Incomplete { need: 3 }));
        assert_eq!(r.position(), 0);
    }
}
