//! Maps, chans and funcs: the runtime structure their word points at. A
//! map shows its count and, as an extra, its entries when they are in one
//! place (one swiss-table group, or bucket 0), and a larger swiss map a
//! sample: its first group, planned last of all.

use crate::golang::abi;
use crate::golang::types::{Kind, TypeId};
use crate::recipe::MAX_HOPS;

use super::budget::Priority;
use super::builder::Builder;
use super::contract::{MapEntries, Shape};
use super::emit::{Access, Mem};
use super::slice::Elements;
use super::walk::{At, Scope};

/// One swiss-table slot's layout: {key, value} and how deep to show them.
pub(super) struct MapSlot {
    key: TypeId,
    value: TypeId,
    /// Offset of the value in the slot.
    elem_off: u64,
    /// Bytes per slot.
    size: u64,
    depth: u32,
}

/// A larger map's first group, planned once everything else is.
pub(super) struct PendingGroup {
    /// The map's `dirLen` op: names its `MapEntries::Group`.
    dir_len_op: usize,
    at: Mem,
    slot: MapSlot,
    name: String,
}

impl Builder<'_> {
    /// A map, chan or func value, whose pointer word is reached by `word`:
    /// reads the count (map), qcount and dataqsiz (chan) or code pointer
    /// (func) behind it, at offsets taken from the binary's DWARF.
    pub(super) fn runtime_ref(
        &mut self,
        kind: &Kind,
        ty: &str,
        word: Access,
        name: &str,
        s: Scope,
    ) -> Shape {
        let l = self.layout;
        let fields: &[Option<u64>] = match kind {
            Kind::Map { .. } => &[l.map_len],
            Kind::Chan => &[l.chan_len, l.chan_cap],
            _ => &[l.func_pc],
        };
        let mut ops = Vec::new();
        for f in fields {
            let Some(off) = f else {
                return Shape::Unavailable(format!(
                    "{ty}: runtime layout not found in this binary's DWARF"
                ));
            };
            let Some(at) = word.clone().follow_to(*off as i64) else {
                return Shape::Unavailable(format!(
                    "{name}: more than {MAX_HOPS} pointers to follow"
                ));
            };
            match self.push_word(at, s.who) {
                Some(op) => ops.push(op),
                None => return self.full(name, s.who),
            }
        }
        match (kind, ops.as_slice()) {
            (Kind::Map { key, elem }, [len_op]) => {
                let entries = match (key, elem) {
                    (Some(k), Some(v)) => self.map_entries(*k, *v, word, name, s),
                    _ => None,
                };
                Shape::Map {
                    len_op: *len_op,
                    entries: entries.map(Box::new),
                }
            }
            (Kind::Chan, [len_op, cap_op]) => Shape::Chan {
                len_op: *len_op,
                cap_op: *cap_op,
            },
            (_, [pc_op]) => Shape::Func { pc_op: *pc_op },
            _ => Shape::Unavailable(format!("{ty}: unexpected layout")),
        }
    }

    /// The entries of a map small enough to keep them in one place (at
    /// most 8: one swiss-table group, or one bucket before Go 1.24), read
    /// through the map pointer at `word`; None when they cannot be planned
    /// (no layout, large keys or values, no room, inside a slice element).
    fn map_entries(
        &mut self,
        key: TypeId,
        value: TypeId,
        word: Access,
        name: &str,
        s: Scope,
    ) -> Option<MapEntries> {
        let types = self.types;
        let (kt, vt) = (types.get(key), types.get(value));
        // Larger keys and values are stored behind pointers. Entries are
        // extras like interfaces' speculative reads: planned only while the
        // values after them still fit.
        if !self.budget.extras() || s.in_elem || kt.size > 128 || vt.size > 128 {
            return None;
        }
        let extra = Scope {
            who: Priority::Extra,
            in_elem: false,
            depth: self.limits.pointer_depth.saturating_sub(1),
        };
        let saved = self.checkpoint();
        let refused = self.budget.refused();
        let planned = if let Some((dir_ptr, dir_len)) = self.layout.swiss {
            self.swiss_entries((key, value), word, (dir_ptr, dir_len), name, extra)?
        } else if let Some((_, buckets, old)) = self.layout.hmap {
            self.bucket_entries((key, value), word, (buckets, old), name, extra)?
        } else {
            None
        };
        if planned.is_none() || self.budget.refused() != refused {
            self.restore(&saved);
            return None;
        }
        planned
    }

    /// A swiss map (Go >= 1.24) with `dirLen` 0: the group `dirPtr` points
    /// at; and, for a larger one, its first group to plan last. The outer
    /// None: the group's address is past MAX_HOPS (nothing planned).
    fn swiss_entries(
        &mut self,
        (key, value): (TypeId, TypeId),
        word: Access,
        (dir_ptr, dir_len): (u64, u64),
        name: &str,
        s: Scope,
    ) -> Option<Option<MapEntries>> {
        let types = self.types;
        let (kt, vt) = (types.get(key), types.get(value));
        // group { ctrl uint64; slots [8]struct{ key K; elem V } }
        let align = |n: u64, a: u64| n.div_ceil(a.max(1)) * a.max(1);
        let elem_off = align(kt.size, abi::alignment(types, value));
        let size = align(
            elem_off + vt.size,
            abi::alignment(types, key).max(abi::alignment(types, value)),
        );
        let Access::Mem(group_mem) = word.clone().follow_to(dir_ptr as i64)? else {
            return None;
        };
        let slot = MapSlot {
            key,
            value,
            elem_off,
            size,
            depth: s.depth,
        };
        let small = group_mem.follow()?;
        let planned = (|| {
            let at = word.clone().follow_to(dir_len as i64)?;
            let dir_len_op = self.push_word(at, s.who)?;
            let (ctrl_op, slots) = self.group_ops(&small, &slot, name, s)?;
            Some(MapEntries::Group {
                dir_len_op,
                ctrl_op,
                slots,
                first: None,
            })
        })();
        // A larger map: its directory's first table's first group
        // (three pointers: table, its groups, the group), at the end.
        let big = small.follow().and_then(|t| {
            Mem {
                off: self.layout.swiss_groups? as i64,
                ..t
            }
            .follow()
        });
        if let (Some(MapEntries::Group { dir_len_op, .. }), Some(at)) = (&planned, big) {
            self.pending_groups.push(PendingGroup {
                dir_len_op: *dir_len_op,
                at,
                slot,
                name: name.to_string(),
            });
        }
        Some(planned)
    }

    /// A bucket map (Go < 1.24): bucket 0, and whether there are old
    /// buckets. The outer None: the bucket's address is past MAX_HOPS.
    fn bucket_entries(
        &mut self,
        (key, value): (TypeId, TypeId),
        word: Access,
        (buckets, old): (u64, u64),
        name: &str,
        s: Scope,
    ) -> Option<Option<MapEntries>> {
        let types = self.types;
        let kt = types.get(key);
        let vt = types.get(value);
        // bucket { tophash [8]uint8; keys [8]K; elems [8]V; overflow }
        let Access::Mem(bucket_word) = word.clone().follow_to(buckets as i64)? else {
            return None;
        };
        let at = |off: u64| -> Option<Mem> {
            Some(Mem {
                off: off as i64,
                ..bucket_word.follow()?
            })
        };
        let one = |t: TypeId, what: &'static str| {
            move |b: &mut Self, m: &Mem, es: Scope| {
                let es = Scope {
                    depth: s.depth,
                    ..es
                };
                b.walk(t, &mut At::Mem(m.clone()), &format!("{name}[{what}]"), es)
            }
        };
        Some((|| {
            let old_at = word.clone().follow_to(old as i64)?;
            let old_op = self.push_word(old_at, s.who)?;
            let tophash = Access::Mem(at(0)?);
            let tophash_op = self.push_word(tophash, s.who)?;
            let keys = Elements::Group {
                at: at(8)?,
                count: 8,
            };
            let keys = self.elements(keys, kt.size as u32, one(key, "key"), "", s)?;
            let values = Elements::Group {
                at: at(8 + 8 * kt.size)?,
                count: 8,
            };
            let values = self.elements(values, vt.size as u32, one(value, "value"), "", s)?;
            Some(MapEntries::Bucket {
                old_op,
                tophash_op,
                keys,
                values,
            })
        })())
    }

    /// The control word and 8 slots of the swiss-table group at `g`.
    fn group_ops(
        &mut self,
        g: &Mem,
        slot: &MapSlot,
        name: &str,
        s: Scope,
    ) -> Option<(usize, Shape)> {
        let ctrl_op = self.push_word(Access::Mem(g.clone()), s.who)?;
        let plan_slot = |b: &mut Self, m: &Mem, es: Scope| {
            let es = Scope {
                depth: slot.depth,
                ..es
            };
            let k = b.walk(
                slot.key,
                &mut At::Mem(m.clone()),
                &format!("{name}[key]"),
                es,
            );
            let v_at = m.plus(slot.elem_off as i64);
            let v = b.walk(
                slot.value,
                &mut At::Mem(v_at),
                &format!("{name}[value]"),
                es,
            );
            Shape::Struct(vec![("key".into(), k), ("value".into(), v)])
        };
        let group = Elements::Group {
            at: g.plus(8),
            count: 8,
        };
        let slots = self.elements(group, slot.size as u32, plan_slot, "", s)?;
        Some((ctrl_op, slots))
    }

    /// Larger swiss maps' first groups, planned after every value and
    /// pointee: a sample of a big map's entries is worth less than any
    /// small map's entries or any value.
    pub(super) fn expand_map_groups(&mut self) {
        for p in std::mem::take(&mut self.pending_groups) {
            let saved = self.checkpoint();
            let refused = self.budget.refused();
            self.budget.reserve((0, 0));
            let s = Scope {
                who: Priority::Extra,
                in_elem: false,
                depth: p.slot.depth,
            };
            let first = self.group_ops(&p.at, &p.slot, &p.name, s);
            let Some(first) = first.filter(|_| self.budget.refused() == refused) else {
                self.restore(&saved);
                continue;
            };
            // A small map's control word is no table pointer: these reads
            // then fault, as expected.
            for op in saved.recipe.n_ops..self.recipe.n_ops {
                self.recipe.quiet_mask |= 1 << op;
            }
            let mut first = Some(first);
            for v in &mut self.values {
                set_first_group(&mut v.shape, p.dir_len_op, &mut first);
            }
        }
    }
}

/// Gives the map whose `dirLen` op is `dir_len_op` its first group.
fn set_first_group(s: &mut Shape, dir_len_op: usize, first: &mut Option<(usize, Shape)>) {
    match s {
        Shape::Map {
            entries: Some(e), ..
        } => {
            if let MapEntries::Group {
                dir_len_op: d,
                first: f,
                ..
            } = e.as_mut()
            {
                if *d == dir_len_op {
                    *f = first.take().map(Box::new);
                }
            }
        }
        Shape::Struct(fields) => {
            for (_, f) in fields {
                set_first_group(f, dir_len_op, first);
            }
        }
        Shape::Array(items) => {
            for i in items {
                set_first_group(i, dir_len_op, first);
            }
        }
        Shape::Pointer { pointee, .. } => set_first_group(pointee, dir_len_op, first),
        _ => {}
    }
}
