//! gotel: dynamic structured logging for Go programs via eBPF uprobes.
//!
//! Data flows one way: config → golang (resolve) → plan → bpf (attach) →
//! events → decode → export (JSONL, otlp), with `supervisor` reconciling probes and
//! processes.
#![deny(missing_docs)]

pub mod bpf;
pub mod config;
pub mod correlate;
pub mod counters;
pub mod decode;
pub mod discover;
pub mod export;
pub mod golang;
pub mod live;
pub mod otlp;
pub mod plan;
pub mod proc;
pub mod recipe;
