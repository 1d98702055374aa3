//! Which processes a probe's target selects: a pure function of the
//! selector and what `crate::proc` read about a process.

use std::path::Path;

use crate::config::Target;
use crate::proc::Process;

/// True when `p` is selected by `t`.
pub fn matches(t: &Target, p: &Process) -> bool {
    if let Some(pid) = t.pid {
        return p.pid == pid;
    }
    if let Some(exe) = &t.exe {
        // The kernel appends " (deleted)" when the file was replaced on disk.
        let path = p.exe.to_string_lossy();
        let path = path.strip_suffix(" (deleted)").unwrap_or(&path);
        return if exe.contains('/') {
            path == exe
        } else {
            Path::new(path)
                .file_name()
                .is_some_and(|n| n == exe.as_str())
        };
    }
    if let Some(re) = &t.cmdline {
        return regex::Regex::new(re).is_ok_and(|r| r.is_match(&p.cmdline));
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proc_(exe: &str, cmd: &str) -> Process {
        Process {
            pid: 7,
            exe: exe.into(),
            cmdline: cmd.into(),
            start_time: 1,
            exe_id: (1, 2),
        }
    }

    #[test]
    fn selectors() {
        let p = proc_("/srv/bin/app", "/srv/bin/app -addr :80");
        let t = |exe: Option<&str>, pid: Option<u32>, cmd: Option<&str>| Target {
            exe: exe.map(Into::into),
            pid,
            cmdline: cmd.map(Into::into),
        };
        assert!(matches(&t(Some("app"), None, None), &p));
        assert!(matches(&t(Some("/srv/bin/app"), None, None), &p));
        assert!(!matches(&t(Some("/bin/app"), None, None), &p));
        assert!(!matches(&t(Some("ap"), None, None), &p));
        assert!(matches(&t(None, Some(7), None), &p));
        assert!(matches(&t(None, None, Some("-addr :\\d+")), &p));
        assert!(matches(
            &t(Some("app"), None, None),
            &proc_("/srv/bin/app (deleted)", "")
        ));
    }
}
