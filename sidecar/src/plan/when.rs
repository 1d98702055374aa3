//! A probe's `when`, compiled for the BPF program: tests on the entry
//! site's resolved ops and a postfix program over them, so that a call
//! whose arguments fail it costs no copy and no record. Only conditions
//! whose every test the kernel can decide exactly as `condition` would are
//! compiled (integers and bools against constants, nil checks of pointers
//! and interfaces, string equality and prefixes up to 32 bytes); others
//! are evaluated on the decoded values alone. The kernel drops a call only
//! when the condition is known false; userspace evaluates it again.

use crate::condition::{Cmp, Condition, Operand};
use crate::plan::{ScalarKind, Shape, SitePlan};
use crate::recipe::{
    RawRecipe, RawTest, CMP_EQ, CMP_GE, CMP_GT, CMP_LE, CMP_LT, CMP_NE, MAX_TESTS, MAX_WHEN,
    TEST_SIGNED, TEST_STR, TEST_STR_EQ, TEST_STR_PREFIX, TEST_UNSIGNED, WHEN_AND, WHEN_NOT,
    WHEN_OR,
};

/// Writes `c`, compiled against the entry site `site`, into its recipe;
/// false (recipe unchanged) when some part of it is not for the kernel.
pub fn compile_into(c: &Condition, site: &SitePlan, recipe: &mut RawRecipe) -> bool {
    let mut w = Compiler {
        site,
        tests: Vec::new(),
        prog: Vec::new(),
    };
    if w.cond(c).is_none() || w.tests.len() > MAX_TESTS || w.prog.len() > MAX_WHEN {
        return false;
    }
    recipe.n_tests = w.tests.len() as u8;
    recipe.n_when = w.prog.len() as u8;
    recipe.tests[..w.tests.len()].copy_from_slice(&w.tests);
    recipe.when[..w.prog.len()].copy_from_slice(&w.prog);
    true
}

struct Compiler<'a> {
    site: &'a SitePlan,
    tests: Vec<RawTest>,
    prog: Vec<u8>,
}

/// What a path names at the site, as far as the kernel can test it.
enum Leaf {
    /// An integer op: (op, signed, size).
    Number(usize, bool, u8),
    /// A bool op.
    Bool(usize),
    /// An op reading a word that is 0 for nil (a pointer, an interface's type).
    Nilable(usize),
    /// A string op.
    Str(usize),
}

impl Compiler<'_> {
    fn cond(&mut self, c: &Condition) -> Option<()> {
        match c {
            Condition::Or(cs) | Condition::And(cs) => {
                let step = match c {
                    Condition::Or(_) => WHEN_OR,
                    _ => WHEN_AND,
                };
                let (first, rest) = cs.split_first()?;
                self.cond(first)?;
                for c in rest {
                    self.cond(c)?;
                    self.prog.push(step);
                }
            }
            Condition::Not(c) => {
                self.cond(c)?;
                self.prog.push(WHEN_NOT);
            }
            Condition::Truth(Operand::Path(p)) => match self.leaf(p)? {
                Leaf::Bool(op) => self.test(TEST_UNSIGNED, op, CMP_NE, 1, 0),
                Leaf::Nilable(op) => self.test(TEST_UNSIGNED, op, CMP_NE, 8, 0),
                _ => return None,
            },
            Condition::Truth(_) => return None,
            Condition::HasPrefix(p, lit) => match self.leaf(p)? {
                Leaf::Str(op) => self.string(TEST_STR_PREFIX, op, lit)?,
                _ => return None,
            },
            Condition::Compare(a, cmp, b) => {
                // The path on the left: `3 < x` is `x > 3`.
                let (path, cmp, lit) = match (a, b) {
                    (Operand::Path(p), lit) => (p, *cmp, lit),
                    (lit, Operand::Path(p)) => (p, flip(*cmp), lit),
                    _ => return None,
                };
                let code = cmp_code(cmp);
                match (self.leaf(path)?, lit) {
                    (Leaf::Number(op, signed, size), Operand::Int(n)) => {
                        let value = match signed {
                            true => i64::try_from(*n).ok()? as u64,
                            false => u64::try_from(*n).ok()?,
                        };
                        let kind = if signed { TEST_SIGNED } else { TEST_UNSIGNED };
                        self.test(kind, op, code, size, value);
                    }
                    (Leaf::Bool(op), Operand::Bool(b)) if is_eq(cmp) => {
                        self.test(TEST_UNSIGNED, op, code, 1, u64::from(*b));
                    }
                    (Leaf::Nilable(op), Operand::Nil) if is_eq(cmp) => {
                        self.test(TEST_UNSIGNED, op, code, 8, 0);
                    }
                    (Leaf::Str(op), Operand::Str(s)) if is_eq(cmp) => {
                        self.string(TEST_STR_EQ, op, s)?;
                        if cmp == Cmp::Ne {
                            self.prog.push(WHEN_NOT);
                        }
                    }
                    _ => return None,
                }
            }
        }
        Some(())
    }

    /// The testable op at `path` (a value's name, then field names through
    /// structs and pointers).
    fn leaf(&self, path: &[String]) -> Option<Leaf> {
        let (first, fields) = path.split_first()?;
        let mut shape = &self.site.values.iter().find(|v| &v.name == first)?.shape;
        for f in fields {
            while let Shape::Pointer { pointee, .. } = shape {
                shape = pointee;
            }
            shape = match shape {
                Shape::Struct(fs) => &fs.iter().find(|(n, _)| n == f)?.1,
                _ => return None,
            };
        }
        Some(match shape {
            Shape::Scalar { op, kind, size } => match kind {
                ScalarKind::Int => Leaf::Number(*op, true, *size),
                ScalarKind::Uint => Leaf::Number(*op, false, *size),
                ScalarKind::Bool => Leaf::Bool(*op),
                ScalarKind::Pointer => Leaf::Nilable(*op),
                ScalarKind::Float => return None,
            },
            Shape::Pointer { addr_op, .. } => Leaf::Nilable(*addr_op),
            Shape::Interface { type_op, .. } => Leaf::Nilable(*type_op),
            Shape::String { op } => Leaf::Str(*op),
            _ => return None,
        })
    }

    fn test(&mut self, kind: u8, op: usize, cmp: u8, size: u8, value: u64) {
        self.prog.push(self.tests.len() as u8);
        self.tests.push(RawTest {
            kind,
            op: op as u8,
            cmp,
            size,
            value,
            ..RawTest::default()
        });
    }

    fn string(&mut self, kind: u8, op: usize, lit: &str) -> Option<()> {
        let bytes = lit.as_bytes();
        if bytes.len() > TEST_STR {
            return None;
        }
        let mut str = [0u8; TEST_STR];
        str[..bytes.len()].copy_from_slice(bytes);
        self.prog.push(self.tests.len() as u8);
        self.tests.push(RawTest {
            kind,
            op: op as u8,
            len: bytes.len() as u32,
            str,
            ..RawTest::default()
        });
        Some(())
    }
}

fn is_eq(c: Cmp) -> bool {
    matches!(c, Cmp::Eq | Cmp::Ne)
}

fn flip(c: Cmp) -> Cmp {
    match c {
        Cmp::Lt => Cmp::Gt,
        Cmp::Le => Cmp::Ge,
        Cmp::Gt => Cmp::Lt,
        Cmp::Ge => Cmp::Le,
        other => other,
    }
}

fn cmp_code(c: Cmp) -> u8 {
    match c {
        Cmp::Eq => CMP_EQ,
        Cmp::Ne => CMP_NE,
        Cmp::Lt => CMP_LT,
        Cmp::Le => CMP_LE,
        Cmp::Gt => CMP_GT,
        Cmp::Ge => CMP_GE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Value;

    fn site() -> SitePlan {
        let v = |name: &str, shape: Shape| Value {
            name: name.into(),
            ty: String::new(),
            location: String::new(),
            shape,
        };
        let scalar = |op, kind, size| Shape::Scalar { op, kind, size };
        SitePlan {
            span: None,
            traceparent: None,
            stack: None,
            recipe: RawRecipe::default(),
            values: vec![
                v("a", scalar(0, ScalarKind::Int, 4)),
                v("s", Shape::String { op: 1 }),
                v(
                    "p",
                    Shape::Pointer {
                        addr_op: 2,
                        pointee: Box::new(Shape::Struct(vec![(
                            "N".into(),
                            scalar(3, ScalarKind::Uint, 8),
                        )])),
                    },
                ),
                v("f", scalar(4, ScalarKind::Float, 8)),
                v("ok", scalar(5, ScalarKind::Bool, 1)),
                v("u", scalar(6, ScalarKind::Uint, 1)),
            ],
        }
    }

    fn compiled(text: &str) -> Option<RawRecipe> {
        let mut r = RawRecipe::default();
        compile_into(&Condition::parse(text).unwrap(), &site(), &mut r).then_some(r)
    }

    #[test]
    fn what_the_kernel_can_decide_is_compiled_to_tests_and_a_postfix_program() {
        let r = compiled(r#"3 < a && !(s == "x") || p == nil || p.N >= 7 && ok"#).unwrap();
        let t = &r.tests[..usize::from(r.n_tests)];
        let kinds: Vec<(u8, u8, u8, u8, u64)> = t
            .iter()
            .map(|t| (t.kind, t.op, t.cmp, t.size, t.value))
            .collect();
        assert_eq!(
            kinds,
            [
                (TEST_SIGNED, 0, CMP_GT, 4, 3),
                (TEST_STR_EQ, 1, 0, 0, 0),
                (TEST_UNSIGNED, 2, CMP_EQ, 8, 0),
                (TEST_UNSIGNED, 3, CMP_GE, 8, 7),
                (TEST_UNSIGNED, 5, CMP_NE, 1, 0),
            ]
        );
        assert_eq!((t[1].len, &t[1].str[..2]), (1, &b"x\0"[..]));
        let prog = &r.when[..usize::from(r.n_when)];
        assert_eq!(
            prog,
            [0, 1, WHEN_NOT, WHEN_AND, 2, WHEN_OR, 3, 4, WHEN_AND, WHEN_OR]
        );
        assert_eq!(compiled("a == -2").unwrap().tests[0].value, (-2i64) as u64);
    }

    #[test]
    fn what_it_cannot_decide_exactly_stays_with_userspace() {
        for text in [
            "f > 1",                                        // floats
            "u",                                            // the truth of a number
            "u == -1",                                      // out of an unsigned range
            "a == s",                                       // two values
            r#"s < "b""#,                                   // string order
            r#"s == "0123456789012345678901234567890123""#, // a literal over 32 bytes
            "ok && duration > 1ms",                         // not captured at entry
            "a > 1 && a > 2 && a > 3 && a > 4 && a > 5 && a > 6 && a > 7 && a > 8 && a > 9",
        ] {
            assert!(compiled(text).is_none(), "{text}");
        }
    }
}
