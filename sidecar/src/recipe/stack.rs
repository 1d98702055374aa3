//! The mirror of `ebpf/gotel.h`'s caller stack (`GOTEL_OP_STACK`): the op
//! and the head it emits before the return addresses.

use std::mem::{offset_of, size_of};

use super::StructLayout;

/// `GOTEL_OP_STACK`: the callers' return addresses, by frame pointers.
pub const OP_STACK: u8 = 9;
/// `GOTEL_MAX_STACK`: the deepest stack a probe may ask for.
pub const MAX_STACK: u32 = 32;
/// `GOTEL_STACK_BOTTOM`: the walk reached the goroutine's first frame.
pub const STACK_BOTTOM: u32 = 0;
/// `GOTEL_STACK_DEPTH`: the depth asked for was reached (truncated).
pub const STACK_DEPTH: u32 = 1;
/// `GOTEL_STACK_BAD_FP`: a frame pointer below the last one or off the
/// goroutine's stack.
pub const STACK_BAD_FP: u32 = 2;
/// `GOTEL_STACK_FAULT`: a read failed.
pub const STACK_FAULT: u32 = 3;

/// `struct gotel_stack_head`: before `n` return addresses.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RawStackHead {
    /// Return addresses that follow.
    pub n: u32,
    /// `STACK_*`: how the walk ended.
    pub end: u32,
}

/// Sizes and field offsets, for `tests/layout.rs`.
pub(super) fn layout() -> Vec<StructLayout> {
    vec![(
        "gotel_stack_head",
        size_of::<RawStackHead>(),
        vec![
            ("n", offset_of!(RawStackHead, n)),
            ("end", offset_of!(RawStackHead, end)),
        ],
    )]
}
