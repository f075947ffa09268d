//! Decoded values as cell bytes: what an Avro or JSON value of a record field becomes, so that
//! a record maps to the same cells as the CSV row it came from.
//!
//! Owns the text rules: strings and bytes as they are; numbers (int, long, float, double) as
//! their shortest round-trip decimal, integral values without a fraction (`142.0` is `142`),
//! never an exponent; booleans `true`/`false`; an Avro null or JSON null is empty (as an empty
//! CSV field is); enums by symbol; dates and timestamps as ISO-8601. It must never accept a
//! nested value (record, array, map, JSON object or array): a cell holds one scalar.

use apache_avro::types::Value;

/// Append a float's shortest round-trip decimal text. Rust's `Display` for floats is exactly
/// that (the shortest digits that parse back to the same value, no exponent, no `.0` on
/// integral values), so no formatting is written by hand here.
pub fn push_f64(out: &mut Vec<u8>, v: f64) {
    use std::io::Write as _;
    // Writing to a Vec cannot fail.
    let _ = write!(out, "{v}");
}

/// Append an `f32`'s shortest round-trip decimal text (shortest for `f32`, so `0.1f32` is
/// `0.1`, not the digits of its `f64` widening).
pub fn push_f32(out: &mut Vec<u8>, v: f32) {
    use std::io::Write as _;
    let _ = write!(out, "{v}");
}

fn push_int(out: &mut Vec<u8>, v: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// Append the cell bytes of an Avro value; `Err` names the type a cell cannot hold.
pub fn push_avro(out: &mut Vec<u8>, v: &Value) -> Result<(), String> {
    match v {
        Value::Null => {}
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Int(i) => push_int(out, *i),
        Value::Long(i) => push_int(out, *i),
        Value::Float(f) => push_f32(out, *f),
        Value::Double(f) => push_f64(out, *f),
        Value::Bytes(b) | Value::Fixed(_, b) => out.extend_from_slice(b),
        Value::String(s) | Value::Enum(_, s) => out.extend_from_slice(s.as_bytes()),
        Value::Union(_, inner) => push_avro(out, inner)?,
        Value::Date(days) => crate::time::push_date(out, i64::from(*days)),
        Value::TimeMillis(ms) => push_int(out, *ms),
        Value::TimeMicros(us) => push_int(out, *us),
        Value::TimestampMillis(ms) | Value::LocalTimestampMillis(ms) => {
            crate::time::push_timestamp_micros(out, ms.saturating_mul(1000));
        }
        Value::TimestampMicros(us) | Value::LocalTimestampMicros(us) => {
            crate::time::push_timestamp_micros(out, *us);
        }
        Value::TimestampNanos(ns) | Value::LocalTimestampNanos(ns) => {
            crate::time::push_timestamp_micros(out, ns.div_euclid(1000));
        }
        Value::Uuid(u) => out.extend_from_slice(u.hyphenated().to_string().as_bytes()),
        Value::Array(_) => return Err("an array, which a cell cannot hold".into()),
        Value::Map(_) => return Err("a map, which a cell cannot hold".into()),
        Value::Record(_) => return Err("a record, which a cell cannot hold".into()),
        Value::Decimal(_) | Value::BigDecimal(_) | Value::Duration(_) => {
            return Err("a decimal or duration, which strata consume does not convert".into());
        }
    }
    Ok(())
}

/// Append the cell bytes of a JSON value; `Err` for an object or array.
pub fn push_json(out: &mut Vec<u8>, v: &serde_json::Value) -> Result<(), String> {
    match v {
        serde_json::Value::Null => {}
        serde_json::Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                push_int(out, i);
            } else if let Some(u) = n.as_u64() {
                push_int(out, u);
            } else if let Some(f) = n.as_f64() {
                push_f64(out, f);
            } else {
                return Err(format!("the number {n} is out of range"));
            }
        }
        serde_json::Value::String(s) => out.extend_from_slice(s.as_bytes()),
        serde_json::Value::Array(_) => return Err("an array, which a cell cannot hold".into()),
        serde_json::Value::Object(_) => return Err("an object, which a cell cannot hold".into()),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn avro(v: Value) -> String {
        let mut out = Vec::new();
        push_avro(&mut out, &v).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn json(s: &str) -> String {
        let mut out = Vec::new();
        push_json(&mut out, &serde_json::from_str(s).unwrap()).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn numbers_are_shortest_round_trip_without_a_fraction_when_integral() {
        assert_eq!(avro(Value::Double(142.0)), "142");
        assert_eq!(avro(Value::Double(-6.2)), "-6.2");
        assert_eq!(avro(Value::Double(106.827153)), "106.827153");
        assert_eq!(avro(Value::Double(0.1 + 0.2)), "0.30000000000000004");
        assert_eq!(avro(Value::Double(1e21)), "1000000000000000000000");
        assert_eq!(avro(Value::Double(1.5e-7)), "0.00000015");
        assert_eq!(avro(Value::Float(0.1)), "0.1");
        assert_eq!(avro(Value::Float(2.0)), "2");
        assert_eq!(avro(Value::Int(-7)), "-7");
        assert_eq!(avro(Value::Long(9_007_199_254_740_993)), "9007199254740993");
        // Every text parses back to the same double.
        for v in [142.0, -6.123450, 1.0 / 3.0, 5e-324, f64::MAX, 191247.0] {
            let t = avro(Value::Double(v));
            assert_eq!(t.parse::<f64>().unwrap(), v, "{t}");
            assert!(!t.contains('e'), "{t}");
        }
        assert_eq!(json("142.0"), "142");
        assert_eq!(json("142"), "142");
        assert_eq!(json("-0.25"), "-0.25");
        assert_eq!(json("18446744073709551615"), "18446744073709551615");
    }

    #[test]
    fn nulls_unions_and_scalars() {
        assert_eq!(avro(Value::Null), "");
        assert_eq!(avro(Value::Union(1, Box::new(Value::Null))), "");
        assert_eq!(
            avro(Value::Union(0, Box::new(Value::String("{'a': 1}".into())))),
            "{'a': 1}"
        );
        assert_eq!(avro(Value::Boolean(true)), "true");
        assert_eq!(avro(Value::Enum(2, "WEB".into())), "WEB");
        let mut raw = Vec::new();
        push_avro(&mut raw, &Value::Bytes(vec![0xff, 0])).unwrap();
        assert_eq!(raw, vec![0xff, 0]);
        assert_eq!(avro(Value::Date(19_202)), "2022-07-29");
        assert_eq!(
            avro(Value::TimestampMicros(1_659_108_121_458_193)),
            "2022-07-29T15:22:01.458193Z"
        );
        assert_eq!(
            avro(Value::TimestampMillis(1_659_108_121_458)),
            "2022-07-29T15:22:01.458000Z"
        );
        assert_eq!(json("null"), "");
        assert_eq!(json("false"), "false");
        assert_eq!(json("\"Gopay\""), "Gopay");
    }

    #[test]
    fn nested_values_are_refused() {
        let mut out = Vec::new();
        assert!(push_avro(&mut out, &Value::Array(vec![])).is_err());
        assert!(push_avro(&mut out, &Value::Record(vec![])).is_err());
        assert!(push_json(&mut out, &serde_json::json!({"a": 1})).is_err());
        assert!(push_json(&mut out, &serde_json::json!([1])).is_err());
    }
}
