//! Raw DWARF types → the resolved [`TypeTable`], on demand: only types a
//! signature or a runtime type reaches are built.

use std::collections::HashMap;

use gimli::DebugInfoOffset;

use super::raw_types::{RawType, Types};
use super::Param;
use crate::golang::types::{Field, GoType, Kind, TypeId, TypeTable};

pub(super) struct Resolver<'a> {
    raw: &'a Types<'a>,
    table: TypeTable,
    memo: HashMap<DebugInfoOffset, TypeId>,
}

/// Splits a method symbol into its package path and receiver:
/// `net/http.(*Server).Serve` → (`net/http`, `(*Server)`), `main.T.M` →
/// (`main`, `T`). None for plain functions and generic receivers.
fn receiver_of(func: &str) -> Option<(&str, &str)> {
    let slash = func.rfind('/').map_or(0, |i| i + 1);
    let dot = slash + func[slash..].find('.')?;
    let (pkg, local) = (&func[..dot], &func[dot + 1..]);
    let (recv, method) = if local.starts_with("(*") {
        let close = local.find(").")?;
        (&local[..close + 1], &local[close + 2..])
    } else {
        local.split_once('.')?
    };
    // Closures (`T.M.func1`), method values (`T.M-fm`, receiver in the
    // closure context) and generic receivers are not plain methods.
    if recv.contains('[') || method.contains('.') || method.ends_with("-fm") {
        return None;
    }
    Some((pkg, recv))
}

impl<'a> Resolver<'a> {
    /// A resolver over the raw types of one binary, with an empty table.
    pub(super) fn new(raw: &'a Types<'a>) -> Self {
        Resolver {
            raw,
            table: TypeTable::default(),
            memo: HashMap::new(),
        }
    }

    /// The types resolved so far.
    pub(super) fn into_table(self) -> TypeTable {
        self.table
    }

    /// Go before 1.22 leaves unnamed receivers (`func (*T) M()`) out of
    /// DWARF, which would shift every register assignment by one. The
    /// receiver's type is in the symbol name, so put it back.
    pub(super) fn add_omitted_receiver(&mut self, func: &str, params: &mut Vec<Param>) {
        let Some((pkg, recv)) = receiver_of(func) else {
            return;
        };
        let (pointer, base) = match recv.strip_prefix("(*").and_then(|r| r.strip_suffix(')')) {
            Some(b) => (true, b),
            None => (false, recv),
        };
        let base_name = format!("{pkg}.{base}");
        let want = if pointer {
            format!("*{base_name}")
        } else {
            base_name.clone()
        };
        if let Some(first) = params.iter().find(|p| !p.is_result) {
            if first.ty.is_some_and(|t| self.table.get(t).name == want) {
                return;
            }
        }
        let Some(base_off) = self.by_name(&base_name) else {
            // Not a method after all (a closure like pkg.F.func1).
            return;
        };
        let ty = match self.by_name(&want) {
            Some(off) => self.resolve(off),
            None if pointer => {
                let elem = Some(self.resolve(base_off));
                self.table.push(GoType {
                    name: want,
                    size: 8,
                    kind: Kind::Pointer { elem },
                })
            }
            None => self.resolve(base_off),
        };
        params.insert(
            0,
            Param {
                name: "~p0".into(),
                ty: Some(ty),
                is_result: false,
            },
        );
    }

    fn by_name(&self, name: &str) -> Option<DebugInfoOffset> {
        self.raw.by_name(name)
    }

    pub(super) fn resolve(&mut self, off: DebugInfoOffset) -> TypeId {
        if let Some(&id) = self.memo.get(&off) {
            return id;
        }
        let Some(raw) = self.raw.get(off) else {
            return self.table.push(GoType {
                name: "?".into(),
                size: 0,
                kind: Kind::Unsupported("type missing from DWARF".into()),
            });
        };
        // Placeholder first: types may refer to themselves through pointers.
        let id = self.table.push(GoType {
            name: raw.name.as_deref().unwrap_or_default().to_string(),
            size: 0,
            kind: Kind::Unsupported("recursive".into()),
        });
        self.memo.insert(off, id);
        let t = self.build(&raw);
        self.table.set(id, t);
        id
    }

    fn build(&mut self, raw: &RawType<'_>) -> GoType {
        let name = raw.name.as_deref().unwrap_or_default().to_string();
        let size = raw.size.unwrap_or(8);
        let kind = match raw.go_kind {
            Some(1) => Kind::Bool,
            Some(k @ 2..=12) => Kind::Int {
                signed: (2..=6).contains(&k),
            },
            Some(13 | 14) => Kind::Float,
            Some(15 | 16) => Kind::Complex,
            Some(17) => match raw.ty {
                Some(e) => Kind::Array {
                    elem: self.resolve(e),
                    len: raw.count.unwrap_or(0),
                },
                None => Kind::Unsupported("array without element type".into()),
            },
            Some(18) => Kind::Chan,
            Some(19) => Kind::Func,
            Some(20) => Kind::Interface {
                empty: self.is_eface(raw),
            },
            Some(21) => Kind::Map {
                key: raw.key.map(|t| self.resolve(t)),
                elem: raw.elem.map(|t| self.resolve(t)),
            },
            Some(22) => Kind::Pointer {
                elem: raw.ty.map(|t| self.resolve(t)),
            },
            Some(23) => Kind::Slice {
                elem: raw.elem.map(|t| self.resolve(t)),
            },
            Some(24) => Kind::String,
            Some(25) => Kind::Struct {
                fields: raw
                    .members
                    .iter()
                    .filter_map(|(name, offset, ty)| {
                        Some(Field {
                            name: name.to_string(),
                            offset: *offset,
                            ty: self.resolve((*ty)?),
                        })
                    })
                    .collect(),
            },
            Some(26) => Kind::UnsafePointer,
            _ => return self.build_untagged(raw, name, size),
        };
        let size = match kind {
            Kind::Pointer { .. }
            | Kind::UnsafePointer
            | Kind::Map { .. }
            | Kind::Chan
            | Kind::Func => 8,
            Kind::Interface { .. } | Kind::String => 16,
            Kind::Slice { .. } => 24,
            _ => size,
        };
        GoType { name, size, kind }
    }

    /// Types without `DW_AT_go_kind`: typedefs (named types) and the few
    /// runtime types the linker synthesises.
    fn build_untagged(&mut self, raw: &RawType<'_>, name: String, size: u64) -> GoType {
        if raw.tag == gimli::DW_TAG_typedef {
            if let Some(t) = raw.ty {
                let id = self.resolve(t);
                let mut under = self.table.get(id).clone();
                // `.param0` is a generic body's local alias of its shape
                // type: `go.shape.int` tells the user more.
                if !name.is_empty() && !name.starts_with(".param") {
                    under.name = name;
                }
                return under;
            }
        }
        if raw.tag == gimli::DW_TAG_pointer_type {
            return GoType {
                name,
                size: 8,
                kind: Kind::Pointer {
                    elem: raw.ty.map(|t| self.resolve(t)),
                },
            };
        }
        if raw.tag == gimli::DW_TAG_base_type {
            let kind = match raw.encoding {
                Some(gimli::DW_ATE_boolean) => Kind::Bool,
                Some(gimli::DW_ATE_signed | gimli::DW_ATE_signed_char) => {
                    Kind::Int { signed: true }
                }
                Some(gimli::DW_ATE_unsigned | gimli::DW_ATE_unsigned_char) => {
                    Kind::Int { signed: false }
                }
                Some(gimli::DW_ATE_float) => Kind::Float,
                Some(gimli::DW_ATE_complex_float) => Kind::Complex,
                _ => Kind::Unsupported(format!("base type {name}")),
            };
            return GoType { name, size, kind };
        }
        GoType {
            kind: Kind::Unsupported(format!("DWARF {} without a Go kind", raw.tag)),
            name,
            size,
        }
    }

    fn is_eface(&self, raw: &RawType<'_>) -> bool {
        let target = raw.ty.and_then(|t| self.raw.get(t));
        match target.as_ref().and_then(|t| t.name.as_deref()) {
            Some(n) => n == "runtime.eface",
            None => raw.name.as_deref().is_some_and(|n| n == "interface {}"),
        }
    }
}
#[cfg(test)]
mod tests {
    use super::receiver_of;

    #[test]
    fn receivers_come_from_symbol_names() {
        assert_eq!(
            receiver_of("context.(*emptyCtx).Value"),
            Some(("context", "(*emptyCtx)"))
        );
        assert_eq!(
            receiver_of("net/http.(*Server).Serve"),
            Some(("net/http", "(*Server)"))
        );
        assert_eq!(receiver_of("main.T.Peek"), Some(("main", "T")));
        assert_eq!(receiver_of("main.computeE"), None);
        // Looks like a method by name; the missing type main.main rules it out.
        assert_eq!(receiver_of("main.main.func1"), Some(("main", "main")));
        assert_eq!(receiver_of("crypto/tls.(*m).marshal.func1"), None);
        assert_eq!(receiver_of("net.(*Dialer).DialContext-fm"), None);
    }
}
