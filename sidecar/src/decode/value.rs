//! The decoded value, its JSON (as gotel prints it) and its one-line
//! Go-like text.

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

/// A decoded Go value.
#[derive(Debug, Clone, PartialEq)]
pub enum GoValue {
    /// nil pointer, nil interface.
    Null,
    /// bool.
    Bool(bool),
    /// Signed integer.
    Int(i64),
    /// Unsigned integer.
    Uint(u64),
    /// Float read from memory.
    Float(f64),
    /// A pointer value.
    Pointer(u64),
    /// A string, possibly cut at `max_string_len`.
    Str {
        /// The captured bytes, lossily UTF-8.
        text: String,
        /// The full length in the program.
        len: u64,
        /// True when `text` is a prefix.
        truncated: bool,
    },
    /// Struct fields in order.
    Struct(Vec<(String, GoValue)>),
    /// Array elements.
    Array(Vec<GoValue>),
    /// A non-nil interface whose dynamic type gotel cannot name.
    Interface(String),
    /// A non-nil interface: its dynamic type and value.
    Dynamic {
        /// The dynamic type, `int`, `*main.Point`.
        ty: String,
        /// Its value (a pointer type shows what it points to).
        value: Box<GoValue>,
    },
    /// A slice's first elements.
    Seq {
        /// The elements copied.
        items: Vec<GoValue>,
        /// The slice's length.
        len: u64,
        /// Its capacity, when read.
        cap: Option<u64>,
    },
    /// A `[]byte`'s first bytes.
    Bytes {
        /// The bytes copied.
        data: Vec<u8>,
        /// The slice's length.
        len: u64,
    },
    /// Not capturable, with the reason.
    Unavailable(String),
    /// Never copied out of the program (`redact:`): the replacement to show.
    Redacted(String),
}

/// Why a captured value is missing: the BPF read failed.
pub(super) const READ_FAULT: &str = "memory could not be read at the probe (paged out or invalid)";

impl GoValue {
    /// A string of `len` bytes in the program, of which `bytes` were copied.
    pub(super) fn captured(bytes: &[u8], len: u64) -> Self {
        GoValue::Str {
            text: String::from_utf8_lossy(bytes).into_owned(),
            len,
            truncated: (bytes.len() as u64) < len,
        }
    }

    /// A string gotel built whole (an error message, a function name).
    pub(super) fn text(text: String) -> Self {
        GoValue::Str {
            len: text.len() as u64,
            text,
            truncated: false,
        }
    }

    /// A value whose memory the BPF program could not read.
    pub(super) fn fault() -> Self {
        GoValue::Unavailable(READ_FAULT.into())
    }
}

/// A `[]byte` as text, when it is printable UTF-8 (tabs and newlines
/// allowed): JSONL and OTLP show it so, and as hex otherwise.
pub fn printable(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok().filter(|t| {
        t.chars()
            .all(|c| !c.is_control() || matches!(c, '\n' | '\t' | '\r'))
    })
}

impl Serialize for GoValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            GoValue::Null => s.serialize_unit(),
            GoValue::Bool(b) => s.serialize_bool(*b),
            GoValue::Int(i) => s.serialize_i64(*i),
            GoValue::Uint(u) => s.serialize_u64(*u),
            GoValue::Float(f) if f.is_finite() => s.serialize_f64(*f),
            // JSON has no NaN/Inf: print them as Go does.
            GoValue::Float(f) => s.serialize_str(&format!("{f:?}").replace("inf", "Inf")),
            GoValue::Pointer(p) => s.serialize_str(&format!("{p:#x}")),
            GoValue::Str {
                text,
                truncated: false,
                ..
            } => s.serialize_str(text),
            GoValue::Str {
                text,
                len,
                truncated: true,
            } => {
                let mut m = s.serialize_map(Some(3))?;
                m.serialize_entry("string", text)?;
                m.serialize_entry("truncated", &true)?;
                m.serialize_entry("length", len)?;
                m.end()
            }
            GoValue::Struct(fields) => {
                let mut m = s.serialize_map(Some(fields.len()))?;
                for (k, v) in fields {
                    m.serialize_entry(k, v)?;
                }
                m.end()
            }
            GoValue::Array(items) => {
                let mut q = s.serialize_seq(Some(items.len()))?;
                for v in items {
                    q.serialize_element(v)?;
                }
                q.end()
            }
            // In the value's place, as a string: a consumer reading the
            // field finds the replacement, never a hole.
            GoValue::Redacted(text) => s.serialize_str(text),
            GoValue::Interface(why) | GoValue::Unavailable(why) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("unavailable", why)?;
                m.end()
            }
            GoValue::Dynamic { ty, value } => {
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry("type", ty)?;
                match value.as_ref() {
                    GoValue::Unavailable(why) => m.serialize_entry("unavailable", why)?,
                    v => m.serialize_entry("value", v)?,
                }
                m.end()
            }
            // Complete: a plain array. Cut at max_elems: flagged, like strings.
            GoValue::Seq { items, len, .. } if items.len() as u64 == *len => items.serialize(s),
            GoValue::Seq { items, len, cap } => {
                let mut m = s.serialize_map(Some(4))?;
                m.serialize_entry("elements", items)?;
                m.serialize_entry("truncated", &true)?;
                m.serialize_entry("length", len)?;
                m.serialize_entry("cap", cap)?;
                m.end()
            }
            GoValue::Bytes { data, len } => {
                let (key, text) = match printable(data) {
                    Some(t) => ("string", t.to_string()),
                    None => ("hex", crate::export::hex(data)),
                };
                if key == "string" && data.len() as u64 == *len {
                    return s.serialize_str(&text);
                }
                let mut m = s.serialize_map(Some(3))?;
                m.serialize_entry(key, &text)?;
                if (data.len() as u64) < *len {
                    m.serialize_entry("truncated", &true)?;
                    m.serialize_entry("length", len)?;
                }
                m.end()
            }
        }
    }
}

impl std::fmt::Display for GoValue {
    /// Go-like rendering for one-line summaries.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GoValue::Null => f.write_str("nil"),
            GoValue::Bool(b) => write!(f, "{b}"),
            GoValue::Int(i) => write!(f, "{i}"),
            GoValue::Uint(u) => write!(f, "{u}"),
            GoValue::Float(x) => write!(f, "{x}"),
            GoValue::Pointer(p) => write!(f, "{p:#x}"),
            GoValue::Str {
                text, truncated, ..
            } => {
                write!(f, "{text:?}")?;
                if *truncated {
                    f.write_str("…")?;
                }
                Ok(())
            }
            GoValue::Struct(fields) => {
                f.write_str("{")?;
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k}: {v}")?;
                }
                f.write_str("}")
            }
            GoValue::Array(items) => {
                f.write_str("[")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            GoValue::Seq { items, len, .. } => {
                f.write_str("[")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{v}")?;
                }
                if (items.len() as u64) < *len {
                    write!(f, " …{len}")?;
                }
                f.write_str("]")
            }
            GoValue::Bytes { data, .. } => write!(f, "{:?}", String::from_utf8_lossy(data)),
            GoValue::Interface(_) | GoValue::Unavailable(_) => f.write_str("?"),
            GoValue::Redacted(text) => f.write_str(text),
            GoValue::Dynamic { ty, value } => write!(f, "{ty}({value})"),
        }
    }
}
