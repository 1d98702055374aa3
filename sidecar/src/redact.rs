//! The compiled `redact:` settings: which argument, result and field names
//! are never copied out of the traced program, and what the outputs show
//! in their place.
//!
//! Config keeps the contract (`config::Redact`, the patterns as text);
//! this is what the planner reads. Every probe carries a copy
//! (`ProbeSpec::redact`, filled when the config is loaded) so that a
//! probe's identity includes it: changing `redact:` changes every probe's
//! key, and the supervisor re-plans them as it does any edited probe.

use std::sync::{Arc, OnceLock};

use regex::RegexSet;
use serde::{Serialize, Serializer};

use crate::config::Redact;

/// Why `redact:` cannot be compiled.
#[derive(Debug, thiserror::Error)]
pub enum RedactError {
    /// A pattern is not a regular expression.
    #[error("redact.names: not a valid regular expression: {0}")]
    Pattern(#[from] regex::Error),
}

/// `redact:` compiled: cheap to clone (the regexes are shared).
#[derive(Clone)]
pub struct Redaction {
    /// The patterns as configured (identity, display).
    patterns: Arc<[String]>,
    /// All patterns at once; None when there are none (redaction off).
    set: Option<Arc<RegexSet>>,
    /// What the outputs show for a redacted value.
    replacement: Arc<str>,
}

impl Redaction {
    /// Compiles the config's `redact:` section.
    pub fn compile(r: &Redact) -> Result<Self, RedactError> {
        let set = match r.names.is_empty() {
            true => None,
            false => Some(Arc::new(RegexSet::new(&r.names)?)),
        };
        Ok(Redaction {
            patterns: r.names.clone().into(),
            set,
            replacement: r.replacement.as_str().into(),
        })
    }

    /// Redacts nothing.
    pub fn off() -> Self {
        Redaction {
            patterns: Arc::new([]),
            set: None,
            replacement: "".into(),
        }
    }

    /// Whether a value named `name` (one argument, result or field name,
    /// not a dotted path) is redacted: some pattern matches anywhere in it
    /// (unanchored, so `token` also matches `AccessToken`).
    pub fn matches(&self, name: &str) -> bool {
        self.set.as_ref().is_some_and(|s| s.is_match(name))
    }

    /// Whether any name can match.
    pub fn is_on(&self) -> bool {
        self.set.is_some()
    }

    /// What the outputs show in place of a redacted value.
    pub fn replacement(&self) -> &str {
        &self.replacement
    }
}

impl Default for Redaction {
    /// The default `redact:` section, compiled once per process.
    fn default() -> Self {
        static DEFAULT: OnceLock<Redaction> = OnceLock::new();
        DEFAULT
            .get_or_init(|| Redaction::compile(&Redact::default()).expect("the default compiles"))
            .clone()
    }
}

impl PartialEq for Redaction {
    fn eq(&self, other: &Self) -> bool {
        self.patterns == other.patterns && self.replacement == other.replacement
    }
}

impl std::fmt::Debug for Redaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redaction")
            .field("names", &self.patterns)
            .field("replacement", &self.replacement)
            .finish()
    }
}

impl Serialize for Redaction {
    /// As configured: part of a probe's key.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Redact {
            names: self.patterns.to_vec(),
            replacement: self.replacement.to_string(),
        }
        .serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_matches_what_a_user_expects_and_nothing_else() {
        let r = Redaction::default();
        for n in [
            "password",
            "Password",
            "passwd",
            "Token",
            "AccessToken",
            "apiKey",
            "api_key",
            "Authorization",
            "Cookie",
            "clientSecret",
        ] {
            assert!(r.matches(n), "{n}");
        }
        for n in ["user", "Name", "amount", "Header", "r0", "pass"] {
            assert!(!r.matches(n), "{n}");
        }
        assert_eq!(r.replacement(), "[REDACTED]");
    }

    #[test]
    fn no_names_is_off_and_the_identity_follows_the_config() {
        let off = Redaction::compile(&Redact {
            names: vec![],
            replacement: "x".into(),
        })
        .unwrap();
        assert!(!off.is_on() && !off.matches("password"));
        assert_ne!(off, Redaction::default());
        let json = serde_json::to_value(Redaction::default()).unwrap();
        assert_eq!(json["replacement"], "[REDACTED]");
        assert!(Redaction::compile(&Redact {
            names: vec!["(".into()],
            replacement: "x".into(),
        })
        .is_err());
    }

    #[test]
    fn every_probe_carries_the_config_redaction_and_a_change_changes_its_identity() {
        let probe = "probes:\n  - function: main.f\n    target: { exe: x }\n";
        let default = crate::config::from_yaml(probe).unwrap();
        let custom =
            crate::config::from_yaml(&format!("{probe}redact: {{ names: [\"^pin$\"] }}\n"))
                .unwrap();
        let (d, c) = (&default.probes[0], &custom.probes[0]);
        assert!(d.redact.matches("password") && !d.redact.matches("pin"));
        assert!(c.redact.matches("pin") && !c.redact.matches("password"));
        // The supervisor's probe key is the serialised spec.
        let key = |p| serde_json::to_string(p).unwrap();
        assert_ne!(key(d), key(c));
        // Not settable per probe.
        let per_probe =
            "probes:\n  - function: main.f\n    target: { exe: x }\n    redact: { names: [] }\n";
        assert!(crate::config::from_yaml(per_probe).is_err());
    }
}
