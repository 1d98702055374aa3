// SPDX-License-Identifier: GPL-2.0
/*
 * gotel's one BPF program: a recipe interpreter for Go function probes.
 *
 * Every uprobe (function entry or one RET instruction) is attached with a
 * cookie that indexes `recipes`. The program reads the goroutine identity
 * from g (R14 under Go's register ABI), runs the recipe's capture ops and
 * writes one record to the ring buffer without waking the reader unless
 * the buffer is filling up: userspace drains on a timer, so the traced
 * thread never pays for a wakeup per call.
 */
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>

#include "gotel.h"

char LICENSE[] SEC("license") = "GPL";

/* Ring-buffer fill level (bytes) past which a submit wakes the reader. */
volatile const __u64 wakeup_bytes = 1 << 20;
/*
 * Bytes a CPU submits between two looks at that fill level. Asking the
 * ring costs a helper call per record (~5 % of a small record's run time);
 * asking every few KiB instead lets the ring pass the wake-up level by at
 * most this much per CPU, which userspace keeps well inside the headroom
 * above it. 0: ask at every record.
 */
volatile const __u64 ask_bytes = 0;

/*
 * gotel's own PID namespace (nsfs dev and inode), or 0 when it runs in the
 * initial one. A sidecar sees the pod's pid numbering in /proc while
 * bpf_get_current_pid_tgid() gives host ids; report ids as gotel sees them.
 */
volatile const __u64 pidns_dev = 0;
volatile const __u64 pidns_ino = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GOTEL_MAX_RECIPES);
	__type(key, __u32);
	__type(value, struct gotel_recipe);
} recipes SEC(".maps");

/* Recipes of interfaces' dynamic types, installed by userspace when a
 * type is first seen (or known to be likely, like error types). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, GOTEL_MAX_TYPE_RECIPES);
	__type(key, struct gotel_type_key);
	__type(value, struct gotel_type_recipe);
} type_recipes SEC(".maps");

/* How to step through each dynamic type a context chain can meet (see
 * GOTEL_OP_SPAN_CTX), installed per binary by userspace. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, GOTEL_MAX_CTX_TYPES);
	__type(key, struct gotel_type_key);
	__type(value, struct gotel_ctx_type);
} ctx_types SEC(".maps");

/* One global count of dropped records, stamped on every record. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} drop_seq SEC(".maps");

/* What each probe may emit (rate limit, sampling), set by userspace. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GOTEL_MAX_PROBES);
	__type(key, __u32);
	__type(value, struct gotel_probe_limit);
} probe_limits SEC(".maps");

/* Each rate-limited probe's current 1-second window. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GOTEL_MAX_PROBES);
	__type(key, __u32);
	__type(value, struct gotel_probe_window);
} probe_windows SEC(".maps");

/* Hits and calls not kept, per probe and CPU: the breaker reads the hits. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, GOTEL_MAX_PROBES);
	__type(key, __u32);
	__type(value, struct gotel_probe_counts);
} probe_counts SEC(".maps");

/* Each call of a rate-limited or sampled probe, until its return: 1 kept,
 * 0 not. LRU: calls that never return are evicted in time; a return whose
 * note was evicted is emitted (userspace pairs it, or counts it). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, GOTEL_MAX_KEPT);
	__type(key, struct gotel_kept_key);
	__type(value, __u8);
} kept SEC(".maps");

/* Prologues of entry-only probes about to run again (GOTEL_SITE_RESTART);
 * LRU: a note whose re-entry was never seen ages out. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, GOTEL_MAX_RESTARTING);
	__type(key, struct gotel_restart_key);
	__type(value, __u64); /* when it was noted (ktime) */
} restarting SEC(".maps");

/* Bytes this CPU has submitted since it last asked the ring how full it
 * is (ask_bytes). Not atomic: a hit preempting another on the same CPU may
 * lose an addition, which only delays a look. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} unasked SEC(".maps");

/* Records dropped per recipe (by cookie), for per-probe counts: written
 * only when a record is lost, so a shared array costs nothing per hit.
 * Userspace zeroes a slot when it hands its cookie out. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GOTEL_MAX_RECIPES);
	__type(key, __u32);
	__type(value, __u64);
} recipe_drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, GOTEL_STAT_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/*
 * Per-CPU scratch for building a record: too big for the 512-byte stack.
 * Twice GOTEL_MAX_DATA so that any masked offset plus any masked length
 * stays inside it, which is what the verifier needs to see.
 */
#define SCRATCH_SIZE (2 * GOTEL_MAX_DATA)
/* Where pass 1 parked an op's value (see resolve_op). */
struct resolved {
	__u64 a; /* scalar value, or string data pointer */
	__u64 b; /* string length */
	__u32 status;
	__u32 _pad;
};

/* State of the GOTEL_OP_ELEMS copy under way. */
struct elems_copy {
	__u64 array;  /* the slice's array */
	__u64 elem;   /* current element's address */
	__u32 stride; /* bytes per element */
	__u32 first;  /* index of the first element op */
	__u32 k;      /* element ops */
	__u32 n;      /* elements written */
	__u32 nil_bits;
	__u32 fault_bits;
	__u32 off;    /* write cursor in data */
	__u32 _pad;
};

/* A dynamic value waiting for its type's recipe (see gotel_dyn_block). */
struct dyn_item {
	__u64 rtype; /* runtime address of its _type */
	__u64 data;  /* the interface's data pointer */
	__u8 parent;
	__u8 op;
	__u8 elem;
	__u8 _pad[5];
};

/* State of one GOTEL_OP_STACK walk (see emit_stack). */
struct stack_walk {
	__u64 fp;   /* the frame pointer to read next */
	__u64 prev; /* the last one read: frame pointers only increase */
	__u64 lo;   /* the goroutine's stack, [lo, hi) */
	__u64 hi;
	__u32 off;  /* write cursor in data */
	__u32 n;    /* return addresses written */
	__u32 end;  /* gotel_stack_end */
	__u32 _pad;
};

struct scratch {
	__u32 busy; /* non-zero while a program builds a record here */
	__u32 n_dyn; /* dynamic values queued */
	struct gotel_event ev;
	__u8 data[SCRATCH_SIZE];
	/* The head of runtime.g, read once per hit (+8: slack for the mask). */
	__u8 g[GOTEL_G_SPAN + 8];
	struct resolved res[GOTEL_MAX_OPS];
	struct elems_copy ec;
	struct dyn_item dyn[GOTEL_MAX_DYN];
	/* Blocks written; while one is written, its index + 1, which names
	 * it as the parent of the values it queues (queued values without a
	 * recipe write none, so this is not the queue position). */
	__u32 n_blocks;
	__u32 nil_bits;   /* its ops' status bits */
	__u32 fault_bits;
	/* Write cursor of the dynamic values' blocks: in map memory, which
	 * the verifier does not track per value (see elems_copy). */
	__u32 doff;
	/* `when`: a string test's bytes, the tests' outcomes, and the
	 * postfix program's stack (here, not on the 512-byte BPF stack). */
	__u64 tbuf[GOTEL_TEST_STR / 8];
	__u8 when_out[GOTEL_MAX_TESTS];
	__u8 when_stack[GOTEL_MAX_WHEN];
	__u32 when_top;
	__u32 when_bad;
	/* The call's key in `kept` (limited probes), and its decision. */
	struct gotel_kept_key kept_key;
	__u8 keep;
	/* The context walk found the app's span: no traceparent scan. */
	__u8 span_found;
	/* RBP at the probe: the caller's frame pointer (GOTEL_OP_STACK). */
	__u64 bp;
	/* GOTEL_OP_STACK's walk, here and not on the BPF stack (see
	 * gotel_stack). */
	struct stack_walk sw;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_buf SEC(".maps");

static __always_inline void count(__u32 stat)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &stat);
	if (v)
		*v += 1;
}

/* A record was lost: count it where every later record will see it. */
/* A record of recipe `cookie` is lost, for reason `stat`. */
static __always_inline void dropped(__u32 stat, __u32 cookie)
{
	__u32 zero = 0;
	__u64 *seq = bpf_map_lookup_elem(&drop_seq, &zero);
	if (seq)
		__sync_fetch_and_add(seq, 1);
	__u64 *mine = bpf_map_lookup_elem(&recipe_drops, &cookie);
	if (mine)
		__sync_fetch_and_add(mine, 1);
	count(stat);
}

/*
 * One load of a pt_regs field at a constant offset: clang may not merge the
 * cases of go_reg into one load through a computed ctx pointer, which the
 * verifier refuses.
 */
#define CTX_U64(ctx, field) ({						\
	__u64 v_;							\
	asm volatile("%0 = *(u64 *)(%1 + %2)" : "=r"(v_)		\
		     : "r"(ctx), "i"(__builtin_offsetof(struct pt_regs, field))); \
	v_;								\
})

/* Readable register r (GOTEL_NUM_REGS order), straight from ctx: no copy
 * of them all on the stack (104 bytes the call chains cannot spare). */
static __always_inline __u64 go_reg(struct pt_regs *ctx, __u32 r)
{
	switch (r) {
	case 0: return CTX_U64(ctx, rax);
	case 1: return CTX_U64(ctx, rbx);
	case 2: return CTX_U64(ctx, rcx);
	case 3: return CTX_U64(ctx, rdi);
	case 4: return CTX_U64(ctx, rsi);
	case 5: return CTX_U64(ctx, r8);
	case 6: return CTX_U64(ctx, r9);
	case 7: return CTX_U64(ctx, r10);
	case 8: return CTX_U64(ctx, r11);
	case 9: return CTX_U64(ctx, rdx);
	case 10: return CTX_U64(ctx, r12);
	case 11: return CTX_U64(ctx, r13);
	default: return CTX_U64(ctx, r15);
	}
}

/* Loads the machine word at `loc`; non-zero when it cannot be read. */
static __always_inline int load_word(struct pt_regs *ctx, __u64 sp,
				     const struct gotel_loc *loc, __u32 size,
				     __u64 *out)
{
	*out = 0;
	if (loc->kind == GOTEL_LOC_REG) {
		if (loc->reg >= GOTEL_NUM_REGS)
			return -1;
		*out = go_reg(ctx, loc->reg);
		return 0;
	}
	if (loc->kind == GOTEL_LOC_STACK) {
		/* Read exactly `size` bytes: a small value at the top of the
		 * stack must not fault by reading past it. */
		if (size == 0 || size > 8)
			size = 8;
		return bpf_probe_read_user(out, size,
					   (void *)(sp + (__s64)loc->offset));
	}
	return -1;
}

static __always_inline __u64 mask_to(__u64 v, __u32 size)
{
	if (size >= 8)
		return v;
	return v & ((1ULL << (size * 8)) - 1);
}

/* State shared with resolve_op and emit_op across bpf_loop iterations. */
struct capture {
	struct pt_regs *ctx; /* the registers at the probe (load_word) */
	__u64 sp;
	struct gotel_recipe *rc;
	struct scratch *s;
	__u32 off; /* bytes of data written so far */
	__u32 _pad;
	/* The dynamic value being captured: its type's recipe, data pointer. */
	struct gotel_type_recipe *tr;
	__u64 base;
};

/*
 * Runs op `i` of the recipe. A bpf_loop callback is verified once, whatever
 * the number of ops; an unrolled or open-coded loop makes the verifier walk
 * every combination of op kinds and explodes.
 */
/* State of one pointer chase (an indirect op's hops). */
struct chase {
	const struct gotel_op *op;
	__u64 w;  /* current pointer */
	int nil;  /* met a nil pointer */
	int err;  /* a load faulted */
};

/* One hop: w = *(u64 *)(w + hops[h]). */
static long chase_hop(__u32 h, struct chase *ch)
{
	if (h >= GOTEL_MAX_HOPS)
		return 1;
	if (!ch->w) {
		ch->nil = 1;
		return 1;
	}
	if (bpf_probe_read_user(&ch->w, 8, (void *)(ch->w + (__s64)ch->op->hops[h]))) {
		ch->err = 1;
		return 1;
	}
	return 0;
}

enum { RES_OK = 0, RES_NIL = 1, RES_FAULT = 2 };

/*
 * Finds op's value (see resolve_op). `elem`: the current element's address,
 * the starting point of ops inside GOTEL_OP_ELEMS.
 */
static __always_inline void resolve_into(const struct gotel_op *op,
					 struct resolved *r,
					 struct capture *c, __u64 elem)
{
	int scalar = op->kind == GOTEL_OP_SCALAR;
	r->status = RES_OK;
	r->a = 0;
	r->b = 0;
	if (!op->indirect) {
		if (load_word(c->ctx, c->sp, &op->a, scalar ? op->size : 8, &r->a) ||
		    (!scalar && load_word(c->ctx, c->sp, &op->b, 8, &r->b)))
			r->status = RES_FAULT;
		return;
	}
	struct chase ch = { .op = op };
	if (op->a.kind == GOTEL_LOC_ELEM)
		ch.w = elem;
	else if (load_word(c->ctx, c->sp, &op->a, 8, &ch.w)) {
		r->status = RES_FAULT;
		return;
	}
	if (op->n_hops)
		bpf_loop(op->n_hops, chase_hop, &ch, 0);
	if (ch.err) {
		r->status = RES_FAULT;
		return;
	}
	if (ch.nil || !ch.w) {
		r->status = RES_NIL;
		return;
	}
	void *addr = (void *)(ch.w + (__s64)op->mem_off);
	if (op->indirect == GOTEL_ADDR_ONLY) {
		/* Copied from addr in pass 2 (bytes, or max_len elements).
		 * One test of a field, not of each such kind: every branch
		 * here multiplies the verifier's paths in the element loops. */
		r->a = (__u64)addr;
		r->b = op->max_len;
		return;
	}
	__u32 size = op->size;
	if (size == 0 || size > 8)
		size = 8;
	/* A string header {data, len} lands in a, b. */
	if (scalar ? bpf_probe_read_user(&r->a, size, addr)
		   : bpf_probe_read_user(&r->a, 16, addr))
		r->status = RES_FAULT;
}

/*
 * Pass 1, per op: find the value (a scalar, or a string's data pointer and
 * length) and park it in the scratch map. Each pass is its own bpf_loop
 * callback and hands over through map memory, whose contents the verifier
 * does not track: one path per pass instead of one per combination of op
 * kinds, access modes and outcomes (which exceeded the 1M-insn limit).
 * Element ops are resolved per element, in pass 2.
 */
static long resolve_op(__u32 i, struct capture *c)
{
	if (i >= GOTEL_MAX_OPS)
		return 1;
	const struct gotel_op *op = &c->rc->ops[i];
	if (op->a.kind == GOTEL_LOC_ELEM)
		return 0;
	resolve_into(op, &c->s->res[i], c, 0);
	return 0;
}

/*
 * Writes one string-layout capture at `dst` (= s->data + off):
 * { u64 len; u32 copied; u32 fault; bytes padded to 8 }, copying up to
 * `want` bytes from user address `src`. A failed read sets *fault and
 * copies nothing. Returns the data offset after the capture.
 */
static __always_inline __u32 put_bytes(__u8 *dst, __u32 off, __u64 len,
				       __u64 want, __u64 src, __u32 *fault)
{
	/* The planner keeps every recipe within GOTEL_MAX_DATA; clamp anyway
	 * against a torn or hostile recipe. */
	const __u32 head = sizeof(struct gotel_str_head);
	if (want > GOTEL_MAX_DATA - head - off)
		want = GOTEL_MAX_DATA - head - off;
	/* clang drops clamps it can prove redundant, and the verifier cannot
	 * prove them: hide the value from clang, then mask so the bound is
	 * explicit. */
	__u32 copied = (__u32)want;
	barrier_var(copied);
	copied &= 2 * GOTEL_MAX_STRING - 1;
	if (copied && bpf_probe_read_user(dst + head, copied, (void *)src)) {
		*fault = 1;
		copied = 0;
	}
	struct gotel_str_head *h = (void *)dst;
	h->len = len;
	h->copied = copied;
	h->fault = *fault;
	return off + head + ((copied + 7) & ~7U);
}

/* State of one []string copy (emit_value, GOTEL_OP_STRINGS). */
struct strings_copy {
	struct scratch *s;
	__u64 array;    /* the slice's array: string headers */
	__u32 off;      /* write cursor in s->data */
	__u32 max_len;  /* bytes per element */
	__u32 n;        /* elements written */
};

/* One element of a []string: its header, then up to max_len bytes. */
static long copy_string_elem(__u32 i, struct strings_copy *sc)
{
	__u32 off = sc->off;
	if (off > GOTEL_MAX_DATA - 16)
		return 1;
	__u64 hdr[2] = {};
	__u32 fault = 0;
	if (bpf_probe_read_user(hdr, sizeof(hdr), (void *)(sc->array + 16 * (__u64)i))) {
		fault = 1;
		hdr[1] = 0;
	}
	__u64 want = hdr[1] < sc->max_len ? hdr[1] : sc->max_len;
	sc->off = put_bytes(&sc->s->data[off], off, hdr[1], want, hdr[0], &fault);
	sc->n = i + 1;
	return 0;
}

/*
 * Writes a scalar, string, bytes or []string op's value at *cursor and
 * advances it: the same code for a site's ops, element ops and type-recipe
 * ops, so a []string is captured wherever it is. Returns the op's status
 * (RES_*); RES_FAULT also when the data is full.
 */
static __always_inline __u32 emit_value(const struct gotel_op *op,
					const struct resolved *r,
					struct scratch *s, __u32 *cursor)
{
	__u32 off = *cursor;
	int scalar = op->kind == GOTEL_OP_SCALAR;
	/* Room for the op's fixed part: 8 bytes (scalars) or 16 (the rest). */
	if (off > GOTEL_MAX_DATA - (scalar ? 8 : 16)) {
		s->ev.flags |= GOTEL_EV_DATA_FULL;
		return RES_FAULT;
	}
	__u32 status = r->status;
	__u8 *dst = &s->data[off];
	if (scalar) {
		*(__u64 *)dst = status == RES_OK ? mask_to(r->a, op->size) : 0;
		*cursor = off + 8;
		return status;
	}
	if (op->kind == GOTEL_OP_STRINGS) {
		/* A gotel_seq_head, then up to `size` strings of at most
		 * `max_len` bytes; a nil or unreadable slice has none. */
		__u64 count = status == RES_OK ? r->b : 0;
		struct strings_copy sc = {
			.s = s, .array = r->a, .off = off + 16,
			.max_len = op->max_len, .n = 0,
		};
		__u32 want = count < op->size ? (__u32)count : op->size;
		if (want)
			bpf_loop(want, copy_string_elem, &sc, 0);
		struct gotel_seq_head *sh = (void *)dst;
		sh->len = count;
		sh->n = sc.n;
		sh->_pad = 0;
		*cursor = sc.off;
		return status;
	}
	if (op->kind != GOTEL_OP_STRING && op->kind != GOTEL_OP_BYTES)
		return RES_FAULT;
	__u64 len = status == RES_OK ? r->b : 0;
	/* `size` bytes per element: 1 for strings, the element size for
	 * slices (len counts elements). */
	__u64 elem = op->size ? op->size : 1;
	__u64 want = len < op->max_len ? len * elem : op->max_len;
	if (want > op->max_len)
		want = op->max_len;
	__u32 fault = 0;
	*cursor = put_bytes(dst, off, len, want, r->a, &fault);
	return fault ? RES_FAULT : status;
}

/*
 * Queues the dynamic value whose data pointer op `op` (GOTEL_OPF_DYN)
 * resolved to, with the type its `type_op` read: a nil interface, or a
 * typed nil, has nothing to follow.
 */
static __always_inline void queue_dyn(struct scratch *s,
				      const struct gotel_op *op,
				      const struct resolved *r,
				      __u32 parent, __u32 at, __u32 elem)
{
	const struct resolved *t = &s->res[op->type_op & (GOTEL_MAX_OPS - 1)];
	__u32 n = s->n_dyn;
	if (t->status != RES_OK || !t->a || !r->a || n >= GOTEL_MAX_DYN)
		return;
	struct dyn_item *it = &s->dyn[n & (GOTEL_MAX_DYN - 1)];
	it->rtype = t->a;
	it->data = r->a;
	it->parent = parent;
	it->op = at;
	it->elem = elem;
	s->n_dyn = n + 1;
}

/*
 * Element op t for the current element, in two passes handed over through
 * map memory like the top-level ones: one callback doing both explodes the
 * verifier's path count.
 */
static long elem_resolve(__u32 t, struct capture *c)
{
	struct elems_copy *ec = &c->s->ec;
	__u32 i = ec->first + t;
	if (t >= 32 || i >= GOTEL_MAX_OPS)
		return 1;
	resolve_into(&c->rc->ops[i], &c->s->res[i], c, ec->elem);
	return 0;
}

static long elem_emit(__u32 t, struct capture *c)
{
	struct scratch *s = c->s;
	struct elems_copy *ec = &s->ec;
	__u32 i = ec->first + t;
	if (t >= 32 || i >= GOTEL_MAX_OPS)
		return 1;
	const struct gotel_op *op = &c->rc->ops[i];
	__u32 status = emit_value(op, &s->res[i], s, &ec->off);
	if (status == RES_NIL)
		ec->nil_bits |= 1U << t;
	else if (status != RES_OK)
		ec->fault_bits |= 1U << t;
	else if (op->flags & GOTEL_OPF_DYN)
		queue_dyn(s, op, &s->res[i], 0, i, ec->n);
	/* Out of room: what follows could not be parsed; stop here. */
	return (s->ev.flags & GOTEL_EV_DATA_FULL) ? 1 : 0;
}

/* Element j: its status header, then its element ops' captures. */
static long copy_elem(__u32 j, struct capture *c)
{
	struct scratch *s = c->s;
	struct elems_copy *ec = &s->ec;
	__u32 head = ec->off;
	if (head > GOTEL_MAX_DATA - 8)
		return 1;
	ec->off = head + 8;
	ec->elem = ec->array + (__u64)j * ec->stride;
	ec->nil_bits = 0;
	ec->fault_bits = 0;
	__u32 k = ec->k;
	bpf_loop(k, elem_resolve, c, 0);
	bpf_loop(k, elem_emit, c, 0);
	if (s->ev.flags & GOTEL_EV_DATA_FULL)
		return 1;
	head &= GOTEL_MAX_DATA - 1;
	struct gotel_elem_head *eh = (void *)&s->data[head];
	eh->nil_bits = ec->nil_bits;
	eh->fault_bits = ec->fault_bits;
	ec->n = j + 1;
	return 0;
}

/* State of one context walk (GOTEL_OP_SPAN_CTX). */
struct ctx_walk {
	const struct gotel_recipe *rc;
	struct gotel_span_ctx *out;
	__u64 itab; /* the current context.Context's itab (nil: none) */
	__u64 data; /* and its data pointer */
};

/* What userspace planned for the dynamic type at runtime address rtype. */
static __always_inline const struct gotel_ctx_type *
ctx_type(const struct gotel_recipe *rc, __u64 rtype)
{
	struct gotel_type_key k = { .bin = rc->bin, .rtype = rtype - rc->bias };
	return bpf_map_lookup_elem(&ctx_types, &k);
}

/*
 * A WithValue context's {key, val}: when the key is the SDK's span key,
 * the value is the innermost span, and the walk ends here either way.
 * Returns 1 when it ended.
 */
static __always_inline int span_at(struct ctx_walk *w,
				   const struct gotel_ctx_type *t)
{
	struct gotel_span_ctx *o = w->out;
	__u64 key[2], val[2], k = 0;
	/* key and val are `any`: {_type, data}. */
	if (bpf_probe_read_user(key, sizeof(key), (void *)(w->data + t->key)))
		goto fault;
	const struct gotel_ctx_type *kt = ctx_type(w->rc, key[0]);
	if (!kt || kt->kind != GOTEL_CTX_SPAN_KEY)
		return 0;
	if (bpf_probe_read_user(&k, 8, (void *)key[1]))
		goto fault;
	if (k != kt->key_value)
		return 0;
	if (bpf_probe_read_user(val, sizeof(val), (void *)(w->data + t->val)))
		goto fault;
	/* ContextWithSpan(ctx, nil): no span, as the SDK reads it. */
	if (!val[0]) {
		o->status = GOTEL_SPAN_NONE;
		return 1;
	}
	const struct gotel_ctx_type *st = ctx_type(w->rc, val[0]);
	if (!st || st->kind != GOTEL_CTX_SPAN) {
		o->status = GOTEL_SPAN_OTHER;
		o->rtype = val[0];
		return 1;
	}
	if (bpf_probe_read_user(o->trace_id, 16, (void *)(val[1] + st->trace_id)) ||
	    bpf_probe_read_user(o->span_id, 8, (void *)(val[1] + st->span_id)) ||
	    bpf_probe_read_user(&o->flags, 1, (void *)(val[1] + st->flags)))
		goto fault;
	o->status = GOTEL_SPAN_FOUND;
	return 1;
fault:
	o->status = GOTEL_SPAN_FAULT;
	return 1;
}

/* One context of the chain: the end, a span, or a step to its parent. */
static long ctx_hop(__u32 i, struct ctx_walk *w)
{
	struct gotel_span_ctx *o = w->out;
	o->hops = i + 1;
	if (!w->itab) {
		o->status = GOTEL_SPAN_NONE;
		return 1;
	}
	/* itab._type: at 8 in every Go release with the register ABI. */
	__u64 rtype = 0, parent[2];
	if (bpf_probe_read_user(&rtype, 8, (void *)(w->itab + 8))) {
		o->status = GOTEL_SPAN_FAULT;
		return 1;
	}
	const struct gotel_ctx_type *t = ctx_type(w->rc, rtype);
	if (!t) {
		o->status = GOTEL_SPAN_UNKNOWN;
		o->rtype = rtype;
		return 1;
	}
	if (t->kind == GOTEL_CTX_ROOT) {
		o->status = GOTEL_SPAN_NONE;
		return 1;
	}
	if (t->kind == GOTEL_CTX_VALUE && span_at(w, t))
		return 1;
	if (t->kind != GOTEL_CTX_VALUE && t->kind != GOTEL_CTX_PARENT) {
		o->status = GOTEL_SPAN_UNKNOWN;
		o->rtype = rtype;
		return 1;
	}
	if (bpf_probe_read_user(parent, sizeof(parent), (void *)(w->data + t->parent))) {
		o->status = GOTEL_SPAN_FAULT;
		return 1;
	}
	w->itab = parent[0];
	w->data = parent[1];
	return 0;
}

/*
 * GOTEL_OP_SPAN_CTX: a gotel_str_head, then the gotel_span_ctx of the
 * walk from the context r resolved ({itab, data} in a, b).
 */
static __always_inline __u32 emit_span_ctx(struct capture *c,
					   const struct resolved *r,
					   __u32 *cursor)
{
	const __u32 size = sizeof(struct gotel_str_head) + sizeof(struct gotel_span_ctx);
	__u32 off = *cursor;
	if (off > GOTEL_MAX_DATA - size) {
		c->s->ev.flags |= GOTEL_EV_DATA_FULL;
		return RES_FAULT;
	}
	struct gotel_str_head *h = (void *)&c->s->data[off];
	if (r->status != RES_OK) {
		/* A nil *http.Request or the like: a head with nothing after. */
		h->len = 0;
		h->copied = 0;
		h->fault = r->status == RES_FAULT;
		*cursor = off + sizeof(*h);
		return r->status;
	}
	struct gotel_span_ctx *o = (void *)&c->s->data[off + sizeof(*h)];
	__builtin_memset(o, 0, sizeof(*o));
	o->status = GOTEL_SPAN_DEEP;
	struct ctx_walk w = { .rc = c->rc, .out = o, .itab = r->a, .data = r->b };
	bpf_loop(GOTEL_MAX_CTX_HOPS, ctx_hop, &w, 0);
	c->s->span_found = o->status == GOTEL_SPAN_FOUND;
	h->len = sizeof(*o);
	h->copied = sizeof(*o);
	h->fault = 0;
	*cursor = off + size;
	return RES_OK;
}

/* State of one scan of a small http.Header for `Traceparent`. */
struct tp_scan {
	__u64 base;  /* the group (swiss) or bucket */
	__u64 ctrl;  /* its control word or tophash bytes */
	__u64 value; /* the found value's {data, len} */
	__u64 len;
	__u32 swiss;
	__u32 found;
};

/* One slot of the group or bucket: a full slot keyed `Traceparent`. */
static long tp_slot(__u32 j, struct tp_scan *t)
{
	if (j >= 8)
		return 1;
	__u64 byte = (t->ctrl >> (8 * j)) & 0xff;
	__u64 key_at, elem_at;
	if (t->swiss) {
		/* ctrlEmpty 0x80, ctrlDeleted 0xfe: full slots have the high bit
		 * clear. group { ctrl; slots [8]{ key string; elem []string } } */
		if (byte & 0x80)
			return 0;
		key_at = t->base + 8 + 40 * (__u64)j;
		elem_at = key_at + 16;
	} else {
		/* tophash: emptyRest 0, emptyOne 1, evacuated 2-4; full from 5.
		 * bucket { tophash [8]; keys [8]string; elems [8][]string } */
		if (byte < 5)
			return 0;
		key_at = t->base + 8 + 16 * (__u64)j;
		elem_at = t->base + 8 + 8 * 16 + 24 * (__u64)j;
	}
	__u64 key[2], word[2] = {}, elem[3];
	if (bpf_probe_read_user(key, sizeof(key), (void *)key_at) || key[1] != 11)
		return 0;
	if (bpf_probe_read_user(word, 11, (void *)key[0]))
		return 0;
	/* "Traceparent": "Tracepar" and "ent" as little-endian words. */
	if (word[0] != 0x7261706563617254ULL || word[1] != 0x746e65ULL)
		return 0;
	if (bpf_probe_read_user(elem, sizeof(elem), (void *)elem_at) || !elem[1])
		return 1;
	/* The first value's {data, len}. */
	if (bpf_probe_read_user(key, sizeof(key), (void *)elem[0]))
		return 1;
	t->value = key[0];
	t->len = key[1];
	t->found = 1;
	return 1;
}

/*
 * GOTEL_OP_TRACEPARENT: a gotel_str_head and the first `Traceparent` value
 * of the small map r resolved to (its pointer in a).
 */
static __noinline __u32 emit_traceparent(const struct gotel_op *op,
					      struct capture *c,
					      const struct resolved *r,
					      __u32 *cursor)
{
	__u32 off = *cursor;
	if (off > GOTEL_MAX_DATA - sizeof(struct gotel_str_head)) {
		c->s->ev.flags |= GOTEL_EV_DATA_FULL;
		return RES_FAULT;
	}
	__u8 *dst = &c->s->data[off];
	struct tp_scan t = { .swiss = op->size == GOTEL_MAP_SWISS };
	__u64 m = r->a, large = 0, w[2] = {};
	__u32 fault = 0;
	if (r->status != RES_OK || !m || c->s->span_found) {
		/* A nil *Request (or map): no header. Or the context's span
		 * already joins the call: the scan would be wasted reads. */
	} else if (t.swiss) {
		/* dirLen 0: the one group dirPtr points at (nil: empty). */
		if (bpf_probe_read_user(&w[0], 8, (void *)(m + op->hops[0])) ||
		    bpf_probe_read_user(&w[1], 8, (void *)(m + op->hops[1])))
			fault = 1;
		else if (w[1])
			large = 1;
		else
			t.base = w[0];
	} else {
		/* B 0 and no old buckets: the one bucket. */
		__u8 b = 0;
		if (bpf_probe_read_user(&b, 1, (void *)(m + op->hops[0])) ||
		    bpf_probe_read_user(&w[0], 8, (void *)(m + op->hops[1])) ||
		    bpf_probe_read_user(&w[1], 8, (void *)(m + op->hops[2])))
			fault = 1;
		else if (b || w[1])
			large = 1;
		else
			t.base = w[0];
	}
	if (t.base && !bpf_probe_read_user(&t.ctrl, 8, (void *)t.base))
		bpf_loop(8, tp_slot, &t, 0);
	__u64 want = t.len < op->max_len ? t.len : op->max_len;
	if (!t.found)
		want = 0;
	__u64 len = large ? GOTEL_TP_LARGE : (t.found ? t.len : 0);
	*cursor = put_bytes(dst, off, len, want, t.value, &fault);
	if (r->status != RES_OK)
		return r->status;
	return fault ? RES_FAULT : RES_OK;
}

/* What stack_frame works on: the scratch its caller looked up. */
struct stack_ctx {
	struct scratch *s;
};

/*
 * One frame of GOTEL_OP_STACK's walk: [fp] is the next frame pointer,
 * [fp + 8] the return address into the next caller.
 */
static long stack_frame(__u32 i, struct stack_ctx *sc)
{
	struct scratch *s = sc->s;
	struct stack_walk *w = &s->sw;
	__u64 fp = w->fp, pair[2];
	if (!fp) {
		w->end = GOTEL_STACK_BOTTOM;
		return 1;
	}
	if (fp <= w->prev || fp < w->lo || fp > w->hi - 16) {
		w->end = GOTEL_STACK_BAD_FP;
		return 1;
	}
	if (bpf_probe_read_user(pair, sizeof(pair), (void *)fp)) {
		w->end = GOTEL_STACK_FAULT;
		return 1;
	}
	/* A zero return address: nothing called this frame. */
	if (!pair[1]) {
		w->end = GOTEL_STACK_BOTTOM;
		return 1;
	}
	__u32 off = w->off;
	if (off > GOTEL_MAX_DATA - 8) {
		s->ev.flags |= GOTEL_EV_DATA_FULL;
		w->end = GOTEL_STACK_FAULT;
		return 1;
	}
	*(__u64 *)&s->data[off] = pair[1];
	w->off = off + 8;
	w->n++;
	w->prev = fp;
	w->fp = pair[0];
	return 0;
}

/*
 * GOTEL_OP_STACK at an entry site, `depth` frames at data offset `off`: a
 * gotel_stack_head and up to `depth` return addresses; returns the offset
 * after them (s->sw.end: how the walk ended). A global function, verified
 * once on its own: as a static one, verified in each of emit_op's
 * contexts, it took the verifier past its limit. Its state is in the
 * scratch map, not on the stack: the general path's deepest call chain
 * is at the 512-byte limit, and this adds a 16-byte read buffer.
 */
__noinline int gotel_stack(__u32 off, __u32 depth, __u64 sp, __u32 hi_off)
{
	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&scratch_buf, &zero);
	if (!s)
		return 0;
	struct stack_walk *w = &s->sw;
	if (off > GOTEL_MAX_DATA - 16) {
		s->ev.flags |= GOTEL_EV_DATA_FULL;
		w->end = GOTEL_STACK_FAULT;
		return off;
	}
	if (depth > GOTEL_MAX_STACK)
		depth = GOTEL_MAX_STACK;
	w->off = off + sizeof(struct gotel_stack_head);
	w->n = 0;
	w->prev = 0;
	w->fp = s->bp;
	w->end = GOTEL_STACK_DEPTH;
	/* The goroutine's stack from g (stack.lo just before stack.hi),
	 * above SP: the caller's frame is above the probed function's. */
	w->lo = sp;
	w->hi = ~0ULL;
	if (!(s->ev.flags & GOTEL_EV_NO_G) && hi_off >= 8 && hi_off <= GOTEL_G_SPAN - 8) {
		__u64 lo = *(__u64 *)&s->g[(hi_off - 8) & (GOTEL_G_SPAN - 8)];
		w->hi = *(__u64 *)&s->g[hi_off & (GOTEL_G_SPAN - 8)];
		if (lo > w->lo)
			w->lo = lo;
	}
	/* The first caller: the return address at [SP]. */
	__u64 ret = 0;
	if (!depth) {
		w->end = GOTEL_STACK_DEPTH;
	} else if (bpf_probe_read_user(&ret, 8, (void *)sp)) {
		w->end = GOTEL_STACK_FAULT;
	} else if (!ret) {
		w->end = GOTEL_STACK_BOTTOM;
	} else {
		__u32 o = w->off;
		if (o <= GOTEL_MAX_DATA - 8) {
			*(__u64 *)&s->data[o] = ret;
			w->off = o + 8;
			w->n = 1;
		}
		struct stack_ctx sc = { .s = s };
		if (depth > 1)
			bpf_loop(depth - 1, stack_frame, &sc, 0);
		/* The loop ran out: the depth was reached, unless the next
		 * frame pointer says this was the last frame. */
		if (w->end == GOTEL_STACK_DEPTH && !w->fp)
			w->end = GOTEL_STACK_BOTTOM;
	}
	struct gotel_stack_head *h = (void *)&s->data[off];
	h->n = w->n;
	h->end = w->end;
	return w->off;
}

/* Pass 2, per op: write the value into the record. */
static long emit_op(__u32 i, struct capture *c)
{
	if (i >= GOTEL_MAX_OPS)
		return 1;
	struct scratch *s = c->s;
	struct gotel_event *ev = &s->ev;
	const struct gotel_op *op = &c->rc->ops[i];
	const struct resolved *r = &s->res[i];
	__u32 off = c->off;
	/* Element ops: written by their GOTEL_OP_ELEMS, per element. */
	if (op->a.kind == GOTEL_LOC_ELEM)
		return 0;
	/* Written before the loop (see emit). */
	if (op->kind == GOTEL_OP_STACK)
		return 0;
	if (op->kind == GOTEL_OP_ELEMS) {
		if (off > GOTEL_MAX_DATA - 16) {
			ev->flags |= GOTEL_EV_DATA_FULL;
			return 1;
		}
		__u8 *head = &s->data[off];
		__u64 count = r->status == RES_OK ? r->b : 0;
		if (r->status == RES_NIL)
			ev->nil_mask |= 1U << i;
		else if (r->status != RES_OK)
			ev->fault_mask |= 1U << i;
		/* Loop state lives in map memory, which the verifier does not
		 * track per value: nested loops converge. */
		struct elems_copy *ec = &s->ec;
		ec->array = r->a;
		ec->stride = op->stride;
		ec->first = i + 1;
		ec->k = op->size;
		ec->n = 0;
		ec->off = off + 16;
		__u32 want = count < op->max_len ? (__u32)count : op->max_len;
		if (want)
			bpf_loop(want, copy_elem, c, 0);
		c->off = ec->off;
		struct gotel_seq_head *sh = (void *)head;
		sh->len = count;
		sh->n = ec->n;
		sh->_pad = 0;
		return (ev->flags & GOTEL_EV_DATA_FULL) ? 1 : 0;
	}
	__u32 status = op->kind == GOTEL_OP_SPAN_CTX	  ? emit_span_ctx(c, r, &c->off)
		       : op->kind == GOTEL_OP_TRACEPARENT ? emit_traceparent(op, c, r, &c->off)
							  : emit_value(op, r, s, &c->off);
	if (status == RES_NIL)
		ev->nil_mask |= 1U << i;
	else if (status != RES_OK)
		ev->fault_mask |= 1U << i;
	else if (op->flags & GOTEL_OPF_DYN)
		queue_dyn(s, op, r, 0, i, 0);
	return (ev->flags & GOTEL_EV_DATA_FULL) ? 1 : 0;
}

/* Type-recipe op t of the dynamic value being captured: pass 1. */
static long dyn_resolve(__u32 t, struct capture *c)
{
	const struct gotel_type_recipe *tr = c->tr;
	if (!tr || t >= GOTEL_MAX_TYPE_OPS)
		return 1;
	resolve_into(&tr->ops[t], &c->s->res[t], c, c->base);
	return 0;
}

/* Pass 2: its capture, and its own dynamic value queued if it has one. */
static long dyn_emit(__u32 t, struct capture *c)
{
	const struct gotel_type_recipe *tr = c->tr;
	struct scratch *s = c->s;
	if (!tr || t >= GOTEL_MAX_TYPE_OPS)
		return 1;
	const struct gotel_op *op = &tr->ops[t];
	const struct resolved *r = &s->res[t];
	__u32 status = emit_value(op, r, s, &s->doff);
	if (status == RES_NIL)
		s->nil_bits |= 1U << t;
	else if (status != RES_OK)
		s->fault_bits |= 1U << t;
	else if (op->flags & GOTEL_OPF_DYN)
		queue_dyn(s, op, r, s->n_blocks, t, 0);
	return (s->ev.flags & GOTEL_EV_DATA_FULL) ? 1 : 0;
}

/*
 * Dynamic value b of the queue: if its type has a recipe, a block header
 * and the recipe's captures (which may queue more values). A type without a
 * recipe writes nothing; userspace saw its type word and may install one.
 */
static long dyn_block(__u32 b, struct capture *c)
{
	struct scratch *s = c->s;
	if (b >= GOTEL_MAX_DYN || b >= s->n_dyn)
		return 1;
	const struct dyn_item *it = &s->dyn[b];
	struct gotel_type_key key = {
		.bin = c->rc->bin,
		.rtype = it->rtype - c->rc->bias,
	};
	struct gotel_type_recipe *tr = bpf_map_lookup_elem(&type_recipes, &key);
	if (!tr || tr->n_ops > GOTEL_MAX_TYPE_OPS)
		return 0;
	__u32 head = s->doff;
	if (head > GOTEL_MAX_DATA - sizeof(struct gotel_dyn_block)) {
		s->ev.flags |= GOTEL_EV_DATA_FULL;
		return 1;
	}
	s->doff = head + sizeof(struct gotel_dyn_block);
	c->tr = tr;
	c->base = it->data;
	s->n_blocks += 1;
	s->nil_bits = 0;
	s->fault_bits = 0;
	__u8 parent = it->parent, op = it->op, elem = it->elem;
	bpf_loop(tr->n_ops, dyn_resolve, c, 0);
	bpf_loop(tr->n_ops, dyn_emit, c, 0);
	head &= GOTEL_MAX_DATA - 1;
	struct gotel_dyn_block *blk = (void *)&s->data[head];
	blk->rtype = it->rtype;
	blk->parent = parent;
	blk->op = op;
	blk->n_ops = tr->n_ops;
	blk->elem = elem;
	blk->nil_bits = s->nil_bits;
	blk->fault_bits = s->fault_bits;
	blk->_pad2 = 0;
	return (s->ev.flags & GOTEL_EV_DATA_FULL) ? 1 : 0;
}

/*
 * Whether probe `probe` keeps the call entering now: sampling first, then
 * at most `rate` calls per 1-second window. Decided before anything is
 * copied; what is not kept is counted in `pc`. Not inlined: its map keys
 * would sit in the main program's frame, which every call chain's stack
 * (at most 512 bytes) includes.
 */
static __noinline __u8 keep_call(__u32 probe)
{
	struct gotel_probe_counts *pc = bpf_map_lookup_elem(&probe_counts, &probe);
	struct gotel_probe_limit *l = bpf_map_lookup_elem(&probe_limits, &probe);
	if (!l)
		return 1;
	if (l->sample && bpf_get_prandom_u32() >= l->sample) {
		if (pc)
			__sync_fetch_and_add(&pc->sampled_out, 1);
		return 0;
	}
	if (!l->rate)
		return 1;
	struct gotel_probe_window *w = bpf_map_lookup_elem(&probe_windows, &probe);
	if (!w)
		return 1;
	__u64 now = bpf_ktime_get_ns();
	__u64 start = w->start_ns;
	/* One CPU opens the next window; a call racing the reset may land in
	 * either window, so a window can hold a call or two over `rate`. */
	/* Signed: a CPU that read the clock before another opened the
	 * window sees it a little in the future, not 2^64 ns in the past. */
	if ((__s64)(now - start) >= 1000000000LL &&
	    __sync_val_compare_and_swap(&w->start_ns, start, now) == start)
		__sync_lock_test_and_set(&w->count, 0);
	if (__sync_fetch_and_add(&w->count, 1) >= l->rate) {
		if (pc)
			__sync_fetch_and_add(&pc->rate_limited, 1);
		return 0;
	}
	return 1;
}

/* Bytes [0, n) of a and b equal, n <= 8: one word, masked. */
static __always_inline int same_bytes(__u64 a, __u64 b, __u32 n)
{
	__u64 mask = n >= 8 ? ~0ULL : ((1ULL << (8 * n)) - 1);
	return ((a ^ b) & mask) == 0;
}

/* Test i of `when`, into s->when_out[i] (0 false, 1 true, 2 unknown). */
static long run_test(__u32 i, struct capture *c)
{
	if (i >= GOTEL_MAX_TESTS)
		return 1;
	const struct gotel_test *t = &c->rc->tests[i];
	struct scratch *s = c->s;
	s->when_out[i] = 2;
	__u32 o = t->op;
	if (o >= GOTEL_MAX_OPS)
		return 0;
	struct resolved *r = &s->res[o];
	if (r->status != RES_OK)
		return 0;
	if (t->kind == GOTEL_TEST_SIGNED || t->kind == GOTEL_TEST_UNSIGNED) {
		__u64 v = r->a;
		__u64 x = t->value;
		int lt, eq = v == x;
		if (t->kind == GOTEL_TEST_SIGNED) {
			__u32 shift = t->size < 8 ? 64 - 8 * (t->size & 7) : 0;
			__s64 sv = (__s64)(v << shift) >> shift;
			lt = sv < (__s64)x;
			eq = sv == (__s64)x;
		} else {
			lt = v < x;
		}
		__u8 out = 2;
		switch (t->cmp) {
		case GOTEL_CMP_EQ: out = eq; break;
		case GOTEL_CMP_NE: out = !eq; break;
		case GOTEL_CMP_LT: out = lt; break;
		case GOTEL_CMP_LE: out = lt || eq; break;
		case GOTEL_CMP_GT: out = !lt && !eq; break;
		case GOTEL_CMP_GE: out = !lt; break;
		}
		s->when_out[i] = out;
		return 0;
	}
	__u32 n = t->len;
	if (n > GOTEL_TEST_STR)
		return 0;
	if (t->kind == GOTEL_TEST_STR_EQ ? r->b != n : r->b < n) {
		s->when_out[i] = 0;
		return 0;
	}
	s->tbuf[0] = s->tbuf[1] = s->tbuf[2] = s->tbuf[3] = 0;
	if (n && bpf_probe_read_user(s->tbuf, n, (void *)r->a))
		return 0;
	const __u64 *lit = (const __u64 *)t->str;
	s->when_out[i] = same_bytes(s->tbuf[0], lit[0], n) &&
			 same_bytes(s->tbuf[1], lit[1], n > 8 ? n - 8 : 0) &&
			 same_bytes(s->tbuf[2], lit[2], n > 16 ? n - 16 : 0) &&
			 same_bytes(s->tbuf[3], lit[3], n > 24 ? n - 24 : 0);
	return 0;
}

/* Kleene logic on outcomes (0 false, 1 true, 2 unknown). */
static __always_inline __u8 and3(__u8 a, __u8 b)
{
	return a == 0 || b == 0 ? 0 : (a == 2 || b == 2 ? 2 : 1);
}

static __always_inline __u8 or3(__u8 a, __u8 b)
{
	return a == 1 || b == 1 ? 1 : (a == 2 || b == 2 ? 2 : 0);
}

/* Step i of `when`'s postfix program, on the scratch's stack. */
static long when_step(__u32 i, struct capture *c)
{
	struct scratch *s = c->s;
	if (i >= GOTEL_MAX_WHEN)
		return 1;
	__u8 step = c->rc->when[i];
	__u32 top = s->when_top;
	if (step < GOTEL_MAX_TESTS) {
		if (top >= GOTEL_MAX_WHEN)
			goto bad;
		s->when_stack[top] = s->when_out[step];
		s->when_top = top + 1;
		return 0;
	}
	if (top < 1 || top > GOTEL_MAX_WHEN)
		goto bad;
	__u8 b = s->when_stack[top - 1];
	if (step == GOTEL_WHEN_NOT) {
		s->when_stack[top - 1] = b == 2 ? 2 : !b;
		return 0;
	}
	if (top < 2)
		goto bad;
	__u8 a = s->when_stack[top - 2];
	s->when_stack[top - 2] = step == GOTEL_WHEN_AND ? and3(a, b) : or3(a, b);
	s->when_top = top - 1;
	return 0;
bad:
	s->when_bad = 1;
	return 1;
}

/*
 * Whether the call's `when` (the recipe's tests and postfix program, on the
 * resolved ops) may hold: false only when it is known false, then counted
 * for the probe. A malformed program keeps the call.
 */
static __always_inline int when_holds(struct capture *c)
{
	const struct gotel_recipe *rc = c->rc;
	struct scratch *s = c->s;
	if (!rc->n_when)
		return 1;
	s->when_top = 0;
	s->when_bad = 0;
	bpf_loop(rc->n_tests, run_test, c, 0);
	bpf_loop(rc->n_when, when_step, c, 0);
	if (s->when_bad || s->when_top != 1 || s->when_stack[0] != 0)
		return 1;
	__u32 probe = rc->probe;
	struct gotel_probe_counts *pc = bpf_map_lookup_elem(&probe_counts, &probe);
	if (pc)
		__sync_fetch_and_add(&pc->filtered, 1);
	return 0;
}

/*
 * The record header: time, ids, and the goroutine (goid, frame) from g
 * (R14), read through `gbuf`, GOTEL_G_SPAN + 8 bytes the caller has free.
 */
static __always_inline void start_record(struct pt_regs *ctx, __u32 cookie,
					 const struct gotel_recipe *rc,
					 struct gotel_event *ev, __u8 *gbuf)
{
	__u64 g = ctx->r14;
	ev->ktime_ns = bpf_ktime_get_ns();
	ev->cookie = cookie;
	struct bpf_pidns_info ns = {};
	if (pidns_ino &&
	    !bpf_get_ns_current_pid_tgid(pidns_dev, pidns_ino, &ns, sizeof(ns))) {
		ev->pid = ns.tgid;
		ev->tid = ns.pid;
	} else {
		/* Initial namespace, or a target in a namespace nested below
		 * ours: host ids (userspace takes the pid from the cookie). */
		__u64 tgid_pid = bpf_get_current_pid_tgid();
		ev->pid = tgid_pid >> 32;
		ev->tid = (__u32)tgid_pid;
	}
	ev->data_len = 0;
	ev->site = rc->site;
	ev->flags = 0;
	ev->fault_mask = 0;
	ev->nil_mask = 0;
	__u32 zero = 0;
	__u64 *seq = bpf_map_lookup_elem(&drop_seq, &zero);
	ev->drop_seq = seq ? *seq : 0;

	/* One user read covering both g fields: each bpf_probe_read_user
	 * costs ~85 ns here (~135 ns into map memory, which the kernel's
	 * hardened-usercopy checks cost), more than the rest of the program. The planner
	 * guarantees stack_hi_offset < goid_offset < GOTEL_G_SPAN, both
	 * 8-aligned (Go's layout; the BPF stack takes aligned loads only). */
	__u32 goid_off = rc->goid_offset, hi_off = rc->stack_hi_offset;
	ev->goid = 0;
	ev->frame = 0;
	if (goid_off < 8 || goid_off > GOTEL_G_SPAN - 8 || hi_off > goid_off - 8 ||
	    (goid_off | hi_off) & 7 ||
	    bpf_probe_read_user(gbuf, goid_off + 8, (void *)g)) {
		ev->flags |= GOTEL_EV_NO_G;
		/* Written on every path (see fast_emit). */
		__builtin_memset(gbuf, 0, GOTEL_G_SPAN);
	} else {
		ev->goid = *(__u64 *)&gbuf[goid_off & (GOTEL_G_SPAN - 8)];
		__u64 stack_hi = *(__u64 *)&gbuf[hi_off & (GOTEL_G_SPAN - 8)];
		ev->frame = stack_hi - ctx->rsp;
	}
}

/*
 * A limited probe with returns (rate limit, sample, `when`): the entry
 * decides once per call and notes the decision for its return. An entry
 * seen again at the same frame before its return is the prologue
 * restarted after a stack growth: the first decision stands, counted
 * once. A return without a note (attached mid-call, or the note evicted)
 * is emitted, for userspace to pair or count. Sampling and the rate limit
 * decide here, before anything is read; `when` after the ops are resolved,
 * before anything is copied (*decide: the caller decides with `when`).
 * `k` and `kv` are the key and value for `kept`, in the caller's memory.
 * Returns 0 when the call is not kept.
 */
static __always_inline int kept_call(const struct gotel_recipe *rc,
				     const struct gotel_event *ev,
				     struct gotel_kept_key *k, __u8 *kv,
				     int *decide)
{
	int track = rc->flags & GOTEL_RECIPE_TRACK && !(ev->flags & GOTEL_EV_NO_G);
	__u8 keep = 1;
	*decide = rc->site == GOTEL_SITE_ENTRY;
	if (!track)
		return 1;
	k->pid = ev->pid;
	k->probe = rc->probe;
	k->goid = ev->goid;
	k->frame = ev->frame;
	__u8 *seen = bpf_map_lookup_elem(&kept, k);
	if (rc->site != GOTEL_SITE_ENTRY) {
		if (seen) {
			keep = *seen;
			bpf_map_delete_elem(&kept, k);
		}
	} else if (seen) {
		keep = *seen;
		*decide = 0;
	} else if (!rc->n_when) {
		keep = keep_call(rc->probe);
		*kv = keep;
		bpf_map_update_elem(&kept, k, kv, BPF_ANY);
		*decide = 0;
	}
	return keep;
}

/* Submits the record at `ev` with `off` bytes of data; a full ring loses
 * it, counted. */
static __always_inline void submit(struct gotel_event *ev, __u32 off,
				   const struct gotel_recipe *rc, __u32 cookie)
{
	if (ev->fault_mask & ~rc->quiet_mask)
		count(GOTEL_STAT_FAULTS);
	ev->data_len = off;
	__u32 size = sizeof(struct gotel_event) + off;
	__u64 flags = BPF_RB_NO_WAKEUP;
	__u32 zero = 0;
	/* A per-CPU array lookup is inlined (Linux >= 6.10): no call. */
	__u64 *since = bpf_map_lookup_elem(&unasked, &zero);
	if (since) {
		*since += size;
		if (*since >= ask_bytes) {
			*since = 0;
			if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes)
				flags = BPF_RB_FORCE_WAKEUP;
		}
	}
	if (bpf_ringbuf_output(&events, ev, size, flags))
		dropped(GOTEL_STAT_RINGBUF_FULL, cookie);
	/* No per-event success counter: userspace counts what it reads, and
	 * a map update per hit is measurable. */
}

/* Builds and submits one record in the CPU's scratch buffer `s`. */
static __always_inline int emit(struct pt_regs *ctx, __u32 cookie,
			   struct gotel_recipe *rc, struct scratch *s)
{
	struct capture c = {
		.ctx = ctx,
		.sp = ctx->rsp,
		.rc = rc,
		.s = s,
		.off = 0,
		.tr = NULL,
		.base = 0,
	};
	struct gotel_event *ev = &s->ev;
	start_record(ctx, cookie, rc, ev, s->g);
	struct gotel_kept_key *k = &s->kept_key;
	int first;
	__u8 keep = kept_call(rc, ev, k, &s->keep, &first);
	if (!keep)
		return 0;
	int track = rc->flags & GOTEL_RECIPE_TRACK && !(ev->flags & GOTEL_EV_NO_G);

	s->n_dyn = 0;
	s->n_blocks = 0;
	s->span_found = 0;
	s->bp = ctx->rbp;
	if (rc->n_ops)
		bpf_loop(rc->n_ops, resolve_op, &c, 0);
	if (first && rc->n_when) {
		keep = when_holds(&c) && (!track || keep_call(rc->probe));
		if (track) {
			s->keep = keep;
			bpf_map_update_elem(&kept, k, &s->keep, BPF_ANY);
		}
		if (!keep)
			return 0;
	}
	/* The stack, planned first when asked for (GOTEL_OP_STACK): its
	 * walk is kept out of emit_op, whose every kind multiplies the
	 * verifier's paths there. */
	if (rc->n_ops && rc->ops[0].kind == GOTEL_OP_STACK) {
		c.off = gotel_stack(0, rc->ops[0].size, c.sp, rc->stack_hi_offset);
		if (s->sw.end == GOTEL_STACK_FAULT)
			ev->fault_mask |= 1;
	}
	if (rc->n_ops)
		bpf_loop(rc->n_ops, emit_op, &c, 0);
	/* Dynamic values, breadth first: a block may queue more. */
	if (s->n_dyn && !(ev->flags & GOTEL_EV_DATA_FULL)) {
		s->doff = c.off;
		bpf_loop(GOTEL_MAX_DYN, dyn_block, &c, 0);
		c.off = s->doff;
	}
	/* off <= GOTEL_MAX_DATA by construction; make the bound visible to
	 * the verifier as above. */
	__u32 off = c.off;
	barrier_var(off);
	off &= 2 * GOTEL_MAX_DATA - 1;
	submit(ev, off, rc, cookie);
	return 0;
}

/*
 * The fast path (GOTEL_RECIPE_FAST): the same record as emit() makes, built
 * on this function's stack by straight-line code. Per hit that saves the
 * bpf_loop callbacks (two per op), the scratch claim (two atomics), and,
 * since user memory is copied to the stack instead of map memory, the
 * hardened-usercopy heap checks each bpf_probe_read_user pays for a map
 * destination (~50 ns a read on the bench VM). The unrolled ops keep the
 * verifier's walk small: a string's copy needs a constant data offset, so
 * at most one string, after which the offset is only bounded.
 */
static __noinline int fast_emit(struct pt_regs *ctx, __u32 cookie,
				struct gotel_recipe *rc)
{
	struct {
		struct gotel_event ev;
		__u8 data[GOTEL_FAST_DATA];
	} r;
	/* A value, not a ctx pointer clang would keep to load it again. */
	__u64 sp = ctx->rsp;
	barrier_var(sp);
	struct gotel_event *ev = &r.ev;
	/* The data area serves first for g, then for the `kept` key. The
	 * record is sent up to a variable length: before Linux 6.3 the
	 * verifier wants every byte it may send written, which the g read
	 * does for the first GOTEL_G_SPAN, this for the rest. */
	start_record(ctx, cookie, rc, ev, r.data);
	__builtin_memset(&r.data[GOTEL_G_SPAN], 0, GOTEL_FAST_DATA - GOTEL_G_SPAN);
	int first;
	if (!kept_call(rc, ev, (struct gotel_kept_key *)r.data,
		       &r.data[sizeof(struct gotel_kept_key)], &first))
		return 0;
	__u32 off = 0, strings = 0;
#pragma clang loop unroll(full)
	for (__u32 i = 0; i < GOTEL_FAST_OPS; i++) {
		if (i >= rc->n_ops)
			break;
		const struct gotel_op *op = &rc->ops[i];
		__u64 a, b = 0;
		if (op->kind == GOTEL_OP_SCALAR) {
			if (off > GOTEL_FAST_DATA - 8)
				goto full;
			int bad = load_word(ctx, sp, &op->a, op->size, &a);
			*(__u64 *)&r.data[off] = bad ? 0 : mask_to(a, op->size);
			off += 8;
			if (bad)
				ev->fault_mask |= 1U << i;
			continue;
		}
		/* GOTEL_OP_STRING: as emit_value and put_bytes. */
		const __u32 head = sizeof(struct gotel_str_head);
		if (strings++ || off > GOTEL_FAST_DATA - head)
			goto full;
		int bad = load_word(ctx, sp, &op->a, 8, &a) ||
			  load_word(ctx, sp, &op->b, 8, &b);
		__u64 len = bad ? 0 : b;
		__u64 elem = op->size ? op->size : 1;
		__u64 want = len < op->max_len ? len * elem : op->max_len;
		if (want > op->max_len)
			want = op->max_len;
		__u32 copied = (__u32)want;
		/* Hidden from clang, so that this clamp, which userspace makes
		 * redundant, stays for the verifier (off is constant here). */
		barrier_var(copied);
		if (copied > GOTEL_FAST_DATA - head - off)
			copied = GOTEL_FAST_DATA - head - off;
		__u8 *dst = &r.data[off];
		__u32 fault = 0;
		if (copied) {
			/* The padding after the bytes: zeros, not stack. */
			if (copied & 7)
				*(__u64 *)(dst + head + (copied & ~7U)) = 0;
			if (bpf_probe_read_user(dst + head, copied, (void *)a)) {
				fault = 1;
				copied = 0;
			}
		}
		struct gotel_str_head *h = (void *)dst;
		h->len = len;
		h->copied = copied;
		h->fault = fault;
		off += head + ((copied + 7) & ~7U);
		if (bad || fault)
			ev->fault_mask |= 1U << i;
	}
	submit(ev, off, rc, cookie);
	return 0;
full:
	/* Not for a recipe userspace marked fast; a torn one, maybe. */
	ev->flags |= GOTEL_EV_DATA_FULL;
	submit(ev, off, rc, cookie);
	return 0;
}

/* Any recipe: the record is built in the CPU's scratch buffer. Its own
 * function (as fast_emit is), so that the main program's stack frame, which
 * every call chain below it adds up, stays small. */
static __noinline int slow_emit(struct pt_regs *ctx, __u32 cookie,
				struct gotel_recipe *rc)
{
	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&scratch_buf, &zero);
	if (!s)
		return 0;
	/*
	 * Uprobe programs run with migration disabled but may be preempted
	 * (PREEMPT/lazy kernels); another hit on this CPU would then build
	 * its record in the same scratch. Claim it atomically; a collision
	 * drops the newcomer, counted, rather than mixing two records.
	 */
	if (__sync_fetch_and_add(&s->busy, 1)) {
		__sync_fetch_and_add(&s->busy, -1);
		dropped(GOTEL_STAT_BUSY, cookie);
		return 0;
	}
	emit(ctx, cookie, rc, s);
	__sync_fetch_and_add(&s->busy, -1);
	return 0;
}

/*
 * At a restart site (`note`): remembers this goroutine's SP for `probe`.
 * At an entry: whether this hit is the restart just noted (the note is
 * used up). Not inlined: its key stays off the main program's frame,
 * which every call chain's stack includes.
 */
static __noinline int restart(struct pt_regs *ctx, __u32 probe, int note)
{
	struct gotel_restart_key k = {
		.pid = bpf_get_current_pid_tgid() >> 32,
		.probe = probe,
		.sp = ctx->rsp,
	};
	if (note) {
		__u64 now = bpf_ktime_get_ns();
		bpf_map_update_elem(&restarting, &k, &now, BPF_ANY);
		return 0;
	}
	__u64 *noted = bpf_map_lookup_elem(&restarting, &k);
	if (!noted)
		return 0;
	__u64 at = *noted;
	bpf_map_delete_elem(&restarting, &k);
	/* A note whose re-entry never came (the probe detached in between)
	 * must not swallow a later call at the same SP: a restart re-enters
	 * within microseconds, unless its goroutine waits to be scheduled. */
	if (bpf_ktime_get_ns() - at > GOTEL_RESTART_NS)
		return 0;
	count(GOTEL_STAT_RESTARTED);
	return 1;
}

SEC("uprobe")
int gotel_probe(struct pt_regs *ctx)
{
	__u32 cookie = (__u32)bpf_get_attach_cookie(ctx);
	struct gotel_recipe *rc = bpf_map_lookup_elem(&recipes, &cookie);
	/* A cleared recipe (probe detached, late hit) has goid_offset 0. */
	if (!rc || rc->n_ops > GOTEL_MAX_OPS || rc->goid_offset == 0) {
		count(GOTEL_STAT_NO_RECIPE);
		return 0;
	}
	__u32 probe = rc->probe;
	/* A restart site's trap is not a hit: the call that runs again was
	 * counted at its first entry. */
	if (probe && rc->site != GOTEL_SITE_RESTART) {
		/* Keyed by the recipe's own field: no stack slot (the main
		 * program's frame adds to every call chain's stack). */
		struct gotel_probe_counts *pc = bpf_map_lookup_elem(&probe_counts, &rc->probe);
		/* Atomic: a uprobe program may be preempted by another hit. */
		if (pc)
			__sync_fetch_and_add(&pc->hits, 1);
	}
	/*
	 * A file-wide uprobe fires in every process mapping the file, other
	 * pods' included (one image layer, one inode): those are not gotel's
	 * to see. They pay the trap and this check, nothing more.
	 */
	if (rc->flags & GOTEL_RECIPE_EVERY_PROCESS && pidns_ino) {
		struct bpf_pidns_info ns = {};
		if (bpf_get_ns_current_pid_tgid(pidns_dev, pidns_ino, &ns, sizeof(ns))) {
			count(GOTEL_STAT_FOREIGN);
			return 0;
		}
	}
	if (rc->site == GOTEL_SITE_RESTART)
		return restart(ctx, probe, 1);
	if (rc->flags & GOTEL_RECIPE_RESTARTS && restart(ctx, probe, 0))
		return 0;
	/* Untracked (entry-only) limited probes decide here; tracked ones
	 * once the goroutine is known (emit). */
	if (probe && rc->site == GOTEL_SITE_ENTRY && !(rc->flags & GOTEL_RECIPE_TRACK) &&
	    !keep_call(probe))
		return 0;
	if (rc->flags & GOTEL_RECIPE_FAST && rc->n_ops <= GOTEL_FAST_OPS && !rc->n_when)
		return fast_emit(ctx, cookie, rc);
	return slow_emit(ctx, cookie, rc);
}

/* Lifecycle records (gotel_proc_event): few and urgent, so each one wakes
 * the reader. 64 KiB holds 4096 of them. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 << 10);
} procs SEC(".maps");

/*
 * Sends one lifecycle record for the current task's process. Only
 * processes gotel can name in /proc are reported: with gotel in a child
 * PID namespace (a pod), the ids are translated into it and a process
 * outside it (another pod) sends nothing. A full ring loses the record;
 * the periodic /proc scan catches up.
 */
static __always_inline void proc_event(__u8 kind)
{
	struct gotel_proc_event ev = {};
	ev.ktime_ns = bpf_ktime_get_ns();
	ev.kind = kind;
	if (pidns_ino) {
		struct bpf_pidns_info ns = {};
		if (bpf_get_ns_current_pid_tgid(pidns_dev, pidns_ino, &ns, sizeof(ns)))
			return;
		ev.pid = ns.tgid;
	} else {
		ev.pid = bpf_get_current_pid_tgid() >> 32;
	}
	bpf_ringbuf_output(&procs, &ev, sizeof(ev), 0);
}

/*
 * After exec has mapped the new image, before it runs a user instruction.
 * Raw tracepoints attach by name: no tracefs mount needed (a pod has none).
 */
SEC("raw_tracepoint/sched_process_exec")
int gotel_exec(void *ctx)
{
	proc_event(GOTEL_PROC_EXEC);
	return 0;
}

/* Every exiting thread passes here; only the leader's exit ends the
 * process as far as gotel is concerned (Go exits with exit_group). */
SEC("raw_tracepoint/sched_process_exit")
int gotel_exit(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	if ((__u32)id != (__u32)(id >> 32))
		return 0;
	proc_event(GOTEL_PROC_EXIT);
	return 0;
}
