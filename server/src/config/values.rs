//! The value types of the settings: sizes (`64MiB`), durations (`30s`) and the HTTP listen
//! address (`off` or an address), each parsed from a flag or a TOML value and printed back in
//! the same syntax.
//!
//! This module must never know which setting a value belongs to: `mod.rs` names them.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;

/// The leading decimal number of a setting and the unit after it (`64KiB` -> 64, "KiB"),
/// or None when it does not start with a number that fits a u64.
fn number_and_unit(s: &str) -> Option<(u64, &str)> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    Some((num.parse().ok()?, unit))
}

/// A size in bytes. Parses `1048576`, `64KiB`, `64MiB`, `1GiB` (also `K`, `M`, `G`, binary),
/// `64KB`, `64MB`, `1GB` (decimal), case-insensitively.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl FromStr for ByteSize {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (n, unit) = number_and_unit(s)
            .ok_or_else(|| format!("{s:?} is not a size such as 1048576, 64KiB, 64MiB or 1GiB"))?;
        let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kib" => 1 << 10,
            "m" | "mib" => 1 << 20,
            "g" | "gib" => 1 << 30,
            "kb" => 1_000,
            "mb" => 1_000_000,
            "gb" => 1_000_000_000,
            other => {
                return Err(format!(
                    "unknown size unit {other:?} in {s:?}: use B, KiB, MiB, GiB, KB, MB or GB"
                ));
            }
        };
        n.checked_mul(mult)
            .map(ByteSize)
            .ok_or_else(|| format!("size {s:?} is too large"))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        for (unit, m) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
            if n >= m && n.is_multiple_of(m) {
                return write!(f, "{}{unit}", n / m);
            }
        }
        write!(f, "{n}B")
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Int(n) => Ok(ByteSize(n)),
            Raw::Text(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// A duration setting (a flag or TOML value). Parses `60` (seconds), `60s`, `500ms`, `2m`.
/// In this workspace `Span` always means a length of time; a range of bytes is the loader's
/// `ByteRange`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span(pub Duration);

impl FromStr for Span {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (n, unit) = number_and_unit(s)
            .ok_or_else(|| format!("{s:?} is not a duration such as 60s, 500ms or 2m"))?;
        let d = match unit.trim() {
            "" | "s" => Duration::from_secs(n),
            "ms" => Duration::from_millis(n),
            "m" | "min" => Duration::from_secs(n.saturating_mul(60)),
            other => {
                return Err(format!(
                    "unknown duration unit {other:?} in {s:?}: use ms, s or m"
                ));
            }
        };
        Ok(Span(d))
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms.is_multiple_of(1000) {
            write!(f, "{}s", ms / 1000)
        } else {
            write!(f, "{ms}ms")
        }
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Int(n) => Ok(Span(Duration::from_secs(n))),
            Raw::Text(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// The `http_listen` setting: an address, or `off`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpListen {
    /// No HTTP server.
    Off,
    /// Listen on this address.
    At(SocketAddr),
}

impl FromStr for HttpListen {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.trim().eq_ignore_ascii_case("off") {
            return Ok(HttpListen::Off);
        }
        s.trim()
            .parse()
            .map(HttpListen::At)
            .map_err(|_| format!("{s:?} is neither an address such as 127.0.0.1:8080 nor off"))
    }
}

impl fmt::Display for HttpListen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpListen::Off => f.write_str("off"),
            HttpListen::At(a) => write!(f, "{a}"),
        }
    }
}

impl<'de> Deserialize<'de> for HttpListen {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Where the HTTP server listens, and whether that was asked for: an address given
/// explicitly that is taken is a start-up error, while a taken default only disables HTTP
/// (with a warning), so a second server on one machine still starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpBinding {
    /// No HTTP server.
    Off,
    /// The built-in default address.
    Default(SocketAddr),
    /// An address from the flags or the file.
    Explicit(SocketAddr),
}
