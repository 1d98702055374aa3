//! The command line as a user meets it: listing functions, checking a
//! config, and the errors for typos, stripped binaries and missing privilege.

mod common;

use std::process::Command;

use common::*;

#[test]
fn functions_lists_signatures() {
    let tc = toolchains().remove(0);
    let bin = build(&tc, "sigs", "cli_functions", &[]);
    let o = gotel(&["functions", bin.to_str().unwrap(), "main."]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(
        out.contains("main.greet(name string, times int) (string, int)\n"),
        "{out}"
    );
    assert!(
        out.contains("main.(*Counter).Add(c *main.Counter, d int) int\n"),
        "{out}"
    );
}

#[test]
fn check_prints_the_plan_and_warnings() {
    let tc = toolchains().remove(0);
    let bin = build(&tc, "sigs", "cli_check", &[]);
    let o = check(
        &bin,
        "probes:\n  - function: mixed\n    target: { exe: sigs }\n",
    );
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    for line in [
        "function: main.mixed(x int64, f float64, s string) (float64, error)",
        "arg x                int64                RAX            captured",
        "arg s                string               RBX+RCX        captured",
        "warning: f: float64 passed in register X0; eBPF cannot read XMM registers",
    ] {
        assert!(out.contains(line), "{line}\n{out}");
    }

    // A typo fails the check with a suggestion.
    let o = check(
        &bin,
        "probes:\n  - function: main.gret\n    target: { exe: sigs }\n",
    );
    let out = text(&o);
    assert!(!o.status.success());
    assert!(out.contains("error: no function main.gret in"), "{out}");
    assert!(out.contains("did you mean main.greet?"), "{out}");

    // A bare method name names the methods of that name, not near spellings.
    let o = check(
        &bin,
        "probes:\n  - function: Add\n    target: { exe: sigs }\n",
    );
    let out = text(&o);
    assert!(!o.status.success());
    assert!(out.contains("main.(*Counter).Add"), "{out}");

    // An argument path on a function without arguments says so.
    let o = check(
        &bin,
        "probes:\n  - function: main.main\n    args: [nosuch]\n    target: { exe: sigs }\n",
    );
    let out = text(&o);
    assert!(!o.status.success());
    assert!(
        out.contains("function main.main has no argument nosuch; it has no arguments\n"),
        "{out}"
    );
    let o = check(
        &bin,
        "probes:\n  - function: greet\n    args: [nme]\n    target: { exe: sigs }\n",
    );
    let out = text(&o);
    assert!(
        out.contains("has no argument nme; its arguments are: name, times\n"),
        "{out}"
    );
}

/// A binary that is not Go at all is named as such, not as a stripped Go
/// binary to rebuild.
#[test]
fn a_program_that_is_not_go_is_named_as_such() {
    for args in [
        &["functions", "/bin/sleep"][..],
        &["functions", "/bin/sleep", "main."],
    ] {
        let o = gotel(args);
        assert!(!o.status.success());
        assert_eq!(
            text(&o).trim(),
            "gotel: /bin/sleep is not a Go program (it has no Go build info and no Go function table); gotel traces Go binaries only"
        );
    }
}

#[test]
fn config_errors_name_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.yaml");
    std::fs::write(&cfg, "probes:\n  - function: main.f\n    target: {}\n").unwrap();
    let o = gotel(&["run", "--config", cfg.to_str().unwrap()]);
    assert!(!o.status.success());
    assert_eq!(
        String::from_utf8_lossy(&o.stderr).trim(),
        "gotel: config probes[0].target: set exactly one of exe, pid, cmdline"
    );
}

/// An OTLP/HTTP endpoint without a scheme fails at start-up, not as every
/// batch being retried and dropped later.
#[test]
fn a_schemeless_otlp_http_endpoint_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.yaml");
    std::fs::write(
        &cfg,
        "probes:\n  - function: main.f\n    target: { exe: nothing }\noutputs: [otlp]\notlp: { endpoint: \"localhost:14318\", protocol: http/protobuf }\n",
    )
    .unwrap();
    let o = gotel(&["run", "--config", cfg.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("\"localhost:14318/v1/traces\" is not an http:// or https:// URL"),
        "{}",
        text(&o)
    );
}

#[test]
fn stripped_binaries_are_listed_with_a_clear_note() {
    let tc = toolchains().remove(0);
    let bin = build(&tc, "sigs", "cli_stripped", &["-ldflags=-s -w"]);
    let o = gotel(&["functions", bin.to_str().unwrap(), "main.greet"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "main.greet(…) (no DWARF: signature unknown)"
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("has no DWARF debug info"),
        "{}",
        text(&o)
    );
}

/// Without privilege the BPF load fails with a message that says what is
/// needed (run as an unprivileged user with no capabilities).
#[test]
fn missing_privilege_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.yaml");
    std::fs::write(
        &cfg,
        "probes:\n  - function: main.f\n    target: { exe: nothing }\n",
    )
    .unwrap();
    // The unprivileged user must be able to read the config.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
        ])
        .arg(gotel_bin())
        .args(["run", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    let out = text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(
        out.contains("gotel needs root, or CAP_SYS_ADMIN + CAP_SYS_PTRACE + CAP_DAC_READ_SEARCH"),
        "{out}"
    );
    // Said first, at start-up, naming each missing capability.
    assert!(
        out.contains(
            "missing capabilities CAP_SYS_ADMIN (the kernel creates uprobes only for CAP_SYS_ADMIN"
        ),
        "{out}"
    );
    assert!(
        out.contains(", CAP_SYS_PTRACE (reading /proc/PID/exe, root, maps and mem"),
        "{out}"
    );
    assert!(
        out.contains(", CAP_DAC_READ_SEARCH (reading /proc/PID/mem and environ"),
        "{out}"
    );
}

/// Every example in config/ parses and every probe in it resolves against
/// the program it is written for (demo → integration/demo, the rest → sigs).
#[test]
fn example_configs_parse_and_resolve() {
    let tc = toolchains().remove(0);
    let demo = build(&tc, "demo", "examples", &[]);
    let sigs = build(&tc, "sigs", "examples", &[]);
    let mut n = 0;
    for entry in std::fs::read_dir(repo().join("config")).unwrap() {
        let path = entry.unwrap().path();
        let bin = if path
            .file_stem()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("demo")
        {
            &demo
        } else {
            &sigs
        };
        let o = gotel(&[
            "check",
            "--config",
            path.to_str().unwrap(),
            "--binary",
            bin.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}: {}", path.display(), text(&o));
        if path.ends_with("demo.yaml") {
            // A field path says where in memory it reads: url is the
            // second field of http.Request, Path the fifth of url.URL.
            let out = text(&o);
            let line = out.lines().find(|l| l.contains("r.URL.Path")).unwrap();
            assert!(line.contains("*(*(RCX+16)+56)"), "{line}");
        }
        n += 1;
    }
    assert!(n >= 4, "{n} example configs");
}

/// A pointee too big for the site's captures keeps its address, says why,
/// and never crowds out the arguments after it.
#[test]
fn a_pointee_that_does_not_fit_keeps_its_address() {
    let tc = toolchains().remove(0);
    let bin = build(&tc, "demo", "cli_budget", &[]);
    let o = check(
        &bin,
        "probes:\n  - function: net/http.(*Server).Serve\n    target: { exe: app }\n",
    );
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("the net/http.Server it points to does not fit in what is left of this site's 32 captures and 8192 bytes; showing the address"),
        "{out}"
    );
    // The listener after the receiver is still captured.
    assert!(
        out.contains("arg l                net.Listener         RBX+RCX        captured"),
        "{out}"
    );
}
