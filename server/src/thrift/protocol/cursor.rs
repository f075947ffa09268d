//! Checked access to an input buffer: the one place that takes bytes off a message, so that
//! every read is bounds-checked and "not enough bytes" is always reported the same way (with
//! the input length that would be enough).
//!
//! A cursor never panics and never allocates; it hands out slices of its buffer, or shares the
//! buffer's allocation when the buffer is a [`Bytes`].

use bytes::Bytes;

use super::DecodeError;

/// Reads a protocol's length prefix.
pub type Length<'a> = fn(&mut Cursor<'a>) -> Result<usize, DecodeError>;

/// A read position in a buffer.
#[derive(Clone, Copy, Debug)]
pub struct Cursor<'a> {
    buf: &'a [u8],
    owner: Option<&'a Bytes>,
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at `pos` of a plain buffer (binaries are copied out of it).
    pub fn new(buf: &'a [u8], pos: usize) -> Cursor<'a> {
        Cursor {
            buf,
            owner: None,
            pos: pos.min(buf.len()),
        }
    }

    /// A cursor at the start of a shared buffer (binaries share its allocation).
    pub fn shared(bytes: &'a Bytes) -> Cursor<'a> {
        Cursor {
            buf: bytes.as_ref(),
            owner: Some(bytes),
            pos: 0,
        }
    }

    /// Bytes consumed.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn end_of(&self, n: usize) -> Result<usize, DecodeError> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or_else(|| DecodeError::Limit(format!("a length of {n} bytes is impossible")))?;
        if end > self.buf.len() {
            return Err(DecodeError::Incomplete { need: end });
        }
        Ok(end)
    }

    /// The next `n` bytes, without consuming them.
    pub fn peek(&self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.end_of(n)?;
        Ok(&self.buf[self.pos..end])
    }

    /// The next `n` bytes, consumed.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let s = self.peek(n)?;
        self.pos += n;
        Ok(s)
    }

    /// The next `N` bytes as an array, consumed.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    /// One byte, consumed.
    pub fn byte(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    /// The next `n` bytes as [`Bytes`] (shared with the buffer when it is one), consumed.
    pub fn bytes(&mut self, n: usize) -> Result<Bytes, DecodeError> {
        let start = self.pos;
        let s = self.take(n)?;
        Ok(match self.owner {
            Some(owner) => owner.slice(start..start + n),
            None => Bytes::copy_from_slice(s),
        })
    }

    /// A byte string whose length `len` reads first, consumed (atomically: on error the
    /// cursor is unchanged).
    pub fn prefixed(&mut self, len: Length<'a>) -> Result<Bytes, DecodeError> {
        let mut c = *self;
        let n = len(&mut c)?;
        let b = c.bytes(n)?;
        *self = c;
        Ok(b)
    }

    /// Step over a byte string whose length `len` reads first (atomically).
    pub fn skip_prefixed(&mut self, len: Length<'a>) -> Result<(), DecodeError> {
        let mut c = *self;
        let n = len(&mut c)?;
        c.take(n)?;
        *self = c;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_input_reports_the_length_needed_and_consumes_nothing() {
        let mut c = Cursor::new(&[1, 2, 3], 1);
        assert_eq!(c.take(5), Err(DecodeError::Incomplete { need: 6 }));
        assert_eq!(c.position(), 1);
        assert_eq!(c.take(2), Ok(&[2u8, 3][..]));
        assert_eq!(c.remaining(), 0);
        assert_eq!(c.byte(), Err(DecodeError::Incomplete { need: 4 }));
    }

    #[test]
    fn an_overflowing_length_is_a_limit_error() {
        let mut c = Cursor::new(&[0; 4], 2);
        assert!(matches!(c.take(usize::MAX), Err(DecodeError::Limit(_))));
    }

    #[test]
    fn shared_buffers_are_not_copied() {
        let b = Bytes::from_static(b"hello world");
        let mut c = Cursor::shared(&b);
        c.take(6).expect("present");
        let w = c.bytes(5).expect("present");
        assert_eq!(&w[..], b"world");
        assert_eq!(w.as_ptr(), b[6..].as_ptr());
    }
}
