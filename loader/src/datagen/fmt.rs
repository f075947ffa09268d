//! Allocation-free formatting of generated CSV values into a line buffer: CSV field quoting,
//! UUIDs, integers and fixed-point decimals.
//! It must never allocate per field or decide what a value is.

/// Append `field` to `out`, quoted if it holds the delimiter, a quote, CR or LF (inner quotes
/// doubled), as RFC 4180 and the csv crate's `QuoteStyle::Necessary` do.
pub fn push_field(out: &mut Vec<u8>, field: &[u8]) {
    if field
        .iter()
        .any(|&c| matches!(c, b',' | b'"' | b'\r' | b'\n'))
    {
        out.push(b'"');
        for &c in field {
            if c == b'"' {
                out.push(b'"');
            }
            out.push(c);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(field);
    }
}

/// Append an integer.
pub fn push_int<I: itoa::Integer>(out: &mut Vec<u8>, v: I) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// Append a version-4 UUID (lowercase, dashed) made from 128 random bits.
pub fn push_uuid(out: &mut Vec<u8>, hi: u64, lo: u64) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let hi = (hi & 0xffff_ffff_ffff_0fff) | 0x0000_0000_0000_4000;
    let lo = (lo & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
    let bytes = (u128::from(hi) << 64 | u128::from(lo)).to_be_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push(b'-');
        }
        out.push(HEX[(b >> 4) as usize]);
        out.push(HEX[(b & 15) as usize]);
    }
}

/// Append `units / 10^decimals` with exactly `decimals` digits after the point.
pub fn push_fixed(out: &mut Vec<u8>, units: i64, decimals: u32) {
    let scale = 10i64.pow(decimals);
    if units < 0 {
        out.push(b'-');
    }
    let a = units.unsigned_abs();
    push_int(out, a / scale as u64);
    out.push(b'.');
    let frac = a % scale as u64;
    let digits = itoa::Buffer::new().format(frac).len() as u32;
    for _ in digits..decimals {
        out.push(b'0');
    }
    push_int(out, frac);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_uuids_and_decimals() {
        let mut b = Vec::new();
        push_field(&mut b, b"plain");
        b.push(b',');
        push_field(&mut b, b"a,b \"q\"");
        assert_eq!(b, b"plain,\"a,b \"\"q\"\"\"");
        let mut u = Vec::new();
        push_uuid(&mut u, u64::MAX, 0);
        assert_eq!(u, b"ffffffff-ffff-4fff-8000-000000000000");
        let mut f = Vec::new();
        push_fixed(&mut f, -6_200_123, 6);
        f.push(b' ');
        push_fixed(&mut f, 106_000_001, 6);
        f.push(b' ');
        push_fixed(&mut f, -5, 6);
        assert_eq!(f, b"-6.200123 106.000001 -0.000005");
    }
}
