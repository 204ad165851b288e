//! A small blocking HTTP/1.1 client for the shell's `--server` mode: POST a JSON body, read
//! the status and a body that is either sized (`Content-Length`) or chunked — streamed line
//! by line for `/query-stream`.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;

/// A response being read.
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    body: Body,
    /// The connection, to shut it down from another thread (cancelling a push query).
    pub stream: TcpStream,
}

enum Body {
    Sized(io::Take<BufReader<TcpStream>>),
    Chunked { reader: BufReader<TcpStream>, left: usize, done: bool },
    UntilClose(BufReader<TcpStream>),
}

impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Body::Sized(r) => r.read(buf),
            Body::UntilClose(r) => r.read(buf),
            Body::Chunked { reader, left, done } => {
                if *done {
                    return Ok(0);
                }
                if *left == 0 {
                    let mut size = String::new();
                    reader.read_line(&mut size)?;
                    let size = size.trim();
                    if size.is_empty() {
                        // The CRLF after the previous chunk.
                        let mut next = String::new();
                        reader.read_line(&mut next)?;
                        return self.read_after(next, buf);
                    }
                    return self.read_after(size.to_string(), buf);
                }
                let n = (*left).min(buf.len());
                let got = reader.read(&mut buf[..n])?;
                if got == 0 {
                    *done = true;
                }
                *left -= got;
                Ok(got)
            }
        }
    }
}

impl Body {
    fn read_after(&mut self, size_line: String, buf: &mut [u8]) -> io::Result<usize> {
        let Body::Chunked { left, done, .. } = self else { return Ok(0) };
        let hex = size_line.trim().split(';').next().unwrap_or("0");
        let size = usize::from_str_radix(hex, 16)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("bad chunk size '{hex}'")))?;
        if size == 0 {
            *done = true;
            return Ok(0);
        }
        *left = size;
        self.read(buf)
    }
}

impl Response {
    /// The whole body as text.
    pub fn text(self) -> io::Result<String> {
        let mut s = String::new();
        BufReader::new(self.body).read_to_string(&mut s)?;
        Ok(s)
    }

    /// The body as lines, read as they arrive.
    pub fn lines(self) -> impl Iterator<Item = io::Result<String>> {
        BufReader::new(self.body).lines()
    }
}

/// `POST {path}` with a JSON body to `addr` (HOST:PORT).
pub fn post(addr: &str, path: &str, body: &serde_json::Value) -> io::Result<Response> {
    let stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    let payload = body.to_string();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{payload}",
        payload.len()
    );
    (&stream).write_all(request.as_bytes())?;
    read_response(stream)
}

/// `GET {path}`.
pub fn get(addr: &str, path: &str) -> io::Result<Response> {
    let stream = TcpStream::connect(addr)?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    (&stream).write_all(request.as_bytes())?;
    read_response(stream)
}

fn read_response(stream: TcpStream) -> io::Result<Response> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut status_line = String::new();
    reader.read_line(&mut status_line)?;
    let status =
        status_line.split_whitespace().nth(1).and_then(|s| s.parse::<u16>().ok()).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("not an HTTP response: '{}'", status_line.trim()),
            )
        })?;
    let mut length = None;
    let mut chunked = false;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 {
            break;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
            if k == "content-length" {
                length = v.parse::<u64>().ok();
            } else if k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked") {
                chunked = true;
            }
        }
    }
    let body = if chunked {
        Body::Chunked { reader, left: 0, done: false }
    } else if let Some(n) = length {
        Body::Sized(reader.take(n))
    } else {
        Body::UntilClose(reader)
    };
    Ok(Response { status, body, stream })
}
