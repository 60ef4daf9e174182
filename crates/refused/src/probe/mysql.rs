//! `mysql://`: the server's greeting. Protocol 10 is ready; an error packet (too many
//! connections, host blocked) is not.
//!
//! After a greeting the probe logs in, without a password, as the URL's user (`mysql://hc@db`)
//! or `refused`, and leaves: a connection closed before its login is a handshake error to the
//! server, and `max_connect_errors` of them in a row (100 by default) block the client's host
//! for every program on it (`Host '...' is blocked because of many connection errors`) until an
//! administrator's `FLUSH HOSTS`; a denied login is not one (the server is up, as `mysqladmin
//! ping` says on `Access denied`). HAProxy's `mysql-check` does the same, with its `user`. A
//! denied login is a line in the server's log (`Access denied for user ...`), which fail2ban's
//! `mysqld-auth` jail counts where it is enabled: a monitor that probes often gives the URL an
//! account without a password or privileges (`CREATE USER 'hc'@'%'`), whose login succeeds
//! and logs nothing.

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::time::{Duration, Instant};

use super::ProtocolErrorKind as Kind;
use super::Readiness;
use super::bounded::{protocol, read_exact};
use crate::target::Target;

/// The largest packet we accept (a real greeting is under 128 bytes).
const MAX_PACKET: usize = 16 * 1024;

/// The user the probe logs in as when the URL names none (`mysql://hc@db`): the name the
/// server's log shows for its visits.
const USER: &str = "refused";

/// At most this long for the login after the greeting: the readiness is already known.
const LOGIN_LIMIT: Duration = Duration::from_secs(1);

pub async fn probe<S: AsyncRead + AsyncWrite + Unpin>(
    target: &Target,
    mut stream: S,
    deadline: Instant,
) -> Readiness {
    let payload = match packet(&mut stream, deadline, "greeting").await {
        Ok((_, payload)) => payload,
        Err(readiness) => return readiness,
    };
    let readiness = greeting(&payload);
    if readiness.is_ready() {
        let deadline = deadline.min(Instant::now() + LOGIN_LIMIT);
        // Whatever the login says, the server is up: its failure changes nothing.
        let user = target.user().unwrap_or(USER);
        let _ = log_in(&mut stream, &payload, user, deadline).await;
    }
    readiness
}

/// One packet: its sequence number and payload.
async fn packet<S: AsyncRead + Unpin>(
    stream: &mut S,
    deadline: Instant,
    what: &str,
) -> Result<(u8, Vec<u8>), Readiness> {
    let mut header = [0u8; 4];
    read_exact(stream, &mut header, deadline, what).await?;
    let length =
        usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
    if length == 0 || length > MAX_PACKET {
        return Err(protocol(
            Kind::NotTheProtocol,
            format!("not a MySQL server: a packet of {length} bytes"),
        ));
    }
    let mut payload = vec![0u8; length];
    read_exact(stream, &mut payload, deadline, what).await?;
    Ok((header[3], payload))
}

/// Writes `payload` as packet number `sequence`.
async fn send<S: AsyncWrite + Unpin>(
    stream: &mut S,
    sequence: u8,
    payload: &[u8],
    deadline: Instant,
) -> Result<(), Readiness> {
    let length = u32::try_from(payload.len())
        .unwrap_or_default()
        .to_le_bytes();
    let mut packet = vec![length[0], length[1], length[2], sequence];
    packet.extend_from_slice(payload);
    match tokio::time::timeout_at(deadline, stream.write_all(&packet)).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(protocol(Kind::Io, "the login could not be sent")),
    }
}

/// Logs in as `user` without a password and leaves (`COM_QUIT` after a login that
/// succeeds): the server counts a login it answered, not an aborted handshake.
async fn log_in<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    greeting: &[u8],
    user: &str,
    deadline: Instant,
) -> Result<(), Readiness> {
    send(stream, 1, &handshake_response(greeting, user), deadline).await?;
    // An authentication switch (to the user's plugin, or a made-up one for a user that does
    // not exist) is answered with the empty password again; a few rounds at most.
    for _ in 0..3 {
        let (number, reply) = packet(stream, deadline, "login's answer").await?;
        match reply.first() {
            Some(0x00) => return send(stream, 0, &[COM_QUIT], deadline).await,
            // caching_sha2's "fast authentication succeeded": its OK comes next, unasked.
            Some(0x01) if reply.get(1) == Some(&0x03) => {}
            Some(0xfe | 0x01) => send(stream, number.wrapping_add(1), &[], deadline).await?,
            _ => return Ok(()),
        }
    }
    Ok(())
}

/// `ER_HOST_NOT_PRIVILEGED`: no account of the server's is for the client's host.
pub(crate) const HOST_NOT_ALLOWED: u16 = 1130;
/// `ER_HOST_IS_BLOCKED`: the client's host made `max_connect_errors` aborted connections.
pub(crate) const HOST_BLOCKED: u16 = 1129;
/// `ER_CON_COUNT_ERROR`: `Too many connections`.
pub(crate) const TOO_MANY_CONNECTIONS: u16 = 1040;

/// `COM_QUIT`: the client leaves.
const COM_QUIT: u8 = 0x01;

/// The client's `HandshakeResponse41` to `greeting`: protocol 4.1, `user`, an empty
/// password, with the authentication plugin the server named when it takes one.
fn handshake_response(greeting: &[u8], user: &str) -> Vec<u8> {
    const LONG_PASSWORD: u32 = 0x1;
    const PROTOCOL_41: u32 = 0x200;
    const SECURE_CONNECTION: u32 = 0x8000;
    const PLUGIN_AUTH: u32 = 0x8_0000;
    // After the version's NUL: thread id (4), scramble (8), filler (1), capabilities (2),
    // character set (1), status (2), upper capabilities (2), scramble length (1), 10 reserved,
    // the scramble's rest (at least 13), the plugin's name.
    let version_end = greeting
        .iter()
        .position(|b| *b == 0)
        .unwrap_or(greeting.len());
    let rest = greeting.get(version_end + 1..).unwrap_or_default();
    let lower = rest
        .get(13..15)
        .map_or(0, |b| u16::from_le_bytes([b[0], b[1]]));
    let upper = rest
        .get(18..20)
        .map_or(0, |b| u16::from_le_bytes([b[0], b[1]]));
    let server = u32::from(lower) | u32::from(upper) << 16;
    let plugin = (server & PLUGIN_AUTH != 0)
        .then(|| {
            let scramble = usize::from(*rest.get(20)?).saturating_sub(8).max(13);
            let name = rest.get(31 + scramble..)?;
            Some(&name[..name.iter().position(|b| *b == 0).unwrap_or(name.len())])
        })
        .flatten()
        .filter(|name| !name.is_empty());
    let flags = LONG_PASSWORD | PROTOCOL_41 | SECURE_CONNECTION | plugin.map_or(0, |_| PLUGIN_AUTH);
    let mut response = Vec::with_capacity(64);
    response.extend_from_slice(&flags.to_le_bytes());
    response.extend_from_slice(&(16 * 1024 * 1024u32).to_le_bytes());
    // utf8mb4_general_ci.
    response.push(45);
    response.extend_from_slice(&[0; 23]);
    response.extend_from_slice(user.as_bytes());
    response.push(0);
    // An empty password: its length, zero.
    response.push(0);
    if let Some(name) = plugin {
        response.extend_from_slice(name);
        response.push(0);
    }
    response
}

fn greeting(payload: &[u8]) -> Readiness {
    match payload.first() {
        Some(10) => {
            let version = payload[1..].split(|b| *b == 0).next().unwrap_or_default();
            Readiness::Ready(format!("server {}", String::from_utf8_lossy(version)))
        }
        Some(0xff) if payload.len() >= 3 => {
            let code = u16::from_le_bytes([payload[1], payload[2]]);
            // `#` and a 5-character SQLSTATE may come first (protocol 4.1).
            let message = match payload.get(3) {
                Some(b'#') => payload.get(9..).unwrap_or_default(),
                _ => payload.get(3..).unwrap_or_default(),
            };
            let reason = format!("{} ({code})", String::from_utf8_lossy(message));
            match code {
                // No account's host matches this client (`Host '...' is not allowed to connect`),
                // or the host is blocked after too many aborted connections: no wait ends either.
                HOST_NOT_ALLOWED | HOST_BLOCKED => Readiness::Denied(reason),
                _ => Readiness::NotReady(reason),
            }
        }
        _ => protocol(
            Kind::NotTheProtocol,
            "not a MySQL server: the greeting is not protocol 10",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greetings() {
        assert_eq!(
            greeting(b"\x0a8.0.36\0rest").to_string(),
            concat!("ready: ", "server 8.0.36")
        );
        let mut error = vec![0xff, 0x10, 0x04];
        error.extend_from_slice(b"#08004Too many connections");
        assert_eq!(
            greeting(&error).to_string(),
            concat!("not ready: ", "Too many connections (1040)")
        );
        assert_eq!(greeting(b"SSH-2.0").as_label(), "failed");
        let mut host = vec![0xff, 0x6a, 0x04];
        host.extend_from_slice(b"Host '10.0.0.5' is not allowed to connect to this MariaDB server");
        assert!(matches!(greeting(&host), Readiness::Denied(_)));
    }

    /// MariaDB 10.11's greeting, as it sent it: the response names its plugin and the user.
    #[test]
    fn the_login_answers_the_greeting_in_protocol_41() {
        let hex = "0a352e352e352d31302e31312e31392d4d6172696144422d302b6465623132753100110000005a53705a5473672d00fef7080200ff81150000000000001d000000465a725179322b2161467a56006d7973716c5f6e61746976655f70617373776f726400";
        let greeting: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        assert!(super::greeting(&greeting).is_ready());
        let response = handshake_response(&greeting, USER);
        let flags = u32::from_le_bytes(response[..4].try_into().unwrap());
        // Protocol 4.1, secure connection, plugin authentication.
        assert_eq!(flags & 0x8_8200, 0x8_8200);
        assert_eq!(&response[32..40], b"refused\0");
        // An empty password, then the server's plugin.
        assert_eq!(response[40], 0);
        assert_eq!(&response[41..], b"mysql_native_password\0");
        // A server without plugin authentication gets none named.
        let mut old = greeting.clone();
        let at = old.iter().position(|b| *b == 0).unwrap() + 1 + 18;
        old[at..at + 2].copy_from_slice(&[0, 0]);
        assert_eq!(handshake_response(&old, USER).len(), 41);
    }
}
