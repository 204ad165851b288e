//! Shared helpers for the protocol tests: a real server on 127.0.0.1 port 0 over a temporary
//! data directory, and a raw Kafka-protocol client on a blocking socket.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use brook_broker::server::{KafkaServer, ServerConfig, ServerHandle};
use brook_broker::{Broker, BrokerConfig};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

/// A running server with its own runtime and data directory.
pub struct TestServer {
    pub addr: SocketAddr,
    pub broker: Broker,
    handle: Option<ServerHandle>,
    runtime: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

impl TestServer {
    /// Starts a server; `tune` may adjust the broker config (e.g. default partitions).
    pub fn start(tune: impl FnOnce(&mut BrokerConfig, &mut ServerConfig)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let mut config = BrokerConfig::new(dir.path());
        config.cleaner_interval = Duration::from_secs(3600);
        config.flush_interval = Some(Duration::from_millis(50));
        let mut server_config = ServerConfig::new("127.0.0.1:0".parse().unwrap());
        tune(&mut config, &mut server_config);
        let broker = Broker::open(config).unwrap();
        let handle = {
            let _guard = runtime.enter();
            KafkaServer::bind(broker.clone(), server_config).unwrap().spawn()
        };
        TestServer { addr: handle.local_addr(), broker, handle: Some(handle), runtime, _dir: dir }
    }

    /// A raw client connected to the server.
    pub fn client(&self) -> RawClient {
        RawClient::connect(self.addr)
    }

    /// `host:port` for Kafka clients.
    pub fn bootstrap(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            let _ = self.runtime.block_on(h.shutdown());
        }
        let _ = self.broker.close();
    }
}

/// A Kafka client that speaks raw frames, for byte-level tests.
pub struct RawClient {
    pub stream: TcpStream,
    /// The `client.id` sent in request headers.
    pub client_id: &'static str,
    next_correlation: i32,
}

impl RawClient {
    pub fn connect(addr: SocketAddr) -> RawClient {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        stream.set_nodelay(true).unwrap();
        RawClient { stream, client_id: "brook-test", next_correlation: 1 }
    }

    /// Encodes a request frame (size prefix included) without sending it.
    pub fn frame<R: Encodable>(&mut self, api: ApiKey, version: i16, req: &R) -> (i32, BytesMut) {
        let correlation = self.next_correlation;
        self.next_correlation += 1;
        let mut header = RequestHeader::default();
        header.request_api_key = api as i16;
        header.request_api_version = version;
        header.correlation_id = correlation;
        header.client_id = Some(StrBytes::from_static_str(self.client_id));
        let mut buf = BytesMut::new();
        buf.put_i32(0);
        header.encode(&mut buf, api.request_header_version(version)).unwrap();
        req.encode(&mut buf, version).unwrap_or_else(|e| panic!("encoding {api:?} v{version}: {e}"));
        let n = (buf.len() - 4) as i32;
        buf[..4].copy_from_slice(&n.to_be_bytes());
        (correlation, buf)
    }

    /// Sends a request; returns its correlation id.
    pub fn send<R: Encodable>(&mut self, api: ApiKey, version: i16, req: &R) -> i32 {
        let (correlation, buf) = self.frame(api, version, req);
        self.stream.write_all(&buf).unwrap();
        correlation
    }

    /// Reads one response frame (without the size); `None` if the server closed the socket.
    pub fn read_frame(&mut self) -> Option<Bytes> {
        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size).ok()?;
        let mut body = vec![0u8; i32::from_be_bytes(size) as usize];
        self.stream.read_exact(&mut body).ok()?;
        Some(Bytes::from(body))
    }

    /// Reads a response to `correlation`, decodes it, and checks that it round-trips: nothing
    /// is left over and re-encoding gives the same bytes.
    pub fn receive<T: Decodable + Encodable>(&mut self, api: ApiKey, version: i16, correlation: i32) -> T {
        let frame =
            self.read_frame().unwrap_or_else(|| panic!("connection closed waiting for {api:?} v{version}"));
        let mut buf = frame.clone();
        let header = ResponseHeader::decode(&mut buf, api.response_header_version(version)).unwrap();
        assert_eq!(header.correlation_id, correlation, "{api:?} v{version}: correlation id");
        let body_start = frame.len() - buf.len();
        let resp = T::decode(&mut buf, version)
            .unwrap_or_else(|e| panic!("decoding {api:?} v{version} response: {e}"));
        assert_eq!(buf.remaining(), 0, "{api:?} v{version}: bytes left after the response");
        let mut again = BytesMut::new();
        resp.encode(&mut again, version).unwrap();
        assert_eq!(
            &again[..],
            &frame[body_start..],
            "{api:?} v{version}: response does not re-encode identically"
        );
        resp
    }

    /// Sends a request and returns its decoded, round-trip-checked response.
    pub fn call<R: Encodable, T: Decodable + Encodable>(&mut self, api: ApiKey, version: i16, req: &R) -> T {
        let c = self.send(api, version, req);
        self.receive(api, version, c)
    }

    /// True if the server closed the connection (read returns EOF or reset) within 5 s.
    pub fn is_closed_by_server(&mut self) -> bool {
        self.stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut b = [0u8; 1];
        match self.stream.read(&mut b) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => {
                matches!(e.kind(), std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe)
            }
        }
    }
}

/// A `StrBytes` from a string.
pub fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}
