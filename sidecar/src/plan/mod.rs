//! Compiles "this function, these values" into the fixed-size recipes the
//! BPF program interprets, plus the shapes the decoder needs to turn the
//! captured bytes back into Go values. A pure function of the binary and
//! the probe spec (which carries the config's `redact:`).
//!
//! - `contract`: the shapes, the one contract between recipes and `decode`.
//! - `function`: function lookup, the ABI cross-check, one plan per site.
//! - `builder`: one site's plan under construction; `budget`: its room and
//!   who may spend it; `emit`: the one op emitter.
//! - `walk`: the walker over one value, wherever it is; `slice` and `map`
//!   the kinds that need more than one op.
//! - `type_recipe`: the recipes of interfaces' dynamic types.
//! - `secrets`: what `redact:` keeps out of every recipe.
//! - `stack`: a probe's `stack:`, the entry's walk of its callers.
//! - `inlined`: an entry-only plan per inlined site of a function.

mod arg_landing;
mod budget;
mod builder;
mod contract;
mod emit;
mod function;
mod inlined;
mod landing;
mod map;
mod secrets;
mod slice;
mod span_ctx;
mod stack;
mod type_recipe;
mod walk;
mod when;

#[cfg(test)]
mod tests;

pub use contract::{
    byte_layout, ArgLandings, ArgRead, ArgSite, ByteLayout, LandingSite, Landings, MapEntries,
    Plan, ScalarKind, Shape, SitePlan, Value, DYN_HEAD,
};
pub use function::{plan, plan_function, PlanError};
pub use inlined::{inlined_plans, InlinedError, MAX_INLINED_SITES};
pub use secrets::Secrets;
pub use span_ctx::{context_types, has_sdk};
pub use type_recipe::{
    likely_types, plan_type, pointer_shaped, IfaceAt, SliceAt, TypePlan, TYPES_PER_BINARY,
    TYPE_DATA,
};
