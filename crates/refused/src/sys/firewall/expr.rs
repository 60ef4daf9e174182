//! Three-valued matching of one nft expression against a packet: yes, no, or "may" when the
//! expression looks at something we do not evaluate.

use std::net::IpAddr;

use serde_json::Value;

use super::{CtState, Interface, Packet};

/// Whether a match holds: known either way, or not known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Truth {
    /// It matches.
    Yes,
    /// It does not.
    No,
    /// It may.
    Maybe,
}

impl Truth {
    /// Both hold: any `No` wins, then any `Maybe`.
    pub fn and(self, other: Self) -> Self {
        match (self, other) {
            (Self::No, _) | (_, Self::No) => Self::No,
            (Self::Yes, Self::Yes) => Self::Yes,
            _ => Self::Maybe,
        }
    }

    fn from_bool(b: bool) -> Self {
        if b { Self::Yes } else { Self::No }
    }

    fn not(self) -> Self {
        match self {
            Self::Yes => Self::No,
            Self::No => Self::Yes,
            Self::Maybe => Self::Maybe,
        }
    }
}

/// Named sets and maps are looked up in the rule's own table.
pub trait Sets {
    /// The elements of set or map `name` (without its `@`).
    fn elements(&self, name: &str) -> Option<&[Value]>;
}

/// What the packet has in one field.
enum Field<'p> {
    Addr(IpAddr),
    Port(u16),
    /// A word compared by name (`tcp`, `established`, `local`).
    Word(&'static str),
    /// An interface name (`""` for none).
    Ifname(&'p str),
    /// An interface of unknown name that is not loopback.
    NotLoopback,
    /// A uid or gid (`meta skuid`, `skgid`).
    Id(u32),
    /// TCP's flags, as bits (`tcp flags`, masked by a `&`).
    Flags(u8),
}

/// The TCP flags of a connection's first packet: SYN alone.
const SYN: u8 = 0x02;

/// The bit of one TCP flag as nft names it.
fn flag_bit(name: &str) -> Option<u8> {
    Some(match name {
        "fin" => 0x01,
        "syn" => SYN,
        "rst" => 0x04,
        "psh" => 0x08,
        "ack" => 0x10,
        "urg" => 0x20,
        "ecn" => 0x40,
        "cwr" => 0x80,
        _ => return None,
    })
}

/// TCP flags as nft's JSON writes a value of them: a name, a list of names (or'ed, as a mask
/// is written), `{"|": [...]}`, or a number.
fn flag_bits(value: &Value) -> Option<u8> {
    match value {
        Value::String(name) => flag_bit(name),
        Value::Number(n) => n.as_u64().and_then(|n| u8::try_from(n).ok()),
        Value::Array(parts) => parts
            .iter()
            .try_fold(0, |bits, part| Some(bits | flag_bits(part)?)),
        Value::Object(object) => object.get("|").and_then(Value::as_array).and_then(|parts| {
            parts
                .iter()
                .try_fold(0, |bits, part| Some(bits | flag_bits(part)?))
        }),
        _ => None,
    }
}

/// `tcp flags OP right` for a packet whose (masked) flags are `flags`: `==` and `!=` compare the
/// bits (a set: any of its values), `in` (`tcp flags syn`) asks whether any of the value's bits
/// is set.
fn compare_flags(flags: u8, op: &str, right: &Value) -> Truth {
    let values: Vec<&Value> = match right.get("set").and_then(Value::as_array) {
        Some(set) => set.iter().collect(),
        None => vec![right],
    };
    let mut result = Truth::No;
    for value in values {
        let Some(bits) = flag_bits(value) else {
            result = Truth::Maybe;
            continue;
        };
        let hit = if op == "in" {
            flags & bits != 0
        } else {
            flags == bits
        };
        if hit {
            result = Truth::Yes;
            break;
        }
    }
    match op {
        "==" | "in" => result,
        "!=" => result.not(),
        _ => Truth::Maybe,
    }
}

/// What one side of a match reads from the packet.
enum Read<'p> {
    Known(Field<'p>),
    /// The match cannot hold for this packet whatever its operator: nft adds a dependency
    /// (`udp dport` implies `meta l4proto udp`, `ip daddr` implies IPv4).
    Never,
    Unknown,
}

/// Whether a `{"match": ...}` expression holds.
pub fn matches(m: &Value, packet: &Packet, sets: &dyn Sets) -> Truth {
    let op = m["op"].as_str().unwrap_or("==");
    compare(&m["left"], op, &m["right"], packet, sets)
}

/// Whether `left OP right` holds (also a verdict map's key against one of its keys).
pub fn compare(left: &Value, op: &str, right: &Value, packet: &Packet, sets: &dyn Sets) -> Truth {
    if let Some(parts) = left.get("concat").and_then(Value::as_array) {
        return compare_concat(parts, op, right, packet, sets);
    }
    let field = match read(left, packet) {
        Read::Known(Field::Flags(flags)) => return compare_flags(flags, op, right),
        Read::Known(field) => field,
        Read::Never => return Truth::No,
        Read::Unknown => return Truth::Maybe,
    };
    let hit = any_of(right, sets, |value| one(&field, value));
    apply(op, hit)
}

fn apply(op: &str, hit: Truth) -> Truth {
    match op {
        "==" | "in" => hit,
        "!=" => hit.not(),
        _ => Truth::Maybe,
    }
}

/// `ip daddr . tcp dport OP right`: the set's elements are concatenations too, compared field
/// by field, so a blocklist of address-and-port pairs is told apart from one that holds the
/// packet's (a field we do not read leaves its element, not the whole set, uncertain).
fn compare_concat(
    parts: &[Value],
    op: &str,
    right: &Value,
    packet: &Packet,
    sets: &dyn Sets,
) -> Truth {
    let mut fields = Vec::with_capacity(parts.len());
    for part in parts {
        fields.push(match read(part, packet) {
            Read::Known(field) => Some(field),
            // nft's dependency of that field fails, whatever the rest of the key.
            Read::Never => return Truth::No,
            Read::Unknown => None,
        });
    }
    let hit = any_of(right, sets, |value| concat_one(&fields, value));
    apply(op, hit)
}

/// Whether the packet's `fields` (`None`: not read) fall in one concatenated value, each in
/// its own part (a literal, a prefix, a range).
fn concat_one(fields: &[Option<Field<'_>>], value: &Value) -> Truth {
    if let Some(inner) = value.get("elem").and_then(|e| e.get("val")) {
        return concat_one(fields, inner);
    }
    let Some(values) = value.get("concat").and_then(Value::as_array) else {
        return Truth::Maybe;
    };
    if values.len() != fields.len() {
        return Truth::Maybe;
    }
    fields
        .iter()
        .zip(values)
        .fold(Truth::Yes, |truth, (field, value)| {
            let part = field
                .as_ref()
                .map_or(Truth::Maybe, |field| one(field, value));
            truth.and(part)
        })
}

fn read<'p>(left: &Value, packet: &'p Packet) -> Read<'p> {
    let v4 = packet.dst.is_ipv4();
    if let Some(payload) = left.get("payload") {
        return read_payload(payload, packet);
    }
    if let Some(meta) = left.get("meta") {
        return match meta["key"].as_str() {
            Some("l4proto") => Read::Known(Field::Word("tcp")),
            Some("nfproto") => Read::Known(Field::Word(if v4 { "ipv4" } else { "ipv6" })),
            Some("protocol") => Read::Known(Field::Word(if v4 { "ip" } else { "ip6" })),
            Some("skuid") => packet
                .owner
                .uid
                .map_or(Read::Unknown, |id| Read::Known(Field::Id(id))),
            Some("skgid") => packet
                .owner
                .gid
                .map_or(Read::Unknown, |id| Read::Known(Field::Id(id))),
            Some(key @ ("iifname" | "oifname" | "iif" | "oif")) => {
                let interface = if key.starts_with('i') {
                    &packet.iif
                } else {
                    &packet.oif
                };
                match interface {
                    // `iif`/`oif` (by index) without a device do not match at all; the names
                    // read as "".
                    Interface::None if !key.ends_with("name") => Read::Never,
                    Interface::None => Read::Known(Field::Ifname("")),
                    Interface::Named(name) => Read::Known(Field::Ifname(name)),
                    Interface::NotLoopback => Read::Known(Field::NotLoopback),
                    Interface::Unknown => Read::Unknown,
                }
            }
            _ => Read::Unknown,
        };
    }
    // `tcp flags & (fin | syn | rst | ack)`: iptables' `--syn`, nft's `tcp flags syn / syn,ack`.
    if let Some([inner, mask]) = left.get("&").and_then(Value::as_array).map(Vec::as_slice) {
        return match (read(inner, packet), flag_bits(mask)) {
            (Read::Known(Field::Flags(flags)), Some(mask)) => {
                Read::Known(Field::Flags(flags & mask))
            }
            (Read::Never, _) => Read::Never,
            _ => Read::Unknown,
        };
    }
    // A field of an IPv6 extension header (`rt type 0`): our packets carry none, and without
    // the header nft's match fails whatever its operator.
    if ["rt", "frag", "hbh", "dst", "mh", "srh"]
        .iter()
        .any(|header| left.get(header).is_some())
    {
        return Read::Never;
    }
    if let Some(ct) = left.get("ct") {
        if ct.get("dir").is_some() {
            return Read::Unknown;
        }
        if ct["key"] == "state" {
            if packet.state == CtState::Unknown {
                return Read::Unknown;
            }
            return Read::Known(Field::Word(packet.state.as_str()));
        }
        // A first packet's status holds `dnat` if its destination was translated, and no
        // other flag a rule tests (it is not confirmed, has seen no reply).
        if ct["key"] == "status" && packet.state == CtState::New {
            return match packet.dnat {
                Some(true) => Read::Known(Field::Word("dnat")),
                Some(false) => Read::Known(Field::Word("")),
                None => Read::Unknown,
            };
        }
        return Read::Unknown;
    }
    if let Some(fib) = left.get("fib") {
        let flags: Vec<&str> = match &fib["flags"] {
            Value::Array(flags) => flags.iter().filter_map(Value::as_str).collect(),
            Value::String(flag) => vec![flag.as_str()],
            _ => Vec::new(),
        };
        let (address, local) = match flags.as_slice() {
            ["daddr"] => (Some(packet.dst), packet.dst_local),
            ["saddr"] => (packet.src, packet.src_local),
            _ => return Read::Unknown,
        };
        if fib["result"] != "type" {
            return Read::Unknown;
        }
        return match (address, local) {
            (Some(_), Some(true)) => Read::Known(Field::Word("local")),
            (Some(ip), Some(false)) if ip.is_multicast() => Read::Known(Field::Word("multicast")),
            (Some(_), Some(false)) => Read::Known(Field::Word("unicast")),
            _ => Read::Unknown,
        };
    }
    Read::Unknown
}

/// What a payload field (`ip daddr`, `tcp dport`, `tcp flags`) reads from the packet.
fn read_payload<'p>(payload: &Value, packet: &'p Packet) -> Read<'p> {
    let v4 = packet.dst.is_ipv4();
    let (Some(protocol), Some(field)) = (payload["protocol"].as_str(), payload["field"].as_str())
    else {
        return Read::Unknown;
    };
    let known = |value: Option<Field<'p>>| value.map_or(Read::Unknown, Read::Known);
    match (protocol, field) {
        ("ip", _) if !v4 => Read::Never,
        ("ip6", _) if v4 => Read::Never,
        ("ip" | "ip6", "daddr") => Read::Known(Field::Addr(packet.dst)),
        ("ip" | "ip6", "saddr") => known(packet.src.map(Field::Addr)),
        ("ip", "protocol") | ("ip6", "nexthdr") => Read::Known(Field::Word("tcp")),
        ("tcp" | "th", "dport") => known(packet.dport.map(Field::Port)),
        ("tcp" | "th", "sport") => known(packet.sport.map(Field::Port)),
        // A connection's first packet is a SYN; a reply may be a SYN-ACK or a reset.
        ("tcp", "flags") if packet.state == CtState::New => Read::Known(Field::Flags(SYN)),
        ("udp" | "udplite" | "sctp" | "dccp" | "icmp" | "icmpv6" | "esp" | "ah" | "comp", _) => {
            Read::Never
        }
        // A `netdev` or `bridge` chain sees frames: ours carry IP, never ARP (`arp operation
        // reply accept`, a netdev allow-list's first line), and their ethertype is `meta
        // protocol`'s.
        ("arp", _) => Read::Never,
        ("ether", "type") => Read::Known(Field::Word(if v4 { "ip" } else { "ip6" })),
        _ => Read::Unknown,
    }
}

/// Whether one of `right`'s values passes `test`: a value, a list, an anonymous set, or a
/// named set.
fn any_of(right: &Value, sets: &dyn Sets, test: impl Fn(&Value) -> Truth) -> Truth {
    let named;
    let items: &[Value] = if let Some(set) = right.get("set").and_then(Value::as_array) {
        set
    } else if let Some(list) = right.as_array() {
        list
    } else if let Some(name) = right.as_str().and_then(|r| r.strip_prefix('@')) {
        let Some(elements) = sets.elements(name) else {
            return Truth::Maybe;
        };
        named = elements;
        named
    } else {
        return test(right);
    };
    let mut result = Truth::No;
    for item in items {
        match test(item) {
            Truth::Yes => return Truth::Yes,
            Truth::Maybe => result = Truth::Maybe,
            Truth::No => {}
        }
    }
    result
}

/// Whether `field` equals or falls in one value (a literal, a prefix, a range).
fn one(field: &Field<'_>, value: &Value) -> Truth {
    // Elements of named sets may carry options: `{"elem": {"val": ..., "timeout": ...}}`.
    if let Some(inner) = value.get("elem").and_then(|e| e.get("val")) {
        return one(field, inner);
    }
    match field {
        Field::Addr(ip) => address_in(*ip, value),
        Field::Port(port) => number_in(u32::from(*port), value),
        Field::Id(id) => number_in(*id, value),
        Field::Word(word) => word_is(word, value),
        Field::Ifname(name) => value.as_str().map_or(Truth::Maybe, |pattern| {
            Truth::from_bool(ifname_matches(name, pattern))
        }),
        Field::Flags(flags) => compare_flags(*flags, "==", value),
        Field::NotLoopback => match value.as_str() {
            Some("lo") => Truth::No,
            _ => Truth::Maybe,
        },
    }
}

fn word_is(word: &str, value: &Value) -> Truth {
    match value {
        Value::String(text) => Truth::from_bool(text == word),
        // Protocol numbers: 6 is TCP.
        Value::Number(n) if word == "tcp" => Truth::from_bool(n.as_u64() == Some(6)),
        _ => Truth::Maybe,
    }
}

/// nft's interface patterns: a trailing `*` is a prefix match, `\*` a literal star.
fn ifname_matches(name: &str, pattern: &str) -> bool {
    if let Some(prefix) = pattern.strip_suffix('*') {
        if !prefix.ends_with('\\') {
            return name.starts_with(prefix);
        }
    }
    name == pattern.replace("\\*", "*")
}

/// Whether a port (or an id) equals or falls in a value: a number, or a range (a user or
/// group name, which nft prints for an id it knows by name, may match).
fn number_in(port: u32, value: &Value) -> Truth {
    if let Some(n) = value.as_u64() {
        return Truth::from_bool(n == u64::from(port));
    }
    if let Some([lo, hi]) = value
        .get("range")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
    {
        if let (Some(lo), Some(hi)) = (lo.as_u64(), hi.as_u64()) {
            return Truth::from_bool((lo..=hi).contains(&u64::from(port)));
        }
    }
    Truth::Maybe
}

fn address_in(ip: IpAddr, value: &Value) -> Truth {
    if let Some(text) = value.as_str() {
        return text
            .parse::<IpAddr>()
            .map_or(Truth::Maybe, |a| Truth::from_bool(a == ip));
    }
    if let Some(prefix) = value.get("prefix") {
        let net = prefix["addr"]
            .as_str()
            .and_then(|a| a.parse::<IpAddr>().ok());
        let len = prefix["len"].as_u64().and_then(|l| u32::try_from(l).ok());
        return match (net, len) {
            (Some(net), Some(len)) => Truth::from_bool(in_prefix(ip, net, len)),
            _ => Truth::Maybe,
        };
    }
    if let Some([lo, hi]) = value
        .get("range")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
    {
        let parse = |v: &Value| v.as_str().and_then(|a| a.parse::<IpAddr>().ok());
        return match (parse(lo), parse(hi)) {
            (Some(lo), Some(hi)) if lo.is_ipv4() == ip.is_ipv4() => {
                Truth::from_bool(lo <= ip && ip <= hi)
            }
            (Some(_), Some(_)) => Truth::No,
            _ => Truth::Maybe,
        };
    }
    Truth::Maybe
}

fn in_prefix(ip: IpAddr, net: IpAddr, len: u32) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = u32::MAX.checked_shl(32 - len.min(32)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX.checked_shl(128 - len.min(128)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}
