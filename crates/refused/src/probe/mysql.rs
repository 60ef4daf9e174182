//! `mysql://`: the server's greeting. Protocol 10 is ready; an error packet (too many
//! connections, host blocked) is not.

use tokio::io::AsyncRead;
use tokio::time::Instant;

use super::ProtocolErrorKind as Kind;
use super::Readiness;
use super::bounded::{protocol, read_exact};

/// The largest greeting we accept (a real one is under 128 bytes).
const MAX_PACKET: usize = 16 * 1024;

pub async fn probe<S: AsyncRead + Unpin>(mut stream: S, deadline: Instant) -> Readiness {
    let mut header = [0u8; 4];
    if let Err(readiness) = read_exact(&mut stream, &mut header, deadline, "greeting").await {
        return readiness;
    }
    let length =
        usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
    if length == 0 || length > MAX_PACKET {
        return protocol(
            Kind::NotTheProtocol,
            format!("not a MySQL server: a first packet of {length} bytes"),
        );
    }
    let mut payload = vec![0u8; length];
    if let Err(readiness) = read_exact(&mut stream, &mut payload, deadline, "greeting").await {
        return readiness;
    }
    greeting(&payload)
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
            Readiness::NotReady(format!("{} ({code})", String::from_utf8_lossy(message)))
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
    }
}
