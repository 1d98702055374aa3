//! gotel's own probe on `runtime.gopanic`, one per traced process. An
//! entry seen twice in a row at the same frame of a goroutine is taken for
//! the prologue restarted by `runtime.morestack` (or a uprobe hit again
//! after a signal) and counted once; but a call unwound by a panic that an
//! unprobed caller recovered, followed by the next call at that frame,
//! looks the same. A panic always runs `gopanic` on the panicking
//! goroutine, and neither a restart nor a re-hit does: its record tells
//! the two apart exactly. Panics are rare, so the extra trap costs nothing
//! in the common case (a probe on `gorecover` would: `fmt` calls it on
//! every value with a String or Error method).

use std::sync::Arc;

use crate::config::ProbeSpec;
use crate::golang::BinaryInfo;
use crate::plan::Plan;

use super::pipeline::ProbeKey;

/// The marker's key: no probe of a config serialises to it (those are JSON
/// objects).
pub(super) fn key() -> ProbeKey {
    "gotel:runtime.gopanic".into()
}

/// The marker's plan: `runtime.gopanic`'s entry, capturing nothing, no
/// return sites.
pub(super) fn plan(bin: &BinaryInfo, pid: u32) -> Result<Arc<Plan>, String> {
    let f = bin.lookup("runtime.gopanic").map_err(|e| e.to_string())?;
    let spec: ProbeSpec = serde_json::from_value(serde_json::json!({
        "function": "runtime.gopanic",
        "target": { "pid": pid },
        "args": [],
        "returns": false,
    }))
    .map_err(|e| e.to_string())?;
    let mut plan = crate::plan::plan_function(bin, f, &spec).map_err(|e| e.to_string())?;
    plan.ret_offsets.clear();
    Ok(Arc::new(plan))
}
