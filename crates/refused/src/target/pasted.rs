//! Targets as other tools print them, which people paste: Node's `::1:3000`, Java's
//! `localhost/127.0.0.1:8080`, a whole error line (`dial tcp 127.0.0.1:8080: connect: connection
//! refused`). Each is read only to say what to type: a guess is never diagnosed in place of what
//! was meant, so these stay usage errors, with the target that was meant in their message.

use std::net::Ipv6Addr;

use super::{Form, Host, TargetErrorKind, joined, parse, split_host_port};

/// `IP:PORT` as we write it (`127.0.0.1:8080`, `[::1]:3000`) for an address literal and its port
/// written as `IP:PORT`, `[IPV6]:PORT`, or an IPv6 address and its port without brackets, as
/// Node and Java print them (`::1:3000`, `0:0:0:0:0:0:0:1:8080`).
pub(super) fn literal_with_port(text: &str) -> Option<String> {
    match split_host_port(text, Form::HostPort) {
        Ok((host @ (Host::Ip(_) | Host::ScopedIpv6 { .. }), Some(port)))
            if super::parse_port(port).is_ok() =>
        {
            Some(format!("{host}:{port}"))
        }
        Err(TargetErrorKind::BareIpv6WithPort(meant)) => Some(meant),
        _ => None,
    }
}

/// What a `host:port` with more than one `:` is: Node's IPv6 address and port without brackets
/// (`::1:3000`, whose address alone, `::1:3000`, would have no port: the reading with a port is
/// the only one that is a target), Go's `127.0.0.1:8080:` cut before its `: connect:`, an IPv6
/// address without a port, or none of these.
pub(super) fn many_colons(text: &str) -> TargetErrorKind {
    if let Some(before) = text.strip_suffix(':') {
        if before.matches(':').count() == 1 && parse(before).is_ok() {
            return TargetErrorKind::TrailingColon(before.to_owned());
        }
    }
    if let Some((address, port)) = text.rsplit_once(':') {
        if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(ip) = address.parse::<Ipv6Addr>() {
                return TargetErrorKind::BareIpv6WithPort(format!("[{ip}]:{port}"));
            }
        }
    }
    if text.parse::<Ipv6Addr>().is_ok() {
        TargetErrorKind::BareIpv6(text.to_owned())
    } else {
        TargetErrorKind::TooManyColons(text.to_owned())
    }
}

/// The target an error message names, for one pasted whole: the first word that is a target
/// (`127.0.0.1:8080:` of Go's `dial tcp 127.0.0.1:8080: connect:`, Node's `::1:3000`, a URL,
/// redis-py's `localhost:6379.`, a unix socket after `unix`), else curl's and psql's
/// `HOST port N` (`localhost port 8080`, `(::1), port 5432`), requests' and libpq's `host=H`
/// with `port=N`, or nc's `HOST PORT`.
pub(super) fn named_in_message(text: &str) -> Option<String> {
    let words: Vec<&str> = text.split_whitespace().map(cleaned).collect();
    let word_target = words.iter().enumerate().find_map(|(i, word)| {
        let after_unix = i > 0 && words[i - 1].eq_ignore_ascii_case("unix");
        if !(word.contains(':') || after_unix && word.starts_with('/')) {
            return None;
        }
        if let Some(literal) = literal_with_port(word) {
            return Some(literal);
        }
        match parse(word) {
            // A path only after Go's `dial unix`: other words with a `/` are a URL's paths.
            Ok(_) if word.starts_with('/') => after_unix.then(|| (*word).to_owned()),
            Ok(target) if word.contains("://") || target.port().is_some() => {
                Some((*word).to_owned())
            }
            // Java's and Netty's `Connection refused: localhost/127.0.0.1:8080`.
            Err(TargetErrorKind::JavaAddress(meant) | TargetErrorKind::SlashAddress(meant)) => {
                Some(meant)
            }
            _ => None,
        }
    });
    word_target
        .or_else(|| {
            // `localhost port 8080`, `"localhost" (::1), port 5432`.
            words.windows(3).find_map(|w| {
                (w[1].eq_ignore_ascii_case("port") && is_port(w[2]))
                    .then(|| host_and_port(w[0], w[2]))
                    .flatten()
            })
        })
        .or_else(|| {
            let value = |key: &str| {
                text.split(|c: char| c.is_whitespace() || c == ',' || c == '(')
                    .find_map(|part| part.strip_prefix(key))
                    .map(cleaned)
            };
            host_and_port(value("host=")?, value("port=")?)
        })
        .or_else(|| match words.as_slice() {
            [host, port] if is_port(port) => host_and_port(host, port),
            _ => None,
        })
}

/// A word without the quotes, brackets of a parenthesis, and punctuation around it in a
/// sentence (`"localhost"`, `(::1),`, `'localhost:3306'`, `localhost:6379.`, Go's `127.0.0.1:8080:`).
fn cleaned(word: &str) -> &str {
    word.trim_start_matches(['"', '\'', '(', '`', '<', '{'])
        .trim_end_matches(['"', '\'', ')', '`', '>', '}', ',', ';', '.', ':'])
}

fn is_port(text: &str) -> bool {
    super::parse_port(text).is_ok()
}

/// `HOST:PORT` for a host and a port written apart, the host checked as a target would be.
fn host_and_port(host: &str, port: &str) -> Option<String> {
    let joined = joined(host, port);
    parse(&joined).is_ok().then_some(joined)
}
