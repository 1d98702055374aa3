//! What the property tests share: case counts, and what a clear error is.

use proptest::prelude::ProptestConfig;

/// `default` cases, unless `PROPTEST_CASES` says otherwise.
pub fn cases(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    ProptestConfig {
        cases,
        // Failures become named regression tests here instead of files
        // written into the source tree by whichever run found them.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// An error a user reads: not empty, and naming one of `names` (a field,
/// a key) when any are given.
pub fn assert_clear_error(message: &str, names: &[&str]) {
    assert!(!message.trim().is_empty(), "an empty error message");
    if !names.is_empty() {
        assert!(
            names.iter().any(|n| message.contains(n)),
            "the error names none of {names:?}: {message}"
        );
    }
}
