//! The first bytes a server sent, kept as they pass to a protocol's parser: when hyper fails on
//! them ("invalid HTTP version parsed", or a close it reads as none), they say what the server
//! speaks instead: HTTP/2's frames (an h2c server with prior knowledge, a gRPC server without
//! TLS), or TLS's records (a TLS port's alert to a plain request).

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// How many of the first bytes are kept: a frame's or a record's header.
const KEPT: usize = 16;

/// A stream that keeps the first [`KEPT`] bytes read from it, for whoever holds `first`.
pub(super) struct Recorded<S> {
    inner: S,
    first: Arc<Mutex<Vec<u8>>>,
}

impl<S> Recorded<S> {
    /// `inner`, and what it will have read first.
    pub(super) fn new(inner: S) -> (Self, Arc<Mutex<Vec<u8>>>) {
        let first = Arc::new(Mutex::new(Vec::with_capacity(KEPT)));
        (
            Self {
                inner,
                first: Arc::clone(&first),
            },
            first,
        )
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Recorded<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let poll = Pin::new(&mut this.inner).poll_read(cx, buf);
        if poll.is_ready() {
            let mut first = this.first.lock().unwrap_or_else(PoisonError::into_inner);
            let room = KEPT.saturating_sub(first.len());
            let read = &buf.filled()[before..];
            first.extend_from_slice(&read[..read.len().min(room)]);
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Recorded<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// What the server speaks, by its first bytes, when they are another protocol's than HTTP/1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Other {
    /// An HTTP/2 frame on stream 0: the server's SETTINGS (its preface, sent at once) or a
    /// GOAWAY (its answer to a request that is not HTTP/2's).
    Http2,
    /// A TLS record: an alert, or a handshake.
    Tls,
}

impl Other {
    /// `None` for anything else (HTTP/1's `HTTP/`, a banner, nothing).
    pub(super) fn of(first: &[u8]) -> Option<Self> {
        match first {
            // A frame header: 24-bit length, type, flags, 31-bit stream id (0 for these).
            [l0, l1, l2, kind @ (0x04 | 0x07), _, s0, s1, s2, s3, ..]
                if u32::from_be_bytes([0, *l0, *l1, *l2]) <= 16_384
                    && [*s0 & 0x7f, *s1, *s2, *s3] == [0; 4]
                    && (*kind != 0x04 || u32::from_be_bytes([0, *l0, *l1, *l2]) % 6 == 0) =>
            {
                Some(Self::Http2)
            }
            // A record header: content type (alert, handshake), version 3.x.
            [0x15 | 0x16, 0x03, 0x00..=0x04, ..] => Some(Self::Tls),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn frames_and_records_are_told_from_http1() {
        // An h2c server's preface (an empty SETTINGS), and GOAWAY(PROTOCOL_ERROR).
        let settings = [0, 0, 0, 4, 0, 0, 0, 0, 0];
        let goaway = [0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        assert_eq!(Other::of(&settings), Some(Other::Http2));
        assert_eq!(Other::of(&goaway), Some(Other::Http2));
        // SETTINGS of 18 bytes (three settings), on stream 0.
        assert_eq!(
            Other::of(&[0, 0, 18, 4, 0, 0, 0, 0, 0, 0, 3]),
            Some(Other::Http2)
        );
        // A TLS alert (protocol_version).
        assert_eq!(
            Other::of(&[0x15, 0x03, 0x01, 0, 2, 2, 70]),
            Some(Other::Tls)
        );
        for other in [
            &b"HTTP/1.1 400 Bad Request"[..],
            b"SSH-2.0-OpenSSH",
            b"",
            &[0, 0],
        ] {
            assert_eq!(Other::of(other), None, "{other:?}");
        }
        // A frame on another stream, or SETTINGS of a length no settings have, is not.
        assert_eq!(Other::of(&[0, 0, 0, 4, 0, 0, 0, 0, 1]), None);
        assert_eq!(Other::of(&[0, 0, 5, 4, 0, 0, 0, 0, 0]), None);
    }

    #[tokio::test]
    async fn the_first_bytes_read_are_kept() {
        let (mut server, client) = tokio::io::duplex(64);
        let (mut recorded, first) = Recorded::new(client);
        server.write_all(&[0u8; 40]).await.unwrap();
        server.write_all(b"x").await.unwrap();
        let mut buf = [1u8; 41];
        recorded.read_exact(&mut buf).await.unwrap();
        assert_eq!(*first.lock().unwrap(), [0u8; KEPT]);
        recorded.write_all(b"sent").await.unwrap();
        let mut sent = [0u8; 4];
        server.read_exact(&mut sent).await.unwrap();
        assert_eq!(&sent, b"sent");
    }
}
