//! Reads bounded in size and time: what keeps a hostile server from hanging a probe or filling
//! memory.

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::time::Instant;

use super::{ProbeFailure, ProtocolError, ProtocolErrorKind as Kind, Readiness};

/// A protocol failure, as a readiness.
pub fn protocol(kind: Kind, detail: impl Into<String>) -> Readiness {
    Readiness::Failed(ProbeFailure::Protocol(ProtocolError {
        kind,
        detail: detail.into(),
    }))
}

/// The failure of a read that ran out of time.
pub fn too_slow(what: &str) -> Readiness {
    protocol(
        Kind::NoAnswer,
        format!("no {what} before the timeout (the server accepted but did not answer)"),
    )
}

/// Reads exactly `buf.len()` bytes before `deadline`.
pub async fn read_exact<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut [u8],
    deadline: Instant,
    what: &str,
) -> Result<(), Readiness> {
    match tokio::time::timeout_at(deadline, stream.read_exact(buf)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(err)) if err.kind() == std::io::ErrorKind::UnexpectedEof => Err(protocol(
            Kind::Closed,
            format!("the server closed the connection instead of sending its {what}"),
        )),
        Ok(Err(err)) => Err(protocol(
            Kind::Io,
            format!("reading the {what} failed: {err}"),
        )),
        Err(_) => Err(too_slow(what)),
    }
}

/// Reads up to and including `\r\n`, at most `limit` bytes, before `deadline`.
pub async fn read_line<S: AsyncRead + Unpin>(
    stream: &mut S,
    limit: usize,
    deadline: Instant,
    what: &str,
) -> Result<Vec<u8>, Readiness> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        if line.len() >= limit {
            return Err(protocol(
                Kind::NotTheProtocol,
                format!("the {what} is longer than {limit} bytes: not the expected protocol"),
            ));
        }
        read_exact(stream, &mut byte, deadline, what).await?;
        line.push(byte[0]);
    }
    line.truncate(line.len() - 2);
    Ok(line)
}
