//! The condition language: parsing (with positions in errors) and
//! three-valued evaluation on decoded values.

use super::*;

struct Call(Vec<(String, GoValue)>, Option<u64>);

impl Values for Call {
    fn get(&self, path: &[String]) -> Option<&GoValue> {
        let mut v = &self.0.iter().find(|(n, _)| *n == path[0])?.1;
        for field in &path[1..] {
            v = match v {
                GoValue::Struct(fs) => &fs.iter().find(|(n, _)| n == field)?.1,
                _ => return None,
            };
        }
        Some(v)
    }
    fn duration(&self) -> Option<u64> {
        self.1
    }
}

fn s(t: &str) -> GoValue {
    GoValue::Str {
        text: t.into(),
        len: t.len() as u64,
        truncated: false,
    }
}

fn call() -> Call {
    Call(
        vec![
            ("amount".into(), GoValue::Int(150)),
            (
                "user".into(),
                GoValue::Struct(vec![
                    ("Name".into(), s("alice")),
                    ("Admin".into(), GoValue::Bool(true)),
                ]),
            ),
            ("err".into(), GoValue::Null),
            ("ratio".into(), GoValue::Float(0.5)),
            ("path".into(), s("/api/v1/users")),
        ],
        Some(7_000_000),
    )
}

fn eval(text: &str) -> Option<bool> {
    Condition::parse(text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .eval(&call())
}

#[test]
fn the_issues_examples_evaluate_on_the_calls_values() {
    assert_eq!(eval(r#"amount > 100 && user.Name != "test""#), Some(true));
    assert_eq!(eval("err != nil || duration > 5ms"), Some(true));
    assert_eq!(eval("err != nil || duration > 8ms"), Some(false));
    assert_eq!(eval("err == nil"), Some(true));
    assert_eq!(eval("!(amount <= 150) || user.Admin"), Some(true));
    assert_eq!(eval("user.Admin && !user.Admin"), Some(false));
    assert_eq!(eval(r#"strings.HasPrefix(path, "/api/")"#), Some(true));
    assert_eq!(eval(r#"strings.HasPrefix(path, "/web")"#), Some(false));
    assert_eq!(eval("ratio >= 0.5 && ratio < 1"), Some(true));
    assert_eq!(eval("amount == 0x96"), Some(true));
    assert_eq!(eval("amount == 1_000"), Some(false));
    assert_eq!(eval("duration == 7ms && duration < 1.5s"), Some(true));
}

#[test]
fn a_value_not_captured_makes_it_unknown_unless_the_rest_decides() {
    assert_eq!(eval("missing > 1"), None);
    assert_eq!(eval("missing > 1 || amount > 100"), Some(true));
    assert_eq!(eval("missing > 1 && amount > 1000"), Some(false));
    assert_eq!(eval("user.Nope == 1"), None);
    // A string cut short: equal to a longer literal cannot be told.
    let cut = Call(
        vec![(
            "s".into(),
            GoValue::Str {
                text: "abc".into(),
                len: 10,
                truncated: true,
            },
        )],
        None,
    );
    let e = |t: &str| Condition::parse(t).unwrap().eval(&cut);
    assert_eq!(e(r#"s == "abcdefghij""#), None);
    assert_eq!(e(r#"s == "abd_______x""#), Some(false));
    assert_eq!(e(r#"s == "abc""#), Some(false));
    assert_eq!(e(r#"strings.HasPrefix(s, "ab")"#), Some(true));
    assert_eq!(e(r#"strings.HasPrefix(s, "abcd")"#), None);
    assert_eq!(e("duration > 1ms"), None);
}

#[test]
fn errors_say_where_and_what() {
    let err = |t: &str| Condition::parse(t).unwrap_err().to_string();
    assert_eq!(
        err("amount > "),
        "at column 10: expected a value, a name or a literal"
    );
    assert_eq!(
        err("amount = 3"),
        "at column 8: `=` is not a comparison; use `==`"
    );
    assert_eq!(err("(amount > 3"), "at column 12: expected `)`");
    assert_eq!(
        err(r#"name == "abc"#),
        "at column 9: string not closed with `\"`"
    );
    assert_eq!(
        err("amount > 3 amount"),
        "at column 12: expected `&&`, `||` or the end"
    );
    assert_eq!(
        err("d > 5parsecs"),
        "at column 5: `5parsecs` is not a number or a duration (ns, us, ms, s, m, h)"
    );
    assert_eq!(
        err("1 == 2"),
        "at column 7: compares two constants: name a value of the call"
    );
    assert_eq!(
        err("a > #"),
        "at column 5: unexpected `#`: expected a value's name or a literal"
    );
}

#[test]
fn roots_are_the_names_read() {
    let c =
        Condition::parse(r#"amount > 1 && user.Name == "x" || strings.HasPrefix(p, "a") || !err"#)
            .unwrap();
    assert_eq!(c.roots(), ["amount", "err", "p", "user"]);
}
