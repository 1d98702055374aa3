//! The attribute mapping, read back through prost's decoder.

use super::*;
use any_value::Value as V;
use opentelemetry_proto::tonic::common::v1::ArrayValue;
use prost::Message;

/// The encoded attributes, decoded back by prost (each after its key byte).
fn decoded(a: &Attributes) -> Vec<(String, V)> {
    let mut start = 0;
    a.ends
        .iter()
        .map(|&end| {
            let kv =
                KeyValue::decode_length_delimited(&a.bytes[start + 1..end]).expect("a KeyValue");
            start = end;
            (kv.key, kv.value.unwrap().value.unwrap())
        })
        .collect()
}

fn flat(v: &GoValue) -> Vec<(String, V)> {
    let mut a = Attributes::default();
    let mut list = List {
        bytes: &mut a.bytes,
        ends: &mut a.ends,
    };
    let mut key = "go.arg.x".to_string();
    flatten(&mut list, &mut key, v, &mut a.text, &mut a.array);
    assert_eq!(key, "go.arg.x", "the key comes back as given");
    decoded(&a)
}

fn s(t: &str) -> GoValue {
    GoValue::Str {
        text: t.into(),
        len: t.len() as u64,
        truncated: false,
    }
}

#[test]
fn scalars_keep_their_types() {
    assert_eq!(
        flat(&GoValue::Int(-3)),
        vec![("go.arg.x".into(), V::IntValue(-3))]
    );
    assert_eq!(
        flat(&GoValue::Uint(u64::MAX)),
        vec![(
            "go.arg.x".into(),
            V::StringValue("18446744073709551615".into())
        )]
    );
    assert_eq!(
        flat(&GoValue::Float(0.5)),
        vec![("go.arg.x".into(), V::DoubleValue(0.5))]
    );
    assert_eq!(
        flat(&GoValue::Bool(true)),
        vec![("go.arg.x".into(), V::BoolValue(true))]
    );
    assert_eq!(
        flat(&GoValue::Null),
        vec![("go.arg.x".into(), V::StringValue("<nil>".into()))]
    );
    assert_eq!(
        flat(&GoValue::Unavailable("float in XMM0".into())),
        vec![(
            "go.arg.x".into(),
            V::StringValue("<unavailable: float in XMM0>".into())
        )]
    );
}

#[test]
fn structs_flatten_to_dotted_paths_and_cut_values_say_so() {
    let v = GoValue::Struct(vec![
        ("Name".into(), s("ann")),
        (
            "Bio".into(),
            GoValue::Str {
                text: "abc".into(),
                len: 10,
                truncated: true,
            },
        ),
        (
            "Inner".into(),
            GoValue::Struct(vec![("N".into(), GoValue::Int(1))]),
        ),
    ]);
    assert_eq!(
        flat(&v),
        vec![
            ("go.arg.x.Name".into(), V::StringValue("ann".into())),
            ("go.arg.x.Bio".into(), V::StringValue("abc".into())),
            ("go.arg.x.Bio.length".into(), V::IntValue(10)),
            ("go.arg.x.Bio.truncated".into(), V::BoolValue(true)),
            ("go.arg.x.Inner.N".into(), V::IntValue(1)),
        ]
    );
}

#[test]
fn interfaces_flatten_their_value_and_name_its_type() {
    let v = GoValue::Dynamic {
        ty: "*main.Point".into(),
        value: Box::new(GoValue::Struct(vec![("X".into(), GoValue::Int(1))])),
    };
    assert_eq!(
        flat(&v),
        vec![
            ("go.arg.x.X".into(), V::IntValue(1)),
            ("go.arg.x.type".into(), V::StringValue("*main.Point".into())),
        ]
    );
}

#[test]
fn homogeneous_slices_are_arrays_others_flatten_by_index() {
    let ints = GoValue::Seq {
        items: vec![GoValue::Int(1), GoValue::Int(2)],
        len: 5,
        cap: Some(8),
    };
    let arr = |vals: Vec<V>| {
        V::ArrayValue(ArrayValue {
            values: vals
                .into_iter()
                .map(|v| AnyValue { value: Some(v) })
                .collect(),
        })
    };
    assert_eq!(
        flat(&ints),
        vec![
            ("go.arg.x".into(), arr(vec![V::IntValue(1), V::IntValue(2)])),
            ("go.arg.x.length".into(), V::IntValue(5)),
            ("go.arg.x.truncated".into(), V::BoolValue(true)),
        ]
    );
    let mixed = GoValue::Array(vec![s("a"), GoValue::Null]);
    assert_eq!(
        flat(&mixed),
        vec![
            ("go.arg.x.0".into(), V::StringValue("a".into())),
            ("go.arg.x.1".into(), V::StringValue("<nil>".into())),
        ]
    );
    assert_eq!(
        flat(&GoValue::Seq {
            items: vec![],
            len: 0,
            cap: Some(0)
        }),
        vec![("go.arg.x".into(), arr(vec![]))]
    );
}

#[test]
fn a_list_dwarf_does_not_give_is_one_unavailable_attribute() {
    let why = || GoValue::Unavailable("lost".into());
    let call = Call {
        function: "asm.F".into(),
        args: vec![("".into(), why())],
        returns: vec![("".into(), why())],
        ..Call::sample()
    };
    let mut a = Attributes::default();
    a.encode(&call);
    let attrs: Vec<(String, V)> = decoded(&a)
        .into_iter()
        .filter(|(k, _)| k.starts_with("go.arg") || k.starts_with("go.ret"))
        .collect();
    assert_eq!(
        attrs,
        vec![
            (
                "go.arg.unavailable".into(),
                V::StringValue("<unavailable: lost>".into())
            ),
            (
                "go.ret.unavailable".into(),
                V::StringValue("<unavailable: lost>".into())
            ),
        ]
    );
}

#[test]
fn a_call_at_an_inlined_site_names_its_caller() {
    let call = Call {
        function: "main.add".into(),
        duration_ns: None,
        inlined_at: Some("main.first:40".into()),
        ..Call::sample()
    };
    let mut a = Attributes::default();
    a.encode(&call);
    let attrs: Vec<(String, V)> = decoded(&a)
        .into_iter()
        .filter(|(k, _)| k == "go.inlined_at")
        .collect();
    assert_eq!(
        attrs,
        vec![(
            "go.inlined_at".into(),
            V::StringValue("main.first:40".into())
        )]
    );
    // The reference encoder agrees.
    let reference = crate::otlp::reference::call_attributes(&call);
    assert!(reference.iter().any(|kv| kv.key == "go.inlined_at"));
}
