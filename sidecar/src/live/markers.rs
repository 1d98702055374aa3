//! gotel's own entry-only probes in each traced process, on runtime
//! functions that end calls without a return: they mark goroutines, they
//! are not calls.
//!
//! `runtime.gopanic`: an entry seen twice in a row at the same frame of a
//! goroutine is taken for the prologue restarted by `runtime.morestack`
//! (or a uprobe hit again after a signal) and counted once; but a call
//! unwound by a panic that an unprobed caller recovered, followed by the
//! next call at that frame, looks the same. A panic always runs `gopanic`
//! on the panicking goroutine, and neither a restart nor a re-hit does:
//! its record tells the two apart exactly. Panics are rare, so the extra
//! trap costs nothing in the common case (a probe on `gorecover` would:
//! `fmt` calls it on every value with a String or Error method).
//!
//! `runtime.Goexit`: runs the goroutine's deferred calls and ends it, so
//! none of its open calls returns; without the mark they would stay open
//! until evicted. The linker keeps `Goexit` only in programs that call it
//! (`testing` does, through `FailNow`), so it is often absent.

use std::sync::Arc;

use crate::config::ProbeSpec;
use crate::golang::BinaryInfo;
use crate::plan::Plan;

use super::pipeline::ProbeKey;

/// Which runtime event a marker's records announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Marker {
    /// `runtime.gopanic`: the goroutine began to panic.
    Panic,
    /// `runtime.Goexit`: the goroutine's open calls will never return.
    Goexit,
}

impl Marker {
    /// Every marker, in the order they are attached.
    pub const ALL: [Marker; 2] = [Marker::Panic, Marker::Goexit];

    /// The runtime function it probes.
    pub fn function(self) -> &'static str {
        match self {
            Marker::Panic => "runtime.gopanic",
            Marker::Goexit => "runtime.Goexit",
        }
    }

    /// Its key: no probe of a config serialises to it (those are JSON
    /// objects).
    pub fn key(self) -> ProbeKey {
        format!("gotel:{}", self.function())
    }

    /// Its plan: the function's entry, capturing nothing, no return sites.
    /// The same for every process of `bin` (`pid` only names the target).
    pub fn plan(self, bin: &BinaryInfo, pid: u32) -> Result<Arc<Plan>, String> {
        let f = bin.lookup(self.function()).map_err(|e| e.to_string())?;
        let spec: ProbeSpec = serde_json::from_value(serde_json::json!({
            "function": self.function(),
            "target": { "pid": pid },
            "args": [],
            "returns": false,
        }))
        .map_err(|e| e.to_string())?;
        let mut plan = crate::plan::plan_function(bin, f, &spec).map_err(|e| e.to_string())?;
        plan.ret_offsets.clear();
        plan.restart_offsets.clear();
        plan.entry.recipe.flags &= !crate::recipe::RECIPE_RESTARTS;
        Ok(Arc::new(plan))
    }
}
