//! One call's attributes, encoded once as OTLP `KeyValue`s and copied into
//! both its log record and its span.
//!
//! Go values are flattened to dotted paths (`go.arg.r.URL.Path`) with
//! OTel-typed values; a slice or array of one scalar type becomes an array
//! value, anything else is flattened by index (`go.arg.xs.0.Name`).
//!
//! Why bytes rather than `KeyValue` messages: a call has ~15 attributes,
//! and as messages each owned its key and value, built once and cloned for
//! the second signal: the largest part of the export's allocations. Here
//! the keys are one reused path buffer, the values are borrowed from the
//! call, and the encoding is written with prost's helpers in the layout
//! prost gives the messages (`reference.rs` and the tests hold them to it).

use std::fmt::Write as _;

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use prost::encoding::{encode_key, encode_varint, encoded_len_varint, key_len, WireType};

use crate::decode::GoValue;
use crate::export::Call;

/// A string attribute, as a message (the resource's few attributes).
pub fn string(key: impl Into<String>, v: impl Into<String>) -> KeyValue {
    kv(key, any_value::Value::StringValue(v.into()))
}

/// An integer attribute, as a message.
pub fn int(key: impl Into<String>, v: i64) -> KeyValue {
    kv(key, any_value::Value::IntValue(v))
}

fn kv(key: impl Into<String>, v: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(v) }),
    }
}

// Field numbers of opentelemetry/proto/common/v1/common.proto.
const KEY_VALUE_KEY: u32 = 1;
const KEY_VALUE_VALUE: u32 = 2;
pub(super) const ANY_STRING: u32 = 1;
const ANY_BOOL: u32 = 2;
const ANY_INT: u32 = 3;
const ANY_DOUBLE: u32 = 4;
const ANY_ARRAY: u32 = 5;
const ARRAY_VALUES: u32 = 1;

/// Length of a length-delimited field holding `len` bytes.
pub(super) fn delimited_len(tag: u32, len: usize) -> usize {
    key_len(tag) + encoded_len_varint(len as u64) + len
}

/// Writes a length-delimited field.
/// Writes the string attribute `key` = `value` as the repeated KeyValue
/// field `tag` of a message.
pub(super) fn put_string_attr(tag: u32, key: &str, value: &str, out: &mut Vec<u8>) {
    let value_len = delimited_len(ANY_STRING, value.len());
    let len = delimited_len(KEY_VALUE_KEY, key.len()) + delimited_len(KEY_VALUE_VALUE, value_len);
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(len as u64, out);
    put_delimited(KEY_VALUE_KEY, key.as_bytes(), out);
    encode_key(KEY_VALUE_VALUE, WireType::LengthDelimited, out);
    encode_varint(value_len as u64, out);
    put_delimited(ANY_STRING, value.as_bytes(), out);
}

/// The attribute naming a call's stack (its path's id, 16 hex digits).
pub const STACK_ID: &str = "gotel.stack.id";
/// The attribute holding a stack's frames, one `function+0xoff` a line.
pub const STACKTRACE: &str = "code.stacktrace";
/// The span event carrying a stack's frames.
pub const STACK_EVENT: &str = "gotel.stack";

pub(super) fn put_delimited(tag: u32, bytes: &[u8], out: &mut Vec<u8>) {
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

/// One `AnyValue`, as OTel types a Go value.
#[derive(Clone, Copy)]
enum Leaf<'a> {
    Str(&'a str),
    Bool(bool),
    Int(i64),
    Double(f64),
    /// An `ArrayValue`, already encoded.
    Array(&'a [u8]),
}

impl Leaf<'_> {
    /// The encoded `AnyValue`'s length. A oneof member is encoded even
    /// when it holds its type's default.
    fn len(self) -> usize {
        match self {
            Leaf::Str(s) => delimited_len(ANY_STRING, s.len()),
            Leaf::Bool(b) => prost::encoding::bool::encoded_len(ANY_BOOL, &b),
            Leaf::Int(i) => prost::encoding::int64::encoded_len(ANY_INT, &i),
            Leaf::Double(f) => prost::encoding::double::encoded_len(ANY_DOUBLE, &f),
            Leaf::Array(a) => delimited_len(ANY_ARRAY, a.len()),
        }
    }

    fn put(self, out: &mut Vec<u8>) {
        match self {
            Leaf::Str(s) => put_delimited(ANY_STRING, s.as_bytes(), out),
            Leaf::Bool(b) => prost::encoding::bool::encode(ANY_BOOL, &b, out),
            Leaf::Int(i) => prost::encoding::int64::encode(ANY_INT, &i, out),
            Leaf::Double(f) => prost::encoding::double::encode(ANY_DOUBLE, &f, out),
            Leaf::Array(a) => put_delimited(ANY_ARRAY, a, out),
        }
    }

    /// Which `AnyValue` member: an array's elements must all share one.
    fn member(self) -> u32 {
        match self {
            Leaf::Str(_) => ANY_STRING,
            Leaf::Bool(_) => ANY_BOOL,
            Leaf::Int(_) => ANY_INT,
            Leaf::Double(_) => ANY_DOUBLE,
            Leaf::Array(_) => ANY_ARRAY,
        }
    }
}

/// A scalar's value; None for values that flatten into several keys.
/// Text gotel makes up (`<nil>` aside) is written into `text`.
fn leaf<'a>(v: &'a GoValue, text: &'a mut String) -> Option<Leaf<'a>> {
    Some(match v {
        // Attributes cannot be null; Go prints nil as `<nil>`.
        GoValue::Null => Leaf::Str("<nil>"),
        GoValue::Bool(b) => Leaf::Bool(*b),
        GoValue::Int(i) => Leaf::Int(*i),
        // OTel integers are signed 64-bit: larger values keep their digits.
        GoValue::Uint(u) => match i64::try_from(*u) {
            Ok(i) => Leaf::Int(i),
            Err(_) => made(text, format_args!("{u}")),
        },
        GoValue::Float(f) => Leaf::Double(*f),
        GoValue::Pointer(p) => made(text, format_args!("{p:#x}")),
        GoValue::Str { text, .. } => Leaf::Str(text),
        GoValue::Interface(why) | GoValue::Unavailable(why) => {
            made(text, format_args!("<unavailable: {why}>"))
        }
        GoValue::Redacted(t) => Leaf::Str(t),
        // `[]byte` as text when it is printable UTF-8, else as hex (like JSONL).
        GoValue::Bytes { data, .. } => match crate::decode::printable(data) {
            Some(t) => Leaf::Str(t),
            None => {
                *text = crate::export::hex(data);
                Leaf::Str(text)
            }
        },
        GoValue::Struct(_) | GoValue::Array(_) | GoValue::Seq { .. } | GoValue::Dynamic { .. } => {
            return None
        }
    })
}

fn made<'a>(text: &'a mut String, args: std::fmt::Arguments) -> Leaf<'a> {
    text.clear();
    // Writing to a String cannot fail.
    let _ = text.write_fmt(args);
    Leaf::Str(text)
}

/// The encoded attributes of one call, reused from call to call.
#[derive(Default)]
pub struct Attributes {
    /// Each `KeyValue` as a field of the message it goes into: a key
    /// byte (set by [`Attributes::put`]), the length, the message; back to
    /// back, so that a record takes them in one copy.
    bytes: Vec<u8>,
    /// Where each ends in `bytes`.
    ends: Vec<usize>,
    /// The dotted path being flattened.
    key: String,
    /// Scratch for values gotel formats.
    text: String,
    /// Scratch for an array's elements.
    array: Vec<u8>,
}

/// The encoded list; apart from the scratch buffers, for the borrows.
struct List<'a> {
    bytes: &'a mut Vec<u8>,
    ends: &'a mut Vec<usize>,
}

impl List<'_> {
    fn push(&mut self, key: &str, value: Leaf) {
        // proto3: an empty string field is left out.
        let key_len = match key.len() {
            0 => 0,
            n => delimited_len(KEY_VALUE_KEY, n),
        };
        let value_len = value.len();
        let len = key_len + delimited_len(KEY_VALUE_VALUE, value_len);
        self.bytes.push(0);
        encode_varint(len as u64, self.bytes);
        if !key.is_empty() {
            put_delimited(KEY_VALUE_KEY, key.as_bytes(), self.bytes);
        }
        encode_key(KEY_VALUE_VALUE, WireType::LengthDelimited, self.bytes);
        encode_varint(value_len as u64, self.bytes);
        value.put(self.bytes);
        self.ends.push(self.bytes.len());
    }
}

impl Attributes {
    /// Encodes the attributes a call's log record and span share.
    pub fn encode(&mut self, call: &Call) {
        self.bytes.clear();
        self.ends.clear();
        let mut list = List {
            bytes: &mut self.bytes,
            ends: &mut self.ends,
        };
        let (key, text, array) = (&mut self.key, &mut self.text, &mut self.array);
        list.push("code.function.name", Leaf::Str(&call.function));
        list.push("gotel.probe", Leaf::Str(&call.probe));
        list.push("go.goroutine.id", Leaf::Int(call.goroutine as i64));
        list.push("thread.id", Leaf::Int(i64::from(call.tid)));
        if let Some(at) = &call.inlined_at {
            list.push("go.inlined_at", Leaf::Str(at));
        }
        for (prefix, values) in [("go.arg.", &call.args), ("go.ret.", &call.returns)] {
            for (name, v) in values {
                key.clear();
                key.push_str(prefix);
                // An unnamed value stands for a whole list DWARF does not give.
                key.push_str(if name.is_empty() { "unavailable" } else { name });
                flatten(&mut list, key, v, text, array);
            }
        }
        if let Some(d) = call.duration_ns {
            list.push("go.duration_ns", Leaf::Int(d.min(i64::MAX as u64) as i64));
        }
        if call.panicked {
            list.push("go.panicked", Leaf::Bool(true));
        }
        if let Some(u) = call.unfinished {
            list.push("go.unfinished", Leaf::Str(u.reason()));
        }
        // The call path's id on every record; its frames once per batch
        // (`encode::Encoder::requests`).
        if let Some(st) = &call.stack {
            text.clear();
            let _ = write!(text, "{:016x}", st.id);
            list.push(STACK_ID, Leaf::Str(text.as_str()));
            if st.truncated {
                list.push("gotel.stack.truncated", Leaf::Bool(true));
            }
            if let Some(why) = st.broken {
                list.push("gotel.stack.broken", Leaf::Str(why));
            }
        }
    }

    /// Encoded length as the repeated field `tag` (below 16) of a message.
    pub fn encoded_len(&self, tag: u32) -> usize {
        debug_assert_eq!(key_len(tag), 1);
        self.bytes.len()
    }

    /// Writes them as the repeated field `tag` (below 16: a one-byte key)
    /// of a message: one copy, then each item's key byte.
    pub fn put(&self, tag: u32, out: &mut Vec<u8>) {
        assert!(tag < 16, "a one-byte key");
        let key = (tag << 3) as u8 | WireType::LengthDelimited as u8;
        let base = out.len();
        out.extend_from_slice(&self.bytes);
        let mut start = 0;
        for &end in &self.ends {
            out[base + start] = key;
            start = end;
        }
    }
}

/// Appends `v` under `key`, flattened. A cut string, slice or `[]byte` also
/// gets `<key>.length` (its length in the program) and `<key>.truncated`.
/// `key` comes back as it was given.
fn flatten(list: &mut List, key: &mut String, v: &GoValue, text: &mut String, array: &mut Vec<u8>) {
    let cut = |list: &mut List, key: &mut String, len: u64| {
        let n = key.len();
        key.push_str(".length");
        list.push(key, Leaf::Int(len.min(i64::MAX as u64) as i64));
        key.truncate(n);
        key.push_str(".truncated");
        list.push(key, Leaf::Bool(true));
        key.truncate(n);
    };
    match v {
        GoValue::Struct(fields) => {
            for (name, f) in fields {
                let n = key.len();
                key.push('.');
                key.push_str(name);
                flatten(list, key, f, text, array);
                key.truncate(n);
            }
        }
        GoValue::Array(items) => elements(list, key, items, text, array),
        // An interface: its value under the key, its dynamic type beside it
        // (`type` cannot be a Go field name, so no struct field collides).
        GoValue::Dynamic { ty, value } => {
            flatten(list, key, value, text, array);
            let n = key.len();
            key.push_str(".type");
            list.push(key, Leaf::Str(ty));
            key.truncate(n);
        }
        GoValue::Seq { items, len, .. } => {
            elements(list, key, items, text, array);
            if (items.len() as u64) < *len {
                cut(list, key, *len);
            }
        }
        GoValue::Str {
            len,
            truncated: true,
            ..
        } => {
            list.push(key, leaf(v, text).expect("a string is a scalar"));
            cut(list, key, *len);
        }
        GoValue::Bytes { data, len } if (data.len() as u64) < *len => {
            list.push(key, leaf(v, text).expect("bytes are a scalar"));
            cut(list, key, *len);
        }
        _ => list.push(key, leaf(v, text).expect("composites handled above")),
    }
}

/// A slice's or array's elements: one array value when they are scalars
/// of one OTel type, else each under its index.
fn elements(
    list: &mut List,
    key: &mut String,
    items: &[GoValue],
    text: &mut String,
    array: &mut Vec<u8>,
) {
    if homogeneous(items, text) {
        array.clear();
        for item in items {
            let value = leaf(item, text).expect("checked by homogeneous");
            encode_key(ARRAY_VALUES, WireType::LengthDelimited, array);
            encode_varint(value.len() as u64, array);
            value.put(array);
        }
        list.push(key, Leaf::Array(array));
        return;
    }
    for (i, item) in items.iter().enumerate() {
        let n = key.len();
        // Writing to a String cannot fail.
        let _ = write!(key, ".{i}");
        flatten(list, key, item, text, array);
        key.truncate(n);
    }
}

/// Whether every element is a scalar of the same OTel type.
fn homogeneous(items: &[GoValue], text: &mut String) -> bool {
    let mut member = None;
    items.iter().all(|v| {
        // nil/unavailable elements would break the single type.
        if matches!(
            v,
            GoValue::Null | GoValue::Interface(_) | GoValue::Unavailable(_)
        ) {
            return false;
        }
        match leaf(v, text).map(Leaf::member) {
            Some(m) => *member.get_or_insert(m) == m,
            None => false,
        }
    })
}

#[cfg(test)]
#[path = "attributes_tests.rs"]
mod tests;
