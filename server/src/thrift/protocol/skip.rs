//! Stepping over Thrift values without decoding them: the one walker of Thrift's structure.
//!
//! It serves twice. Decoders use [`skip`] for fields they do not know (the union of happybase's
//! and HBase 2.x's IDL is what they know; anything else is skipped, as Thrift requires). And the
//! unframed (buffered) transport uses [`MessageFramer`] to find where a message ends in the
//! byte stream, since the binary and compact protocols carry no length: the walker keeps its
//! own stack instead of recursing, so it stops at any token when the bytes run out and resumes
//! where it stopped when more arrive; each byte is looked at once however the client splits
//! its writes.
//!
//! Limits are enforced here, before anything waits for or allocates them: a message must end
//! within `max_end` bytes (a length that points past it fails at once), containers may hold at
//! most `max_items` elements in all, and nesting is at most [`MAX_DEPTH`] deep.

use super::{Codec, Cursor, DecodeError, InputProtocol, MAX_DEPTH, MessageHeader, TType};

/// How far a walk may go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The value must end at or before this input position.
    pub max_end: usize,
    /// Elements of all containers together.
    pub max_items: usize,
}

/// What a walk achieved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// The value is complete.
    Done,
    /// The input ends inside the value; it needs at least `need` bytes in all.
    NeedMore {
        /// Input length needed before the next step can succeed.
        need: usize,
    },
}

#[derive(Clone, Copy, Debug)]
enum Frame {
    Struct,
    Seq {
        elem: TType,
        left: usize,
    },
    Map {
        key: TType,
        value: TType,
        left: usize,
        value_next: bool,
    },
}

/// A resumable walk over one value.
#[derive(Debug)]
pub struct Skipper {
    stack: Vec<Frame>,
    pending: Option<TType>,
    items: usize,
}

impl Skipper {
    /// A walk over one value of type `t`.
    pub fn new(t: TType) -> Skipper {
        Skipper {
            stack: Vec::new(),
            pending: Some(t),
            items: 0,
        }
    }

    /// Walk as far as the input goes.
    pub fn run<P: InputProtocol>(
        &mut self,
        p: &mut P,
        limits: Limits,
    ) -> Result<Progress, DecodeError> {
        loop {
            match self.step(p, limits) {
                Ok(true) => return Ok(Progress::Done),
                Ok(false) => {}
                Err(DecodeError::Incomplete { need }) => {
                    return need_more(need, limits).map(|need| Progress::NeedMore { need });
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// One token; `true` once the value is complete. On error nothing changed.
    fn step<P: InputProtocol>(&mut self, p: &mut P, limits: Limits) -> Result<bool, DecodeError> {
        if let Some(t) = self.pending {
            self.value(p, t, limits)?;
            self.pending = None;
        } else {
            match self.stack.last_mut() {
                None => return Ok(true),
                Some(Frame::Struct) => match p.read_field_begin()? {
                    None => {
                        p.read_struct_end()?;
                        self.stack.pop();
                    }
                    Some((t, _)) => self.pending = Some(t),
                },
                Some(Frame::Seq { elem, left }) => {
                    if *left == 0 {
                        self.stack.pop();
                    } else {
                        *left -= 1;
                        self.pending = Some(*elem);
                    }
                }
                Some(Frame::Map {
                    key,
                    value,
                    left,
                    value_next,
                }) => {
                    if *value_next {
                        *value_next = false;
                        self.pending = Some(*value);
                    } else if *left == 0 {
                        self.stack.pop();
                    } else {
                        *left -= 1;
                        *value_next = true;
                        self.pending = Some(*key);
                    }
                }
            }
        }
        Ok(self.stack.is_empty() && self.pending.is_none())
    }

    fn value<P: InputProtocol>(
        &mut self,
        p: &mut P,
        t: TType,
        limits: Limits,
    ) -> Result<(), DecodeError> {
        match t {
            TType::Bool => p.read_bool().map(drop),
            TType::Byte => p.read_byte().map(drop),
            TType::I16 => p.read_i16().map(drop),
            TType::I32 => p.read_i32().map(drop),
            TType::I64 => p.read_i64().map(drop),
            TType::Double => p.read_double().map(drop),
            TType::Uuid => p.read_uuid().map(drop),
            TType::Binary => p.skip_binary(),
            TType::Struct => {
                self.check_depth()?;
                p.read_struct_begin()?;
                self.stack.push(Frame::Struct);
                Ok(())
            }
            TType::List | TType::Set => {
                self.check_depth()?;
                let (elem, n) = p.read_list_begin()?;
                self.count(p, n, p.min_size(elem), limits)?;
                self.stack.push(Frame::Seq { elem, left: n });
                Ok(())
            }
            TType::Map => {
                self.check_depth()?;
                let (key, value, n) = p.read_map_begin()?;
                self.count(p, n, p.min_size(key) + p.min_size(value), limits)?;
                self.stack.push(Frame::Map {
                    key,
                    value,
                    left: n,
                    value_next: false,
                });
                Ok(())
            }
        }
    }

    fn check_depth(&self) -> Result<(), DecodeError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(DecodeError::invalid(format!(
                "values nested deeper than {MAX_DEPTH}"
            )));
        }
        Ok(())
    }

    /// A container of `n` elements of at least `each` bytes starts here.
    fn count<P: InputProtocol>(
        &mut self,
        p: &P,
        n: usize,
        each: usize,
        limits: Limits,
    ) -> Result<(), DecodeError> {
        self.items = self.items.saturating_add(n);
        if self.items > limits.max_items {
            return Err(DecodeError::Limit(format!(
                "message holds more than {} container elements (the limit)",
                limits.max_items
            )));
        }
        let need = n
            .checked_mul(each)
            .and_then(|b| b.checked_add(p.position()))
            .unwrap_or(usize::MAX);
        need_more(need, limits).map(drop)
    }
}

fn need_more(need: usize, limits: Limits) -> Result<usize, DecodeError> {
    if need > limits.max_end {
        return Err(DecodeError::Limit(format!(
            "message of at least {need} bytes exceeds the limit of {} bytes",
            limits.max_end
        )));
    }
    Ok(need)
}

/// Step over one value of type `t` in a complete message (the input's end is the message's:
/// running past it is a protocol error).
pub fn skip<P: InputProtocol>(p: &mut P, t: TType) -> Result<(), DecodeError> {
    let end = p.position().saturating_add(p.remaining());
    let limits = Limits {
        max_end: end,
        max_items: usize::MAX,
    };
    match Skipper::new(t).run(p, limits) {
        Ok(Progress::Done) => Ok(()),
        Ok(Progress::NeedMore { need }) => {
            Err(DecodeError::Incomplete { need }.truncated_is_invalid())
        }
        Err(DecodeError::Limit(_)) => Err(DecodeError::invalid(format!(
            "a value runs past the end of the {end}-byte message"
        ))),
        Err(e) => Err(e),
    }
}

/// Finds where one message (header and argument struct) ends in a growing buffer.
#[derive(Debug)]
pub struct MessageFramer<C: Codec> {
    pos: usize,
    state: C::State,
    header: Option<MessageHeader>,
    body: Skipper,
}

impl<C: Codec> Default for MessageFramer<C> {
    fn default() -> Self {
        MessageFramer {
            pos: 0,
            state: C::State::default(),
            header: None,
            body: Skipper::new(TType::Struct),
        }
    }
}

impl<C: Codec> MessageFramer<C> {
    /// `buf` holds the bytes received so far, from the message's first byte (and possibly
    /// bytes of later messages). The message's length once it is complete, else `None`.
    pub fn poll(&mut self, buf: &[u8], limits: Limits) -> Result<Option<usize>, DecodeError> {
        let mut r = C::reader(Cursor::new(buf, self.pos), self.state);
        if self.header.is_none() {
            match r.read_message_begin() {
                Ok(h) => self.header = Some(h),
                Err(DecodeError::Incomplete { need }) => {
                    need_more(need, limits)?;
                    return Ok(None);
                }
                Err(e) => return Err(e),
            }
        }
        let progress = self.body.run(&mut r, limits);
        (self.pos, self.state) = C::suspend(&r);
        match progress? {
            Progress::Done => Ok(Some(self.pos)),
            Progress::NeedMore { .. } => Ok(None),
        }
    }

    /// The message's header, once read (to address an error reply).
    pub fn header(&self) -> Option<&MessageHeader> {
        self.header.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::super::binary::Binary;
    use super::super::compact::Compact;
    use super::super::{MessageType, OutputProtocol};
    use super::*;

    const LIMITS: Limits = Limits {
        max_end: 1 << 20,
        max_items: 1000,
    };

    /// A call with nested structs, lists, a map and every scalar type.
    fn sample<C: Codec>() -> Vec<u8> {
        let mut w = C::writer(256);
        w.write_message_begin("mutateRows", MessageType::Call, 9);
        w.write_struct_begin();
        w.write_field_begin(TType::Binary, 1);
        w.write_binary(b"table");
        w.write_field_begin(TType::List, 2);
        w.write_list_begin(TType::Struct, 2);
        for _ in 0..2 {
            w.write_struct_begin();
            w.write_field_begin(TType::Bool, 1);
            w.write_bool(true);
            w.write_field_begin(TType::Double, 2);
            w.write_double(0.5);
            w.write_field_begin(TType::Byte, 3);
            w.write_byte(-1);
            w.write_field_begin(TType::I16, 4);
            w.write_i16(-300);
            w.write_struct_end();
        }
        w.write_field_begin(TType::Map, 3);
        w.write_map_begin(TType::Binary, TType::I64, 1);
        w.write_binary(b"k");
        w.write_i64(1 << 40);
        w.write_field_begin(TType::Set, 4);
        w.write_list_begin(TType::I32, 3);
        for v in [1, -2, 3] {
            w.write_i32(v);
        }
        w.write_struct_end();
        w.finish()
    }

    fn frames_byte_by_byte<C: Codec>() {
        let msg = sample::<C>();
        let mut stream = msg.clone();
        stream.extend_from_slice(&msg); // a second message right behind
        let mut f = MessageFramer::<C>::default();
        for n in 0..msg.len() {
            assert_eq!(f.poll(&stream[..n], LIMITS), Ok(None), "{} at {n}", C::NAME);
        }
        assert_eq!(f.poll(&stream[..msg.len()], LIMITS), Ok(Some(msg.len())));
        assert_eq!(f.header().map(|h| h.name.as_str()), Some("mutateRows"));
        let mut whole = MessageFramer::<C>::default();
        assert_eq!(whole.poll(&stream, LIMITS), Ok(Some(msg.len())));
    }

    #[test]
    fn binary_messages_are_framed_whatever_the_split() {
        frames_byte_by_byte::<Binary>();
    }

    #[test]
    fn compact_messages_are_framed_whatever_the_split() {
        frames_byte_by_byte::<Compact>();
    }

    #[test]
    fn a_length_past_the_limit_fails_before_the_bytes_arrive() {
        let mut w = Binary::writer(32);
        w.write_message_begin("get", MessageType::Call, 0);
        w.write_field_begin(TType::Binary, 1);
        let mut head = w.finish();
        head.extend_from_slice(&(2_000_000i32).to_be_bytes());
        let mut f = MessageFramer::<Binary>::default();
        assert!(matches!(f.poll(&head, LIMITS), Err(DecodeError::Limit(_))));

        let mut w = Binary::writer(32);
        w.write_message_begin("get", MessageType::Call, 0);
        w.write_field_begin(TType::List, 1);
        w.write_list_begin(TType::I64, 500_000);
        let buf = w.finish();
        let e = MessageFramer::<Binary>::default().poll(&buf, LIMITS);
        assert!(matches!(e, Err(DecodeError::Limit(_))), "{e:?}");
    }

    #[test]
    fn too_many_container_elements_is_a_limit_error() {
        let mut w = Compact::writer(32);
        w.write_message_begin("get", MessageType::Call, 0);
        w.write_struct_begin();
        w.write_field_begin(TType::List, 1);
        w.write_list_begin(TType::Struct, 1001);
        let buf = w.finish();
        let e = MessageFramer::<Compact>::default().poll(&buf, LIMITS);
        assert!(matches!(e, Err(DecodeError::Limit(_))), "{e:?}");
    }

    #[test]
    fn deep_nesting_is_an_error() {
        let mut w = Binary::writer(512);
        w.write_message_begin("get", MessageType::Call, 0);
        for _ in 0..(MAX_DEPTH + 1) {
            w.write_field_begin(TType::Struct, 1);
        }
        let buf = w.finish();
        let e = MessageFramer::<Binary>::default().poll(&buf, LIMITS);
        assert!(matches!(e, Err(DecodeError::Invalid(_))), "{e:?}");
    }

    #[test]
    fn skip_steps_over_one_value_and_reports_truncation() {
        let msg = sample::<Binary>();
        let mut r = Binary::reader(Cursor::new(&msg, 0), ());
        r.read_message_begin().expect("header");
        let body = r.position();
        skip(&mut r, TType::Struct).expect("skips");
        assert_eq!(r.remaining(), 0);
        let cut = &msg[..msg.len() - 1];
        let mut r = Binary::reader(Cursor::new(cut, body), ());
        assert!(matches!(
            skip(&mut r, TType::Struct),
            Err(DecodeError::Invalid(_))
        ));
    }
}
