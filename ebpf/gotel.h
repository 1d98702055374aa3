/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The contract between gotel's userspace and its one generic BPF program.
 *
 * Userspace compiles every probe site (a function entry, or all RET
 * instructions of that function) into a `gotel_recipe`: a short list of
 * capture ops saying which words to read from registers or the stack and how
 * to copy strings. Each uprobe is attached with a cookie that indexes the
 * `recipes` array; the program interprets the recipe and emits one
 * `gotel_event` header followed by the captured data.
 *
 * The Rust mirror lives in sidecar/src/recipe/; a test compiles this
 * header and checks every size and offset against it. Change both together.
 */
#ifndef GOTEL_H
#define GOTEL_H

#ifndef __BPF__
#include <stdint.h>
typedef uint8_t __u8;
typedef uint16_t __u16;
typedef uint32_t __u32;
typedef int32_t __s32;
typedef uint64_t __u64;
#endif

/*
 * Ops per recipe. 32 is the most the u32 bit masks (fault_mask, nil_mask,
 * quiet_mask, an element's and a block's status bits) can name. The
 * verifier's work does not grow with it (the ops run in bpf_loop), the
 * recipes map does: 4096 recipes of 32 ops take 6.4 MB of kernel memory.
 */
#define GOTEL_MAX_OPS 32
/* Number of recipes (indexed by attach cookie) the map holds. */
#define GOTEL_MAX_RECIPES 4096
/* Largest copy of one string; config max_string_len is capped to this. */
#define GOTEL_MAX_STRING 4096
/* Captured data per event; the planner keeps every recipe within it. */
#define GOTEL_MAX_DATA 8192

/* Bytes of runtime.g read per hit; goid and stack.hi must lie within. */
#define GOTEL_G_SPAN 256

/* Go's integer argument registers in ABI order (abi-internal.md, amd64). */
#define GOTEL_NUM_INT_REGS 9 /* RAX RBX RCX RDI RSI R8 R9 R10 R11 */
/* Registers a recipe reads (GOTEL_LOC_REG): Go's 9 integer argument
 * registers in ABI order, then RDX R12 R13 R15, where compiled code parks
 * values too (a float moved out of XMM, an inlined call's argument); never
 * R14 (g), RBP or RSP. */
#define GOTEL_NUM_REGS 13

enum gotel_loc_kind {
	GOTEL_LOC_NONE = 0,  /* not readable (e.g. a float in an XMM register) */
	GOTEL_LOC_REG = 1,   /* integer register number `reg` in ABI order */
	GOTEL_LOC_STACK = 2, /* memory at SP + `offset` at the probed instruction */
	GOTEL_LOC_ELEM = 3,  /* the address of the current GOTEL_OP_ELEMS element */
};

/* Where one machine word lives at the probed instruction. */
struct gotel_loc {
	__u8 kind;
	__u8 reg;
	__u16 _pad;
	__s32 offset;
};

/* Pointer hops one op may follow (a.b.c.d: three hops, then the read). */
#define GOTEL_MAX_HOPS 4

enum gotel_op_kind {
	/* Read `size` bytes; emits 8 bytes, little-endian, zero-filled. */
	GOTEL_OP_SCALAR = 1,
	/*
	 * A Go string {data, len}, or a slice's elements {array, len} with
	 * `size` bytes per element (strings: size 1). Emits a
	 * gotel_str_head, then `copied` bytes padded to 8, with
	 * copied = min(len * size, max_len).
	 */
	GOTEL_OP_STRING = 2,
	/*
	 * A []string {array, len}: up to `size` elements, each copied like a
	 * string of at most `max_len` bytes. Emits a gotel_seq_head, then n
	 * times a gotel_str_head and its bytes padded to 8. Also as an
	 * element op (a []string in a slice element or a map value, e.g.
	 * url.Values) and in a type recipe (a []string field of a dynamic
	 * value).
	 */
	GOTEL_OP_STRINGS = 3,
	/*
	 * `max_len` raw bytes of memory at the op's address (indirect ops
	 * only): the head of an interface's dynamic value, whose type is
	 * known only once the record is decoded. Emits like a string, with
	 * len = max_len.
	 */
	GOTEL_OP_BYTES = 4,
	/*
	 * A slice whose elements need ops of their own (strings or pointers
	 * inside): {array, len} found like GOTEL_OP_STRING's; the `size` ops
	 * that follow (indirect, `a` = GOTEL_LOC_ELEM) run for each of the
	 * first `max_len` elements, `stride` bytes apart. Emits a
	 * gotel_seq_head, then per element a gotel_elem_head and the sub-ops'
	 * captures.
	 */
	GOTEL_OP_ELEMS = 5,
	/*
	 * A context.Context {itab, data}, found like GOTEL_OP_STRING's
	 * {data, len}: walks its chain of parents (`ctx_types` says how to
	 * step through each dynamic type) to the innermost OpenTelemetry
	 * span, read-only. Emits a gotel_str_head, then a gotel_span_ctx.
	 * (6 is the planner's own OP_GROUP, never sent.)
	 */
	GOTEL_OP_SPAN_CTX = 7,
	/*
	 * An http.Header (map[string][]string), found like an indirect
	 * GOTEL_OP_SCALAR's map pointer: the first value of its `Traceparent`
	 * key, scanned for in a small map only (Go >= 1.24: `dirLen` 0, one
	 * group; older: `B` 0 and no old buckets, one bucket). `size` says
	 * which (GOTEL_MAP_SWISS, GOTEL_MAP_BUCKETS); no chase (n_hops 0), so
	 * `hops` holds the map header's offsets from DWARF: dirPtr, dirLen, or
	 * B, buckets, oldbuckets. Emits a gotel_str_head (len 0: no such
	 * header, or not looked for because a GOTEL_OP_SPAN_CTX before it
	 * found a span; GOTEL_TP_LARGE: a larger map, not scanned), then at
	 * most `max_len` bytes of the value.
	 */
	GOTEL_OP_TRACEPARENT = 8,
	/* (GOTEL_OP_ELEMS with indirect = GOTEL_ADDR_ONLY: `max_len` elements
	 * from the op's address, no header: a map's group or bucket; len is
	 * max_len. One kind, not two: each kind test doubles the verifier's
	 * walk of the element loops.) */
};

/* gotel_op.indirect of GOTEL_OP_BYTES and of GOTEL_OP_ELEMS over a fixed
 * group: the chase ends at an address, which is the op's value (nothing
 * is read there yet). */
#define GOTEL_ADDR_ONLY 2

/*
 * gotel_op.flags: the op (GOTEL_OP_BYTES, GOTEL_ADDR_ONLY) ends at an
 * interface's data pointer, and op `type_op` read its dynamic type. If
 * `type_recipes` holds a recipe for that type, it runs on the data
 * pointer after the site's ops, and its record follows theirs as a
 * `gotel_dyn_block`, element ops' too (one per element).
 */
#define GOTEL_OPF_DYN 1

/*
 * One capture. Direct ops read their value from `a` (and a string's
 * length from `b`). Indirect ops (`indirect` = 1) find it in memory:
 * w = word at `a`; then n_hops times w = *(u64 *)(w + hops[i]); the value
 * (or the string header) is at w + mem_off. A nil w on the way sets the
 * op's bit in gotel_event.nil_mask and emits zeros.
 */
struct gotel_op {
	__u8 kind;
	__u8 size;
	__u16 max_len;
	__u8 indirect;
	__u8 n_hops;
	__u8 flags;   /* GOTEL_OPF_* */
	__u8 type_op; /* GOTEL_OPF_DYN: the op that read the dynamic type */
	struct gotel_loc a;
	struct gotel_loc b;
	__s32 hops[GOTEL_MAX_HOPS];
	__s32 mem_off;
	__u32 stride; /* GOTEL_OP_ELEMS: bytes between elements */
};

enum gotel_site {
	GOTEL_SITE_ENTRY = 0,
	GOTEL_SITE_RETURN = 1,
	/* Right after the prologue's call to runtime.morestack: the entry
	 * runs again next (see GOTEL_RECIPE_RESTARTS). Emits no record. */
	GOTEL_SITE_RESTART = 2,
	/* A landing site: an instruction of a caller, right after the call,
	 * where a float result has left its XMM register for an integer
	 * register or a stack slot (ops read it there). Never TRACK'ed: the
	 * program treats it as any non-entry site, and userspace pairs it
	 * with the call that just returned on its goroutine. */
	GOTEL_SITE_LANDING = 3,
};

/* gotel_recipe.flags */
/* Attached to the executable file for every process (a `from_start`
 * probe): only processes gotel can name (its PID namespace) are recorded. */
#define GOTEL_RECIPE_EVERY_PROCESS 0x1
/* The probe keeps some calls only (rate limit, sampling): its entry notes
 * each call's decision in `kept`, its return emits only the kept ones. */
#define GOTEL_RECIPE_TRACK 0x2
/*
 * Set by userspace (RawRecipe::fast) when the recipe is at most
 * GOTEL_FAST_OPS direct ops (GOTEL_OP_SCALAR, and at most one
 * GOTEL_OP_STRING), has no `when`, and its data cannot exceed
 * GOTEL_FAST_DATA bytes: the program builds the record on the BPF stack,
 * straight-line, with no per-CPU scratch and no bpf_loop. Same record.
 */
#define GOTEL_RECIPE_FAST 0x4
/*
 * The entry of an entry-only probe whose function has restart sites: a
 * hit at the SP its restart site just noted (`restarting`) is the same
 * call's prologue run again after the stack grew, not a new call, and is
 * dropped, counted. (With returns, userspace tells the two apart.)
 */
#define GOTEL_RECIPE_RESTARTS 0x8
#define GOTEL_FAST_OPS 8
#define GOTEL_FAST_DATA 304

/*
 * A probe's `when`, in the kernel: up to GOTEL_MAX_TESTS tests on the entry's
 * resolved ops (numbers compared with a constant, strings equal to or
 * starting with a literal), combined by a postfix program of up to
 * GOTEL_MAX_WHEN steps. Three-valued: a test whose op could not be read is
 * unknown, and only a condition known false drops the call.
 */
#define GOTEL_MAX_TESTS 8
#define GOTEL_MAX_WHEN 16
#define GOTEL_TEST_STR 32
/* Postfix steps: below GOTEL_MAX_TESTS, push that test's outcome. */
#define GOTEL_WHEN_AND 0x80
#define GOTEL_WHEN_OR 0x81
#define GOTEL_WHEN_NOT 0x82

enum gotel_test_kind {
	GOTEL_TEST_SIGNED = 1,     /* the op's value, sign-extended from `size` */
	GOTEL_TEST_UNSIGNED = 2,
	GOTEL_TEST_STR_EQ = 3,     /* a string op equal to str[..len] */
	GOTEL_TEST_STR_PREFIX = 4, /* a string op starting with str[..len] */
};

enum gotel_cmp {
	GOTEL_CMP_EQ = 0,
	GOTEL_CMP_NE = 1,
	GOTEL_CMP_LT = 2,
	GOTEL_CMP_LE = 3,
	GOTEL_CMP_GT = 4,
	GOTEL_CMP_GE = 5,
};

struct gotel_test {
	__u8 kind; /* gotel_test_kind */
	__u8 op;   /* the recipe op whose resolved value it reads */
	__u8 cmp;  /* gotel_cmp, for numbers */
	__u8 size; /* the op's bytes, for sign extension */
	__u32 len; /* the string literal's bytes */
	__u64 value;
	__u8 str[GOTEL_TEST_STR];
};

/* Probe slots (gotel_recipe.probe): one per configured probe and version,
 * 0 for gotel's own markers. */
#define GOTEL_MAX_PROBES 4096
/* Calls of rate-limited or sampled probes in flight at once (`kept`). */
#define GOTEL_MAX_KEPT 65536

struct gotel_recipe {
	__u8 site;
	__u8 n_ops;
	__u16 flags; /* GOTEL_RECIPE_* */
	/* offsetof(runtime.g, goid) and offsetof(runtime.g, stack.hi): they
	 * differ between Go releases, so they come from the binary's DWARF. */
	__u32 goid_offset;
	__u32 stack_hi_offset;
	/* Bit i: op i reads on speculation (an interface's dynamic value may
	 * not be what it guesses); its faults are expected, not counted. */
	__u32 quiet_mask;
	/* The executable's id and load bias in the traced process: dynamic
	 * types are looked up by link-time address, shared by every process
	 * of one binary (PIE or not). */
	__u32 bin;
	/* The probe's slot in `probe_limits` and `probe_counts` (0: none). */
	__u32 probe;
	__u64 bias;
	struct gotel_op ops[GOTEL_MAX_OPS];
	/* `when`, at an entry site: tests and the postfix program over them
	 * (n_when 0: none). */
	__u8 n_tests;
	__u8 n_when;
	__u8 _pad3[6];
	__u8 when[GOTEL_MAX_WHEN];
	struct gotel_test tests[GOTEL_MAX_TESTS];
};

/*
 * Ops of one dynamic type's recipe. Bounded by memory, not the verifier:
 * `type_recipes` is a preallocated hash map (a map allocating at update
 * time warns on Linux < 6.1 and fails on PREEMPT_RT in uprobe programs),
 * so every op slot costs 8192 * 48 bytes: 24 ops take 10 MB, 32 would
 * take 13.3 MB, 12 took 5.4 MB.
 */
#define GOTEL_MAX_TYPE_OPS 24
/* Dynamic types recipes can be installed for (all binaries). */
#define GOTEL_MAX_TYPE_RECIPES 8192
/* Dynamic values one record follows (nested ones included). */
#define GOTEL_MAX_DYN 16

/* Key of `type_recipes`: a binary and a runtime `_type`'s link-time
 * address in it. */
struct gotel_type_key {
	__u32 bin;
	__u32 _pad;
	__u64 rtype;
};

/*
 * What to capture of a value of one dynamic type, planned by userspace
 * from DWARF. Every op is indirect from GOTEL_LOC_ELEM, which is the
 * interface's data pointer; kinds SCALAR, STRING, STRINGS and BYTES. An op
 * with GOTEL_OPF_DYN (an interface inside the value) queues its value in
 * turn, up to GOTEL_MAX_DYN per record.
 */
struct gotel_type_recipe {
	__u8 n_ops;
	__u8 _pad[7];
	struct gotel_op ops[GOTEL_MAX_TYPE_OPS];
};

/*
 * The fixed parts a record's captures are made of (after gotel_event).
 * A string or byte run (GOTEL_OP_STRING, GOTEL_OP_BYTES, each element of
 * GOTEL_OP_STRINGS): this head, then `copied` bytes padded to 8.
 */
struct gotel_str_head {
	__u64 len;     /* the value's length in the program */
	__u32 copied;  /* bytes that follow */
	__u32 fault;   /* nonzero: the bytes could not be read */
};

/* Before the elements of GOTEL_OP_STRINGS and GOTEL_OP_ELEMS. */
struct gotel_seq_head {
	__u64 len;     /* the slice's length in the program */
	__u32 n;       /* elements that follow */
	__u32 _pad;
};

/* Before each GOTEL_OP_ELEMS element's captures; bit t: its t-th sub-op. */
struct gotel_elem_head {
	__u32 nil_bits;
	__u32 fault_bits;
};

/* Type-recipe ops use the site's per-op scratch slots; every op index
 * must fit the u32 status masks. */
_Static_assert(GOTEL_MAX_TYPE_OPS <= GOTEL_MAX_OPS, "type ops share res[]");
_Static_assert(GOTEL_MAX_OPS <= 32, "ops are named by u32 bit masks");
/* The fast path reads g into its record's data, which it then fills. */
_Static_assert(GOTEL_G_SPAN + 8 <= GOTEL_FAST_DATA, "g fits the fast record");

/* The BPF program writes these at fixed offsets (16 and 8 bytes on). */
_Static_assert(sizeof(struct gotel_str_head) == 16, "gotel_str_head");
_Static_assert(sizeof(struct gotel_seq_head) == 16, "gotel_seq_head");
_Static_assert(sizeof(struct gotel_elem_head) == 8, "gotel_elem_head");

/*
 * After the site's ops, one block per dynamic value followed, in queue
 * order: this header, then the captures of its type recipe's ops laid out
 * like the site's own. `rtype` says which recipe (userspace keeps a copy).
 */
struct gotel_dyn_block {
	__u64 rtype;   /* the dynamic type's _type, as the process sees it */
	__u8 parent;   /* 0: the site's recipe; b + 1: block b */
	__u8 op;       /* the parent's GOTEL_OPF_DYN op */
	__u8 n_ops;
	__u8 elem;     /* the parent op's element (GOTEL_OP_ELEMS), else 0 */
	__u32 nil_bits;   /* bit t: op t met a nil pointer */
	__u32 fault_bits; /* bit t: op t could not be read */
	__u32 _pad2;
};

/*
 * Following a context.Context to the application's OpenTelemetry span
 * (GOTEL_OP_SPAN_CTX). `ctx_types` holds, per binary and link-time
 * `_type`, what gotel planned from DWARF for the dynamic types a chain
 * can meet: the context package's own (a parent to step to, a key and
 * value to look at, or the end), the SDK's span key type, and span types
 * (any type with a trace.SpanContext field).
 */
#define GOTEL_MAX_CTX_HOPS 16
#define GOTEL_MAX_CTX_TYPES 2048

enum gotel_ctx_kind {
	GOTEL_CTX_ROOT = 1,     /* Background, TODO: the chain ends */
	GOTEL_CTX_PARENT = 2,   /* cancel, timer, …: step to `parent` */
	GOTEL_CTX_VALUE = 3,    /* WithValue: {key, val} at `key`, `val`, then `parent` */
	GOTEL_CTX_SPAN_KEY = 4, /* the SDK's key type; `key_value` is the span's key */
	GOTEL_CTX_SPAN = 5,     /* a span: its SpanContext's ids at trace_id, span_id, flags */
};

/* A value of `ctx_types`: offsets into the dynamic value (what the
 * interface's data pointer points at). */
struct gotel_ctx_type {
	__u8 kind; /* gotel_ctx_kind */
	__u8 _pad[3];
	__u32 parent;
	__u32 key;
	__u32 val;
	__u32 trace_id;
	__u32 span_id;
	__u32 flags;
	__u32 _pad2;
	__u64 key_value;
};

/* GOTEL_OP_TRACEPARENT's map implementations (gotel_op.size). */
#define GOTEL_MAP_SWISS 1
#define GOTEL_MAP_BUCKETS 2
/* GOTEL_OP_TRACEPARENT's gotel_str_head.len for a map too large to scan. */
#define GOTEL_TP_LARGE 0xffffffff

/* How a walk ended (gotel_span_ctx.status). */
enum gotel_span_status {
	GOTEL_SPAN_NONE = 0,    /* the chain ended without a span: no parent */
	GOTEL_SPAN_FOUND = 1,
	GOTEL_SPAN_UNKNOWN = 2, /* a context type gotel has no layout for (`rtype`) */
	GOTEL_SPAN_OTHER = 3,   /* the innermost span's type has no SpanContext (`rtype`) */
	GOTEL_SPAN_DEEP = 4,    /* more than GOTEL_MAX_CTX_HOPS contexts */
	GOTEL_SPAN_FAULT = 5,   /* a read failed on the way */
};

/* What GOTEL_OP_SPAN_CTX emits after its gotel_str_head. */
struct gotel_span_ctx {
	__u8 trace_id[16];
	__u8 span_id[8];
	__u8 flags;
	__u8 status; /* gotel_span_status */
	__u8 hops;   /* contexts looked at */
	__u8 _pad[5];
	__u64 rtype; /* UNKNOWN, OTHER: the dynamic type met */
};
_Static_assert(sizeof(struct gotel_span_ctx) == 40, "gotel_span_ctx");

/*
 * GOTEL_OP_STACK: the call's callers, read at an entry site by walking Go's
 * frame pointers (amd64 Go keeps RBP frame pointers). Before the prologue
 * the return address is at [SP] and RBP is the caller's frame pointer;
 * then [fp] is the next frame pointer and [fp + 8] the next return
 * address. `size` is the depth asked for (at most GOTEL_MAX_STACK); no
 * location. Emits a gotel_stack_head, then `n` return addresses (u64, as
 * the process sees them). The walk stops at the depth, at a zero or
 * non-increasing frame pointer, at one outside the goroutine's stack
 * [g.stack.lo, g.stack.hi), or at a failed read (`end` says which).
 * Only as op 0 of a recipe (the program writes it before the other ops,
 * outside their loop), never on the fast path.
 */
#define GOTEL_OP_STACK 9
#define GOTEL_MAX_STACK 32

enum gotel_stack_end {
	GOTEL_STACK_BOTTOM = 0, /* a zero frame pointer: the goroutine's first frame */
	GOTEL_STACK_DEPTH = 1,  /* `size` frames read, more may follow (truncated) */
	GOTEL_STACK_BAD_FP = 2, /* a frame pointer below the last or off the stack */
	GOTEL_STACK_FAULT = 3,  /* a read failed */
};

/* What GOTEL_OP_STACK emits before its return addresses. */
struct gotel_stack_head {
	__u32 n;   /* return addresses that follow */
	__u32 end; /* gotel_stack_end */
};
_Static_assert(sizeof(struct gotel_stack_head) == 8, "gotel_stack_head");

/* Bits of gotel_event.flags. */
#define GOTEL_EV_NO_G 1         /* could not read the goroutine (g) fields */
#define GOTEL_EV_DATA_FULL 2    /* ops skipped: GOTEL_MAX_DATA reached */

/* Header of every ring-buffer record; captured data follows. */
struct gotel_event {
	__u64 ktime_ns;
	__u64 goid;
	/* g.stack.hi - SP at the probe. Go copies stacks on growth keeping
	 * offsets from the top, so this names one frame of one goroutine for
	 * the whole call, and differs per recursion level. */
	__u64 frame;
	__u32 cookie;
	__u32 pid;
	__u32 tid;
	__u16 data_len;
	__u8 site;
	__u8 flags;
	/* Bit i: op i could not be read (page not present, bad pointer). */
	__u32 fault_mask;
	/* Bit i: op i met a nil pointer on its way (the value is nil). */
	__u32 nil_mask;
	/* Records dropped so far (all CPUs) when this one was built: a change
	 * between two records means something between them was lost. */
	__u64 drop_seq;
};

/* What one probe may emit, set by userspace (`probe_limits`). */
struct gotel_probe_limit {
	/* Calls kept per 1-second window; 0: no limit. */
	__u32 rate;
	/* A call is kept when bpf_get_prandom_u32() < sample; 0: every call. */
	__u32 sample;
};

/* One probe's rate-limit window (`probe_windows`, shared by all CPUs). */
struct gotel_probe_window {
	__u64 start_ns;
	__u64 count;
};

/* One probe's per-CPU counters (`probe_counts`). */
struct gotel_probe_counts {
	/* Uprobe hits: every site, process and outcome (the breaker's input). */
	__u64 hits;
	/* Calls not kept by `sample`. */
	__u64 sampled_out;
	/* Calls not kept by the rate limit. */
	__u64 rate_limited;
	/* Calls whose `when` was false (decided in the kernel). */
	__u64 filtered;
};

/* Restarts noted and not yet re-entered (`restarting`): few at once. */
#define GOTEL_MAX_RESTARTING 4096
/* A note older than this is stale (its re-entry was never seen). */
#define GOTEL_RESTART_NS 1000000000ULL

/* A prologue about to run again (`restarting`): SP is the same at the
 * restart site and at the entry it jumps back to. */
struct gotel_restart_key {
	__u32 pid;
	__u32 probe;
	__u64 sp;
};

/* A call a rate-limited or sampled probe kept (`kept`): its return emits. */
struct gotel_kept_key {
	__u32 pid;
	__u32 probe;
	__u64 goid;
	__u64 frame;
};

/* Indices of the per-CPU `stats` counters. */
enum gotel_stat {
	GOTEL_STAT_BUSY = 0,        /* records dropped: scratch in use (preemption) */
	GOTEL_STAT_RINGBUF_FULL = 1, /* records dropped: ring buffer full */
	GOTEL_STAT_NO_RECIPE = 2,   /* hits whose cookie had no recipe */
	GOTEL_STAT_FAULTS = 3,      /* records with at least one faulted op */
	GOTEL_STAT_FOREIGN = 4,     /* file-wide hits outside gotel's PID namespace */
	GOTEL_STAT_RESTARTED = 5,   /* entry-only hits that were a restarted prologue */
	GOTEL_STAT_COUNT = 6,
};

/*
 * Process lifecycle records, in their own small ring buffer (`procs`) so
 * that they wake userspace at once while call records wait for the drain
 * timer. They let a process be attached milliseconds after its exec and
 * detached when it exits; the /proc scan stays the fallback for a lost
 * record or a kernel without the tracepoints.
 */
enum gotel_proc_kind {
	GOTEL_PROC_EXEC = 1, /* sched_process_exec: a new image runs */
	GOTEL_PROC_EXIT = 2, /* sched_process_exit of a thread-group leader */
};

/* One lifecycle record. `pid` is as gotel's PID namespace numbers it;
 * processes outside that namespace (or nested below it) send none. */
struct gotel_proc_event {
	__u64 ktime_ns;
	__u32 pid;
	__u8 kind;
	__u8 _pad[3];
};

#endif /* GOTEL_H */
