//! Every read of `/proc`: the processes gotel can see, their executables,
//! environments, PID namespaces, mappings and memory. Nothing else in the
//! crate names a `/proc` path, so the live side's view of other processes
//! (and of its own pod) is defined once, here.

use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

/// `PROC_PID_INIT_INO`: the inode of the initial (host) PID namespace,
/// fixed by the kernel.
const HOST_PID_NS_INO: u64 = 0xEFFF_FFFC;

/// `PROC_USER_INIT_INO`: the inode of the initial user namespace.
const HOST_USER_NS_INO: u64 = 0xEFFF_FFFD;

/// A process as seen in /proc.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    /// Process id (tgid).
    pub pid: u32,
    /// The executable's path as the process itself names it: `/proc/PID/exe`
    /// resolved, less the process's root directory when it is chrooted (a
    /// container's own path, never one that exists in gotel's filesystem).
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

    /// A path through which this process's executable can be opened from
    /// our mount namespace, even when it lives in another container.
    pub fn exe_path(&self) -> PathBuf {
        exe_path(self.pid)
    }
}

/// `/proc/PID/exe`: opens process `pid`'s executable from any mount namespace.
pub fn exe_path(pid: u32) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}/exe"))
}

/// Reads one process; None when it vanished or is a kernel thread.
pub fn read(pid: u32) -> Option<Process> {
    let base = PathBuf::from(format!("/proc/{pid}"));
    let link = std::fs::read_link(base.join("exe")).ok()?;
    let exe = within_root(&link, std::fs::read_link(base.join("root")).ok().as_deref());
    let raw = std::fs::read(base.join("cmdline")).ok()?;
    let cmdline = raw
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    let start_time = start_time(&base)?;
    let md = std::fs::metadata(base.join("exe")).ok()?;
    Some(Process {
        pid,
        exe,
        cmdline,
        start_time,
        exe_id: (md.dev(), md.ino()),
    })
}

/// `link` (a path as gotel's mount namespace names it) as a process whose
/// root directory is `root` names it. A process in another mount namespace
/// whose root is that namespace's root (a container after `pivot_root`)
/// already reads as itself ("/app"); one chrooted into a directory reads as
/// "/that/dir/app" and needs the directory taken off.
fn within_root(link: &Path, root: Option<&Path>) -> PathBuf {
    match root.map(|r| link.strip_prefix(r)) {
        Some(Ok(rest)) if root != Some(Path::new("/")) => Path::new("/").join(rest),
        _ => link.to_path_buf(),
    }
}

/// [`within_root`] undone: the path gotel's mount namespace gives the
/// process's `exe`, as `/proc/PID/maps` shows it.
fn outside_root(pid: u32, exe: &Path) -> PathBuf {
    match std::fs::read_link(format!("/proc/{pid}/root")) {
        Ok(root) if root != Path::new("/") => root.join(exe.strip_prefix("/").unwrap_or(exe)),
        _ => exe.to_path_buf(),
    }
}

fn start_time(base: &Path) -> Option<u64> {
    let stat = std::fs::read_to_string(base.join("stat")).ok()?;
    // comm may contain spaces and parens: fields resume after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    // rest starts at field 3 (state); starttime is field 22.
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// All user processes currently visible, except gotel itself.
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

/// Why a process that discovery skipped could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unreadable {
    /// No such process (or it exited).
    Gone,
    /// Its `/proc` entries are refused to gotel.
    Denied,
    /// It has no executable: a kernel thread, or a zombie.
    NoExecutable,
    /// It is a thread of process N, not a process (`/proc/TID` exists
    /// but is not listed).
    Thread(u32),
    /// It reads fine now (it was between exec and its first scan).
    Readable,
}

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Unreadable::Gone => "no such process",
            Unreadable::Denied => "permission denied (gotel needs CAP_SYS_PTRACE, and CAP_DAC_READ_SEARCH for another user's process)",
            Unreadable::NoExecutable => "it has no executable (a kernel thread, or a process that exited)",
            Unreadable::Thread(tgid) => return write!(f, "it is a thread of process {tgid}; select pid: {tgid}"),
            Unreadable::Readable => "it was starting or exiting; retried at the next scan",
        })
    }
}

/// Why [`read`] skips process `pid`.
pub fn unreadable(pid: u32) -> Unreadable {
    let base = PathBuf::from(format!("/proc/{pid}"));
    if !base.exists() {
        return Unreadable::Gone;
    }
    let tgid = std::fs::read_to_string(base.join("status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Tgid:"))
                .and_then(|t| t.trim().parse::<u32>().ok())
        });
    if let Some(tgid) = tgid.filter(|t| *t != pid) {
        return Unreadable::Thread(tgid);
    }
    match std::fs::read_link(base.join("exe")) {
        Ok(_) if read(pid).is_some() => Unreadable::Readable,
        Ok(_) => Unreadable::Gone,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Unreadable::Denied,
        Err(_) if !base.exists() => Unreadable::Gone,
        Err(_) => Unreadable::NoExecutable,
    }
}

/// How many processes [`scan`] skips because reading them is refused.
pub fn denied() -> usize {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| {
            std::fs::read_link(format!("/proc/{pid}/exe"))
                .is_err_and(|e| e.kind() == std::io::ErrorKind::PermissionDenied)
        })
        .count()
}

/// The variables named in `wanted` from process `pid`'s environment, as
/// (name, value) in the order the process has them; empty when unreadable.
pub fn environ(pid: u32, wanted: &[&str]) -> Vec<(String, String)> {
    std::fs::read(format!("/proc/{pid}/environ"))
        .map(|raw| {
            raw.split(|&b| b == 0)
                .filter_map(|kv| {
                    let kv = String::from_utf8_lossy(kv);
                    let (k, v) = kv.split_once('=')?;
                    wanted.contains(&k).then(|| (k.to_string(), v.to_string()))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A PID namespace, as the nsfs (device, inode) of `/proc/PID/ns/pid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PidNamespace {
    /// nsfs device.
    pub dev: u64,
    /// nsfs inode: the number `ls -l /proc/PID/ns/pid` shows.
    pub ino: u64,
}

impl PidNamespace {
    /// The namespace of process `pid`; None when it cannot be read.
    pub fn of(pid: u32) -> Option<Self> {
        Self::at(&format!("/proc/{pid}/ns/pid"))
    }

    /// gotel's own PID namespace.
    pub fn own() -> Option<Self> {
        Self::at("/proc/self/ns/pid")
    }

    fn at(path: &str) -> Option<Self> {
        let m = std::fs::metadata(path).ok()?;
        Some(PidNamespace {
            dev: m.dev(),
            ino: m.ino(),
        })
    }

    /// The initial namespace, whose pids are the host's: the one
    /// definition of "the host PID namespace" in gotel.
    pub fn is_host(&self) -> bool {
        self.ino == HOST_PID_NS_INO
    }
}

/// Whether `pid` shares gotel's PID namespace and that namespace is not
/// the host's: the pod's, with `shareProcessNamespace: true`. A node-wide
/// gotel in the host's namespace sees every pod's processes.
pub fn shares_pod_pid_namespace(pid: u32) -> bool {
    match (PidNamespace::own(), PidNamespace::of(pid)) {
        (Some(own), Some(theirs)) => own == theirs && !own.is_host(),
        _ => false,
    }
}

/// Where process `p` mapped the start (file offset 0) of its executable;
/// None when not mapped or unreadable. A mapping is the executable's when
/// its path is the one `/proc/PID/exe` names (the path may hold spaces and
/// end in " (deleted)" once the file is replaced), or its device and inode
/// are the executable's (on overlayfs they are not: the mapping names the
/// layer's file).
pub fn mapping_start(p: &Process) -> Option<u64> {
    let maps = std::fs::read_to_string(format!("/proc/{}/maps", p.pid)).ok()?;
    let exe = outside_root(p.pid, &p.exe);
    let exe = exe.to_str()?;
    let (dev, ino) = p.exe_id;
    let device = format!("{:02x}:{:02x}", libc::major(dev), libc::minor(dev));
    maps.lines().find_map(|l| {
        // address perms offset dev inode, then the path (the rest).
        let mut f = l.splitn(6, ' ');
        let range = f.next()?;
        let offset = f.nth(1)?;
        let (map_dev, inode) = (f.next()?, f.next()?);
        let path = f.next().unwrap_or("").trim_start();
        let same_file = map_dev == device && inode.parse::<u64>().ok() == Some(ino);
        if !(path == exe || same_file) || u64::from_str_radix(offset, 16).ok()? != 0 {
            return None;
        }
        u64::from_str_radix(range.split('-').next()?, 16).ok()
    })
}

/// Another process's memory, read through `/proc/PID/mem` (needs ptrace
/// access: root or CAP_SYS_PTRACE).
pub struct Memory(std::fs::File);

impl Memory {
    /// Opens process `pid`'s memory; None when it is gone or not ours to read.
    pub fn open(pid: u32) -> Option<Self> {
        std::fs::File::open(format!("/proc/{pid}/mem"))
            .ok()
            .map(Memory)
    }

    /// Fills `buf` from address `addr`; None when any byte is unmapped.
    pub fn read(&self, addr: u64, buf: &mut [u8]) -> Option<()> {
        self.0.read_exact_at(buf, addr).ok()
    }
}

/// This process's resident memory in bytes (`/proc/self/statm`).
pub fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).ok()?)
}

/// gotel's effective capabilities (`CapEff` of `/proc/self/status`), bit N
/// for capability N; None when unreadable.
pub fn effective_capabilities() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
    u64::from_str_radix(hex.trim(), 16).ok()
}

/// Whether gotel runs in the initial user namespace, the only one whose
/// capabilities count for the kernel's `capable()` checks.
pub fn in_initial_user_namespace() -> bool {
    std::fs::metadata("/proc/self/ns/user").is_ok_and(|m| m.ino() == HOST_USER_NS_INO)
}

/// The kernel's host name (`/proc/sys/kernel/hostname`), without the newline.
pub fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let me = read(std::process::id()).unwrap();
        assert_eq!(me.exe, std::env::current_exe().unwrap());
        assert!(me.start_time > 0);
        assert_eq!(me.identity().0, std::process::id());
    }

    #[test]
    fn reads_our_capabilities_and_user_namespace() {
        // Tests run as root on the host: CAP_SYS_ADMIN (21) is effective.
        let eff = effective_capabilities().unwrap();
        assert_ne!(eff & 1 << 21, 0, "{eff:#x}");
        assert!(in_initial_user_namespace());
    }

    #[test]
    fn own_namespace_is_the_one_of_our_pid() {
        let own = PidNamespace::own().unwrap();
        assert_eq!(PidNamespace::of(std::process::id()), Some(own));
        // Shares gotel's namespace; a pod's only when that is not the host's.
        assert_eq!(shares_pod_pid_namespace(std::process::id()), !own.is_host());
    }

    #[test]
    fn finds_our_own_mapping_and_memory() {
        let me = read(std::process::id()).unwrap();
        let start = mapping_start(&me).expect("our exe is mapped");
        assert_eq!(start & 0xfff, 0, "mappings are page-aligned");
        // Found by device and inode alone as well, and by neither not.
        let renamed = Process {
            exe: "/elsewhere/renamed".into(),
            ..me.clone()
        };
        assert_eq!(mapping_start(&renamed), Some(start));
        let other = Process {
            exe_id: (me.exe_id.0, me.exe_id.1 + 1),
            ..renamed
        };
        assert_eq!(mapping_start(&other), None);
        let mem = Memory::open(std::process::id()).unwrap();
        let word = 0x1122_3344_5566_7788u64;
        let mut buf = [0u8; 8];
        mem.read(std::ptr::addr_of!(word) as u64, &mut buf).unwrap();
        assert_eq!(u64::from_le_bytes(buf), word);
        assert!(mem.read(0, &mut buf).is_none(), "page 0 is never mapped");
    }

    #[test]
    fn finds_the_mapping_of_a_deleted_executable_with_a_space_in_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("my app");
        std::fs::copy("/bin/sleep", &exe).unwrap();
        let mut child = std::process::Command::new(&exe).arg("30").spawn().unwrap();
        // Wait for the exec to finish: /proc/PID/exe names the new file before
        // the kernel has mapped it (begin_new_exec precedes the ELF mapping).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while read(child.id()).is_none_or(|p| p.exe != exe || mapping_start(&p).is_none()) {
            assert!(std::time::Instant::now() < deadline, "child never exec'd");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        std::fs::remove_file(&exe).unwrap();
        let p = read(child.id()).unwrap();
        let start = mapping_start(&p);
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(
            p.exe.to_string_lossy().ends_with("my app (deleted)"),
            "{p:?}"
        );
        assert!(start.is_some_and(|s| s > 0 && s & 0xfff == 0), "{start:?}");
    }

    #[test]
    fn a_chrooted_process_names_its_exe_from_its_root() {
        let p = |s: &str| PathBuf::from(s);
        let chrooted = within_root(&p("/srv/pod/root/app"), Some(Path::new("/srv/pod/root")));
        assert_eq!(chrooted, p("/app"));
        // Replaced on disk: the kernel's suffix stays.
        let deleted = within_root(&p("/r/bin/app (deleted)"), Some(Path::new("/r")));
        assert_eq!(deleted, p("/bin/app (deleted)"));
        // Not chrooted, or the root unreadable: the link as it is.
        assert_eq!(
            within_root(&p("/usr/bin/app"), Some(Path::new("/"))),
            p("/usr/bin/app")
        );
        assert_eq!(within_root(&p("/usr/bin/app"), None), p("/usr/bin/app"));
        // A root that is not a whole prefix component does not apply.
        assert_eq!(
            within_root(&p("/rootfs/app"), Some(Path::new("/root"))),
            p("/rootfs/app")
        );
        // We are not chrooted: our own exe reads back unchanged both ways.
        let me = std::env::current_exe().unwrap();
        assert_eq!(outside_root(std::process::id(), &me), me);
    }

    #[test]
    fn unreadable_processes_are_told_apart() {
        assert_eq!(unreadable(std::process::id()), Unreadable::Readable);
        // A thread's id names its /proc entry too, but it is no process.
        let me = std::process::id();
        // SAFETY: gettid has no preconditions.
        let thread = std::thread::spawn(move || unreadable(unsafe { libc::gettid() } as u32));
        assert_eq!(thread.join().unwrap(), Unreadable::Thread(me));
        // kthreadd: pid 2 in the initial PID namespace, no executable.
        if PidNamespace::of(std::process::id()).is_some_and(|n| n.is_host()) {
            assert_eq!(unreadable(2), Unreadable::NoExecutable);
        }
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert_eq!(unreadable(pid), Unreadable::Gone);
    }

    #[test]
    fn environ_keeps_only_wanted_variables() {
        // PATH is set in every test environment; the made-up name is not.
        let got = environ(std::process::id(), &["PATH", "GOTEL_NO_SUCH_VAR"]);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, "PATH");
        assert_eq!(
            Some(got[0].1.as_str()),
            std::env::var("PATH").ok().as_deref()
        );
    }
}
