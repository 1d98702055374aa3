//! gotel: dynamic structured logging for Go programs via eBPF uprobes.
//!
//! Data flows one way: config → golang (analysis) → plan → live (attach
//! through bpf; records → correlate → decode) → export (JSONL, otlp), with
//! `live::Supervisor` reconciling probes and processes and `proc` the only
//! reader of /proc. docs/ARCHITECTURE.md has the map.
#![deny(missing_docs)]

pub mod admin;
pub mod bpf;
pub mod condition;
pub mod config;
pub mod correlate;
pub mod counters;
pub mod decode;
pub mod discover;
pub mod export;
pub mod golang;
pub mod inject;
pub mod live;
pub mod otlp;
pub mod plan;
pub mod privilege;
pub mod proc;
pub mod recipe;
pub mod redact;
