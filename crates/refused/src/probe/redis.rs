//! `redis://`: `PING`. `+PONG` is ready, `-LOADING` is not, `-NOAUTH` means the server is up,
//! `-DENIED` (protected mode) that it turns this client away.

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use super::ProtocolErrorKind as Kind;
use super::Readiness;
use super::bounded::{protocol, read_line};

/// The longest first line we read: a `PONG` or an error line is short.
const MAX_LINE: usize = 4096;

pub async fn probe<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    deadline: Instant,
) -> Readiness {
    if let Err(err) = stream.write_all(b"*1\r\n$4\r\nPING\r\n").await {
        return protocol(Kind::Io, format!("sending PING failed: {err}"));
    }
    match read_line(&mut stream, MAX_LINE, deadline, "reply to PING").await {
        Ok(line) => reply(&line),
        Err(readiness) => readiness,
    }
}

/// Reads the first line of a reply to `PING`.
fn reply(line: &[u8]) -> Readiness {
    let text = String::from_utf8_lossy(line);
    if let Some(status) = text.strip_prefix('+') {
        return Readiness::Ready(format!("PING answered {status}"));
    }
    let Some(error) = text.strip_prefix('-') else {
        return protocol(
            Kind::NotTheProtocol,
            format!(
                "not a Redis reply: `{}`",
                text.chars().take(60).collect::<String>()
            ),
        );
    };
    let error = first_sentence(error);
    let code = error.split_whitespace().next().unwrap_or_default();
    match code {
        // Up, but wants credentials: the server itself is ready.
        "NOAUTH" | "WRONGPASS" | "NOPERM" => {
            Readiness::Ready(format!("the server is up ({error})"))
        }
        // Protected mode: no password set, and the client is not on loopback. No credentials
        // get past it, and no wait: only the server's configuration.
        "DENIED" => Readiness::Denied(error.to_owned()),
        _ => Readiness::NotReady(error.to_owned()),
    }
}

/// An error's first sentence, without its period: `-DENIED` goes on for a thousand characters
/// of advice after it.
fn first_sentence(error: &str) -> &str {
    let end = error.find(". ").unwrap_or(error.len());
    error[..end].trim_end_matches('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies() {
        assert!(reply(b"+PONG").is_ready());
        assert!(reply(b"-NOAUTH Authentication required.").is_ready());
        assert_eq!(
            reply(b"-LOADING Redis is loading the dataset in memory").to_string(),
            concat!(
                "not ready: ",
                "LOADING Redis is loading the dataset in memory"
            )
        );
        assert_eq!(reply(b"HTTP/1.1 400").as_label(), "failed");
    }

    #[test]
    fn protected_mode_denies_this_client_in_one_sentence() {
        // Redis 7's reply to a client off loopback, with no password set.
        let denied = concat!(
            "-DENIED Redis is running in protected mode because protected mode is enabled and no ",
            "password is set for the default user. In this mode connections are only accepted ",
            "from the loopback interface. If you want to connect from external computers to ",
            "Redis you may adopt one of the following solutions: 1) Just disable protected mode ",
            "sending the command 'CONFIG SET protected-mode no' from the loopback interface."
        );
        let readiness = reply(denied.as_bytes());
        assert!(matches!(readiness, Readiness::Denied(_)), "{readiness}");
        assert_eq!(readiness.as_label(), "not-ready");
        assert_eq!(
            readiness.to_string(),
            concat!(
                "refuses this client by its configuration: DENIED Redis is running in protected ",
                "mode because protected mode is enabled and no password is set for the default user"
            )
        );
        assert_eq!(
            reply(b"-NOAUTH Authentication required.").to_string(),
            "ready: the server is up (NOAUTH Authentication required)"
        );
    }
}
