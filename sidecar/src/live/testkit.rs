//! Doubles shared by the live side's unit tests.

use std::sync::Arc;

use super::pipeline::{Attachment, Lookups};
use crate::decode::Names;
use crate::export::Origin;
use crate::golang::types::{TypeId, TypeTable};
use crate::plan::{Plan, SitePlan, TypePlan};
use crate::recipe::{RawEvent, RawRecipe, SITE_ENTRY, SITE_RETURN};

/// A process whose binary names nothing: plans without interfaces need no more.
pub(crate) struct NoNames;

impl Names for NoNames {
    fn runtime_type(&self, _rtype: u64) -> Option<(String, Option<TypeId>)> {
        None
    }
    fn runtime_kind(&self, _rtype: u64) -> Option<(u8, u64)> {
        None
    }
    fn type_named(&self, _name: &str) -> Option<TypeId> {
        None
    }
    fn type_table(&self) -> Option<&TypeTable> {
        None
    }
    fn func_name(&self, _pc: u64) -> Option<String> {
        None
    }
    fn errno_text(&self, _n: u64) -> Option<String> {
        None
    }
    fn dyn_plan(&self, _rtype: u64) -> Option<Arc<TypePlan>> {
        None
    }
}

impl Lookups for NoNames {
    fn met(&self, _rtype: u64) -> bool {
        false
    }
}

/// A ring-buffer record as the BPF program writes it: `ev`, then `data`.
pub(crate) fn record(ev: &RawEvent, data: &[u8]) -> Vec<u8> {
    // SAFETY: RawEvent is repr(C) integers without padding (56 bytes,
    // asserted in recipe.rs), so all of its bytes are initialised.
    let header = unsafe {
        std::slice::from_raw_parts(std::ptr::from_ref(ev).cast::<u8>(), size_of::<RawEvent>())
    };
    [header, data].concat()
}

/// An attachment of probe `key` to process `pid` on `main.f()`, which
/// captures nothing, with its entry at 0x1000 and RETs at 0x1040 and 0x1080.
pub(crate) fn attachment(id: u64, key: &str, pid: u32) -> Arc<Attachment> {
    let site = |site| SitePlan {
        recipe: RawRecipe {
            site,
            ..RawRecipe::default()
        },
        values: Vec::new(),
        span: None,
        traceparent: None,
        stack: None,
    };
    Arc::new(Attachment {
        id,
        key: key.into(),
        probe: key.into(),
        pid,
        plan: Arc::new(Plan {
            function: "main.f".into(),
            signature: "main.f()".into(),
            entry_offset: 0x1000,
            ret_offsets: vec![0x1040, 0x1080],
            restart_offsets: vec![],
            instant: false,
            entry_args: 0,
            entry: site(SITE_ENTRY),
            ret: site(SITE_RETURN),
            warnings: Vec::new(),
            landings: None,
            arg_landings: None,
            when: None,
            when_return: None,
            inlined_at: None,
            untimed: None,
        }),
        origin: Arc::new(Origin::default()),
        names: Arc::new(NoNames),
        marker: None,
        slot: 0,
        every_process: None,
    })
}
