//! wslp's own nftables table for one nat VM, written over nfnetlink (the
//! messages are netlink-packet-netfilter's, from the same family as the
//! rtnetlink ones).
//!
//! Why not the `nft` program: it costs 6–15 ms a run (its start, then a
//! socket close that waits for an RCU grace period after a deletion), more
//! than the whole VM start; one batch on a netlink socket commits in a
//! fraction of a millisecond, and the rules stay data that unit tests read.
//!
//! The table `ip wslp_<key>` holds everything, as `nft list table` shows it:
//!
//! ```text
//! table ip wslp_<key> {
//!     chain postrouting {
//!         type nat hook postrouting priority srcnat; policy accept;
//!         ip saddr <subnet> oifname != "wslp<key>" masquerade
//!     }
//!     chain forward {
//!         type filter hook forward priority filter; policy accept;
//!         oifname "wslp<key>" ct state established,related accept
//!         oifname "wslp<key>" drop
//!     }
//! }
//! ```
//!
//! Masquerading of the VM's subnet leaving through any interface but its
//! own; replies let in, connections the outside starts towards the VM
//! dropped (forwarding on the host must not expose it). Each nftables table
//! sees every packet on its own, so this one changes nothing for other
//! traffic, and deleting it (at stop) removes all of it in one step.

use std::io;
use std::os::fd::AsFd;
use std::time::Duration;

use netlink_packet_core::{
    DefaultNla, NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_APPEND,
    NLM_F_CREATE, NLM_F_REQUEST,
};
use netlink_packet_netfilter::nftables::{
    Bitwise, ChainAttribute, ChainMessage, Cmp, DataAttribute, ExpressionAttribute, Expressions,
    Hook, Immediate, InetHookNumber, ListAttribute, Meta, MetaKey, NfTablesMessage, Operator,
    Payload, Register, RuleAttribute, RuleMessage, TableAttribute, TableMessage, Verdict,
    VerdictAttribute,
};
use netlink_packet_netfilter::none::ControlMessage;
use netlink_packet_netfilter::{
    NetfilterHeader, NetfilterMessage, NetfilterMessageInner, NetfilterProtoFamily,
};
use netlink_sys::{protocols::NETLINK_NETFILTER, Socket, SocketAddr};
use wslp_config::network::mask;
use wslp_config::Ipv4Cidr;

/// The name of the table of the instance with key `key`.
pub fn table_name(key: &str) -> String {
    format!("wslp_{key}")
}

const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NF_DROP: u32 = 0;
const NF_ACCEPT: u32 = 1;
/// `NFT_PAYLOAD_NETWORK_HEADER`.
const NETWORK_HEADER: u32 = 1;
/// Offset of the source address in the IPv4 header.
const IPV4_SADDR: u32 = 12;
/// `NFTA_CT_DREG`, `NFTA_CT_KEY` and `NFT_CT_STATE` of the ct expression,
/// which the crate has no type for.
const NFTA_CT_DREG: u16 = 1;
const NFTA_CT_KEY: u16 = 2;
const NFT_CT_STATE: u32 = 0;
/// `NF_CT_STATE_BIT(IP_CT_ESTABLISHED) | NF_CT_STATE_BIT(IP_CT_RELATED)`.
const CT_ESTABLISHED_RELATED: u32 = (1 << 1) | (1 << 2);
/// nftables compares interface names over IFNAMSIZ bytes, zero-padded.
const IFNAMSIZ: usize = 16;

/// One message of a batch, with its netlink flags.
#[derive(Debug, Clone, PartialEq)]
pub struct Op {
    pub message: NfTablesMessage,
    pub flags: u16,
}

fn table(name: &str) -> TableMessage {
    TableMessage {
        attributes: vec![TableAttribute::Name(name.to_owned())],
    }
}

fn expr(e: Expressions) -> ListAttribute<ExpressionAttribute> {
    e.into()
}

fn ifname_bytes(ifname: &str) -> Vec<u8> {
    let mut b = ifname.as_bytes().to_vec();
    b.resize(IFNAMSIZ, 0);
    b
}

/// `meta oifname OP "ifname"`.
fn oifname(op: Operator, ifname: &str) -> [ListAttribute<ExpressionAttribute>; 2] {
    [
        expr(Expressions::Meta(vec![
            Meta::Key(MetaKey::Oifname),
            Meta::DestinationRegister(Register::Reg1),
        ])),
        expr(Expressions::Cmp(vec![
            Cmp::SourceRegister(Register::Reg1),
            Cmp::Op(op),
            Cmp::Data(DataAttribute::Value(ifname_bytes(ifname))),
        ])),
    ]
}

fn verdict(code: u32) -> ListAttribute<ExpressionAttribute> {
    expr(Expressions::Immediate(vec![
        Immediate::DestinationRegister(Register::Verdict),
        Immediate::Data(DataAttribute::Verdict(vec![VerdictAttribute::Code(
            Verdict::Other(code),
        )])),
    ]))
}

fn base_chain(table: &str, name: &str, kind: &str, hook: InetHookNumber, prio: i32) -> Op {
    Op {
        message: NfTablesMessage::NewChain(ChainMessage {
            attributes: vec![
                ChainAttribute::Table(table.to_owned()),
                ChainAttribute::Name(name.to_owned()),
                ChainAttribute::Hook(vec![Hook::Number(hook.into()), Hook::Priority(prio as u32)]),
                ChainAttribute::Policy(NF_ACCEPT),
                ChainAttribute::Type(kind.to_owned()),
            ],
        }),
        flags: NLM_F_CREATE,
    }
}

fn rule(table: &str, chain: &str, exprs: Vec<ListAttribute<ExpressionAttribute>>) -> Op {
    Op {
        message: NfTablesMessage::NewRule(RuleMessage {
            attributes: vec![
                RuleAttribute::Table(table.to_owned()),
                RuleAttribute::Chain(chain.to_owned()),
                RuleAttribute::Expressions(exprs),
            ],
        }),
        flags: NLM_F_CREATE | NLM_F_APPEND,
    }
}

/// Deletes table `name` (it must exist, or the batch fails with ENOENT).
pub fn delete_table(name: &str) -> Op {
    Op {
        message: NfTablesMessage::DeleteTable(table(name)),
        flags: 0,
    }
}

/// The batch that creates the table of a nat VM on `subnet` behind the host
/// interface `ifname` (the module doc shows it as `nft` prints it).
pub fn nat_table(name: &str, ifname: &str, subnet: Ipv4Cidr) -> Vec<Op> {
    let mut masquerade = vec![
        expr(Expressions::Payload(vec![
            Payload::DestinationRegister(Register::Reg1),
            Payload::Base(NETWORK_HEADER),
            Payload::Offset(IPV4_SADDR),
            Payload::Len(4),
        ])),
        expr(Expressions::Bitwise(vec![
            Bitwise::SourceRegister(Register::Reg1),
            Bitwise::DestinationRegister(Register::Reg1),
            Bitwise::Length(4),
            Bitwise::Mask(DataAttribute::Value(
                mask(subnet.prefix()).to_be_bytes().to_vec(),
            )),
            Bitwise::Xor(DataAttribute::Value(vec![0; 4])),
        ])),
        expr(Expressions::Cmp(vec![
            Cmp::SourceRegister(Register::Reg1),
            Cmp::Op(Operator::Equal),
            Cmp::Data(DataAttribute::Value(subnet.network().octets().to_vec())),
        ])),
    ];
    masquerade.extend(oifname(Operator::NotEqual, ifname));
    masquerade.push(expr(Expressions::Other {
        expression_type: "masq".into(),
        attributes: vec![],
    }));

    let mut replies: Vec<_> = oifname(Operator::Equal, ifname).into();
    replies.extend([
        expr(Expressions::Other {
            expression_type: "ct".into(),
            attributes: vec![
                DefaultNla::new(
                    NFTA_CT_DREG,
                    u32::from(Register::Reg1).to_be_bytes().to_vec(),
                ),
                DefaultNla::new(NFTA_CT_KEY, NFT_CT_STATE.to_be_bytes().to_vec()),
            ],
        }),
        // The ct state is in host byte order in the register.
        expr(Expressions::Bitwise(vec![
            Bitwise::SourceRegister(Register::Reg1),
            Bitwise::DestinationRegister(Register::Reg1),
            Bitwise::Length(4),
            Bitwise::Mask(DataAttribute::Value(
                CT_ESTABLISHED_RELATED.to_ne_bytes().to_vec(),
            )),
            Bitwise::Xor(DataAttribute::Value(vec![0; 4])),
        ])),
        expr(Expressions::Cmp(vec![
            Cmp::SourceRegister(Register::Reg1),
            Cmp::Op(Operator::NotEqual),
            Cmp::Data(DataAttribute::Value(vec![0; 4])),
        ])),
        verdict(NF_ACCEPT),
    ]);

    let mut guard: Vec<_> = oifname(Operator::Equal, ifname).into();
    guard.push(verdict(NF_DROP));

    vec![
        Op {
            message: NfTablesMessage::NewTable(table(name)),
            flags: NLM_F_CREATE,
        },
        // srcnat (100) and filter (0): the priorities `nft` names so.
        base_chain(name, "postrouting", "nat", InetHookNumber::PostRouting, 100),
        rule(name, "postrouting", masquerade),
        base_chain(name, "forward", "filter", InetHookNumber::Forward, 0),
        rule(name, "forward", replies),
        rule(name, "forward", guard),
    ]
}

/// An nfnetlink socket of the calling thread's network namespace.
pub struct Nft {
    sock: Socket,
    seq: u32,
    buf: Vec<u8>,
}

fn message(
    family: NetfilterProtoFamily,
    res_id: u16,
    inner: NetfilterMessageInner,
    flags: u16,
    seq: u32,
) -> Vec<u8> {
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | flags;
    header.sequence_number = seq;
    let msg = NetfilterMessage::new(NetfilterHeader::new(family, 0, res_id), inner);
    let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(msg));
    packet.finalize();
    let mut out = vec![0; packet.buffer_len()];
    packet.serialize(&mut out);
    out
}

impl Nft {
    pub fn new() -> io::Result<Nft> {
        let mut sock = Socket::new(NETLINK_NETFILTER)?;
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
        Ok(Nft {
            sock,
            seq: 0,
            buf: vec![0; 64 * 1024],
        })
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// Whether table `ip name` exists.
    pub fn table_exists(&mut self, name: &str) -> io::Result<bool> {
        let seq = self.next_seq();
        let req = message(
            NetfilterProtoFamily::IPv4,
            0,
            NfTablesMessage::GetTable(table(name)).into(),
            NLM_F_ACK,
            seq,
        );
        self.sock.send(&req, 0)?;
        let mut found = false;
        loop {
            for (s, reply) in self.receive()? {
                if s != seq {
                    continue;
                }
                match reply {
                    Reply::Ack => return Ok(found),
                    Reply::Error(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(false),
                    Reply::Error(e) => return Err(e),
                    Reply::Other => found = true,
                }
            }
        }
    }

    /// Commits `ops` as one transaction: all of them or none.
    pub fn commit(&mut self, ops: &[Op]) -> io::Result<()> {
        let mut batch = Vec::new();
        let begin = self.next_seq();
        batch.extend(message(
            NetfilterProtoFamily::Unspec,
            NFNL_SUBSYS_NFTABLES,
            ControlMessage::BatchBegin.into(),
            0,
            begin,
        ));
        let mut pending = std::collections::BTreeSet::new();
        for op in ops {
            let seq = self.next_seq();
            pending.insert(seq);
            batch.extend(message(
                NetfilterProtoFamily::IPv4,
                0,
                op.message.clone().into(),
                op.flags | NLM_F_ACK,
                seq,
            ));
        }
        let end = self.next_seq();
        batch.extend(message(
            NetfilterProtoFamily::Unspec,
            NFNL_SUBSYS_NFTABLES,
            ControlMessage::BatchEnd.into(),
            0,
            end,
        ));
        self.sock.send(&batch, 0)?;
        // One answer per message: an acknowledgement, or the error that made
        // the kernel abort the transaction.
        while !pending.is_empty() {
            for (seq, reply) in self.receive()? {
                match reply {
                    Reply::Error(e) if seq >= begin && seq <= end => return Err(e),
                    Reply::Ack => {
                        pending.remove(&seq);
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }

    fn receive(&mut self) -> io::Result<Vec<(u32, Reply)>> {
        let n = self.sock.recv(&mut &mut self.buf[..], 0)?;
        let n = n.min(self.buf.len());
        let mut out = Vec::new();
        let mut offset = 0;
        while offset < n {
            let msg = NetlinkMessage::<NetfilterMessage>::deserialize(&self.buf[offset..n]);
            // A reply the crate cannot parse is still one reply: only its
            // header matters (errors and acks always parse).
            let len = u32::from_ne_bytes(
                self.buf[offset..offset + 4]
                    .try_into()
                    .map_err(|_| io::Error::other("short netlink message"))?,
            ) as usize;
            let seq = u32::from_ne_bytes(
                self.buf[offset + 8..offset + 12]
                    .try_into()
                    .map_err(|_| io::Error::other("short netlink message"))?,
            );
            if len == 0 {
                break;
            }
            offset += len;
            let reply = match msg.map(|m| m.payload) {
                Ok(NetlinkPayload::Error(e)) => match e.code {
                    Some(code) => Reply::Error(io::Error::from_raw_os_error(
                        code.get().unsigned_abs() as i32,
                    )),
                    None => Reply::Ack,
                },
                _ => Reply::Other,
            };
            out.push((seq, reply));
        }
        Ok(out)
    }
}

enum Reply {
    Ack,
    Error(io::Error),
    Other,
}

/// How long a netlink answer may take before it is given up.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use super::*;

    fn exprs(op: &Op) -> Vec<String> {
        match &op.message {
            NfTablesMessage::NewRule(r) => r
                .attributes
                .iter()
                .filter_map(|a| match a {
                    RuleAttribute::Expressions(e) => Some(e),
                    _ => None,
                })
                .flatten()
                .map(|e| match e {
                    ListAttribute::Element(attrs) => attrs
                        .iter()
                        .find_map(|a| match a {
                            ExpressionAttribute::Name(n) => Some(n.clone()),
                            _ => None,
                        })
                        .unwrap_or_default(),
                    _ => String::new(),
                })
                .collect(),
            _ => vec![],
        }
    }

    #[test]
    fn the_nat_table_masquerades_the_subnet_and_guards_the_vm() {
        let ops = nat_table(
            "wslp_0a0b0c0d",
            "wslp0a0b0c0d",
            "172.29.4.0/24".parse().unwrap(),
        );
        assert_eq!(ops.len(), 6);
        assert!(matches!(ops[0].message, NfTablesMessage::NewTable(_)));
        assert_eq!(
            exprs(&ops[2]),
            ["payload", "bitwise", "cmp", "meta", "cmp", "masq"]
        );
        assert_eq!(
            exprs(&ops[4]),
            ["meta", "cmp", "ct", "bitwise", "cmp", "immediate"]
        );
        assert_eq!(exprs(&ops[5]), ["meta", "cmp", "immediate"]);
        let NfTablesMessage::NewRule(r) = &ops[2].message else {
            panic!()
        };
        let text = format!("{r:?}");
        // The subnet's mask and address, the interface name padded to IFNAMSIZ.
        assert!(text.contains("Value([255, 255, 255, 0])"), "{text}");
        assert!(text.contains("Value([172, 29, 4, 0])"), "{text}");
        assert!(text.contains("Op(NotEqual)"), "{text}");
        assert_eq!(ifname_bytes("wslp0a0b0c0d").len(), IFNAMSIZ);
        assert!(ops[2].flags & NLM_F_APPEND != 0);
    }
}
