//! A loopback listener for `scripts/bench-serve.sh`: accepts every connection and holds it open
//! until the client closes it (a TCP probe's settle must see a peer that stays), one thread per
//! connection. Prints its port, then serves until killed.
//!
//! Usage: `hold-listener`

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};

use socket2::{Domain, Socket, Type};

fn main() {
    let listener = match listen() {
        Ok(listener) => listener,
        Err(err) => {
            let _ = writeln!(std::io::stderr(), "hold-listener: {err}");
            std::process::exit(1);
        }
    };
    let port = listener.local_addr().map_or(0, |a| a.port());
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "{port}");
    let _ = stdout.flush();
    for stream in listener.incoming().flatten() {
        std::thread::spawn(move || {
            let mut stream = stream;
            let mut buf = [0u8; 512];
            while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
        });
    }
}

/// 127.0.0.1 on a free port, with a deep accept queue (thousands of probes a second).
fn listen() -> std::io::Result<TcpListener> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    socket.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())?;
    socket.listen(4096)?;
    Ok(socket.into())
}
