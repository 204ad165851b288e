//! One client connection: size-prefixed framing, in-order processing, in-order replies.
//!
//! The read loop reads `int32 size` + frame, rejects frames above `socket.request.max.bytes`
//! before reading them, and grows each frame's buffer only as its bytes arrive (a header
//! claiming 100 MiB costs nothing until 100 MiB are really sent). It hands each frame to
//! [`handlers::handle`]. Its reply goes into a bounded queue; the write loop awaits replies in
//! queue order, so pipelined requests are answered in the order they were sent even when some
//! replies wait (long-poll fetch, `acks=all`). Any protocol error ends the read loop: already
//! queued replies are still written, then the socket closes. Nothing here can affect another
//! connection.
//!
//! `connections.max.idle.ms`: a connection is idle while no request arrives and no reply is in
//! flight; reads time out after that long and the connection closes — also when a client stops
//! sending in the middle of a frame.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;

use super::ConnectionSlot;
use super::handlers::{self, Connection, Reply};

/// Socket buffers per connection: small, so thousands of idle connections stay cheap (large
/// frames bypass them).
const READ_BUFFER: usize = 8 * 1024;
const WRITE_BUFFER: usize = 16 * 1024;
/// A frame's buffer starts at most this big and grows as data arrives.
const FRAME_CHUNK: usize = 64 * 1024;

/// Serves one connection until the client closes it, sends something invalid, or idles past
/// `connections.max.idle.ms`. `slot` keeps the connection counted until it closes.
pub(crate) async fn serve(stream: TcpStream, peer: SocketAddr, slot: ConnectionSlot) {
    let shared = slot.shared.clone();
    let _ = stream.set_nodelay(true);
    let (rd, wr) = stream.into_split();
    let (tx, rx) = mpsc::channel(shared.config.max_in_flight.max(1));
    let conn = Connection { shared, client_host: peer.ip().to_string() };
    let in_flight = AtomicUsize::new(0);
    tracing::debug!(%peer, "kafka connection opened");
    tokio::join!(read_loop(rd, tx, &conn, peer, &in_flight), write_loop(wr, rx, peer, &in_flight));
    tracing::debug!(%peer, "kafka connection closed");
    drop(slot);
}

/// Why reading the next frame stopped.
enum ReadEnd {
    /// EOF, reset, or idle too long: close quietly.
    Gone,
    /// The client broke the framing rules.
    Invalid(String),
}

/// Reads one size-prefixed frame, waiting at most `idle` for each piece of it (longer only
/// while replies are in flight: the client is waiting on us, not idle).
async fn read_frame(
    rd: &mut (impl AsyncRead + Unpin),
    max: usize,
    idle: Duration,
    in_flight: &AtomicUsize,
) -> Result<BytesMut, ReadEnd> {
    let mut size = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        got += read_some(rd, &mut size[got..], idle, in_flight, got > 0).await?;
    }
    let size = i32::from_be_bytes(size);
    if size < 8 || size as usize > max {
        return Err(ReadEnd::Invalid(format!(
            "frame size {size} is out of bounds [8, {max}] (socket.request.max.bytes)"
        )));
    }
    let size = size as usize;
    // Grow by doubling as bytes arrive, reading into spare capacity (never zero-filled), so
    // memory follows what the client really sent, not what its size field claims.
    let mut frame = BytesMut::with_capacity(size.min(FRAME_CHUNK));
    while frame.len() < size {
        if frame.capacity() == frame.len() {
            frame.reserve((size - frame.len()).min(frame.len().max(FRAME_CHUNK)));
        }
        let want = (size - frame.len()) as u64;
        match tokio::time::timeout(idle, (&mut *rd).take(want).read_buf(&mut frame)).await {
            Ok(Ok(n)) if n > 0 => {}
            // EOF, reset, or a client that stopped sending midway through a frame.
            _ => return Err(ReadEnd::Gone),
        }
    }
    Ok(frame)
}

/// One read of at least a byte, bounded by the idle timeout.
async fn read_some(
    rd: &mut (impl AsyncRead + Unpin),
    buf: &mut [u8],
    idle: Duration,
    in_flight: &AtomicUsize,
    mid_frame: bool,
) -> Result<usize, ReadEnd> {
    loop {
        match tokio::time::timeout(idle, rd.read(buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Err(ReadEnd::Gone),
            Ok(Ok(n)) => return Ok(n),
            Err(_) if !mid_frame && in_flight.load(Ordering::Acquire) > 0 => continue,
            Err(_) => return Err(ReadEnd::Gone),
        }
    }
}

async fn read_loop(
    rd: OwnedReadHalf,
    tx: mpsc::Sender<Reply>,
    conn: &Connection,
    peer: SocketAddr,
    in_flight: &AtomicUsize,
) {
    let mut rd = BufReader::with_capacity(READ_BUFFER, rd);
    let max = conn.shared.config.max_frame_bytes;
    let idle = conn.shared.config.connections_max_idle.max(Duration::from_millis(1));
    loop {
        let frame = match read_frame(&mut rd, max, idle, in_flight).await {
            Ok(f) => f,
            Err(ReadEnd::Gone) => return,
            Err(ReadEnd::Invalid(why)) => {
                tracing::warn!(%peer, "closing connection: {why}");
                return;
            }
        };
        match handlers::handle(conn, frame.freeze()).await {
            Ok(Reply::None) => {}
            Ok(reply) => {
                in_flight.fetch_add(1, Ordering::AcqRel);
                if tx.send(reply).await.is_err() {
                    return; // The writer stopped: the socket is broken.
                }
            }
            Err(e) => {
                tracing::warn!(%peer, error = %e, "closing connection after a bad request");
                return;
            }
        }
    }
}

async fn write_loop(
    wr: OwnedWriteHalf,
    mut rx: mpsc::Receiver<Reply>,
    peer: SocketAddr,
    in_flight: &AtomicUsize,
) {
    let mut wr = BufWriter::with_capacity(WRITE_BUFFER, wr);
    while let Some(reply) = rx.recv().await {
        let bytes = match reply {
            Reply::None => continue,
            Reply::Now(b) => b,
            Reply::Later(f) => match f.await {
                Ok(b) => b,
                Err(e) => {
                    in_flight.fetch_sub(1, Ordering::AcqRel);
                    tracing::warn!(%peer, error = %e, "closing connection: a reply could not be produced");
                    break;
                }
            },
        };
        let written = wr.write_all(&bytes).await;
        in_flight.fetch_sub(1, Ordering::AcqRel);
        if written.is_err() {
            break;
        }
        // Flush when nothing else is ready to go out, so pipelined replies share a syscall.
        if rx.is_empty() && wr.flush().await.is_err() {
            break;
        }
    }
    let _ = wr.flush().await;
    let _ = wr.into_inner().shutdown().await;
}
