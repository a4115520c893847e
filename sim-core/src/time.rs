//! Simulated time: an integer count of nanoseconds, never a float, so that
//! event order cannot depend on rounding.

use std::fmt;
use std::ops::{Add, AddAssign, Sub};

/// A point in simulated time, in nanoseconds since the start of the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimTime(pub u64);

/// A span of simulated time, in nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimDuration(pub u64);

pub const NANOS_PER_SEC: u64 = 1_000_000_000;

impl SimTime {
    pub const ZERO: SimTime = SimTime(0);
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / NANOS_PER_SEC as f64
    }
    /// Time elapsed since `earlier`, zero if `earlier` is later.
    pub fn since(self, earlier: SimTime) -> SimDuration {
        SimDuration(self.0.saturating_sub(earlier.0))
    }
}

impl SimDuration {
    pub const ZERO: SimDuration = SimDuration(0);
    pub fn from_secs(s: u64) -> Self {
        SimDuration(s * NANOS_PER_SEC)
    }
    pub fn from_millis(ms: u64) -> Self {
        SimDuration(ms * 1_000_000)
    }
    /// Rounds to the nearest nanosecond; negative or non-finite values give zero.
    #[inline]
    pub fn from_secs_f64(s: f64) -> Self {
        // Adding ½ and truncating rounds a non-negative value to nearest
        // without a libm call. The common case first, in one range test
        // (false for NaN): below 2^63 the signed conversion is the unsigned
        // one, and cheaper — a billion GPU steps a simulated day come here.
        let ns = s * NANOS_PER_SEC as f64 + 0.5;
        if ns > 0.5 && ns < 9.2e18 {
            SimDuration(ns as i64 as u64)
        } else if s.is_finite() && s > 0.0 {
            SimDuration(ns as u64)
        } else {
            SimDuration(0)
        }
    }
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / NANOS_PER_SEC as f64
    }
    pub fn saturating_mul(self, k: u64) -> Self {
        SimDuration(self.0.saturating_mul(k))
    }
}

impl Add<SimDuration> for SimTime {
    type Output = SimTime;
    fn add(self, d: SimDuration) -> SimTime {
        SimTime(self.0.saturating_add(d.0))
    }
}
impl AddAssign<SimDuration> for SimTime {
    fn add_assign(&mut self, d: SimDuration) {
        self.0 = self.0.saturating_add(d.0);
    }
}
impl Add for SimDuration {
    type Output = SimDuration;
    fn add(self, d: SimDuration) -> SimDuration {
        SimDuration(self.0.saturating_add(d.0))
    }
}
impl Sub for SimTime {
    type Output = SimDuration;
    fn sub(self, o: SimTime) -> SimDuration {
        self.since(o)
    }
}

/// Parses durations written as in CometBFT's config.toml: a number followed by
/// a unit (`ns`, `us`, `ms`, `s`, `m`, `h`, `d`), e.g. `"3s"`, `"500ms"`, `"1.5h"`.
/// A bare number is refused: a duration without its unit is a common mistake.
pub fn parse_duration(text: &str) -> Result<SimDuration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| {
            format!("duration {text:?} has no unit (use e.g. \"500ms\", \"3s\", \"1h\")")
        })?;
    let (num, unit) = t.split_at(split);
    if num.is_empty() {
        return Err(format!("duration {text:?} does not start with a number"));
    }
    let value: f64 = num
        .parse()
        .map_err(|_| format!("duration {text:?}: {num:?} is not a number"))?;
    let scale: f64 = match unit.trim() {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" | "min" => 60e9,
        "h" => 3600e9,
        "d" => 86400e9,
        other => {
            return Err(format!(
                "duration {text:?}: unknown unit {other:?} (use ns, us, ms, s, m, h or d)"
            ));
        }
    };
    let ns = value * scale;
    if !ns.is_finite() || ns > u64::MAX as f64 / 2.0 {
        return Err(format!("duration {text:?} is too large"));
    }
    Ok(SimDuration(ns.round() as u64))
}

impl fmt::Display for SimDuration {
    /// Writes the shortest exact form that `parse_duration` reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = self.0;
        let units = [
            (86_400 * NANOS_PER_SEC, "d"),
            (3600 * NANOS_PER_SEC, "h"),
            (60 * NANOS_PER_SEC, "m"),
            (NANOS_PER_SEC, "s"),
            (1_000_000, "ms"),
            (1_000, "us"),
        ];
        if ns == 0 {
            return write!(f, "0s");
        }
        for (scale, unit) in units {
            if ns.is_multiple_of(scale) {
                return write!(f, "{}{}", ns / scale, unit);
            }
        }
        write!(f, "{ns}ns")
    }
}

impl serde::Serialize for SimDuration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> serde::Deserialize<'de> for SimDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_duration(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cometbft_style_durations() {
        assert_eq!(parse_duration("3s").unwrap(), SimDuration(3_000_000_000));
        assert_eq!(parse_duration("500ms").unwrap(), SimDuration(500_000_000));
        assert_eq!(
            parse_duration("1.5h").unwrap(),
            SimDuration(5_400_000_000_000)
        );
        assert_eq!(parse_duration("250us").unwrap(), SimDuration(250_000));
        assert!(parse_duration("3").is_err());
        assert!(parse_duration("3 sec").is_err());
        assert!(parse_duration("ms").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn display_round_trips() {
        for ns in [
            0u64,
            1,
            1_000,
            1_500_000,
            3_000_000_000,
            3_600_000_000_000,
            86_400_000_000_000,
            1_234_567,
        ] {
            let d = SimDuration(ns);
            assert_eq!(parse_duration(&d.to_string()).unwrap(), d);
        }
    }

    /// Rounding to the nearest nanosecond, on both sides of the switch
    /// between the signed and the unsigned conversion (2^63 ns ≈ 292 years),
    /// and the values that give zero.
    #[test]
    fn from_secs_f64_rounds_to_the_nearest_nanosecond() {
        assert_eq!(SimDuration::from_secs_f64(1.4e-9), SimDuration(1));
        assert_eq!(SimDuration::from_secs_f64(1.6e-9), SimDuration(2));
        assert_eq!(SimDuration::from_secs_f64(0.25), SimDuration(250_000_000));
        assert_eq!(
            SimDuration::from_secs_f64(9.1e9),
            SimDuration(9_100_000_000_000_000_000)
        );
        assert_eq!(
            SimDuration::from_secs_f64(9.3e9),
            SimDuration(9_300_000_000_000_000_000)
        );
        assert_eq!(
            SimDuration::from_secs_f64(1e12),
            SimDuration(u64::MAX),
            "saturates"
        );
        for zero in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert_eq!(SimDuration::from_secs_f64(zero), SimDuration(0), "{zero}");
        }
    }
}
