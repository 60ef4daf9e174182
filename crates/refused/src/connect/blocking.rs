//! A blocking facade over the async connect, for programs without a tokio runtime.
//!
//! One address (a literal, or a single one given or pinned) is tried in the calling thread with
//! no runtime at all: the common case then costs std's calls and two more. Its retries, names to
//! resolve and several addresses to race run on one small current-thread runtime per thread,
//! built on first use, so they cost a runtime's round, not a runtime start. Called from inside a
//! tokio runtime (where blocking on a runtime would panic), those run on a scoped helper thread
//! instead.

use std::cell::OnceCell;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use super::{
    ConnectError, ConnectErrorKind, Connected, Dialer, Label, Tried, Waiting, parse_target,
    socket_addr_literal,
};
use crate::outcome::Outcome;
use crate::target::{Endpoint, Target};

thread_local! {
    static RUNTIME: OnceCell<Result<Runtime, Outcome>> = const { OnceCell::new() };
}

/// The thread's runtime, shut down without waiting when the thread ends: dropping a tokio
/// runtime waits for every task on its blocking pool, and a task abandoned at a deadline (a
/// lookup, a read of `/proc`) must not hold a thread's exit for as long as it takes.
struct Runtime(Option<tokio::runtime::Runtime>);

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// Connects to a TCP target given as text, with the default [`Dialer`], blocking the thread.
///
/// ```no_run
/// let stream = refused::blocking::connect("localhost:6379")?;
/// # Ok::<(), refused::ConnectError>(())
/// ```
pub fn connect(target: &str) -> Result<TcpStream, ConnectError> {
    let dialer = Dialer::shared();
    if let Some(addr) = socket_addr_literal(target) {
        // The stream alone is returned: its first try keeps no record of a success.
        return match dialer.first_stream_in_thread(addr) {
            Ok(socket) => Ok(socket.into()),
            Err(tried) => retry_lone(dialer, Label::Text(target), addr, tried).map(|c| c.stream),
        };
    }
    let parsed = parse_target(target)?;
    dial(dialer, &parsed).map(|c| c.stream)
}

/// [`Dialer::dial`], blocking, returning a std stream.
pub fn dial(dialer: &Dialer, target: &Target) -> Result<Connected<TcpStream>, ConnectError> {
    if let Some(addr) = lone_address(target) {
        return dial_lone(dialer, Label::Text(target.as_str()), addr);
    }
    run(|| async {
        dialer
            .dial_socket(target, Waiting::Thread)
            .await
            .and_then(into_std)
    })
}

/// [`Dialer::dial_addrs`], blocking, returning a std stream.
pub fn dial_addrs(
    dialer: &Dialer,
    addrs: &[SocketAddr],
) -> Result<Connected<TcpStream>, ConnectError> {
    if let [addr] = addrs {
        return dial_lone(dialer, Label::Address(Some(*addr)), *addr);
    }
    run(|| async {
        dialer
            .dial_addrs_socket(addrs, Waiting::Thread)
            .await
            .and_then(into_std)
    })
}

/// The one address a TCP target is reached at without a resolver: its only pinned address, or
/// its literal (a target pinned to several races them, as resolved ones do).
fn lone_address(target: &Target) -> Option<SocketAddr> {
    let Endpoint::Tcp { host, port } = target.endpoint() else {
        return None;
    };
    match target.pinned() {
        Some([addr]) => Some(*addr),
        Some(_) => None,
        None => host.socket_addr(*port),
    }
}

/// One address (a literal, or one given): the first try connects in this thread without
/// entering the runtime, so a connect that succeeds costs what std's does plus two calls (asking
/// whether the non-blocking connect finished, and making the socket blocking); only the retries
/// after a failure need the runtime (for the backoff).
fn dial_lone(
    dialer: &Dialer,
    label: Label<'_>,
    addr: SocketAddr,
) -> Result<Connected<TcpStream>, ConnectError> {
    match dialer.first_try_in_thread(addr) {
        Ok(connected) => into_std(connected),
        Err(tried) => retry_lone(dialer, label, addr, tried),
    }
}

/// The retries after a first try in this thread failed, on the thread's runtime.
fn retry_lone(
    dialer: &Dialer,
    label: Label<'_>,
    addr: SocketAddr,
    tried: Tried,
) -> Result<Connected<TcpStream>, ConnectError> {
    run(|| async {
        dialer
            .dial_given(label, &[addr], Waiting::Thread, Some(tried))
            .await
            .and_then(into_std)
    })
}

/// The socket is blocking already (`Waiting::Thread` hands every socket back so), so no
/// `fcntl` is needed here.
fn into_std(connected: Connected<socket2::Socket>) -> Result<Connected<TcpStream>, ConnectError> {
    connected.try_map(|socket| Ok(socket.into()))
}

fn run<F, Fut, T>(make: F) -> Result<T, ConnectError>
where
    F: FnOnce() -> Fut + Send,
    Fut: Future<Output = Result<T, ConnectError>>,
    T: Send,
{
    if tokio::runtime::Handle::try_current().is_ok() {
        return std::thread::scope(|scope| {
            scope
                .spawn(|| block_on(make))
                .join()
                .unwrap_or_else(|_| Err(runtime_failure(Outcome::Other(None))))
        });
    }
    block_on(make)
}

fn block_on<F, Fut, T>(make: F) -> Result<T, ConnectError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, ConnectError>>,
{
    RUNTIME.with(|cell| {
        let runtime = cell.get_or_init(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map(|runtime| Runtime(Some(runtime)))
                .map_err(|err| Outcome::from_io_error(&err))
        });
        match runtime {
            Ok(Runtime(Some(runtime))) => runtime.block_on(make()),
            Ok(Runtime(None)) => Err(runtime_failure(Outcome::Other(None))),
            Err(outcome) => Err(runtime_failure(*outcome)),
        }
    })
}

/// The runtime could not be built (out of file descriptors, usually), or its thread panicked.
fn runtime_failure(outcome: Outcome) -> ConnectError {
    ConnectError::new(
        String::new(),
        ConnectErrorKind::Failed(outcome),
        Vec::new(),
        Duration::ZERO,
    )
}
