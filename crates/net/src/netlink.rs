//! A small synchronous rtnetlink client: one request at a time, its
//! acknowledgement or its dump. wslpd has no async runtime, and the VM's
//! network needs half a dozen requests, so a blocking socket is all it takes
//! (the messages are netlink-packet-route's, the socket netlink-sys's).
//!
//! A socket belongs to the network namespace of the thread that creates it,
//! so [`Rtnl::new`] called from a thread that joined the VM's namespace
//! ([`crate::netns::run_in`]) talks to the VM's kernel tables from anywhere.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::AsFd;

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL,
    NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use wslp_config::Ipv4Cidr;

/// An open rtnetlink socket.
pub struct Rtnl {
    sock: Socket,
    seq: u32,
    buf: Vec<u8>,
}

/// A network interface as a dump shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// `veth`, `bridge`, …; empty for devices without a kind (lo, real NICs).
    pub kind: String,
}

/// An IPv4 route of any table, with what `ip route` would say of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub destination: Ipv4Cidr,
    pub table: u32,
    pub oif: Option<u32>,
}

fn nl_error(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code.unsigned_abs() as i32)
}

impl Rtnl {
    /// A socket in the calling thread's network namespace.
    pub fn new() -> io::Result<Rtnl> {
        let mut sock = Socket::new(NETLINK_ROUTE)?;
        sock.bind_auto()?;
        sock.connect(&SocketAddr::new(0, 0))?;
        // The kernel answers at once; a bound wait turns a lost answer into
        // an error instead of a hung VM start.
        let tv = nix::sys::time::TimeVal::new(5, 0);
        nix::sys::socket::setsockopt(
            &sock.as_fd(),
            nix::sys::socket::sockopt::ReceiveTimeout,
            &tv,
        )
        .map_err(io::Error::from)?;
        Ok(Rtnl {
            sock,
            seq: 0,
            buf: vec![0; 64 * 1024],
        })
    }

    /// Sends `msg` and collects the answer: the messages of a dump, or
    /// nothing for an acknowledged request.
    fn request(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
        dump: bool,
    ) -> io::Result<Vec<RouteNetlinkMessage>> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags;
        header.sequence_number = seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        packet.finalize();
        let mut out = vec![0; packet.buffer_len()];
        packet.serialize(&mut out);
        self.sock.send(&out, 0)?;
        // Not read from the flags: NLM_F_EXCL shares its bit with
        // NLM_F_MATCH, half of NLM_F_DUMP.
        let mut answers = Vec::new();
        loop {
            let n = self.sock.recv(&mut &mut self.buf[..], 0)?;
            if n > self.buf.len() {
                return Err(io::Error::other("netlink message larger than 64 KiB"));
            }
            let mut offset = 0;
            while offset < n {
                let reply =
                    NetlinkMessage::<RouteNetlinkMessage>::deserialize(&self.buf[offset..n])
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
                let len = reply.header.length as usize;
                if len == 0 {
                    break;
                }
                offset += len;
                if reply.header.sequence_number != seq {
                    continue;
                }
                match reply.payload {
                    NetlinkPayload::Error(e) => match e.code {
                        Some(code) => return Err(nl_error(code.get())),
                        None if !dump => return Ok(answers),
                        None => {}
                    },
                    NetlinkPayload::Done(_) => return Ok(answers),
                    NetlinkPayload::InnerMessage(m) => answers.push(m),
                    _ => {}
                }
            }
        }
    }

    fn ack(&mut self, msg: RouteNetlinkMessage, flags: u16) -> io::Result<()> {
        self.request(msg, NLM_F_ACK | flags, false).map(drop)
    }

    /// Every interface.
    pub fn links(&mut self) -> io::Result<Vec<Link>> {
        let answers = self.request(
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
            NLM_F_DUMP,
            true,
        )?;
        Ok(answers
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(l),
                _ => None,
            })
            .map(|l| {
                let mut name = String::new();
                let mut kind = String::new();
                for a in &l.attributes {
                    match a {
                        LinkAttribute::IfName(n) => name = n.clone(),
                        LinkAttribute::LinkInfo(infos) => {
                            for i in infos {
                                if let LinkInfo::Kind(k) = i {
                                    kind = k.to_string();
                                }
                            }
                        }
                        _ => {}
                    }
                }
                Link {
                    index: l.header.index,
                    name,
                    kind,
                }
            })
            .collect())
    }

    /// The index of the interface named `name`, if there is one.
    pub fn link_index(&mut self, name: &str) -> io::Result<Option<u32>> {
        Ok(self
            .links()?
            .into_iter()
            .find(|l| l.name == name)
            .map(|l| l.index))
    }

    /// Every IPv4 route of every table.
    pub fn routes(&mut self) -> io::Result<Vec<Route>> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Inet;
        let answers = self.request(RouteNetlinkMessage::GetRoute(msg), NLM_F_DUMP, true)?;
        Ok(answers
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewRoute(r) => Some(r),
                _ => None,
            })
            .filter(|r| r.header.address_family == AddressFamily::Inet)
            .map(|r| {
                let mut dst = Ipv4Addr::UNSPECIFIED;
                let mut table = u32::from(r.header.table);
                let mut oif = None;
                for a in &r.attributes {
                    match a {
                        RouteAttribute::Destination(RouteAddress::Inet(a)) => dst = *a,
                        RouteAttribute::Table(t) => table = *t,
                        RouteAttribute::Oif(i) => oif = Some(*i),
                        _ => {}
                    }
                }
                Route {
                    destination: Ipv4Cidr::of(dst, r.header.destination_prefix_length),
                    table,
                    oif,
                }
            })
            .collect())
    }

    /// Every IPv4 address, as the subnet it is configured with.
    pub fn addresses(&mut self) -> io::Result<Vec<(Ipv4Addr, Ipv4Cidr)>> {
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet;
        let answers = self.request(RouteNetlinkMessage::GetAddress(msg), NLM_F_DUMP, true)?;
        Ok(answers
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(a) => Some(a),
                _ => None,
            })
            .filter_map(|a| {
                a.attributes.iter().find_map(|attr| match attr {
                    AddressAttribute::Local(std::net::IpAddr::V4(ip))
                    | AddressAttribute::Address(std::net::IpAddr::V4(ip)) => {
                        Some((*ip, Ipv4Cidr::of(*ip, a.header.prefix_len)))
                    }
                    _ => None,
                })
            })
            .collect())
    }

    /// A veth pair: `name` here, `peer` made directly in the network
    /// namespace of process `pid` (both down). Moving an existing interface
    /// there instead costs RCU grace periods (tens of milliseconds).
    pub fn add_veth_into(&mut self, name: &str, peer: &str, pid: u32) -> io::Result<()> {
        let mut peer_msg = LinkMessage::default();
        peer_msg
            .attributes
            .push(LinkAttribute::IfName(peer.to_owned()));
        peer_msg.attributes.push(LinkAttribute::NetNsPid(pid));
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_owned()));
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer_msg))),
        ]));
        self.ack(RouteNetlinkMessage::NewLink(msg), NLM_F_CREATE | NLM_F_EXCL)
    }

    /// Brings interface `index` up.
    pub fn set_up(&mut self, index: u32) -> io::Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.header.flags = LinkFlags::Up;
        msg.header.change_mask = LinkFlags::Up;
        self.ack(RouteNetlinkMessage::SetLink(msg), 0)
    }

    /// Deletes interface `index` (a veth takes its peer along).
    pub fn delete_link(&mut self, index: u32) -> io::Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        self.ack(RouteNetlinkMessage::DelLink(msg), 0)
    }

    /// `ip addr add ADDR/PREFIX dev INDEX` (with its broadcast address).
    pub fn add_address(&mut self, index: u32, addr: Ipv4Addr, prefix: u8) -> io::Result<()> {
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet;
        msg.header.prefix_len = prefix;
        msg.header.index = index;
        msg.attributes.push(AddressAttribute::Local(addr.into()));
        msg.attributes.push(AddressAttribute::Address(addr.into()));
        if prefix < 31 {
            let brd = u32::from(addr) | !wslp_config::network::mask(prefix);
            msg.attributes
                .push(AddressAttribute::Broadcast(Ipv4Addr::from(brd)));
        }
        self.ack(
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// `ip route add default via GATEWAY dev INDEX`.
    pub fn add_default_route(&mut self, index: u32, gateway: Ipv4Addr) -> io::Result<()> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Inet;
        msg.header.table = RouteHeader::RT_TABLE_MAIN;
        msg.header.protocol = RouteProtocol::Static;
        msg.header.scope = RouteScope::Universe;
        msg.header.kind = RouteType::Unicast;
        msg.attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet(gateway)));
        msg.attributes.push(RouteAttribute::Oif(index));
        self.ack(
            RouteNetlinkMessage::NewRoute(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }
}
