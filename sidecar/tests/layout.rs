//! The Rust mirror in `recipe.rs` must match `ebpf/gotel.h` byte for byte:
//! compile the header with the system C compiler and compare every size
//! and offset the mirror declares.

use std::process::Command;

#[test]
fn rust_mirror_matches_the_c_header() {
    let layout = gotel::recipe::layout();
    let mut c = String::from(
        "#include <stdio.h>\n#include <stddef.h>\n#include \"gotel.h\"\nint main(void) {\n",
    );
    for (name, _, fields) in &layout {
        c.push_str(&format!(
            "  printf(\"{name} %zu\\n\", sizeof(struct {name}));\n"
        ));
        for (f, _) in fields {
            c.push_str(&format!(
                "  printf(\"{name}.{f} %zu\\n\", offsetof(struct {name}, {f}));\n"
            ));
        }
    }
    // The constants both sides size things by.
    for k in [
        "GOTEL_MAX_OPS",
        "GOTEL_MAX_RECIPES",
        "GOTEL_MAX_STRING",
        "GOTEL_MAX_DATA",
        "GOTEL_STAT_COUNT",
        "GOTEL_G_SPAN",
        "GOTEL_MAX_HOPS",
        "GOTEL_OP_SCALAR",
        "GOTEL_OP_STRING",
        "GOTEL_OP_STRINGS",
        "GOTEL_OP_BYTES",
        "GOTEL_OP_ELEMS",
        "GOTEL_ADDR_ONLY",
        "GOTEL_LOC_ELEM",
        "GOTEL_OPF_DYN",
        "GOTEL_MAX_TYPE_OPS",
        "GOTEL_MAX_TYPE_RECIPES",
        "GOTEL_MAX_DYN",
    ] {
        c.push_str(&format!("  printf(\"{k} %d\\n\", (int){k});\n"));
    }
    c.push_str("  return 0;\n}\n");
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("layout.c");
    let exe = dir.path().join("layout");
    std::fs::write(&src, c).unwrap();
    let ebpf = concat!(env!("CARGO_MANIFEST_DIR"), "/../ebpf");
    let st = Command::new("cc")
        .arg("-I")
        .arg(ebpf)
        .arg(&src)
        .arg("-o")
        .arg(&exe)
        .status()
        .unwrap();
    assert!(st.success());
    let out = String::from_utf8(Command::new(&exe).output().unwrap().stdout).unwrap();
    let got: std::collections::HashMap<&str, usize> = out
        .lines()
        .map(|l| {
            let (k, v) = l.split_once(' ').unwrap();
            (k, v.parse().unwrap())
        })
        .collect();
    for (name, size, fields) in &layout {
        assert_eq!(got[name], *size, "sizeof(struct {name})");
        for (f, off) in fields {
            assert_eq!(
                got[format!("{name}.{f}").as_str()],
                *off,
                "offsetof({name}, {f})"
            );
        }
    }
    use gotel::recipe::*;
    assert_eq!(got["GOTEL_MAX_OPS"], MAX_OPS);
    assert_eq!(got["GOTEL_MAX_RECIPES"], MAX_RECIPES as usize);
    assert_eq!(got["GOTEL_MAX_STRING"], MAX_STRING as usize);
    assert_eq!(got["GOTEL_MAX_DATA"], MAX_DATA as usize);
    assert_eq!(got["GOTEL_STAT_COUNT"], STAT_COUNT as usize);
    assert_eq!(got["GOTEL_G_SPAN"], G_SPAN as usize);
    assert_eq!(got["GOTEL_MAX_HOPS"], MAX_HOPS);
    assert_eq!(got["GOTEL_OP_SCALAR"], OP_SCALAR as usize);
    assert_eq!(got["GOTEL_OP_STRING"], OP_STRING as usize);
    assert_eq!(got["GOTEL_OP_STRINGS"], OP_STRINGS as usize);
    assert_eq!(got["GOTEL_OP_BYTES"], OP_BYTES as usize);
    assert_eq!(got["GOTEL_OP_ELEMS"], OP_ELEMS as usize);
    assert_eq!(got["GOTEL_ADDR_ONLY"], ADDR_ONLY as usize);
    assert_eq!(got["GOTEL_LOC_ELEM"], LOC_ELEM as usize);
    assert_eq!(got["GOTEL_OPF_DYN"], OPF_DYN as usize);
    assert_eq!(got["GOTEL_MAX_TYPE_OPS"], MAX_TYPE_OPS);
    assert_eq!(got["GOTEL_MAX_TYPE_RECIPES"], MAX_TYPE_RECIPES as usize);
    assert_eq!(got["GOTEL_MAX_DYN"], MAX_DYN);
}
