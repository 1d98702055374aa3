//! Which live processes a probe's target selects, found by scanning /proc.

use std::path::{Path, PathBuf};

use crate::config::Target;

/// A process as seen in /proc.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    /// Process id (tgid).
    pub pid: u32,
    /// Resolved `/proc/PID/exe` (as the process's mount namespace names it).
    pub exe: PathBuf,
    /// Command line, arguments joined by spaces.
    pub cmdline: String,
    /// Start time in clock ticks since boot (`/proc/PID/stat` field 22):
    /// with the pid it names one process even across pid reuse.
    pub start_time: u64,
    /// (device, inode) of the executable: changes on `execve`, which keeps
    /// both the pid and the start time.
    pub exe_id: (u64, u64),
}

/// What names one process image: pid, start time and executable.
pub type Identity = (u32, u64, (u64, u64));

impl Process {
    /// This process image's identity.
    pub fn identity(&self) -> Identity {
        (self.pid, self.start_time, self.exe_id)
    }
}

impl Process {
    /// A path through which this process's executable can be opened from
    /// our mount namespace, even when it lives in another container.
    pub fn exe_path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/exe", self.pid))
    }
}

/// Reads one process; None when it vanished or is a kernel thread.
pub fn read(pid: u32) -> Option<Process> {
    let base = PathBuf::from(format!("/proc/{pid}"));
    let exe = std::fs::read_link(base.join("exe")).ok()?;
    let raw = std::fs::read(base.join("cmdline")).ok()?;
    let cmdline = raw
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    let start_time = start_time(&base)?;
    let md = std::fs::metadata(base.join("exe")).ok()?;
    use std::os::unix::fs::MetadataExt;
    Some(Process {
        pid,
        exe,
        cmdline,
        start_time,
        exe_id: (md.dev(), md.ino()),
    })
}

fn start_time(base: &Path) -> Option<u64> {
    let stat = std::fs::read_to_string(base.join("stat")).ok()?;
    // comm may contain spaces and parens: fields resume after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    // rest starts at field 3 (state); starttime is field 22.
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// All user processes currently visible.
pub fn scan() -> Vec<Process> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let me = std::process::id();
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .filter_map(read)
        .collect()
}

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

    #[test]
    fn reads_this_process() {
        let me = read(std::process::id()).unwrap();
        assert_eq!(me.exe, std::env::current_exe().unwrap());
        assert!(me.start_time > 0);
    }
}
