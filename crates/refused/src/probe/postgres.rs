//! `postgres://`: a startup packet, as `pg_isready` sends, and the server's first answer. An
//! authentication request means it accepts connections; `57P03` (starting up) and `53300` (too
//! many clients) are not ready; any other error still proves a server that accepts connections.

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use super::ProtocolErrorKind as Kind;
use super::Readiness;
use super::bounded::{protocol, read_exact};
use crate::target::Target;

/// Protocol 3.0.
const PROTOCOL_VERSION: i32 = 196_608;
/// The largest first message we accept: an error or an authentication request is small.
const MAX_MESSAGE: usize = 8192;
/// SQLSTATEs that mean "up, but not accepting connections".
const NOT_READY: [&str; 5] = ["57P03", "53300", "57P01", "57P02", "53000"];

pub async fn probe<S: AsyncRead + AsyncWrite + Unpin>(
    target: &Target,
    mut stream: S,
    deadline: Instant,
) -> Readiness {
    let user = target.user().unwrap_or("postgres");
    let database = target
        .path()
        .trim_start_matches('/')
        .split(['?', '#'])
        .next()
        .filter(|d| !d.is_empty())
        .unwrap_or(user);
    if let Err(err) = stream.write_all(&startup(user, database)).await {
        return protocol(
            Kind::Io,
            format!("sending the startup packet failed: {err}"),
        );
    }
    let mut header = [0u8; 5];
    if let Err(readiness) = read_exact(
        &mut stream,
        &mut header,
        deadline,
        "answer to the startup packet",
    )
    .await
    {
        return readiness;
    }
    let kind = header[0];
    let length = i32::from_be_bytes([header[1], header[2], header[3], header[4]]);
    let Some(body_len) = usize::try_from(length).ok().and_then(|l| l.checked_sub(4)) else {
        return protocol(
            Kind::NotTheProtocol,
            "not a PostgreSQL server: a message with a negative length",
        );
    };
    if !matches!(kind, b'R' | b'E' | b'N') || body_len > MAX_MESSAGE {
        return protocol(
            Kind::NotTheProtocol,
            format!(
                "not a PostgreSQL server: its answer starts with {:?}",
                String::from_utf8_lossy(&header)
            ),
        );
    }
    let mut body = vec![0u8; body_len];
    if let Err(readiness) = read_exact(&mut stream, &mut body, deadline, "startup answer").await {
        return readiness;
    }
    let readiness = answer(kind, &body);
    // Say goodbye politely (Terminate), so the server logs no broken connection.
    let _ = stream.write_all(&[b'X', 0, 0, 0, 4]).await;
    readiness
}

fn startup(user: &str, database: &str) -> Vec<u8> {
    let mut body = PROTOCOL_VERSION.to_be_bytes().to_vec();
    for (key, value) in [
        ("user", user),
        ("database", database),
        ("application_name", "refused"),
    ] {
        body.extend_from_slice(key.as_bytes());
        body.push(0);
        body.extend_from_slice(value.as_bytes());
        body.push(0);
    }
    body.push(0);
    let length = i32::try_from(body.len() + 4).unwrap_or(i32::MAX);
    let mut packet = length.to_be_bytes().to_vec();
    packet.extend(body);
    packet
}

/// The first message of the server, without its header.
fn answer(kind: u8, body: &[u8]) -> Readiness {
    if kind == b'R' {
        return Readiness::Ready("accepting connections".to_owned());
    }
    // An ErrorResponse (or NoticeResponse): fields of a type byte and a NUL-terminated string.
    let mut code = "";
    let mut message = "";
    for field in body.split(|b| *b == 0).filter(|f| !f.is_empty()) {
        let text = std::str::from_utf8(&field[1..]).unwrap_or_default();
        match field[0] {
            b'C' => code = text,
            b'M' => message = text,
            _ => {}
        }
    }
    if NOT_READY.contains(&code) {
        Readiness::NotReady(format!("{message} ({code})"))
    } else {
        Readiness::Ready(format!(
            "accepting connections (it answered: {message} ({code}))"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(code: &str, message: &str) -> Vec<u8> {
        format!("SFATAL\0C{code}\0M{message}\0\0").into_bytes()
    }

    #[test]
    fn answers() {
        assert!(answer(b'R', &[0, 0, 0, 10]).is_ready());
        assert_eq!(
            answer(b'E', &error("57P03", "the database system is starting up")).to_string(),
            concat!("not ready: ", "the database system is starting up (57P03)")
        );
        assert_eq!(
            answer(b'E', &error("53300", "sorry, too many clients already")).as_label(),
            "not-ready"
        );
        assert!(answer(b'E', &error("28000", "role \"x\" does not exist")).is_ready());
    }

    #[test]
    fn the_startup_packet_is_protocol_3() {
        let packet = startup("app", "db");
        assert_eq!(&packet[4..8], &PROTOCOL_VERSION.to_be_bytes());
        assert_eq!(
            usize::try_from(i32::from_be_bytes(packet[..4].try_into().unwrap())).unwrap(),
            packet.len()
        );
        assert!(packet.ends_with(b"refused\0\0"));
    }
}
