//! Where completed calls go. JSONL on stdout is the default: one object per
//! call, in the contract documented in the README; OTLP (crate::otlp) is the
//! other sink.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

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
    /// returned.
    pub duration_ns: Option<u64>,
    /// True when a panic unwound the call: recovered by a caller, or, when
    /// `unfinished` too, the panic its process ended in.
    pub panicked: bool,
    /// Why a call that did not return ended without a panic it survived.
    pub unfinished: Option<Unfinished>,
    /// For a call that never returned: when what proved it ended was
    /// seen, a bound on its end (not in the JSONL).
    pub ended_by_unix_nano: Option<u64>,
    /// Arguments by name.
    pub args: Vec<(String, GoValue)>,
    /// Results by name (`r0`, `r1`… when unnamed).
    pub returns: Vec<(String, GoValue)>,
    /// The message of a non-nil `error` result, when the call returned one.
    pub error: Option<String>,
    /// Trace context, assigned at entry so that calls nested on the same
    /// goroutine can name this one as their parent before it ends.
    pub trace: TraceIds,
    /// The traced process this call ran in.
    pub origin: Arc<Origin>,
    /// Its callers, innermost first (`stack:`), shared by the calls from
    /// the same call path.
    pub stack: Option<Arc<crate::decode::Stack>>,
    /// Seen at an inlined site: the caller and line it was inlined at
    /// (`main.handle:42`).
    pub inlined_at: Option<String>,
}

/// Why a call ended without returning, other than a recovered panic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unfinished {
    /// Its process exited (or exec'd) while the call ran.
    ProcessEnded,
    /// Its goroutine called `runtime.Goexit`.
    Goexit,
}

impl Unfinished {
    /// The reason as the outputs spell it.
    pub fn reason(self) -> &'static str {
        match self {
            Unfinished::ProcessEnded => "the process ended",
            Unfinished::Goexit => "runtime.Goexit",
        }
    }
}

/// W3C trace context ids of one call's span.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TraceIds {
    /// Shared by every call in one tree of nested calls.
    pub trace_id: [u8; 16],
    /// This call's span.
    pub span_id: [u8; 8],
    /// The innermost enclosing probed call on the same goroutine, or the
    /// application's span the call's context carried, if any.
    pub parent_span_id: Option<[u8; 8]>,
    /// The application's span this call's tree hangs under (its own
    /// parent, or its enclosing call's): a nested call whose context
    /// carries that same span stays below its enclosing call.
    pub joined: Option<[u8; 8]>,
    /// The parent is another process's span (an incoming `traceparent`).
    pub remote_parent: bool,
}

impl TraceIds {
    /// A new trace rooted at this call.
    pub fn root() -> Self {
        TraceIds {
            trace_id: nonzero(),
            span_id: nonzero(),
            parent_span_id: None,
            joined: None,
            remote_parent: false,
        }
    }

    /// A span in `parent`'s trace, below it.
    pub fn child_of(parent: &TraceIds) -> Self {
        TraceIds {
            trace_id: parent.trace_id,
            span_id: nonzero(),
            parent_span_id: Some(parent.span_id),
            joined: parent.joined,
            remote_parent: false,
        }
    }

    /// A span in the application's trace, below its span `span_id`
    /// (`remote`: another process's).
    pub fn under_app(trace_id: [u8; 16], span_id: [u8; 8], remote: bool) -> Self {
        TraceIds {
            trace_id,
            span_id: nonzero(),
            parent_span_id: Some(span_id),
            joined: Some(span_id),
            remote_parent: remote,
        }
    }
}

/// Random ids; all-zero ids are invalid in W3C trace context.
fn nonzero<const N: usize>() -> [u8; N] {
    loop {
        let id: [u8; N] = rand::random();
        if id.iter().any(|&b| b != 0) {
            return id;
        }
    }
}

/// Lower-case hex, as W3C trace context prints ids. On the JSONL hot path:
/// no formatting machinery.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(2 * bytes.len());
    for &b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// The traced process a call ran in, as the OTLP resource describes it.
/// Built once per attachment, shared by its calls.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Origin {
    /// Process id, in gotel's PID namespace.
    pub pid: u32,
    /// Start time in clock ticks since boot: pid + start names one process.
    pub start_time: u64,
    /// The executable, as the process's mount namespace names it.
    pub exe: PathBuf,
    /// Go version from the binary's build info (`go1.24.11`).
    pub go_version: Option<String>,
    /// The probe's `service_name`, if configured.
    pub service_name: Option<String>,
    /// Kubernetes downward-API variables found in the process's environment
    /// (name, value), read at attach time: the process may be gone by the
    /// time its last calls are exported.
    pub env: Vec<(String, String)>,
    /// The process is in gotel's pod (a shared, pod-level PID namespace):
    /// gotel's own pod variables describe it too.
    pub same_pod: bool,
}

impl Origin {
    /// Describes process `pid`, reading from its environment only the
    /// variables named in `wanted`.
    pub fn of_process(
        pid: u32,
        start_time: u64,
        exe: PathBuf,
        go_version: Option<String>,
        service_name: Option<String>,
        wanted: &[&str],
    ) -> Self {
        let env = crate::proc::environ(pid, wanted);
        Origin {
            pid,
            start_time,
            exe,
            go_version,
            service_name,
            env,
            same_pod: crate::proc::shares_pod_pid_namespace(pid),
        }
    }
}

struct Fields<'a>(&'a [(String, GoValue)]);

impl Serialize for Fields<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // A list DWARF does not give is one unnamed value (plan's
        // `Value::is_whole_list`): `{"unavailable": why}`, never `{}`.
        if let [(name, v @ GoValue::Unavailable(_))] = self.0 {
            if name.is_empty() {
                return v.serialize(s);
            }
        }
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl Serialize for Call {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let n = 11
            + usize::from(self.panicked)
            + usize::from(self.unfinished.is_some())
            + usize::from(self.trace.parent_span_id.is_some())
            + 2 * usize::from(self.inlined_at.is_some())
            + self.stack.as_ref().map_or(0, |s| {
                2 + usize::from(s.truncated) + usize::from(s.broken.is_some())
            });
        let mut m = s.serialize_map(Some(n))?;
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
        if let Some(u) = self.unfinished {
            m.serialize_entry("unfinished", u.reason())?;
        }
        if let Some(at) = &self.inlined_at {
            m.serialize_entry("inlined", &true)?;
            m.serialize_entry("inlined_at", at)?;
        }
        m.serialize_entry("args", &Fields(&self.args))?;
        m.serialize_entry("returns", &Fields(&self.returns))?;
        // After the contract's fields: correlates a line with its OTLP span.
        m.serialize_entry("trace_id", &hex(&self.trace.trace_id))?;
        m.serialize_entry("span_id", &hex(&self.trace.span_id))?;
        if let Some(p) = &self.trace.parent_span_id {
            m.serialize_entry("parent_span_id", &hex(p))?;
        }
        // The callers' names, innermost first; the id names the call path
        // (the same in the OTLP records' `gotel.stack.id`).
        if let Some(st) = &self.stack {
            let names: Vec<&str> = st.frames.iter().map(|f| f.function.as_str()).collect();
            m.serialize_entry("stack", &names)?;
            if st.truncated {
                m.serialize_entry("stack_truncated", &true)?;
            }
            if let Some(why) = st.broken {
                m.serialize_entry("stack_broken", why)?;
            }
            m.serialize_entry("stack_id", &st.id_hex())?;
        }
        m.end()
    }
}

impl Call {
    /// `main.computeE(iterations=2) = 2.5 (194µs)`: a one-line summary.
    /// Built in one buffer: OTLP makes one per call (the log body).
    pub fn summary(&self) -> String {
        let mut s = String::with_capacity(self.function.len() + 64);
        // Writing to a String cannot fail.
        let _ = self.write_summary(&mut s);
        s
    }

    /// [`Call::summary`] appended to `s` (OTLP reuses one buffer).
    pub fn write_summary(&self, s: &mut String) -> std::fmt::Result {
        use std::fmt::Write as _;
        s.push_str(&self.function);
        s.push('(');
        for (i, (k, v)) in self.args.iter().enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            write!(s, "{k}={v}")?;
        }
        s.push(')');
        for (i, (_, v)) in self.returns.iter().enumerate() {
            s.push_str(if i == 0 { " = " } else { ", " });
            write!(s, "{v}")?;
        }
        match (self.duration_ns, self.panicked, self.unfinished) {
            (Some(d), _, _) => write_micros(s, d)?,
            (None, true, None) => s.push_str(" (panicked)"),
            (None, true, Some(u)) => write!(s, " (panicked; unfinished: {})", u.reason())?,
            (None, false, Some(u)) => write!(s, " (unfinished: {})", u.reason())?,
            (None, false, None) => match &self.inlined_at {
                Some(at) => write!(s, " (inlined in {at}: entry only, not timed)")?,
                None => s.push_str(" (entry only: not timed)"),
            },
        }
        Ok(())
    }
}

/// ` (<d/1000, one decimal>µs)`, the text of `{:.1}` on `d as f64 / 1000.0`:
/// in integers when they give the same digits (no tie at the rounding
/// digit, which an f64 of `d / 1000` cannot come within 1e-3 of), as
/// exact float formatting cost a tenth of the OTLP log body's time.
fn write_micros(s: &mut String, d: u64) -> std::fmt::Result {
    use std::fmt::Write as _;
    if d % 100 != 50 && d < 1 << 50 {
        let tenths = (d + 50) / 100;
        write!(s, " ({}.{}µs)", tenths / 10, tenths % 10)
    } else {
        write!(s, " ({:.1}µs)", d as f64 / 1000.0)
    }
}

/// A destination for calls.
pub trait Sink {
    /// Accepts one call; must not block for long.
    fn write(&mut self, call: &Call) -> std::io::Result<()>;
    /// Accepts one call given away: a sink that keeps calls (OTLP's queue)
    /// takes it without a copy.
    fn write_owned(&mut self, call: Call) -> std::io::Result<()> {
        self.write(&call)
    }
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

/// Every call to each of several sinks (`outputs: [jsonl, otlp]`).
pub struct Fanout(pub Vec<Box<dyn Sink>>);

impl Sink for Fanout {
    fn write(&mut self, call: &Call) -> std::io::Result<()> {
        // Every sink gets the call even when an earlier one failed.
        let mut first = Ok(());
        for s in &mut self.0 {
            if let Err(e) = s.write(call) {
                first = first.and(Err(e));
            }
        }
        first
    }

    fn write_owned(&mut self, call: Call) -> std::io::Result<()> {
        // The last sink gets the call itself, the others a look at it.
        let Some((last, rest)) = self.0.split_last_mut() else {
            return Ok(());
        };
        let mut first = Ok(());
        for s in rest {
            if let Err(e) = s.write(&call) {
                first = first.and(Err(e));
            }
        }
        first.and(last.write_owned(call))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let mut first = Ok(());
        for s in &mut self.0 {
            if let Err(e) = s.flush() {
                first = first.and(Err(e));
            }
        }
        first
    }
}

/// A call of `main.f` (probe `p`, pid/tid/goroutine 1, started at 1 ns,
/// 1 ns long, a new trace) with no values: tests override what they need.
#[cfg(test)]
impl Call {
    pub(crate) fn sample() -> Self {
        Call {
            probe: "p".into(),
            function: "main.f".into(),
            pid: 1,
            tid: 1,
            goroutine: 1,
            start_time_unix_nano: 1,
            duration_ns: Some(1),
            panicked: false,
            unfinished: None,
            ended_by_unix_nano: None,
            args: vec![],
            returns: vec![],
            error: None,
            trace: TraceIds::root(),
            origin: Arc::default(),
            stack: None,
            inlined_at: None,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn micros_are_what_float_formatting_gives() {
        let large = [1 << 40, (1 << 50) - 1, 1 << 50, u64::MAX / 3, u64::MAX];
        for d in (0..300_000)
            .chain((0..2000).map(|i| i * 997_331))
            .chain(large)
        {
            let mut s = String::new();
            super::write_micros(&mut s, d).unwrap();
            assert_eq!(s, format!(" ({:.1}µs)", d as f64 / 1000.0), "{d}");
        }
    }

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
            unfinished: None,
            ended_by_unix_nano: None,
            args: vec![("iterations".into(), GoValue::Int(2))],
            returns: vec![("r0".into(), GoValue::Unavailable("xmm".into()))],
            error: None,
            trace: TraceIds {
                trace_id: [0xab; 16],
                span_id: [1, 2, 3, 4, 5, 6, 7, 8],
                parent_span_id: Some([0xff; 8]),
                joined: None,
                remote_parent: false,
            },
            origin: Arc::default(),
            stack: None,
            inlined_at: None,
        };
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"probe":"compute_e","function":"main.computeE","pid":1,"tid":2,"goroutine":3,"start_time_unix_nano":4,"duration_ns":1500,"args":{"iterations":2},"returns":{"r0":{"unavailable":"xmm"}},"trace_id":"abababababababababababababababab","span_id":"0102030405060708","parent_span_id":"ffffffffffffffff"}"#
        );
        assert_eq!(c.summary(), "main.computeE(iterations=2) = ? (1.5µs)");
        // A crash: panicked, and the process ended with the call open.
        let crash = Call {
            duration_ns: None,
            panicked: true,
            unfinished: Some(Unfinished::ProcessEnded),
            returns: Vec::new(),
            trace: TraceIds::default(),
            ..c
        };
        let json = serde_json::to_value(&crash).unwrap();
        assert_eq!(json["panicked"], true);
        assert_eq!(json["unfinished"], "the process ended");
        assert_eq!(json["duration_ns"], serde_json::Value::Null);
        assert_eq!(
            crash.summary(),
            "main.computeE(iterations=2) (panicked; unfinished: the process ended)"
        );
        // Callers: names, the path's id, and why the list is short.
        let frame = |f: &str| crate::decode::Frame {
            function: f.into(),
            offset: 0x1d,
            source: None,
        };
        let stacked = Call {
            stack: Some(Arc::new(crate::decode::Stack {
                id: 0xabc,
                frames: vec![frame("main.b"), frame("main.a")],
                truncated: true,
                broken: Some("a frame could not be read"),
            })),
            ..crash.clone()
        };
        let json = serde_json::to_string(&stacked).unwrap();
        assert!(
            json.ends_with(r#","stack":["main.b","main.a"],"stack_truncated":true,"stack_broken":"a frame could not be read","stack_id":"0000000000000abc"}"#),
            "{json}"
        );
        let goexit = Call {
            panicked: false,
            unfinished: Some(Unfinished::Goexit),
            ..crash
        };
        assert_eq!(
            serde_json::to_value(&goexit).unwrap()["unfinished"],
            "runtime.Goexit"
        );
        assert_eq!(
            goexit.summary(),
            "main.computeE(iterations=2) (unfinished: runtime.Goexit)"
        );
        // Seen at an inlined site: marked, with its caller and line.
        let inlined = Call {
            unfinished: None,
            inlined_at: Some("main.handle:42".into()),
            ..goexit
        };
        let json = serde_json::to_value(&inlined).unwrap();
        assert_eq!(
            (&json["inlined"], &json["inlined_at"]),
            (
                &serde_json::json!(true),
                &serde_json::json!("main.handle:42")
            )
        );
        assert_eq!(
            inlined.summary(),
            "main.computeE(iterations=2) (inlined in main.handle:42: entry only, not timed)"
        );
    }

    #[test]
    fn a_list_dwarf_does_not_give_is_unavailable_not_empty() {
        let why = || GoValue::Unavailable("lost".into());
        let json = |fields: &[(String, GoValue)]| serde_json::to_string(&Fields(fields)).unwrap();
        assert_eq!(json(&[("".into(), why())]), r#"{"unavailable":"lost"}"#);
        assert_eq!(json(&[]), "{}");
        // A named value keeps its name, an unnamed one beside others too.
        assert_eq!(
            json(&[("r0".into(), why())]),
            r#"{"r0":{"unavailable":"lost"}}"#
        );
        assert_eq!(
            json(&[("".into(), why()), ("r1".into(), GoValue::Int(1))]),
            r#"{"":{"unavailable":"lost"},"r1":1}"#
        );
    }
}
