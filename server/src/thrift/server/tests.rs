//! The gateway over real sockets: connections stay usable after an unknown method, the
//! connection cap closes the connection past it, framed and compact connections work, a
//! protocol error closes only its own connection, and shutdown closes idle connections and
//! drops open scanners.

use std::time::Duration;

use bytes::Bytes;
use strata_engine::{Db, DbOptions, FamilyOptions};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use super::*;
use crate::thrift::protocol::skip::Limits;
use crate::thrift::protocol::{
    Codec, Cursor, InputProtocol, MessageHeader, MessageType, OutputProtocol, TType,
};
use crate::thrift::transport::{MessageReader, write_message};
use crate::thrift::types::{ApplicationException, TScan, Value};

const GRACE: Duration = Duration::from_secs(10);

struct Running {
    _dir: tempfile::TempDir,
    handle: ThriftHandle,
}

async fn running(options: ThriftOptions) -> Running {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), DbOptions::default()).expect("open");
    db.create_table("t", vec![FamilyOptions::new("cf")])
        .expect("create");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let budget =
        crate::scan_budget::ScanBudget::new(crate::ServiceOptions::default().scan_limits());
    let handle = start(db, listener, options, budget).expect("start");
    Running { _dir: dir, handle }
}

struct Client<C: Codec> {
    reader: MessageReader<tokio::net::tcp::OwnedReadHalf, C>,
    writer: tokio::net::tcp::OwnedWriteHalf,
    framed: bool,
}

impl<C: Codec> Client<C> {
    async fn connect(addr: SocketAddr, framed: bool) -> Client<C> {
        let (rd, wr) = TcpStream::connect(addr)
            .await
            .expect("connect")
            .into_split();
        let limits = Limits {
            max_end: 1 << 24,
            max_items: 1 << 20,
        };
        Client {
            reader: MessageReader::new(rd, framed, limits),
            writer: wr,
            framed,
        }
    }

    /// Call `name` with `args` written into its argument struct; the reply message.
    async fn call(&mut self, name: &str, args: impl FnOnce(&mut C::Writer)) -> Bytes {
        let mut w = C::writer(64);
        w.write_message_begin(name, MessageType::Call, 11);
        w.write_struct_begin();
        args(&mut w);
        w.write_struct_end();
        write_message(&mut self.writer, self.framed, &w.finish())
            .await
            .expect("send");
        self.reader
            .next()
            .await
            .expect("reply")
            .expect("a reply, not the end")
    }
}

fn header<C: Codec>(reply: &Bytes) -> MessageHeader {
    let mut r = C::reader(Cursor::shared(reply), C::State::default());
    r.read_message_begin().expect("header")
}

fn success_names<C: Codec>(reply: &Bytes) -> Vec<Bytes> {
    let mut r = C::reader(Cursor::shared(reply), C::State::default());
    let h = r.read_message_begin().expect("header");
    assert_eq!(h.kind, MessageType::Reply, "{}", h.name);
    r.read_struct_begin().expect("result");
    assert_eq!(r.read_field_begin(), Ok(Some((TType::List, 0))));
    Vec::<Bytes>::read(&mut r).expect("names")
}

fn application_error<C: Codec>(reply: &Bytes) -> ApplicationException {
    let mut r = C::reader(Cursor::shared(reply), C::State::default());
    let h = r.read_message_begin().expect("header");
    assert_eq!(h.kind, MessageType::Exception);
    ApplicationException::read(&mut r).expect("exception")
}

#[tokio::test]
async fn an_unknown_method_keeps_the_connection_usable() {
    let s = running(ThriftOptions::default()).await;
    let mut c = Client::<Binary>::connect(s.handle.local_addr(), false).await;
    let e = application_error::<Binary>(&c.call("grant", |_| {}).await);
    assert_eq!(e.kind, ApplicationException::UNKNOWN_METHOD);
    assert!(e.message.contains("grant"), "{}", e.message);
    let names = success_names::<Binary>(&c.call("getTableNames", |_| {}).await);
    assert_eq!(names, vec![Bytes::from_static(b"t")]);
    s.handle.shutdown(GRACE).await;
}

#[tokio::test]
async fn framed_compact_connections_are_served() {
    let s = running(ThriftOptions {
        framed: true,
        compact: true,
        ..ThriftOptions::default()
    })
    .await;
    let mut c = Client::<Compact>::connect(s.handle.local_addr(), true).await;
    let names = success_names::<Compact>(&c.call("getTableNames", |_| {}).await);
    assert_eq!(names, vec![Bytes::from_static(b"t")]);
    s.handle.shutdown(GRACE).await;
}

#[tokio::test]
async fn a_connection_past_the_cap_is_closed_and_the_slot_frees_with_the_first() {
    let s = running(ThriftOptions {
        max_connections: 1,
        ..ThriftOptions::default()
    })
    .await;
    let addr = s.handle.local_addr();
    let mut first = Client::<Binary>::connect(addr, false).await;
    success_names::<Binary>(&first.call("getTableNames", |_| {}).await);
    let mut second = TcpStream::connect(addr).await.expect("accepted");
    let mut byte = [0u8; 1];
    assert_eq!(second.read(&mut byte).await.expect("closed cleanly"), 0);
    drop(first);
    // The first connection's slot is released once the server sees it close.
    let mut served = false;
    for _ in 0..200 {
        let mut c = TcpStream::connect(addr).await.expect("connect");
        let mut w = Binary::writer(32);
        w.write_message_begin("getTableNames", MessageType::Call, 1);
        w.write_struct_begin();
        w.write_struct_end();
        write_message(&mut c, false, &w.finish())
            .await
            .expect("send");
        if c.read(&mut byte).await.unwrap_or(0) == 1 {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(served, "a new connection is served once the first is gone");
    s.handle.shutdown(GRACE).await;
}

#[tokio::test]
async fn a_protocol_error_closes_only_its_connection() {
    let s = running(ThriftOptions::default()).await;
    let addr = s.handle.local_addr();
    let mut bad = TcpStream::connect(addr).await.expect("connect");
    write_message(&mut bad, false, &[0x80, 0x07, 0, 1, 0, 0, 0, 0])
        .await
        .expect("send");
    let mut rest = Vec::new();
    bad.read_to_end(&mut rest).await.expect("closed");
    let mut good = Client::<Binary>::connect(addr, false).await;
    success_names::<Binary>(&good.call("getTableNames", |_| {}).await);
    s.handle.shutdown(GRACE).await;
}

#[tokio::test]
async fn shutdown_closes_idle_connections_and_drops_scanners() {
    let s = running(ThriftOptions::default()).await;
    let mut c = Client::<Binary>::connect(s.handle.local_addr(), false).await;
    let reply = c
        .call("scannerOpenWithScan", |w| {
            w.write_field_begin(TType::Binary, 1);
            w.write_binary(b"t");
            w.write_field_begin(TType::Struct, 2);
            TScan::default().write(w);
        })
        .await;
    let h = header::<Binary>(&reply);
    assert_eq!(h.kind, MessageType::Reply);
    assert_eq!(s.handle.open_scanners(), 1);
    let Running { _dir, handle } = s;
    let gateway = handle.gateway.clone();
    handle.shutdown(GRACE).await;
    assert!(gateway.scanners.is_empty());
    assert!(c.reader.next().await.expect("clean close").is_none());
}
