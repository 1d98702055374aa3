//! Caller stacks (`stack:`) symbolized once per distinct stack of a process
//! image: a hot call site sends the same return addresses on every hit,
//! and only the first is looked up in the function table.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use super::pipeline::Lookups;
use crate::decode::{symbolize, Stack};

/// Distinct stacks kept; past it the cache starts over (counted).
pub const STACK_CACHE: usize = 4096;

/// A cached stack and the lookups it was symbolized with: the weak
/// reference keeps their allocation, and so the address in the key, from
/// being reused by another process's lookups while the entry lives.
struct Entry {
    _names: Weak<dyn Lookups>,
    stack: Arc<Stack>,
}

/// Symbolized stacks by (process image's lookups, walk's end, addresses).
#[derive(Default)]
pub struct StackCache {
    map: HashMap<(usize, u32, Vec<u64>), Entry>,
    /// Stacks symbolized (cache misses).
    pub symbolized: u64,
    /// Times the cache was full and started over.
    pub resets: u64,
}

impl StackCache {
    /// The stack of return addresses `pcs` (walk ended as `end`) in the
    /// process `names` describes, symbolized on first sight.
    pub fn get(&mut self, names: &Arc<dyn Lookups>, pcs: Vec<u64>, end: u32) -> Arc<Stack> {
        let key = (Arc::as_ptr(names).cast::<()>() as usize, end, pcs);
        if let Some(e) = self.map.get(&key) {
            return e.stack.clone();
        }
        if self.map.len() >= STACK_CACHE {
            self.map.clear();
            self.resets += 1;
        }
        let lookups: &dyn Lookups = names.as_ref();
        let stack = Arc::new(symbolize(&key.2, end, lookups));
        self.symbolized += 1;
        self.map.insert(
            key,
            Entry {
                _names: Arc::downgrade(names),
                stack: stack.clone(),
            },
        );
        stack
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::testkit::NoNames;
    use crate::recipe::STACK_BOTTOM;

    #[test]
    fn a_stack_seen_again_is_not_symbolized_again_and_the_cache_is_bounded() {
        let names: Arc<dyn Lookups> = Arc::new(NoNames);
        let other: Arc<dyn Lookups> = Arc::new(NoNames);
        let mut c = StackCache::default();
        let a = c.get(&names, vec![0x10, 0x20], STACK_BOTTOM);
        let b = c.get(&names, vec![0x10, 0x20], STACK_BOTTOM);
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(c.symbolized, 1);
        // Another process image: looked up in its own table.
        c.get(&other, vec![0x10, 0x20], STACK_BOTTOM);
        assert_eq!(c.symbolized, 2);
        for pc in 0..STACK_CACHE as u64 {
            c.get(&names, vec![pc], STACK_BOTTOM);
        }
        assert_eq!(c.resets, 1);
        assert!(c.map.len() <= STACK_CACHE);
    }
}
