//! `redis://`: `PING`. `+PONG` is ready, `-LOADING` is not, `-NOAUTH` means the server is up.

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
    let code = error.split_whitespace().next().unwrap_or_default();
    match code {
        // Up, but wants credentials: the server itself is ready.
        "NOAUTH" | "WRONGPASS" | "NOPERM" => {
            Readiness::Ready(format!("the server is up ({error})"))
        }
        _ => Readiness::NotReady(error.to_owned()),
    }
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
}
