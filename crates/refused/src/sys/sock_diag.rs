//! LISTEN sockets of this network namespace through netlink `sock_diag`, the source `ss` uses.
//!
//! Unlike `/proc/net/tcp` it gives a listener's backlog (`idiag_wqueue` of a LISTEN socket) and
//! whether an IPv6 listener is v6only (`INET_DIAG_SKV6ONLY`), and it needs no privilege.

use std::io;

use netlink_packet_core::{
    NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_sock_diag::SockDiagMessage;
use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, IPPROTO_TCP};
use netlink_packet_sock_diag::inet::{
    ExtensionFlags, InetRequest, InetResponse, SocketId, StateFlags, nlas::Nla,
};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_SOCK_DIAG};

use super::tables::Listener;

/// The TCP listeners of this network namespace, IPv4 and IPv6.
pub fn tcp_listeners() -> io::Result<Vec<Listener>> {
    let mut socket = Socket::new(NETLINK_SOCK_DIAG)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    let mut listeners = dump(&socket, AF_INET)?;
    listeners.extend(dump(&socket, AF_INET6)?);
    Ok(listeners)
}

fn dump(socket: &Socket, family: u8) -> io::Result<Vec<Listener>> {
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    let socket_id = if family == AF_INET {
        SocketId::new_v4()
    } else {
        SocketId::new_v6()
    };
    let mut request = NetlinkMessage::new(
        header,
        SockDiagMessage::InetRequest(InetRequest {
            family,
            protocol: IPPROTO_TCP,
            extensions: ExtensionFlags::empty(),
            states: StateFlags::LISTEN,
            socket_id,
        })
        .into(),
    );
    request.finalize();
    let mut buf = vec![0; request.buffer_len()];
    request.serialize(&mut buf);
    socket.send(&buf, 0)?;

    let mut listeners = Vec::new();
    loop {
        let (data, _) = socket.recv_from_full()?;
        let mut offset = 0;
        while offset < data.len() {
            let message = NetlinkMessage::<SockDiagMessage>::deserialize(&data[offset..])
                .map_err(|err| io::Error::new(io::ErrorKind::InvalidData, err.to_string()))?;
            let length = message.header.length as usize;
            match message.payload {
                NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(response)) => {
                    listeners.push(listener(&response));
                }
                NetlinkPayload::Done(_) => return Ok(listeners),
                NetlinkPayload::Error(err) => {
                    return Err(err.code.map_or_else(
                        || io::Error::other("sock_diag failed"),
                        |code| io::Error::from_raw_os_error(-code.get()),
                    ));
                }
                _ => {}
            }
            if length == 0 {
                break;
            }
            offset += length;
        }
    }
}

fn listener(response: &InetResponse) -> Listener {
    let header = &response.header;
    let v6only = response.nlas.iter().find_map(|nla| match nla {
        Nla::SkV6Only(v6only) => Some(*v6only),
        _ => None,
    });
    Listener {
        address: header.socket_id.source_address,
        port: header.socket_id.source_port,
        v6only: if header.family == AF_INET6 {
            v6only
        } else {
            None
        },
        queue: header.recv_queue,
        backlog: Some(header.send_queue),
        uid: header.uid,
        inode: u64::from(header.inode),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use socket2::{Domain, Protocol, Socket as RawSocket, Type};
    use std::net::{Ipv6Addr, SocketAddr as InetAddr};

    #[test]
    fn sees_our_own_listener_with_its_backlog_and_v6only() {
        let socket = RawSocket::new(Domain::IPV6, Type::STREAM, Some(Protocol::TCP)).unwrap();
        socket.set_only_v6(true).unwrap();
        socket
            .bind(&InetAddr::from((Ipv6Addr::LOCALHOST, 0)).into())
            .unwrap();
        socket.listen(7).unwrap();
        let port = socket.local_addr().unwrap().as_socket().unwrap().port();

        let listeners = tcp_listeners().unwrap();
        let ours = listeners
            .iter()
            .find(|l| l.port == port && l.address == Ipv6Addr::LOCALHOST)
            .unwrap_or_else(|| panic!("port {port} not among {listeners:?}"));
        assert_eq!(ours.backlog, Some(7));
        assert_eq!(ours.v6only, Some(true));
        assert_eq!(ours.queue, 0);
    }
}
