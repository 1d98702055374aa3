//! The Rust mirror in `recipe/` must match `ebpf/gotel.h` byte for byte
//! and value for value: compile the header with the system C compiler and
//! compare every size and offset the mirror declares, and every `#define`
//! and enum value the header declares (names parsed from the header text,
//! values computed by the C compiler), in both directions.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::process::Command;

fn ebpf_dir() -> &'static str {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../ebpf")
}

fn header() -> String {
    std::fs::read_to_string(Path::new(ebpf_dir()).join("gotel.h")).unwrap()
}

/// Compiles `body` (statements of `main`, after including gotel.h) and
/// returns what the program prints: one `name value` pair per line.
fn run_c(body: &str) -> HashMap<String, u64> {
    let c = format!(
        "#include <stdio.h>\n#include <stddef.h>\n#include \"gotel.h\"\nint main(void) {{\n{body}  return 0;\n}}\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("layout.c");
    let exe = dir.path().join("layout");
    std::fs::write(&src, &c).unwrap();
    let out = Command::new("cc")
        .args(["-Wall", "-Werror", "-I", ebpf_dir()])
        .arg(&src)
        .arg("-o")
        .arg(&exe)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cc failed:\n{}\n{c}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = String::from_utf8(Command::new(&exe).output().unwrap().stdout).unwrap();
    out.lines()
        .map(|l| {
            let (k, v) = l.split_once(' ').unwrap();
            (k.to_string(), v.parse().unwrap())
        })
        .collect()
}

/// The header's text without comments (newlines kept), with `\`-continued
/// lines joined.
fn without_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("/*") {
            let end = after.find("*/").expect("unterminated comment");
            out.extend(after[..end].chars().filter(|&c| c == '\n'));
            rest = &after[end + 2..];
        } else if let Some(after) = rest.strip_prefix("//") {
            rest = &after[after.find('\n').unwrap_or(after.len())..];
        } else {
            let c = rest.chars().next().unwrap();
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out.replace("\\\n", " ")
}

fn is_ident(s: &str) -> bool {
    s.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Names of the object-like macros with a value (`#define NAME value`)
/// and of every enumerator, in header order.
fn header_constants(text: &str) -> Vec<String> {
    let text = without_comments(text);
    let mut names = Vec::new();
    for line in text.lines() {
        let Some(def) = line.trim_start().strip_prefix('#') else {
            continue;
        };
        let Some(def) = def.trim_start().strip_prefix("define") else {
            continue;
        };
        let def = def.trim_start();
        let end = def
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(def.len());
        let (name, value) = def.split_at(end);
        // Function-like macros and bare flags (the include guard) have no value.
        if value.starts_with('(') || value.trim().is_empty() {
            continue;
        }
        names.push(name.to_string());
    }
    let mut rest = text.as_str();
    while let Some(i) = rest.find("enum") {
        let after = &rest[i + 4..];
        let word_ends = !rest[..i].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
            && after.starts_with(|c: char| c.is_whitespace() || c == '{');
        rest = after;
        if !word_ends {
            continue;
        }
        let (Some(open), Some(close)) = (after.find('{'), after.find('}')) else {
            continue;
        };
        // `enum name x;` is a use, not a definition.
        if after[..open].contains(';') || close < open {
            continue;
        }
        for item in after[open + 1..close].split(',') {
            let name = item.split('=').next().unwrap().trim();
            if name.is_empty() {
                continue;
            }
            assert!(is_ident(name), "cannot parse enumerator {item:?}");
            names.push(name.to_string());
        }
        rest = &after[close..];
    }
    names
}

/// Struct names of the header with their named (non-padding) fields.
fn header_structs(text: &str) -> BTreeMap<String, Vec<String>> {
    let text = without_comments(text);
    let mut out = BTreeMap::new();
    let mut rest = text.as_str();
    while let Some(i) = rest.find("struct ") {
        let after = &rest[i + 7..];
        rest = after;
        let name: String = after
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let tail = after[name.len()..].trim_start();
        // Only definitions: `struct name { … };`.
        let Some(body) = tail.strip_prefix('{') else {
            continue;
        };
        let close = body.find('}').expect("unterminated struct");
        let fields = body[..close]
            .split(';')
            .filter_map(|decl| {
                let decl = decl.split('[').next().unwrap().trim();
                let field = decl.rsplit(|c: char| c.is_whitespace()).next()?;
                (!field.is_empty()).then(|| field.to_string())
            })
            .filter(|f| !f.starts_with('_'))
            .collect();
        out.insert(name, fields);
    }
    out
}

#[test]
fn struct_sizes_and_offsets_match_the_c_header() {
    let layout = gotel::recipe::layout();
    let mut c = String::new();
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
    let got = run_c(&c);
    for (name, size, fields) in &layout {
        assert_eq!(got[*name], *size as u64, "sizeof(struct {name})");
        for (f, off) in fields {
            assert_eq!(
                got[&format!("{name}.{f}")],
                *off as u64,
                "offsetof({name}, {f})"
            );
        }
    }
    // And nothing of the header is left out of the comparison.
    let mirrored: BTreeMap<String, BTreeSet<String>> = layout
        .iter()
        .map(|(n, _, fields)| {
            let fields = fields.iter().map(|(f, _)| f.to_string()).collect();
            (n.to_string(), fields)
        })
        .collect();
    let structs = header_structs(&header());
    assert!(structs.len() >= 7, "parsed {structs:?}");
    for (name, fields) in &structs {
        let Some(have) = mirrored.get(name) else {
            panic!("struct {name} of gotel.h is not in recipe::layout()");
        };
        for f in fields {
            assert!(
                have.contains(f),
                "{name}.{f} of gotel.h is not in recipe::layout()"
            );
        }
    }
}

#[test]
fn every_header_constant_has_its_rust_twin_and_back() {
    let names = header_constants(&header());
    // The parser found the kinds of constant the header has: a guard
    // against it silently finding nothing.
    for k in [
        "GOTEL_MAX_OPS",
        "GOTEL_LOC_ELEM",
        "GOTEL_OP_ELEMS",
        "GOTEL_STAT_COUNT",
    ] {
        assert!(names.iter().any(|n| n == k), "{k} not parsed: {names:?}");
    }
    let mut c = String::new();
    for n in &names {
        c.push_str(&format!(
            "  printf(\"{n} %llu\\n\", (unsigned long long)({n}));\n"
        ));
    }
    let c_values = run_c(&c);
    let rust: BTreeMap<&str, u64> = gotel::recipe::constants().iter().copied().collect();
    assert_eq!(
        rust.len(),
        gotel::recipe::constants().len(),
        "a name twice in recipe::constants()"
    );
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for n in &names {
        let twin = n.strip_prefix("GOTEL_").unwrap_or(n);
        seen.insert(twin);
        match rust.get(twin) {
            None => problems.push(format!(
                "{n} = {} has no twin in recipe::constants()",
                c_values[n]
            )),
            Some(&v) if v != c_values[n] => {
                problems.push(format!("{n} = {} but recipe::{twin} = {v}", c_values[n]))
            }
            Some(_) => {}
        }
    }
    for twin in rust.keys() {
        if !seen.contains(twin) {
            problems.push(format!("recipe::{twin} has no GOTEL_{twin} in gotel.h"));
        }
    }
    // Every integer constant of recipe/ is a mirror, or says it is not.
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/recipe");
    let mut src = String::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        src += &std::fs::read_to_string(entry.unwrap().path()).unwrap();
    }
    for line in src.lines() {
        let Some(decl) = line.trim_start().strip_prefix("pub const ") else {
            continue;
        };
        let Some((name, ty)) = decl.split_once(':') else {
            continue;
        };
        let ty = ty.split('=').next().unwrap().trim();
        let integer = [
            "u8", "u16", "u32", "u64", "usize", "i8", "i16", "i32", "i64",
        ];
        if !integer.contains(&ty) {
            continue;
        }
        let name = name.trim();
        if !rust.contains_key(name) && !gotel::recipe::NOT_IN_HEADER.contains(&name) {
            problems.push(format!(
                "recipe::{name} is in neither recipe::constants() nor recipe::NOT_IN_HEADER"
            ));
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn the_header_parser_reads_defines_enums_and_structs() {
    let text = "#ifndef G_H\n#define G_H\n#define A 1 /* one */\n#define B (A << 3)\n\
                #define F(x) (x)\n#define LONG \\\n  7\n// #define C 3\n\
                enum e { X = 0, /* , */ Y, Z = B,\n};\nenum e v;\n\
                struct s {\n\t__u8 kind; /* k */\n\t__u16 _pad;\n\tstruct t a;\n\t__s32 hops[4];\n};\n\
                struct s *p;\n";
    assert_eq!(header_constants(text), ["A", "B", "LONG", "X", "Y", "Z"]);
    assert_eq!(
        header_structs(text),
        BTreeMap::from([(
            "s".to_string(),
            vec!["kind".to_string(), "a".into(), "hops".into()]
        )])
    );
}
