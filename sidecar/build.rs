//! Compiles the BPF program with clang into OUT_DIR; the binary embeds it.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let ebpf = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ebpf");
    let src = ebpf.join("gotel.bpf.c");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("gotel.bpf.o");
    println!("cargo:rerun-if-changed={}", src.display());
    println!("cargo:rerun-if-changed={}", ebpf.join("gotel.h").display());
    println!("cargo:rerun-if-env-changed=CLANG");
    let clang = std::env::var("CLANG").unwrap_or_else(|_| "clang".into());
    let status = Command::new(&clang)
        // v3: atomic fetch-and-add (kernel ≥ 5.12) for the scratch claim.
        .args([
            "-O2", "-g", "-target", "bpf", "-mcpu=v3", "-Wall", "-Werror",
        ])
        // Userspace <linux/ptrace.h> needs the multiarch <asm/…> headers.
        .arg("-I/usr/include/x86_64-linux-gnu")
        .arg("-c")
        .arg(&src)
        .arg("-o")
        .arg(&out)
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("{clang} failed ({s}) compiling {}", src.display()),
        Err(e) => panic!(
            "cannot run {clang} ({e}): install clang and libbpf-dev, e.g. with scripts/bootstrap.sh"
        ),
    }
}
