//! Rust mirror of `ebpf/gotel.h`: the recipes userspace writes and the
//! record layout the BPF program emits (`gotel_event` header, capture heads). Sizes and offsets are asserted at compile
//! time here and checked against the C header by `tests/layout.rs`.

use std::mem::size_of;

mod span;
pub use span::*;
mod stack;
pub use stack::*;

/// Ops per recipe (`GOTEL_MAX_OPS`): the width of the u32 op masks.
pub const MAX_OPS: usize = 32;
/// Recipes the map holds = possible attach cookies (`GOTEL_MAX_RECIPES`).
pub const MAX_RECIPES: u32 = 4096;
/// Longest string copy (`GOTEL_MAX_STRING`).
pub const MAX_STRING: u32 = 4096;
/// Captured bytes per record (`GOTEL_MAX_DATA`).
pub const MAX_DATA: u32 = 8192;

/// `GOTEL_LOC_NONE`.
pub const LOC_NONE: u8 = 0;
/// `GOTEL_LOC_REG`.
pub const LOC_REG: u8 = 1;
/// `GOTEL_LOC_STACK`.
pub const LOC_STACK: u8 = 2;
/// `GOTEL_LOC_ELEM`: the current element of an `OP_ELEMS`.
pub const LOC_ELEM: u8 = 3;
/// `GOTEL_OP_SCALAR`.
pub const OP_SCALAR: u8 = 1;
/// `GOTEL_OP_STRING`.
pub const OP_STRING: u8 = 2;
/// `GOTEL_OP_STRINGS`: a []string, element by element.
pub const OP_STRINGS: u8 = 3;
/// `GOTEL_OP_BYTES`: raw memory, emitted like a string of `max_len` bytes.
pub const OP_BYTES: u8 = 4;
/// `GOTEL_OP_ELEMS`: a slice whose elements run the ops that follow.
pub const OP_ELEMS: u8 = 5;
/// Planner-only: an `OP_ELEMS` over `max_len` elements from the op's
/// address (a map's group or bucket), sent as `OP_ELEMS` + `ADDR_ONLY`.
pub const OP_GROUP: u8 = 6;
/// `GOTEL_OPF_DYN`: the op ends at an interface's data pointer; its
/// dynamic type's recipe (if installed) runs there.
pub const OPF_DYN: u8 = 1;
/// Ops per dynamic type's recipe (`GOTEL_MAX_TYPE_OPS`).
pub const MAX_TYPE_OPS: usize = 24;
// The header's _Static_asserts: type-recipe ops share the site's per-op
// scratch slots, and every op index is a bit of a u32 mask.
const _: () = assert!(MAX_TYPE_OPS <= MAX_OPS && MAX_OPS <= 32);
/// Dynamic type recipes the kernel map holds (`GOTEL_MAX_TYPE_RECIPES`).
pub const MAX_TYPE_RECIPES: u32 = 8192;
/// Dynamic values followed per record (`GOTEL_MAX_DYN`).
pub const MAX_DYN: usize = 16;
/// `GOTEL_ADDR_ONLY`: `RawOp::indirect` of ops whose value is the address
/// the chase ends at (`OP_BYTES`, fixed-count `OP_ELEMS`).
pub const ADDR_ONLY: u8 = 2;
/// Pointer hops one indirect op may follow (`GOTEL_MAX_HOPS`).
pub const MAX_HOPS: usize = 4;
/// `GOTEL_SITE_ENTRY`.
pub const SITE_ENTRY: u8 = 0;
/// `GOTEL_SITE_RETURN`.
pub const SITE_RETURN: u8 = 1;
/// `GOTEL_SITE_RESTART`: right after the prologue's call to
/// `runtime.morestack`, for entry-only probes; emits no record.
pub const SITE_RESTART: u8 = 2;
/// `GOTEL_SITE_LANDING`: where a caller has moved a float result out of XMM.
pub const SITE_LANDING: u8 = 3;
/// `GOTEL_EV_NO_G`: the goroutine fields could not be read.
pub const EV_NO_G: u8 = 1;
/// `GOTEL_EV_DATA_FULL`: ops were skipped because the record was full.
pub const EV_DATA_FULL: u8 = 2;
/// Bytes of `runtime.g` the program reads per hit (`GOTEL_G_SPAN`).
pub const G_SPAN: u32 = 256;
/// Number of per-CPU counters in the `stats` map.
pub const STAT_COUNT: u32 = 6;
/// `GOTEL_STAT_BUSY`: records dropped because the CPU's scratch was in use.
pub const STAT_BUSY: u32 = 0;
/// `GOTEL_STAT_RINGBUF_FULL`.
pub const STAT_RINGBUF_FULL: u32 = 1;
/// `GOTEL_STAT_NO_RECIPE`.
pub const STAT_NO_RECIPE: u32 = 2;
/// `GOTEL_STAT_FAULTS`.
pub const STAT_FAULTS: u32 = 3;
/// `GOTEL_STAT_FOREIGN`: file-wide hits in processes outside gotel's PID
/// namespace, not recorded.
pub const STAT_FOREIGN: u32 = 4;
/// `GOTEL_STAT_RESTARTED`: entry-only hits that were a restarted prologue.
pub const STAT_RESTARTED: u32 = 5;
/// `GOTEL_RECIPE_EVERY_PROCESS`: the recipe's uprobes are on the file,
/// for every process (`from_start`).
pub const RECIPE_EVERY_PROCESS: u16 = 1;
/// `GOTEL_RECIPE_TRACK`: a limited probe's site; its entry notes the calls
/// it keeps, its return emits only those.
pub const RECIPE_TRACK: u16 = 2;
/// `GOTEL_RECIPE_FAST`: the recipe qualifies for the program's fast path
/// ([`RawRecipe::fast`]); set when the recipe is installed.
pub const RECIPE_FAST: u16 = 4;
/// `GOTEL_RECIPE_RESTARTS`: an entry-only probe's entry, whose hits at an
/// SP its restart site noted are dropped as restarts.
pub const RECIPE_RESTARTS: u16 = 8;
/// `GOTEL_FAST_OPS`: ops of a fast recipe.
pub const FAST_OPS: usize = 8;
/// `GOTEL_FAST_DATA`: data bytes of a fast recipe's record.
pub const FAST_DATA: u32 = 304;
/// `GOTEL_MAX_TESTS`: tests of a `when` in the kernel.
pub const MAX_TESTS: usize = 8;
/// `GOTEL_MAX_WHEN`: steps of its postfix program.
pub const MAX_WHEN: usize = 16;
/// `GOTEL_TEST_STR`: bytes of a string literal a test compares.
pub const TEST_STR: usize = 32;
/// `GOTEL_WHEN_AND`.
pub const WHEN_AND: u8 = 0x80;
/// `GOTEL_WHEN_OR`.
pub const WHEN_OR: u8 = 0x81;
/// `GOTEL_WHEN_NOT`.
pub const WHEN_NOT: u8 = 0x82;
/// `GOTEL_TEST_SIGNED`.
pub const TEST_SIGNED: u8 = 1;
/// `GOTEL_TEST_UNSIGNED`.
pub const TEST_UNSIGNED: u8 = 2;
/// `GOTEL_TEST_STR_EQ`.
pub const TEST_STR_EQ: u8 = 3;
/// `GOTEL_TEST_STR_PREFIX`.
pub const TEST_STR_PREFIX: u8 = 4;
/// `GOTEL_CMP_EQ`.
pub const CMP_EQ: u8 = 0;
/// `GOTEL_CMP_NE`.
pub const CMP_NE: u8 = 1;
/// `GOTEL_CMP_LT`.
pub const CMP_LT: u8 = 2;
/// `GOTEL_CMP_LE`.
pub const CMP_LE: u8 = 3;
/// `GOTEL_CMP_GT`.
pub const CMP_GT: u8 = 4;
/// `GOTEL_CMP_GE`.
pub const CMP_GE: u8 = 5;
/// `GOTEL_MAX_PROBES`: probe slots (slot 0: none).
pub const MAX_PROBES: u32 = 4096;
/// `GOTEL_MAX_KEPT`: kept calls of limited probes in flight at once.
pub const MAX_KEPT: u32 = 65536;
/// `GOTEL_MAX_RESTARTING`: restarts noted, not yet re-entered.
pub const MAX_RESTARTING: u32 = 4096;
/// `GOTEL_RESTART_NS`: a restart note older than this is stale.
pub const RESTART_NS: u64 = 1_000_000_000;

/// Go's integer argument registers (`GOTEL_NUM_INT_REGS`).
pub const NUM_INT_REGS: u8 = 9;
/// Registers a recipe reads (`GOTEL_NUM_REGS`): the 9 argument registers,
/// then RDX R12 R13 R15.
pub const NUM_REGS: u8 = 13;
/// `gotel_proc_event.kind`: a process exec'd a new image.
pub const PROC_EXEC: u8 = 1;
/// `gotel_proc_event.kind`: a process's thread-group leader exited.
pub const PROC_EXIT: u8 = 2;
const _: () = assert!(NUM_INT_REGS == crate::golang::abi::NUM_INT_REGS);
const _: () = assert!(NUM_REGS as usize == crate::golang::abi::REG_NAMES.len());

/// Constants of this module that `ebpf/gotel.h` has no twin of: the
/// planner's own op kinds, translated before a recipe is written.
pub const NOT_IN_HEADER: &[&str] = &["OP_GROUP"];

/// Every `#define` and enum value of `ebpf/gotel.h` mirrored here: the
/// Rust name (the C name without `GOTEL_`) and its value. `tests/layout.rs`
/// checks it against the compiled header both ways, and that every `pub
/// const` of this file is listed here or in [`NOT_IN_HEADER`].
pub fn constants() -> &'static [(&'static str, u64)] {
    macro_rules! table {
        ($($name:ident),* $(,)?) => {
            &[$((stringify!($name), $name as u64)),*]
        };
    }
    table![
        MAX_OPS,
        MAX_RECIPES,
        MAX_STRING,
        MAX_DATA,
        G_SPAN,
        NUM_INT_REGS,
        NUM_REGS,
        LOC_NONE,
        LOC_REG,
        LOC_STACK,
        LOC_ELEM,
        MAX_HOPS,
        OP_SCALAR,
        OP_STRING,
        OP_STRINGS,
        OP_BYTES,
        OP_ELEMS,
        ADDR_ONLY,
        OPF_DYN,
        SITE_ENTRY,
        SITE_RETURN,
        SITE_RESTART,
        SITE_LANDING,
        MAX_TYPE_OPS,
        MAX_TYPE_RECIPES,
        MAX_DYN,
        EV_NO_G,
        EV_DATA_FULL,
        STAT_BUSY,
        STAT_RINGBUF_FULL,
        STAT_NO_RECIPE,
        STAT_FAULTS,
        STAT_FOREIGN,
        STAT_RESTARTED,
        STAT_COUNT,
        RECIPE_EVERY_PROCESS,
        RECIPE_TRACK,
        RECIPE_FAST,
        RECIPE_RESTARTS,
        FAST_OPS,
        FAST_DATA,
        MAX_TESTS,
        MAX_WHEN,
        TEST_STR,
        WHEN_AND,
        WHEN_OR,
        WHEN_NOT,
        TEST_SIGNED,
        TEST_UNSIGNED,
        TEST_STR_EQ,
        TEST_STR_PREFIX,
        CMP_EQ,
        CMP_NE,
        CMP_LT,
        CMP_LE,
        CMP_GT,
        CMP_GE,
        MAX_PROBES,
        MAX_KEPT,
        MAX_RESTARTING,
        RESTART_NS,
        PROC_EXEC,
        PROC_EXIT,
        OP_SPAN_CTX,
        MAX_CTX_HOPS,
        MAX_CTX_TYPES,
        CTX_ROOT,
        CTX_PARENT,
        CTX_VALUE,
        CTX_SPAN_KEY,
        CTX_SPAN,
        SPAN_NONE,
        SPAN_FOUND,
        SPAN_UNKNOWN,
        SPAN_OTHER,
        SPAN_DEEP,
        SPAN_FAULT,
        OP_TRACEPARENT,
        MAP_SWISS,
        MAP_BUCKETS,
        TP_LARGE,
        OP_STACK,
        MAX_STACK,
        STACK_BOTTOM,
        STACK_DEPTH,
        STACK_BAD_FP,
        STACK_FAULT,
    ]
}

/// `struct gotel_loc`: where one machine word lives at the probe.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RawLoc {
    /// LOC_* kind.
    pub kind: u8,
    /// Integer register index in ABI order.
    pub reg: u8,
    /// Padding.
    pub _pad: u16,
    /// Byte offset from SP.
    pub offset: i32,
}

/// `struct gotel_op`: one capture, direct (from `a`, `b`) or indirect
/// (through `a`, then `n_hops` pointer loads at `hops`, then at `mem_off`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RawOp {
    /// OP_* kind.
    pub kind: u8,
    /// Scalar size in bytes.
    pub size: u8,
    /// String: most bytes to copy.
    pub max_len: u16,
    /// 1: the value is in memory, reached through `a`.
    pub indirect: u8,
    /// Pointer loads before the final read.
    pub n_hops: u8,
    /// `OPF_*` bits.
    pub flags: u8,
    /// `OPF_DYN`: the op that read the interface's dynamic type.
    pub type_op: u8,
    /// Scalar value, string data pointer, or (indirect) the base pointer.
    pub a: RawLoc,
    /// Direct string: its length.
    pub b: RawLoc,
    /// Offsets at which the pointer chain is loaded.
    pub hops: [i32; MAX_HOPS],
    /// Offset of the value from the last pointer.
    pub mem_off: i32,
    /// `OP_ELEMS`: bytes between elements.
    pub stride: u32,
}

/// `struct gotel_recipe`: what to capture at one probe site.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawRecipe {
    /// SITE_ENTRY, SITE_RETURN or SITE_LANDING.
    pub site: u8,
    /// Ops in use.
    pub n_ops: u8,
    /// `RECIPE_*` flags.
    pub flags: u16,
    /// `offsetof(runtime.g, goid)`.
    pub goid_offset: u32,
    /// `offsetof(runtime.g, stack.hi)`.
    pub stack_hi_offset: u32,
    /// Ops whose faults are expected (speculative reads), not counted.
    pub quiet_mask: u32,
    /// The executable's id, keying its dynamic types' recipes.
    pub bin: u32,
    /// The probe's slot (`probe_limits`, `probe_counts`); 0: none.
    pub probe: u32,
    /// The executable's load bias in the traced process.
    pub bias: u64,
    /// The ops.
    pub ops: [RawOp; MAX_OPS],
    /// `when`'s tests in use (entry sites).
    pub n_tests: u8,
    /// Steps of `when`'s postfix program; 0: no condition in the kernel.
    pub n_when: u8,
    /// Padding.
    pub _pad3: [u8; 6],
    /// The postfix program: a test's index pushes its outcome; `WHEN_AND`,
    /// `WHEN_OR`, `WHEN_NOT` combine.
    pub when: [u8; MAX_WHEN],
    /// The tests.
    pub tests: [RawTest; MAX_TESTS],
}

impl RawRecipe {
    /// Whether the BPF program may build this recipe's records on its fast
    /// path (`GOTEL_RECIPE_FAST`): at most [`FAST_OPS`] direct ops, scalars
    /// and at most one string, no `when`, and at most [`FAST_DATA`] bytes of
    /// data whatever the values. The record is the same either way.
    pub fn fast(&self) -> bool {
        let n = self.n_ops as usize;
        if self.n_when != 0 || n > FAST_OPS {
            return false;
        }
        let (mut bytes, mut strings) = (0u32, 0);
        for op in &self.ops[..n] {
            if op.indirect != 0 || op.flags != 0 || op.a.kind == LOC_ELEM || op.b.kind == LOC_ELEM {
                return false;
            }
            match op.kind {
                OP_SCALAR => bytes += 8,
                OP_STRING => {
                    strings += 1;
                    bytes +=
                        size_of::<RawStrHead>() as u32 + u32::from(op.max_len).next_multiple_of(8);
                }
                _ => return false,
            }
        }
        strings <= 1 && bytes <= FAST_DATA
    }
}

/// `struct gotel_test`: one test of `when` on a resolved op.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RawTest {
    /// `TEST_*`.
    pub kind: u8,
    /// The op whose resolved value it reads.
    pub op: u8,
    /// `CMP_*`, for numbers.
    pub cmp: u8,
    /// The op's bytes, for sign extension.
    pub size: u8,
    /// The string literal's bytes.
    pub len: u32,
    /// The number compared with.
    pub value: u64,
    /// The string literal.
    pub str: [u8; TEST_STR],
}

/// `struct gotel_probe_limit`: what one probe may emit.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RawProbeLimit {
    /// Calls kept per 1-second window; 0: no limit.
    pub rate: u32,
    /// Kept when a random u32 is below this; 0: every call.
    pub sample: u32,
}

/// `struct gotel_probe_window`: a rate-limited probe's current window.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RawProbeWindow {
    /// When it opened (CLOCK_MONOTONIC ns).
    pub start_ns: u64,
    /// Calls in it so far.
    pub count: u64,
}

/// `struct gotel_probe_counts`: one probe's counters on one CPU.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RawProbeCounts {
    /// Uprobe hits (every site, process and outcome).
    pub hits: u64,
    /// Calls not kept by `sample`.
    pub sampled_out: u64,
    /// Calls not kept by the rate limit.
    pub rate_limited: u64,
    /// Calls whose `when` was false (decided in the kernel).
    pub filtered: u64,
}

impl RawProbeCounts {
    /// These counts and `o`'s, added.
    pub fn plus(self, o: RawProbeCounts) -> RawProbeCounts {
        RawProbeCounts {
            hits: self.hits + o.hits,
            sampled_out: self.sampled_out + o.sampled_out,
            rate_limited: self.rate_limited + o.rate_limited,
            filtered: self.filtered + o.filtered,
        }
    }
}

/// `struct gotel_restart_key`: a prologue about to run again.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RawRestartKey {
    /// Process (the kernel's own id).
    pub pid: u32,
    /// The probe's slot.
    pub probe: u32,
    /// The goroutine's SP at the restart site and at the entry.
    pub sp: u64,
}

/// `struct gotel_kept_key`: a call a limited probe kept.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RawKeptKey {
    /// Process (gotel's PID namespace).
    pub pid: u32,
    /// Probe slot.
    pub probe: u32,
    /// Goroutine id.
    pub goid: u64,
    /// `stack.hi − SP` at the site.
    pub frame: u64,
}

/// `struct gotel_type_key`: a binary and a dynamic type's link-time
/// `_type` address.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct RawTypeKey {
    /// The binary's id (`RawRecipe::bin`).
    pub bin: u32,
    /// Padding.
    pub _pad: u32,
    /// Link-time address of the runtime `_type`.
    pub rtype: u64,
}

/// `struct gotel_type_recipe`: what to capture of one dynamic type's
/// value, from its data pointer (`LOC_ELEM`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RawTypeRecipe {
    /// Ops in use.
    pub n_ops: u8,
    /// Padding.
    pub _pad: [u8; 7],
    /// The ops.
    pub ops: [RawOp; MAX_TYPE_OPS],
}

/// `struct gotel_dyn_block`: the header of one dynamic value's captures,
/// after the site's own.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RawDynBlock {
    /// The dynamic type's runtime `_type` address (in the process).
    pub rtype: u64,
    /// 0: the site's recipe; b + 1: block b.
    pub parent: u8,
    /// The parent's `OPF_DYN` op.
    pub op: u8,
    /// Ops of the type recipe.
    pub n_ops: u8,
    /// The parent op's element (`OP_ELEMS`), else 0.
    pub elem: u8,
    /// Bit t: op t met a nil pointer.
    pub nil_bits: u32,
    /// Bit t: op t could not be read.
    pub fault_bits: u32,
    /// Padding.
    pub _pad2: u32,
}

// SAFETY: as RawRecipe.
unsafe impl aya::Pod for RawTypeKey {}
// SAFETY: as RawRecipe.
unsafe impl aya::Pod for RawTypeRecipe {}

// SAFETY: repr(C), only integer fields, every bit pattern valid, and explicit
// padding fields so no byte is uninitialised.
unsafe impl aya::Pod for RawRecipe {}
// SAFETY: plain integers, no padding.
unsafe impl aya::Pod for RawProbeLimit {}
// SAFETY: plain integers, no padding.
unsafe impl aya::Pod for RawProbeWindow {}
// SAFETY: plain integers, no padding.
unsafe impl aya::Pod for RawProbeCounts {}

/// `struct gotel_str_head`: before a string's or byte run's bytes in a
/// record (and each `[]string` element's).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RawStrHead {
    /// The value's length in the program.
    pub len: u64,
    /// Bytes that follow (then padding to 8).
    pub copied: u32,
    /// Nonzero: the bytes could not be read.
    pub fault: u32,
}

/// `struct gotel_seq_head`: before the elements of an `OP_STRINGS` or
/// `OP_ELEMS` capture.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RawSeqHead {
    /// The slice's length in the program.
    pub len: u64,
    /// Elements that follow.
    pub n: u32,
    /// Padding.
    pub _pad: u32,
}

/// `struct gotel_elem_head`: before each `OP_ELEMS` element's captures;
/// bit t stands for its t-th element op.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RawElemHead {
    /// The op met a nil pointer.
    pub nil_bits: u32,
    /// The op could not be read.
    pub fault_bits: u32,
}

/// `struct gotel_event`: the header of each ring-buffer record.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RawEvent {
    /// `bpf_ktime_get_ns()` (CLOCK_MONOTONIC).
    pub ktime_ns: u64,
    /// Goroutine id.
    pub goid: u64,
    /// `g.stack.hi - SP`: names the frame across stack copies.
    pub frame: u64,
    /// Attach cookie = the recipe's index.
    pub cookie: u32,
    /// Process id (tgid).
    pub pid: u32,
    /// Thread id.
    pub tid: u32,
    /// Captured bytes after the header.
    pub data_len: u16,
    /// SITE_ENTRY, SITE_RETURN or SITE_LANDING.
    pub site: u8,
    /// EV_* bits.
    pub flags: u8,
    /// Bit i: op i could not be read.
    pub fault_mask: u32,
    /// Bit i: op i met a nil pointer on its way.
    pub nil_mask: u32,
    /// Records dropped so far (all CPUs) when this one was built.
    pub drop_seq: u64,
}

impl RawEvent {
    /// Splits a ring-buffer record into its header and captured data.
    pub fn parse(record: &[u8]) -> Option<(RawEvent, &[u8])> {
        let hdr = record.get(..size_of::<RawEvent>())?;
        // SAFETY: RawEvent is repr(C) plain integers; read_unaligned copes with
        // any alignment of the ring-buffer slice.
        let ev: RawEvent = unsafe { std::ptr::read_unaligned(hdr.as_ptr().cast()) };
        let data =
            record.get(size_of::<RawEvent>()..size_of::<RawEvent>() + ev.data_len as usize)?;
        Some((ev, data))
    }
}

/// `struct gotel_proc_event`: one record of the `procs` ring buffer.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RawProcEvent {
    /// `bpf_ktime_get_ns()` (CLOCK_MONOTONIC) at the tracepoint.
    pub ktime_ns: u64,
    /// Process id in gotel's PID namespace.
    pub pid: u32,
    /// PROC_EXEC or PROC_EXIT.
    pub kind: u8,
    /// Padding.
    pub _pad: [u8; 3],
}

impl RawProcEvent {
    /// Reads one `procs` record; None when it is too short.
    pub fn parse(record: &[u8]) -> Option<RawProcEvent> {
        let hdr = record.get(..size_of::<RawProcEvent>())?;
        // SAFETY: RawProcEvent is repr(C) plain integers; read_unaligned
        // copes with any alignment of the ring-buffer slice.
        Some(unsafe { std::ptr::read_unaligned(hdr.as_ptr().cast()) })
    }
}

impl Default for RawRecipe {
    fn default() -> Self {
        RawRecipe {
            site: 0,
            n_ops: 0,
            flags: 0,
            goid_offset: 0,
            stack_hi_offset: 0,
            quiet_mask: 0,
            bin: 0,
            probe: 0,
            bias: 0,
            ops: [RawOp::default(); MAX_OPS],
            n_tests: 0,
            n_when: 0,
            _pad3: [0; 6],
            when: [0; MAX_WHEN],
            tests: [RawTest::default(); MAX_TESTS],
        }
    }
}

mod layout;
pub use layout::{layout, StructLayout};

const _: () = assert!(size_of::<RawLoc>() == 8);
const _: () = assert!(size_of::<RawOp>() == 48);
const _: () = assert!(size_of::<RawRecipe>() == 32 + 48 * MAX_OPS + 24 + 48 * MAX_TESTS);
const _: () = assert!(size_of::<RawTest>() == 48);
const _: () = assert!(size_of::<RawTypeRecipe>() == 8 + 48 * MAX_TYPE_OPS);
const _: () = assert!(size_of::<RawDynBlock>() == 24);
const _: () = assert!(size_of::<RawEvent>() == 56);
const _: () = assert!(size_of::<RawProcEvent>() == 16);
const _: () = assert!(size_of::<RawStrHead>() == 16);
const _: () = assert!(size_of::<RawSeqHead>() == 16);
const _: () = assert!(size_of::<RawElemHead>() == 8);
const _: () = assert!(size_of::<RawSpanCtx>() == 40);
const _: () = assert!(size_of::<RawCtxType>() == 40);

#[cfg(test)]
mod tests;
