//! Sizes and field offsets of every mirrored struct, for `tests/layout.rs`,
//! which compares them with the compiled `ebpf/gotel.h`.

use std::mem::{offset_of, size_of};

use super::*;

/// A C struct's name, size and (field, offset) pairs.
pub type StructLayout = (&'static str, usize, Vec<(&'static str, usize)>);

/// Every (struct, size, [(field, offset)]) the C header defines; compared
/// against the compiled header in `tests/layout.rs`.
pub fn layout() -> Vec<StructLayout> {
    let mut all = own_layout();
    all.extend(super::span::layout());
    all.extend(super::stack::layout());
    all
}

fn own_layout() -> Vec<StructLayout> {
    vec![
        (
            "gotel_str_head",
            size_of::<RawStrHead>(),
            vec![
                ("len", offset_of!(RawStrHead, len)),
                ("copied", offset_of!(RawStrHead, copied)),
                ("fault", offset_of!(RawStrHead, fault)),
            ],
        ),
        (
            "gotel_seq_head",
            size_of::<RawSeqHead>(),
            vec![
                ("len", offset_of!(RawSeqHead, len)),
                ("n", offset_of!(RawSeqHead, n)),
                ("_pad", offset_of!(RawSeqHead, _pad)),
            ],
        ),
        (
            "gotel_elem_head",
            size_of::<RawElemHead>(),
            vec![
                ("nil_bits", offset_of!(RawElemHead, nil_bits)),
                ("fault_bits", offset_of!(RawElemHead, fault_bits)),
            ],
        ),
        (
            "gotel_loc",
            size_of::<RawLoc>(),
            vec![
                ("kind", offset_of!(RawLoc, kind)),
                ("reg", offset_of!(RawLoc, reg)),
                ("offset", offset_of!(RawLoc, offset)),
            ],
        ),
        (
            "gotel_op",
            size_of::<RawOp>(),
            vec![
                ("kind", offset_of!(RawOp, kind)),
                ("size", offset_of!(RawOp, size)),
                ("max_len", offset_of!(RawOp, max_len)),
                ("indirect", offset_of!(RawOp, indirect)),
                ("n_hops", offset_of!(RawOp, n_hops)),
                ("flags", offset_of!(RawOp, flags)),
                ("type_op", offset_of!(RawOp, type_op)),
                ("a", offset_of!(RawOp, a)),
                ("b", offset_of!(RawOp, b)),
                ("hops", offset_of!(RawOp, hops)),
                ("mem_off", offset_of!(RawOp, mem_off)),
                ("stride", offset_of!(RawOp, stride)),
            ],
        ),
        (
            "gotel_recipe",
            size_of::<RawRecipe>(),
            vec![
                ("site", offset_of!(RawRecipe, site)),
                ("n_ops", offset_of!(RawRecipe, n_ops)),
                ("flags", offset_of!(RawRecipe, flags)),
                ("goid_offset", offset_of!(RawRecipe, goid_offset)),
                ("stack_hi_offset", offset_of!(RawRecipe, stack_hi_offset)),
                ("quiet_mask", offset_of!(RawRecipe, quiet_mask)),
                ("bin", offset_of!(RawRecipe, bin)),
                ("probe", offset_of!(RawRecipe, probe)),
                ("bias", offset_of!(RawRecipe, bias)),
                ("ops", offset_of!(RawRecipe, ops)),
                ("n_tests", offset_of!(RawRecipe, n_tests)),
                ("n_when", offset_of!(RawRecipe, n_when)),
                ("when", offset_of!(RawRecipe, when)),
                ("tests", offset_of!(RawRecipe, tests)),
            ],
        ),
        (
            "gotel_test",
            size_of::<RawTest>(),
            vec![
                ("kind", offset_of!(RawTest, kind)),
                ("op", offset_of!(RawTest, op)),
                ("cmp", offset_of!(RawTest, cmp)),
                ("size", offset_of!(RawTest, size)),
                ("len", offset_of!(RawTest, len)),
                ("value", offset_of!(RawTest, value)),
                ("str", offset_of!(RawTest, str)),
            ],
        ),
        (
            "gotel_type_key",
            size_of::<RawTypeKey>(),
            vec![
                ("bin", offset_of!(RawTypeKey, bin)),
                ("rtype", offset_of!(RawTypeKey, rtype)),
            ],
        ),
        (
            "gotel_type_recipe",
            size_of::<RawTypeRecipe>(),
            vec![
                ("n_ops", offset_of!(RawTypeRecipe, n_ops)),
                ("ops", offset_of!(RawTypeRecipe, ops)),
            ],
        ),
        (
            "gotel_dyn_block",
            size_of::<RawDynBlock>(),
            vec![
                ("rtype", offset_of!(RawDynBlock, rtype)),
                ("parent", offset_of!(RawDynBlock, parent)),
                ("op", offset_of!(RawDynBlock, op)),
                ("n_ops", offset_of!(RawDynBlock, n_ops)),
                ("elem", offset_of!(RawDynBlock, elem)),
                ("nil_bits", offset_of!(RawDynBlock, nil_bits)),
                ("fault_bits", offset_of!(RawDynBlock, fault_bits)),
            ],
        ),
        (
            "gotel_event",
            size_of::<RawEvent>(),
            vec![
                ("ktime_ns", offset_of!(RawEvent, ktime_ns)),
                ("goid", offset_of!(RawEvent, goid)),
                ("frame", offset_of!(RawEvent, frame)),
                ("cookie", offset_of!(RawEvent, cookie)),
                ("pid", offset_of!(RawEvent, pid)),
                ("tid", offset_of!(RawEvent, tid)),
                ("data_len", offset_of!(RawEvent, data_len)),
                ("site", offset_of!(RawEvent, site)),
                ("flags", offset_of!(RawEvent, flags)),
                ("fault_mask", offset_of!(RawEvent, fault_mask)),
                ("nil_mask", offset_of!(RawEvent, nil_mask)),
                ("drop_seq", offset_of!(RawEvent, drop_seq)),
            ],
        ),
        (
            "gotel_probe_limit",
            size_of::<RawProbeLimit>(),
            vec![
                ("rate", offset_of!(RawProbeLimit, rate)),
                ("sample", offset_of!(RawProbeLimit, sample)),
            ],
        ),
        (
            "gotel_probe_window",
            size_of::<RawProbeWindow>(),
            vec![
                ("start_ns", offset_of!(RawProbeWindow, start_ns)),
                ("count", offset_of!(RawProbeWindow, count)),
            ],
        ),
        (
            "gotel_probe_counts",
            size_of::<RawProbeCounts>(),
            vec![
                ("hits", offset_of!(RawProbeCounts, hits)),
                ("sampled_out", offset_of!(RawProbeCounts, sampled_out)),
                ("rate_limited", offset_of!(RawProbeCounts, rate_limited)),
                ("filtered", offset_of!(RawProbeCounts, filtered)),
            ],
        ),
        (
            "gotel_restart_key",
            size_of::<RawRestartKey>(),
            vec![
                ("pid", offset_of!(RawRestartKey, pid)),
                ("probe", offset_of!(RawRestartKey, probe)),
                ("sp", offset_of!(RawRestartKey, sp)),
            ],
        ),
        (
            "gotel_kept_key",
            size_of::<RawKeptKey>(),
            vec![
                ("pid", offset_of!(RawKeptKey, pid)),
                ("probe", offset_of!(RawKeptKey, probe)),
                ("goid", offset_of!(RawKeptKey, goid)),
                ("frame", offset_of!(RawKeptKey, frame)),
            ],
        ),
        (
            "gotel_proc_event",
            size_of::<RawProcEvent>(),
            vec![
                ("ktime_ns", offset_of!(RawProcEvent, ktime_ns)),
                ("pid", offset_of!(RawProcEvent, pid)),
                ("kind", offset_of!(RawProcEvent, kind)),
            ],
        ),
    ]
}
