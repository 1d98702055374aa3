//! Conditions on a call: a probe's `when` (on its arguments, at entry) and
//! `when_return` (on its arguments, results and `duration`, at return).
//!
//! ```text
//! expr    := and ("||" and)*
//! and     := unary ("&&" unary)*
//! unary   := "!" unary | "(" expr ")" | compare
//! compare := operand (("==" | "!=" | "<" | "<=" | ">" | ">=") operand)?
//!          | "strings.HasPrefix" "(" path "," string ")"
//! operand := path | integer | float | string | duration | "nil" | "true" | "false"
//! path    := name ("." name)*          e.g. amount, user.Name, err, r0, duration
//! ```
//!
//! A lone operand is its truth (a bool, or non-nil). Durations are `5ms`,
//! `1.5s`, `250us`, `100ns`, `2m`, `1h`. A value the call did not capture (or
//! captured cut short, where that decides) makes the condition unknown,
//! and an unknown condition keeps the call: nothing is hidden for want of
//! a value.

use crate::decode::GoValue;

/// A parse error at a byte position of the expression.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at column {}: {message}", pos + 1)]
pub struct ConditionError {
    /// 0-based byte offset.
    pub pos: usize,
    /// What is wrong, and what would be right.
    pub message: String,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// One side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// A captured value by name, then field names.
    Path(Vec<String>),
    /// An integer literal.
    Int(i128),
    /// A float literal.
    Float(f64),
    /// A string literal.
    Str(String),
    /// A duration literal, in ns.
    Duration(u64),
    /// `nil`.
    Nil,
    /// `true` / `false`.
    Bool(bool),
}

/// A parsed condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// Any of these.
    Or(Vec<Condition>),
    /// All of these.
    And(Vec<Condition>),
    /// Not this.
    Not(Box<Condition>),
    /// A comparison.
    Compare(Operand, Cmp, Operand),
    /// An operand's own truth.
    Truth(Operand),
    /// `strings.HasPrefix(path, "prefix")`.
    HasPrefix(Vec<String>, String),
}

/// What a condition reads of a call.
pub trait Values {
    /// The value at `path` (a name, then field names), if captured.
    fn get(&self, path: &[String]) -> Option<&GoValue>;
    /// The call's duration in ns, when it returned.
    fn duration(&self) -> Option<u64>;
}

impl Condition {
    /// Parses `text`.
    pub fn parse(text: &str) -> Result<Condition, ConditionError> {
        let mut p = Parser { text, pos: 0 };
        let c = p.or()?;
        p.skip_space();
        if p.pos < text.len() {
            return Err(p.error("expected `&&`, `||` or the end"));
        }
        Ok(c)
    }

    /// The first names of every path it reads (`user` of `user.Name`).
    pub fn roots(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.visit(&mut |path| out.push(path[0].as_str()));
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Every path it reads.
    pub fn paths(&self) -> Vec<&[String]> {
        let mut out = Vec::new();
        self.visit(&mut |path| out.push(path));
        out
    }

    fn visit<'a>(&'a self, f: &mut dyn FnMut(&'a [String])) {
        let operand = |o: &'a Operand, f: &mut dyn FnMut(&'a [String])| {
            if let Operand::Path(p) = o {
                f(p)
            }
        };
        match self {
            Condition::Or(cs) | Condition::And(cs) => cs.iter().for_each(|c| c.visit(f)),
            Condition::Not(c) => c.visit(f),
            Condition::Compare(a, _, b) => {
                operand(a, f);
                operand(b, f);
            }
            Condition::Truth(o) => operand(o, f),
            Condition::HasPrefix(p, _) => f(p),
        }
    }

    /// True, false, or None when a value it needs was not captured.
    pub fn eval(&self, v: &dyn Values) -> Option<bool> {
        match self {
            // Three-valued: a known true (or false) decides regardless of
            // the unknowns.
            Condition::Or(cs) => {
                let mut unknown = false;
                for c in cs {
                    match c.eval(v) {
                        Some(true) => return Some(true),
                        None => unknown = true,
                        Some(false) => {}
                    }
                }
                (!unknown).then_some(false)
            }
            Condition::And(cs) => {
                let mut unknown = false;
                for c in cs {
                    match c.eval(v) {
                        Some(false) => return Some(false),
                        None => unknown = true,
                        Some(true) => {}
                    }
                }
                (!unknown).then_some(true)
            }
            Condition::Not(c) => c.eval(v).map(|b| !b),
            Condition::Truth(o) => match value(o, v)? {
                Val::Bool(b) => Some(b),
                Val::Nil => Some(false),
                Val::NonNil => Some(true),
                _ => None,
            },
            Condition::Compare(a, op, b) => compare(value(a, v)?, *op, value(b, v)?),
            Condition::HasPrefix(path, prefix) => match v.get(path)? {
                GoValue::Str {
                    text, truncated, ..
                } => {
                    if text.starts_with(prefix.as_str()) {
                        Some(true)
                    } else if *truncated && prefix.starts_with(text.as_str()) {
                        None
                    } else {
                        Some(false)
                    }
                }
                _ => None,
            },
        }
    }
}

/// An operand's value, as conditions compare it.
#[derive(Debug, Clone, PartialEq)]
enum Val {
    Int(i128),
    Float(f64),
    Bool(bool),
    /// A string: its captured text, full length, and whether cut short.
    Str(String, u64, bool),
    Nil,
    /// A pointer, interface or error that is not nil.
    NonNil,
}

fn value(o: &Operand, v: &dyn Values) -> Option<Val> {
    Some(match o {
        Operand::Int(i) => Val::Int(*i),
        Operand::Float(f) => Val::Float(*f),
        Operand::Str(s) => Val::Str(s.clone(), s.len() as u64, false),
        Operand::Duration(ns) => Val::Int(i128::from(*ns)),
        Operand::Nil => Val::Nil,
        Operand::Bool(b) => Val::Bool(*b),
        Operand::Path(p) if p.len() == 1 && p[0] == "duration" && v.get(p).is_none() => {
            Val::Int(i128::from(v.duration()?))
        }
        Operand::Path(p) => match v.get(p)? {
            GoValue::Null => Val::Nil,
            GoValue::Bool(b) => Val::Bool(*b),
            GoValue::Int(i) => Val::Int(i128::from(*i)),
            GoValue::Uint(u) => Val::Int(i128::from(*u)),
            GoValue::Float(f) => Val::Float(*f),
            GoValue::Str {
                text,
                len,
                truncated,
            } => Val::Str(text.clone(), *len, *truncated),
            GoValue::Pointer(0) => Val::Nil,
            GoValue::Pointer(_)
            | GoValue::Struct(_)
            | GoValue::Interface(_)
            | GoValue::Dynamic { .. }
            | GoValue::Seq { .. }
            | GoValue::Array(_)
            | GoValue::Bytes { .. } => Val::NonNil,
            GoValue::Unavailable(_) | GoValue::Redacted(_) => return None,
        },
    })
}

fn compare(a: Val, op: Cmp, b: Val) -> Option<bool> {
    use std::cmp::Ordering;
    let ord: Option<Ordering> = match (&a, &b) {
        (Val::Int(x), Val::Int(y)) => Some(x.cmp(y)),
        (Val::Float(x), Val::Float(y)) => x.partial_cmp(y),
        (Val::Int(x), Val::Float(y)) => (*x as f64).partial_cmp(y),
        (Val::Float(x), Val::Int(y)) => x.partial_cmp(&(*y as f64)),
        (Val::Str(x, xl, xt), Val::Str(y, yl, yt)) => {
            // A string cut short is known to differ only by its length or
            // its captured prefix.
            if (*xt || *yt)
                && (xl != yl || !(x.starts_with(y.as_str()) || y.starts_with(x.as_str())))
            {
                return match op {
                    Cmp::Eq => Some(false),
                    Cmp::Ne => Some(true),
                    _ => None,
                };
            }
            if *xt || *yt {
                return None;
            }
            Some(x.cmp(y))
        }
        (Val::Bool(x), Val::Bool(y)) => match op {
            Cmp::Eq | Cmp::Ne => Some(x.cmp(y)),
            _ => return None,
        },
        (Val::Nil | Val::NonNil, Val::Nil | Val::NonNil) => {
            let same = matches!((&a, &b), (Val::Nil, Val::Nil));
            return match (op, same) {
                (Cmp::Eq, s) => Some(s),
                (Cmp::Ne, s) => Some(!s),
                _ => None,
            };
        }
        // A value compared with nil: only pointers and interfaces can be.
        (_, Val::Nil) | (Val::Nil, _) => {
            return match op {
                Cmp::Eq => Some(false),
                Cmp::Ne => Some(true),
                _ => None,
            }
        }
        _ => None,
    };
    let ord = ord?;
    Some(match op {
        Cmp::Eq => ord == Ordering::Equal,
        Cmp::Ne => ord != Ordering::Equal,
        Cmp::Lt => ord == Ordering::Less,
        Cmp::Le => ord != Ordering::Greater,
        Cmp::Gt => ord == Ordering::Greater,
        Cmp::Ge => ord != Ordering::Less,
    })
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn error(&self, message: &str) -> ConditionError {
        ConditionError {
            pos: self.pos,
            message: message.into(),
        }
    }

    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    fn skip_space(&mut self) {
        let trimmed = self.rest().trim_start();
        self.pos = self.text.len() - trimmed.len();
    }

    /// Consumes `token` (after spaces) if it is next.
    fn eat(&mut self, token: &str) -> bool {
        self.skip_space();
        if self.rest().starts_with(token) {
            self.pos += token.len();
            true
        } else {
            false
        }
    }

    fn or(&mut self) -> Result<Condition, ConditionError> {
        let mut all = vec![self.and()?];
        while self.eat("||") {
            all.push(self.and()?);
        }
        Ok(match all.len() {
            1 => all.pop().expect("one"),
            _ => Condition::Or(all),
        })
    }

    fn and(&mut self) -> Result<Condition, ConditionError> {
        let mut all = vec![self.unary()?];
        while self.eat("&&") {
            all.push(self.unary()?);
        }
        Ok(match all.len() {
            1 => all.pop().expect("one"),
            _ => Condition::And(all),
        })
    }

    fn unary(&mut self) -> Result<Condition, ConditionError> {
        self.skip_space();
        if self.rest().starts_with('!') && !self.rest().starts_with("!=") {
            self.pos += 1;
            return Ok(Condition::Not(Box::new(self.unary()?)));
        }
        if self.eat("(") {
            let c = self.or()?;
            if !self.eat(")") {
                return Err(self.error("expected `)`"));
            }
            return Ok(c);
        }
        if self.eat("strings.HasPrefix") {
            if !self.eat("(") {
                return Err(self.error("expected `(`: strings.HasPrefix(path, \"prefix\")"));
            }
            let Operand::Path(path) = self.operand()? else {
                return Err(self.error("strings.HasPrefix's first argument is a value's name"));
            };
            if !self.eat(",") {
                return Err(self.error("expected `,`"));
            }
            let Operand::Str(prefix) = self.operand()? else {
                return Err(self.error("strings.HasPrefix's second argument is a string literal"));
            };
            if !self.eat(")") {
                return Err(self.error("expected `)`"));
            }
            return Ok(Condition::HasPrefix(path, prefix));
        }
        let left = self.operand()?;
        self.skip_space();
        let ops = [
            ("==", Cmp::Eq),
            ("!=", Cmp::Ne),
            ("<=", Cmp::Le),
            (">=", Cmp::Ge),
            ("<", Cmp::Lt),
            (">", Cmp::Gt),
        ];
        for (token, op) in ops {
            if self.eat(token) {
                let right = self.operand()?;
                if !matches!(left, Operand::Path(_)) && !matches!(right, Operand::Path(_)) {
                    return Err(self.error("compares two constants: name a value of the call"));
                }
                return Ok(Condition::Compare(left, op, right));
            }
        }
        if self.rest().starts_with('=') {
            return Err(self.error("`=` is not a comparison; use `==`"));
        }
        Ok(Condition::Truth(left))
    }

    fn operand(&mut self) -> Result<Operand, ConditionError> {
        self.skip_space();
        let start = self.pos;
        let rest = self.rest();
        let Some(c) = rest.chars().next() else {
            return Err(self.error("expected a value, a name or a literal"));
        };
        if c == '"' {
            return self.string();
        }
        if c.is_ascii_digit() || (c == '-' && rest[1..].starts_with(|d: char| d.is_ascii_digit())) {
            return self.number(start);
        }
        if c.is_alphabetic() || c == '_' || c == '~' {
            let mut path = Vec::new();
            loop {
                let name: String = self
                    .rest()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '~')
                    .collect();
                if name.is_empty() {
                    return Err(self.error("expected a field name after `.`"));
                }
                self.pos += name.len();
                path.push(name);
                if !self.rest().starts_with('.') {
                    break;
                }
                self.pos += 1;
            }
            return Ok(match (path.len(), path[0].as_str()) {
                (1, "nil") => Operand::Nil,
                (1, "true") => Operand::Bool(true),
                (1, "false") => Operand::Bool(false),
                _ => Operand::Path(path),
            });
        }
        Err(self.error(&format!(
            "unexpected `{c}`: expected a value's name or a literal"
        )))
    }

    fn string(&mut self) -> Result<Operand, ConditionError> {
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        let mut chars = self.rest().char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.pos += i + 1;
                    return Ok(Operand::Str(out));
                }
                '\\' => match chars.next() {
                    Some((_, 'n')) => out.push('\n'),
                    Some((_, 't')) => out.push('\t'),
                    Some((_, e @ ('"' | '\\'))) => out.push(e),
                    _ => {
                        self.pos += i;
                        return Err(self.error("unknown escape; use \\\", \\\\, \\n or \\t"));
                    }
                },
                c => out.push(c),
            }
        }
        self.pos = start;
        Err(self.error("string not closed with `\"`"))
    }

    fn number(&mut self, start: usize) -> Result<Operand, ConditionError> {
        let token: String = self
            .rest()
            .chars()
            .enumerate()
            .take_while(|(i, c)| {
                c.is_ascii_alphanumeric() || *c == '.' || *c == '_' || (*i == 0 && *c == '-')
            })
            .map(|(_, c)| c)
            .collect();
        self.pos += token.len();
        let bad = |what: &str| ConditionError {
            pos: start,
            message: format!("`{token}` is not {what}"),
        };
        let digits = token.trim_end_matches(|c: char| c.is_ascii_alphabetic());
        let unit = &token[digits.len()..];
        if let Some(hex) = token.strip_prefix("0x") {
            return i128::from_str_radix(&hex.replace('_', ""), 16)
                .map(Operand::Int)
                .map_err(|_| bad("a hexadecimal integer"));
        }
        if !unit.is_empty() {
            let scale = match unit {
                "ns" => 1.0,
                "us" => 1e3,
                "ms" => 1e6,
                "s" => 1e9,
                "m" => 60e9,
                "h" => 3600e9,
                _ => return Err(bad("a number or a duration (ns, us, ms, s, m, h)")),
            };
            return match digits.replace('_', "").parse::<f64>() {
                Ok(n) if n >= 0.0 => Ok(Operand::Duration((n * scale).round() as u64)),
                _ => Err(bad("a duration")),
            };
        }
        let plain = digits.replace('_', "");
        if let Ok(i) = plain.parse::<i128>() {
            return Ok(Operand::Int(i));
        }
        plain
            .parse::<f64>()
            .map(Operand::Float)
            .map_err(|_| bad("a number"))
    }
}

#[cfg(test)]
#[path = "condition_tests.rs"]
mod tests;
