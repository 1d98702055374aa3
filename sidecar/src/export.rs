//! Where completed calls go. JSONL on stdout is the default: one object per
//! call, in the contract documented in the README.

use std::io::Write;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use crate::decode::GoValue;

/// One completed call of a probed function.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The probe's name.
    pub probe: String,
    /// The full Go function name.
    pub function: String,
    /// Process id.
    pub pid: u32,
    /// Thread that entered the call.
    pub tid: u32,
    /// Goroutine id.
    pub goroutine: u64,
    /// Wall-clock start.
    pub start_time_unix_nano: u64,
    /// Entry to return, from BPF timestamps; None when the call never
    /// returned (unwound by a panic).
    pub duration_ns: Option<u64>,
    /// True when a recovered panic unwound the call (no results, no end).
    pub panicked: bool,
    /// Arguments by name.
    pub args: Vec<(String, GoValue)>,
    /// Results by name (`r0`, `r1`… when unnamed).
    pub returns: Vec<(String, GoValue)>,
}

struct Fields<'a>(&'a [(String, GoValue)]);

impl Serialize for Fields<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl Serialize for Call {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(9 + usize::from(self.panicked)))?;
        m.serialize_entry("probe", &self.probe)?;
        m.serialize_entry("function", &self.function)?;
        m.serialize_entry("pid", &self.pid)?;
        m.serialize_entry("tid", &self.tid)?;
        m.serialize_entry("goroutine", &self.goroutine)?;
        m.serialize_entry("start_time_unix_nano", &self.start_time_unix_nano)?;
        m.serialize_entry("duration_ns", &self.duration_ns)?;
        if self.panicked {
            m.serialize_entry("panicked", &true)?;
        }
        m.serialize_entry("args", &Fields(&self.args))?;
        m.serialize_entry("returns", &Fields(&self.returns))?;
        m.end()
    }
}

impl Call {
    /// `main.computeE(iterations=2) = 2.5 (194µs)`: a one-line summary.
    pub fn summary(&self) -> String {
        let args: Vec<String> = self.args.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let rets: Vec<String> = self.returns.iter().map(|(_, v)| v.to_string()).collect();
        let mut s = format!("{}({})", self.function, args.join(", "));
        if !rets.is_empty() {
            s.push_str(" = ");
            s.push_str(&rets.join(", "));
        }
        match self.duration_ns {
            Some(d) => s.push_str(&format!(" ({:.1}µs)", d as f64 / 1000.0)),
            None => s.push_str(" (panicked)"),
        }
        s
    }
}

/// A destination for calls.
pub trait Sink {
    /// Accepts one call; must not block for long.
    fn write(&mut self, call: &Call) -> std::io::Result<()>;
    /// Pushes buffered output out.
    fn flush(&mut self) -> std::io::Result<()>;
}

/// JSON lines on any writer (stdout by default).
pub struct JsonLines<W: Write> {
    out: std::io::BufWriter<W>,
}

impl<W: Write> JsonLines<W> {
    /// Wraps a writer.
    pub fn new(w: W) -> Self {
        JsonLines {
            out: std::io::BufWriter::with_capacity(64 * 1024, w),
        }
    }
}

impl<W: Write> Sink for JsonLines<W> {
    fn write(&mut self, call: &Call) -> std::io::Result<()> {
        serde_json::to_writer(&mut self.out, call)?;
        self.out.write_all(b"\n")
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape_matches_the_contract() {
        let c = Call {
            probe: "compute_e".into(),
            function: "main.computeE".into(),
            pid: 1,
            tid: 2,
            goroutine: 3,
            start_time_unix_nano: 4,
            duration_ns: Some(1500),
            panicked: false,
            args: vec![("iterations".into(), GoValue::Int(2))],
            returns: vec![("r0".into(), GoValue::Unavailable("xmm".into()))],
        };
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"probe":"compute_e","function":"main.computeE","pid":1,"tid":2,"goroutine":3,"start_time_unix_nano":4,"duration_ns":1500,"args":{"iterations":2},"returns":{"r0":{"unavailable":"xmm"}}}"#
        );
        assert_eq!(c.summary(), "main.computeE(iterations=2) = ? (1.5µs)");
    }
}
