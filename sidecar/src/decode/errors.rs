//! `err.Error()` rebuilt from an error's captured fields, for the standard
//! library's error types whose method is a fixed format (errors.New,
//! fmt.Errorf, os, io/fs, strconv, syscall, net, net/url, context).

use super::interface::{value_at, value_fields, Held, Inner};
use super::{GoValue, Names};

/// Error types whose `Error()` returns exactly the string their data
/// pointer points at (their first field), so that string is the message.
const MESSAGE_FIRST_FIELD: &[&str] = &["*errors.errorString", "*fmt.wrapError", "*fmt.wrapErrors"];

/// Error types whose `Error()` is a constant (DWARF and runtime names).
const CONSTANT_MESSAGE: &[(&str, &str)] = &[
    ("*internal/poll.DeadlineExceededError", "i/o timeout"),
    ("*poll.DeadlineExceededError", "i/o timeout"),
    ("context.deadlineExceededError", "context deadline exceeded"),
];

/// The complete text of a captured string, None when cut or missing.
fn whole(v: Option<&GoValue>) -> Option<&str> {
    match v {
        Some(GoValue::Str {
            text,
            truncated: false,
            ..
        }) => Some(text),
        _ => None,
    }
}

/// `err.Error()` for the error types whose method gotel reproduces:
/// None when the type is another one or a part was not captured whole.
pub(super) fn error_message(h: &Held<'_>, names: &dyn Names) -> Option<GoValue> {
    if MESSAGE_FIRST_FIELD.contains(&h.ty.as_str()) {
        return h.string(0).cloned();
    }
    let text = match h.ty.as_str() {
        "*strconv.NumError" => format!(
            "strconv.{}: parsing {}: {}",
            whole(h.string(0))?,
            go_quote(whole(h.string(16))?)?,
            inner_error(h.iface(32)?, names)?
        ),
        "*io/fs.PathError" | "*fs.PathError" => format!(
            "{} {}: {}",
            whole(h.string(0))?,
            whole(h.string(16))?,
            inner_error(h.iface(32)?, names)?
        ),
        "syscall.Errno" => names.errno_text(h.word(0)?)?,
        ty => match CONSTANT_MESSAGE.iter().find(|(t, _)| *t == ty) {
            Some((_, m)) => m.to_string(),
            None => net_error_message(h, names)?,
        },
    };
    Some(GoValue::text(text))
}

/// The message of a wrapped error, complete or None.
fn inner_error(i: &Inner<'_>, names: &dyn Names) -> Option<String> {
    match i {
        Inner::Held(h) if !h.data_nil => whole(error_message(h, names).as_ref()).map(String::from),
        _ => None,
    }
}

/// `Error()` of the os, net and net/url errors, from their fields by name.
fn net_error_message(h: &Held<'_>, names: &dyn Names) -> Option<String> {
    let (_, fields) = value_fields(&h.ty, h.rtype, names)?;
    let at = |name: &str| fields.iter().find(|f| f.name == name).map(|f| f.offset);
    let s = |name: &str| whole(h.string(at(name)?));
    let err = |name: &str| inner_error(h.iface(at(name)?)?, names);
    Some(match h.ty.as_str() {
        "*os.SyscallError" => format!("{}: {}", s("Syscall")?, err("Err")?),
        "*net.OpError" => {
            let mut m = s("Op")?.to_string();
            let net = s("Net")?;
            if !net.is_empty() {
                m = format!("{m} {net}");
            }
            let source = addr_string(h.iface(at("Source")?)?, names)?;
            let addr = addr_string(h.iface(at("Addr")?)?, names)?;
            if let Some(src) = &source {
                m = format!("{m} {src}");
            }
            if let Some(a) = addr {
                let sep = if source.is_some() { "->" } else { " " };
                m = format!("{m}{sep}{a}");
            }
            format!("{m}: {}", err("Err")?)
        }
        "*net.AddrError" => match s("Addr")? {
            "" => s("Err")?.to_string(),
            a => format!("address {a}: {}", s("Err")?),
        },
        "*net.DNSError" => {
            let mut m = format!("lookup {}", s("Name")?);
            match s("Server")? {
                "" => {}
                srv => m = format!("{m} on {srv}"),
            }
            format!("{m}: {}", s("Err")?)
        }
        "*net/url.Error" | "*url.Error" => {
            format!("{} {}: {}", s("Op")?, go_quote(s("URL")?)?, err("Err")?)
        }
        _ => return None,
    })
}

/// `addr.String()` of a `net.Addr` (None inside for a nil one); None
/// when its type or a part is not known exactly.
fn addr_string(i: &Inner<'_>, names: &dyn Names) -> Option<Option<String>> {
    let h = match i {
        Inner::Nil => return Some(None),
        Inner::Held(h) => h,
        Inner::Shown(_) => return None,
    };
    if h.data_nil {
        return Some(Some("<nil>".into()));
    }
    let (table, fields) = value_fields(&h.ty, h.rtype, names)?;
    let at = |name: &str| fields.iter().find(|f| f.name == name);
    let ip = || -> Option<String> {
        match h.slice(at("IP")?.offset)? {
            GoValue::Bytes { data, len } if data.len() as u64 == *len => Some(ip_string(data)),
            GoValue::Null => Some(String::new()),
            _ => None,
        }
    };
    let zone = || whole(h.string(at("Zone")?.offset));
    Some(Some(match h.ty.as_str() {
        "*net.TCPAddr" | "*net.UDPAddr" => {
            let port = at("Port")?;
            let port = match value_at(table, port.ty, h, port.offset, names) {
                GoValue::Int(p) => p,
                _ => return None,
            };
            let mut host = ip()?;
            let zone = zone()?;
            if !zone.is_empty() {
                host = format!("{host}%{zone}");
            }
            if host.contains(':') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            }
        }
        "*net.IPAddr" => match zone()? {
            "" => ip()?,
            z => format!("{}%{z}", ip()?),
        },
        "*net.UnixAddr" => whole(h.string(at("Name")?.offset))?.to_string(),
        _ => return None,
    }))
}

/// `net.IP.String()` of a non-empty IP, as Go prints it: dotted for IPv4
/// (and IPv4-mapped IPv6), RFC 5952 for IPv6, `?` and hex otherwise.
pub fn ip_string(ip: &[u8]) -> String {
    match ip.len() {
        0 => String::new(),
        4 => std::net::Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3]).to_string(),
        16 if ip[..10].iter().all(|b| *b == 0) && ip[10] == 0xff && ip[11] == 0xff => {
            std::net::Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]).to_string()
        }
        16 => {
            let b: [u8; 16] = ip.try_into().expect("16 bytes");
            std::net::Ipv6Addr::from(b).to_string()
        }
        _ => format!(
            "?{}",
            ip.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ),
    }
}

/// `strconv.Quote` of an ASCII string: Go's double-quoted form with Go's
/// escapes. None for anything else: which non-ASCII runes Go escapes
/// depends on its Unicode tables (and invalid UTF-8 was already replaced
/// here), so no message is better than a subtly different one.
pub fn go_quote(s: &str) -> Option<String> {
    if !s.is_ascii() {
        return None;
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::super::interface::held_value;
    use super::super::testkit::Fake;
    use super::*;
    use crate::golang::types::Kind;

    const TCP: u64 = 0x5000;
    const UDP: u64 = 0x5008;
    const IP: u64 = 0x5010;
    const UNIX: u64 = 0x5018;
    const OP: u64 = 0x5020;
    const SYSCALL: u64 = 0x5028;
    const ADDR: u64 = 0x5030;
    const DNS: u64 = 0x5038;
    const URL: u64 = 0x5040;

    /// The net, os and net/url error and address types, by DWARF.
    fn net_types() -> Fake {
        let mut f = Fake::default();
        let (string, int, error, bytes) = f.basics();
        let addr = f.add("net.Addr", 16, Kind::Interface { empty: false });
        let ip_port = [("IP", 0, bytes), ("Port", 24, int), ("Zone", 32, string)];
        f.error_struct("net.TCPAddr", TCP, &ip_port);
        f.error_struct("net.UDPAddr", UDP, &ip_port);
        f.error_struct("net.IPAddr", IP, &[("IP", 0, bytes), ("Zone", 24, string)]);
        f.error_struct(
            "net.UnixAddr",
            UNIX,
            &[("Name", 0, string), ("Net", 16, string)],
        );
        f.error_struct(
            "net.OpError",
            OP,
            &[
                ("Op", 0, string),
                ("Net", 16, string),
                ("Source", 32, addr),
                ("Addr", 48, addr),
                ("Err", 64, error),
            ],
        );
        f.error_struct(
            "os.SyscallError",
            SYSCALL,
            &[("Syscall", 0, string), ("Err", 16, error)],
        );
        f.error_struct(
            "net.AddrError",
            ADDR,
            &[("Err", 0, string), ("Addr", 16, string)],
        );
        f.error_struct(
            "net.DNSError",
            DNS,
            &[
                ("Err", 0, string),
                ("Name", 16, string),
                ("Server", 32, string),
            ],
        );
        f.error_struct(
            "net/url.Error",
            URL,
            &[("Op", 0, string), ("URL", 16, string), ("Err", 32, error)],
        );
        f.errnos.insert(2, "no such file or directory".into());
        f.errnos.insert(111, "connection refused".into());
        f
    }

    /// A dynamic value of type `ty` captured by its recipe, with `strings`.
    fn held<'a>(ty: &str, rtype: u64, strings: &[(u64, &str)]) -> Held<'a> {
        Held {
            ty: ty.into(),
            rtype,
            head: &[],
            strings: strings
                .iter()
                .map(|(off, s)| (*off, GoValue::text(s.to_string())))
                .collect(),
            slices: Vec::new(),
            ifaces: Vec::new(),
            data_nil: false,
            complete: true,
            learning: false,
            redaction: None,
        }
    }

    fn errno(head: &[u8]) -> Inner<'_> {
        Inner::Held(Held {
            head,
            ..held("syscall.Errno", 0x6000, &[])
        })
    }

    fn msg(h: &Held<'_>, names: &Fake) -> Option<String> {
        match error_message(h, names)? {
            GoValue::Str {
                text,
                truncated: false,
                ..
            } => Some(text),
            v => panic!("{v:?}"),
        }
    }

    /// A `*net.TCPAddr` (or UDP) `ip`:`port`%`zone`.
    fn ip_addr<'a>(ty: &str, rtype: u64, ip: &[u8], head: &'a [u8], zone: &str) -> Inner<'a> {
        let mut h = held(ty, rtype, &[(32, zone)]);
        h.head = head;
        h.slices.push((
            0,
            GoValue::Bytes {
                data: ip.to_vec(),
                len: ip.len() as u64,
            },
        ));
        Inner::Held(h)
    }

    fn port(p: i64) -> Vec<u8> {
        let mut head = vec![0u8; 40];
        head[24..32].copy_from_slice(&p.to_le_bytes());
        head
    }

    #[test]
    fn messages_held_in_the_first_field_or_constant() {
        let names = Fake::default();
        let m = |ty: &str, strings: &[(u64, &str)]| msg(&held(ty, 1, strings), &names);
        assert_eq!(m("*errors.errorString", &[(0, "boom")]).unwrap(), "boom");
        assert_eq!(
            m("*fmt.wrapError", &[(0, "ctx: boom")]).unwrap(),
            "ctx: boom"
        );
        assert_eq!(m("*fmt.wrapErrors", &[(0, "a\nb")]).unwrap(), "a\nb");
        assert_eq!(
            m("*internal/poll.DeadlineExceededError", &[]).unwrap(),
            "i/o timeout"
        );
        assert_eq!(
            m("*poll.DeadlineExceededError", &[]).unwrap(),
            "i/o timeout"
        );
        assert_eq!(
            m("context.deadlineExceededError", &[]).unwrap(),
            "context deadline exceeded"
        );
        assert_eq!(m("*main.MyError", &[(0, "x")]), None);
    }

    #[test]
    fn errno_texts_come_from_the_binary() {
        let names = net_types();
        let e111 = 111u64.to_le_bytes();
        let Inner::Held(h) = errno(&e111) else {
            unreachable!()
        };
        assert_eq!(msg(&h, &names).unwrap(), "connection refused");
        let e7 = 7u64.to_le_bytes();
        let Inner::Held(h) = errno(&e7) else {
            unreachable!()
        };
        assert_eq!(msg(&h, &names), None);
        // Not copied: no message.
        let Inner::Held(h) = errno(&[]) else {
            unreachable!()
        };
        assert_eq!(msg(&h, &names), None);
    }

    #[test]
    fn strconv_and_path_errors_wrap_their_err() {
        let names = net_types();
        let mut h = held("*strconv.NumError", 1, &[(0, "Atoi"), (16, "x\"1")]);
        let inner = held("*errors.errorString", 2, &[(0, "invalid syntax")]);
        h.ifaces.push((32, Inner::Held(inner)));
        assert_eq!(
            msg(&h, &names).unwrap(),
            r#"strconv.Atoi: parsing "x\"1": invalid syntax"#
        );
        let e2 = 2u64.to_le_bytes();
        for ty in ["*io/fs.PathError", "*fs.PathError"] {
            let mut h = held(ty, 1, &[(0, "open"), (16, "/nope")]);
            h.ifaces.push((32, errno(&e2)));
            assert_eq!(
                msg(&h, &names).unwrap(),
                "open /nope: no such file or directory"
            );
        }
        // A nil or unknown Err, or a cut field: no message, the value shows.
        let mut h = held("*fs.PathError", 1, &[(0, "open"), (16, "/nope")]);
        h.ifaces.push((32, Inner::Nil));
        assert_eq!(msg(&h, &names), None);
        let mut h = held("*strconv.NumError", 1, &[(0, "Atoi")]);
        h.strings.push((16, GoValue::captured(b"12", 9)));
        h.ifaces
            .push((32, Inner::Held(held("*errors.errorString", 2, &[(0, "x")]))));
        assert_eq!(msg(&h, &names), None);
        // Non-ASCII: Go's quoting is not guessed.
        let mut h = held("*strconv.NumError", 1, &[(0, "Atoi"), (16, "é")]);
        h.ifaces
            .push((32, Inner::Held(held("*errors.errorString", 2, &[(0, "x")]))));
        assert_eq!(msg(&h, &names), None);
    }

    #[test]
    fn net_errors_follow_their_fields_by_name() {
        let names = net_types();
        let e111 = 111u64.to_le_bytes();
        let syscall = || {
            let mut h = held("*os.SyscallError", SYSCALL, &[(0, "connect")]);
            h.ifaces.push((16, errno(&e111)));
            h
        };
        assert_eq!(
            msg(&syscall(), &names).unwrap(),
            "connect: connection refused"
        );

        let (p80, p5000) = (port(80), port(5000));
        let dial = || {
            let mut h = held("*net.OpError", OP, &[(0, "dial"), (16, "tcp")]);
            h.ifaces.push((32, Inner::Nil));
            h.ifaces
                .push((48, ip_addr("*net.TCPAddr", TCP, &[10, 0, 0, 1], &p80, "")));
            h.ifaces.push((64, Inner::Held(syscall())));
            h
        };
        assert_eq!(
            msg(&dial(), &names).unwrap(),
            "dial tcp 10.0.0.1:80: connect: connection refused"
        );
        let mut read = held("*net.OpError", OP, &[(0, "read"), (16, "tcp")]);
        read.ifaces.push((
            32,
            ip_addr("*net.TCPAddr", TCP, &[127, 0, 0, 1], &p5000, ""),
        ));
        read.ifaces
            .push((48, ip_addr("*net.TCPAddr", TCP, &[10, 0, 0, 1], &p80, "")));
        let timeout = held("*internal/poll.DeadlineExceededError", 9, &[]);
        read.ifaces.push((64, Inner::Held(timeout)));
        assert_eq!(
            msg(&read, &names).unwrap(),
            "read tcp 127.0.0.1:5000->10.0.0.1:80: i/o timeout"
        );
        let mut close = held("*net.OpError", OP, &[(0, "close"), (16, "")]);
        close.ifaces.push((32, Inner::Nil));
        close.ifaces.push((48, Inner::Nil));
        close.ifaces.push((
            64,
            Inner::Held(held("*errors.errorString", 2, &[(0, "closed")])),
        ));
        assert_eq!(msg(&close, &names).unwrap(), "close: closed");

        let addr = |a: &str| {
            held(
                "*net.AddrError",
                ADDR,
                &[(0, "missing port in address"), (16, a)],
            )
        };
        assert_eq!(
            msg(&addr("1.2.3.4"), &names).unwrap(),
            "address 1.2.3.4: missing port in address"
        );
        assert_eq!(msg(&addr(""), &names).unwrap(), "missing port in address");

        let dns = |srv: &str| {
            held(
                "*net.DNSError",
                DNS,
                &[(0, "no such host"), (16, "example.invalid"), (32, srv)],
            )
        };
        assert_eq!(
            msg(&dns(""), &names).unwrap(),
            "lookup example.invalid: no such host"
        );
        assert_eq!(
            msg(&dns("8.8.8.8:53"), &names).unwrap(),
            "lookup example.invalid on 8.8.8.8:53: no such host"
        );

        for ty in ["*net/url.Error", "*url.Error"] {
            let mut u = held(ty, URL, &[(0, "Get"), (16, "http://x/")]);
            u.ifaces.push((32, Inner::Held(dial())));
            assert_eq!(
                msg(&u, &names).unwrap(),
                r#"Get "http://x/": dial tcp 10.0.0.1:80: connect: connection refused"#
            );
        }
    }

    #[test]
    fn addresses_print_as_their_string_methods() {
        let names = net_types();
        let (p53, p80) = (port(53), port(80));
        let fe80 = "fe80::1".parse::<std::net::Ipv6Addr>().unwrap().octets();
        let s = |i: &Inner<'_>| addr_string(i, &names);
        assert_eq!(
            s(&ip_addr("*net.UDPAddr", UDP, &fe80, &p53, "eth0")),
            Some(Some("[fe80::1%eth0]:53".into()))
        );
        assert_eq!(
            s(&ip_addr("*net.TCPAddr", TCP, &fe80, &p80, "")),
            Some(Some("[fe80::1]:80".into()))
        );
        let mut nil_ip = held("*net.TCPAddr", TCP, &[(32, "")]);
        nil_ip.head = &p80;
        nil_ip.slices.push((0, GoValue::Null));
        assert_eq!(s(&Inner::Held(nil_ip)), Some(Some(":80".into())));
        let ipaddr = |ip: &[u8], zone: &str| {
            let mut h = held("*net.IPAddr", IP, &[(24, zone)]);
            h.slices.push((
                0,
                GoValue::Bytes {
                    data: ip.to_vec(),
                    len: ip.len() as u64,
                },
            ));
            Inner::Held(h)
        };
        assert_eq!(
            s(&ipaddr(&[10, 0, 0, 1], "")),
            Some(Some("10.0.0.1".into()))
        );
        assert_eq!(s(&ipaddr(&fe80, "eth0")), Some(Some("fe80::1%eth0".into())));
        let unix = held("*net.UnixAddr", UNIX, &[(0, "/tmp/s"), (16, "unix")]);
        assert_eq!(s(&Inner::Held(unix)), Some(Some("/tmp/s".into())));
        // nil, a typed nil, an unknown type, a cut IP.
        assert_eq!(s(&Inner::Nil), Some(None));
        let mut typed_nil = held("*net.TCPAddr", TCP, &[]);
        typed_nil.data_nil = true;
        assert_eq!(s(&Inner::Held(typed_nil)), Some(Some("<nil>".into())));
        assert_eq!(s(&Inner::Shown(GoValue::Null)), None);
        let mut cut = held("*net.TCPAddr", TCP, &[(32, "")]);
        cut.head = &p80;
        cut.slices.push((
            0,
            GoValue::Bytes {
                data: vec![10],
                len: 4,
            },
        ));
        assert_eq!(s(&Inner::Held(cut)), None);
    }

    #[test]
    fn an_error_shows_its_message_else_its_value() {
        let names = net_types();
        let e = held("*errors.errorString", 2, &[(0, "boom")]);
        assert_eq!(
            serde_json::to_value(held_value(&e, true, &names)).unwrap(),
            serde_json::json!("boom")
        );
        let mut dns = held("*net.DNSError", DNS, &[(0, "no such host"), (16, "x")]);
        dns.strings.push((32, GoValue::captured(b"8.8", 10)));
        assert_eq!(
            serde_json::to_value(held_value(&dns, true, &names)).unwrap(),
            serde_json::json!({"type": "*net.DNSError", "value": {
                "Err": "no such host", "Name": "x",
                "Server": {"string": "8.8", "truncated": true, "length": 10}}})
        );
    }

    #[test]
    fn quoting_follows_go_for_ascii_and_refuses_the_rest() {
        assert_eq!(
            go_quote("x\ty\"\\\u{7f}\u{1}\u{7}\u{8}\u{c}\n\r\u{b}").unwrap(),
            r#""x\ty\"\\\x7f\x01\a\b\f\n\r\v""#
        );
        // Go escapes U+200B; gotel does not guess which runes Go escapes.
        assert_eq!(go_quote("\u{200b}1"), None);
    }

    #[test]
    fn ips_print_as_go_prints_them() {
        assert_eq!(ip_string(&[127, 0, 0, 1]), "127.0.0.1");
        assert_eq!(ip_string(&[]), "");
        let mut mapped = [0u8; 16];
        mapped[10] = 0xff;
        mapped[11] = 0xff;
        mapped[12..].copy_from_slice(&[10, 1, 2, 3]);
        assert_eq!(ip_string(&mapped), "10.1.2.3");
        let v6 = |s: &str| ip_string(&s.parse::<std::net::Ipv6Addr>().unwrap().octets());
        assert_eq!(v6("::1"), "::1");
        assert_eq!(v6("::"), "::");
        assert_eq!(v6("2001:db8:0:0:1:0:0:1"), "2001:db8::1:0:0:1");
        assert_eq!(v6("2001:db8:0:1:1:1:1:1"), "2001:db8:0:1:1:1:1:1");
        assert_eq!(v6("fe80:0:0:0:0:0:0:1"), "fe80::1");
        // IPv4-compatible: Go has no special form for it.
        assert_eq!(v6("::102:304"), "::102:304");
        assert_eq!(v6("1:0:0:2:0:0:3:4"), "1::2:0:0:3:4");
        assert_eq!(ip_string(&[1, 2, 3]), "?010203");
    }
}
