//! Safe on a hot function: the breaker detaches a probe hit too often
//! and the app gets its speed back, then attaches it again after a
//! cool-down that doubles while it keeps tripping. Alone in its test
//! binary: it measures the app's speed.

mod common;

use std::time::{Duration, Instant};

use common::*;

/// The hot loop's next `n` reports (calls/s, each over 250 ms), sorted.
fn rates(app: &mut Target, n: usize) -> Vec<f64> {
    let mut r: Vec<f64> = (0..n)
        .map(|_| {
            let l = app
                .stdout
                .wait_for("a rate", Duration::from_secs(5), |l| l.starts_with("rate "));
            l[5..].parse::<f64>().unwrap()
        })
        .collect();
    r.sort_by(f64::total_cmp);
    r
}

/// integration/hotloop built (as `tag`) with the newest toolchain and
/// running for a minute: (its Go version, the app).
fn hot_loop(tag: &str) -> (String, Target) {
    let tc = toolchains().pop().unwrap();
    let bin = build(&tc, "hotloop", tag, &[]);
    let app = Target::start(&bin, &["-duration", "60s"], "rate");
    (tc.version.clone(), app)
}

/// A config with the admin endpoint and one probe on `main.spin` in
/// process `pid`, `extra` holding more of the probe's keys.
fn spin_config(pid: u32, extra: &str) -> String {
    format!(
        "admin: 127.0.0.1:0\nprobes:\n  - function: main.spin\n    target: {{ pid: {pid} }}\n{extra}"
    )
}

#[test]
fn the_breaker_detaches_a_probe_on_a_tight_loop_and_attaches_it_after_the_cooldown() {
    let tc = toolchains().pop().unwrap();
    let v = &tc.version;
    let bin = build(&tc, "hotloop", "breaker", &[]);
    let mut app = Target::start(&bin, &["-duration", "60s"], "rate");
    // The median of a second: other jobs share the machine.
    let untraced = rates(&mut app, 4)[2];
    let config = format!(
        "admin: 127.0.0.1:0\ndefaults:\n  breaker_cooldown: 6s\nprobes:\n  - function: main.spin\n    target: {{ pid: {} }}\n",
        app.pid()
    );
    // The default threshold (the harness turns the breaker off).
    let default = gotel::config::DEFAULT_MAX_HITS_PER_SECOND.to_string();
    let on = [("GOTEL_DEFAULTS__MAX_HITS_PER_SECOND", default.as_str())];
    let mut gotel = Gotel::run_env(&config, 0, &on);
    let admin = gotel.admin_address();
    gotel.wait_log("attached", Duration::from_secs(30));
    let attached = Instant::now();
    let trip = gotel.wait_log(
        "breaker: the probe is hit too often",
        Duration::from_secs(10),
    );
    // Within about a second of hits over the threshold.
    let took = attached.elapsed();
    eprintln!("{v}: tripped {took:?} after attaching");
    assert!(took < Duration::from_secs(4), "{v}: {took:?} {trip}");
    assert_eq!(trip["max_hits_per_second"], 10_000, "{v}: {trip}");
    assert!(
        trip["hits_per_second"].as_u64().unwrap() > 10_000,
        "{v}: {trip}"
    );
    assert_eq!(trip["cooldown_s"], 6, "{v}: {trip}");
    let p = &admin_json(&admin, "/probes")["probes"][0];
    assert_eq!(p["breaker"]["open"], true, "{v}: {p}");
    assert_eq!(p["breaker"]["trips"], 1, "{v}: {p}");
    assert_eq!(p["attached"], serde_json::json!([]), "{v}: {p}");
    // The app has its speed back, within the cool-down: the best 250 ms of
    // the two seconds after gotel has read the records the flood left (on
    // 2 shared cores, its work and other jobs' slow the app too).
    let _ = rates(&mut app, 8);
    let after = *rates(&mut app, 8).last().unwrap();
    eprintln!("{v}: untraced {untraced:.0} calls/s, after the trip {after:.0} calls/s");
    assert!(after >= 0.8 * untraced, "{v}: {after} < 80% of {untraced}");
    // The cool-down over, it is attached again, trips again at once, and
    // waits twice as long.
    gotel.wait_log("breaker: cool-down over", Duration::from_secs(10));
    gotel.wait_log("attached", Duration::from_secs(10));
    let again = gotel.wait_log(
        "breaker: the probe is hit too often",
        Duration::from_secs(10),
    );
    assert_eq!(again["cooldown_s"], 12, "{v}: {again}");
    let (_, logs) = gotel.stop();
    let stopped = stopped_record(&logs);
    assert_eq!(stopped["breaker_trips"], 2, "{v}: {stopped}");
    // Calls open at detach are never mis-paired: unmatched returns only
    // come from attaching mid-call.
    assert_eq!(stopped["panicked"], 0, "{v}: {stopped}");
}

/// An edited probe whose new version cannot attach keeps its previous
/// version attached; the breaker counts that version's hits as the
/// probe's, and a trip detaches it too.
#[test]
fn the_breaker_watches_an_edited_probes_previous_version() {
    let (v, app) = &hot_loop("breaker_edit");
    let config = |extra: &str| spin_config(app.pid(), extra);
    // The harness turns the breaker off: this version never trips.
    let mut gotel = Gotel::run_env(&config(""), 0, &[]);
    let admin = gotel.admin_address();
    gotel.wait_log("attached", Duration::from_secs(30));
    // The new version has no argument `nosuch`: it cannot attach, so the
    // previous one stays, and the new one's threshold is what applies.
    gotel.rewrite_config(&config(
        "    args: [nosuch]\n    max_hits_per_second: 10000\n    breaker_cooldown: 60s\n",
    ));
    let trip = gotel.wait_log(
        "breaker: the probe is hit too often",
        Duration::from_secs(15),
    );
    assert_eq!(trip["max_hits_per_second"], 10_000, "{v}: {trip}");
    let p = &admin_json(&admin, "/probes")["probes"][0];
    assert_eq!(p["breaker"]["open"], true, "{v}: {p}");
    assert_eq!(p["attached"], serde_json::json!([]), "{v}: {p}");
    assert_eq!(p["previous_version"], serde_json::json!([]), "{v}: {p}");
    let (_, logs) = gotel.stop();
    assert_eq!(stopped_record(&logs)["breaker_trips"], 1, "{v}");
}

/// Editing a tripped probe does not undo the trip: the edited version
/// stays detached for the rest of the cool-down, with the same trip count.
/// Re-tuning the breaker itself in an edit attaches it again at once.
#[test]
fn an_edited_tripped_probe_stays_detached_until_its_cooldown_ends() {
    let (v, app) = &hot_loop("breaker_tripped_edit");
    let config = |extra: &str| spin_config(app.pid(), extra);
    let limits = "    max_hits_per_second: 10000\n    breaker_cooldown: 60s\n";
    let mut gotel = Gotel::run_env(&config(limits), 0, &[]);
    let admin = gotel.admin_address();
    gotel.wait_log("attached", Duration::from_secs(30));
    gotel.wait_log(
        "breaker: the probe is hit too often",
        Duration::from_secs(15),
    );
    let probe = |admin: &str| admin_json(admin, "/probes")["probes"][0].clone();
    // An edit that does not touch the breaker: still tripped, same trip.
    gotel.rewrite_config(&config(&format!("{limits}    sample: 0.5\n")));
    gotel.wait_log("config reloaded", Duration::from_secs(10));
    // A few reconcile rounds (scan_interval_ms) for a fresh breaker to show.
    std::thread::sleep(Duration::from_secs(3));
    let p = probe(&admin);
    assert_eq!(p["breaker"]["open"], true, "{v}: {p}");
    assert_eq!(p["breaker"]["trips"], 1, "{v}: {p}");
    assert!(
        p["breaker"]["reattach_in_ms"].as_u64().unwrap() > 40_000,
        "{v}: {p}"
    );
    assert_eq!(p["attached"], serde_json::json!([]), "{v}: {p}");
    // Turning its breaker off: attached again now, no longer tripping.
    gotel.rewrite_config(&config(
        "    max_hits_per_second: 0\n    breaker_cooldown: 60s\n    sample: 0.5\n",
    ));
    gotel.wait_log(
        "breaker: the edit changed the function or the breaker's settings",
        Duration::from_secs(10),
    );
    gotel.wait_log("attached", Duration::from_secs(10));
    let p = probe(&admin);
    assert_eq!(p["breaker"]["open"], false, "{v}: {p}");
    let (_, logs) = gotel.stop();
    assert_eq!(stopped_record(&logs)["breaker_trips"], 1, "{v}");
    // Between the first edit and the re-tuning, nothing was attached (a
    // fresh breaker would have attached and tripped again within it).
    let at = |m: &str| {
        logs.iter()
            .position(|l| l.contains(&format!("\"message\":\"{m}")))
            .unwrap_or_else(|| panic!("{v}: no {m}"))
    };
    let (edit, retune) = (at("config reloaded"), at("breaker: the edit changed"));
    let between = &logs[edit..retune];
    assert!(
        !between.iter().any(|l| l.contains("\"message\":\"attached")),
        "{v}: attached while tripped: {between:#?}"
    );
}
