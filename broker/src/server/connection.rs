//! One client connection: size-prefixed framing, in-order processing, in-order replies.
//!
//! The read loop reads `int32 size` + frame, rejects frames above the configured cap before
//! allocating them, and hands each frame to [`handlers::handle`]. Its reply goes into a bounded
//! queue; the write loop awaits replies in queue order, so pipelined requests are answered in
//! the order they were sent even when some replies wait (long-poll fetch, `acks=all`). Any
//! protocol error ends the read loop: already queued replies are still written, then the socket
//! closes. Nothing here can affect another connection.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;

use super::Shared;
use super::handlers::{self, Connection, Reply};

/// Serves one connection until the client closes it or sends something invalid.
pub(crate) async fn serve(stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let (rd, wr) = stream.into_split();
    let (tx, rx) = mpsc::channel(shared.config.max_in_flight.max(1));
    let conn = Connection { shared, client_host: peer.ip().to_string() };
    tracing::debug!(%peer, "kafka connection opened");
    tokio::join!(read_loop(rd, tx, &conn, peer), write_loop(wr, rx, peer));
    tracing::debug!(%peer, "kafka connection closed");
}

async fn read_loop(rd: OwnedReadHalf, tx: mpsc::Sender<Reply>, conn: &Connection, peer: SocketAddr) {
    let mut rd = BufReader::with_capacity(64 * 1024, rd);
    let max = conn.shared.config.max_frame_bytes;
    loop {
        let size = match rd.read_i32().await {
            Ok(n) => n,
            Err(_) => return, // EOF or reset: the client is gone.
        };
        if size < 8 || size as usize > max {
            tracing::warn!(%peer, size, max, "closing connection: frame size out of bounds");
            return;
        }
        let mut frame = BytesMut::zeroed(size as usize);
        if rd.read_exact(&mut frame).await.is_err() {
            return;
        }
        match handlers::handle(conn, frame.freeze()).await {
            Ok(Reply::None) => {}
            Ok(reply) => {
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

async fn write_loop(wr: OwnedWriteHalf, mut rx: mpsc::Receiver<Reply>, peer: SocketAddr) {
    let mut wr = BufWriter::with_capacity(64 * 1024, wr);
    while let Some(reply) = rx.recv().await {
        let bytes = match reply {
            Reply::None => continue,
            Reply::Now(b) => b,
            Reply::Later(f) => match f.await {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(%peer, error = %e, "closing connection: a reply could not be produced");
                    break;
                }
            },
        };
        if wr.write_all(&bytes).await.is_err() {
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
