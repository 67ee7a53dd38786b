//! A client that speaks the protocol byte by byte, for what a driver hides:
//! the exact messages and their order, formats, malformed input.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One backend message: its type byte and body.
#[derive(Debug, Clone)]
pub struct Message {
    pub tag: u8,
    pub body: Vec<u8>,
}

impl Message {
    /// The fields of an ErrorResponse or NoticeResponse, by code (`C`:
    /// SQLSTATE, `M`: message, `S`: severity, `P`: position, `H`: hint).
    pub fn fields(&self) -> HashMap<char, String> {
        self.body
            .split(|b| *b == 0)
            .filter(|f| !f.is_empty())
            .map(|f| (f[0] as char, String::from_utf8_lossy(&f[1..]).into_owned()))
            .collect()
    }

    /// The values of a DataRow (`None`: NULL).
    pub fn values(&self) -> Vec<Option<Vec<u8>>> {
        assert_eq!(self.tag, b'D');
        let count = i16::from_be_bytes([self.body[0], self.body[1]]);
        let mut at = 2;
        (0..count)
            .map(|_| {
                let len = i32::from_be_bytes(self.body[at..at + 4].try_into().unwrap());
                at += 4;
                (len >= 0).then(|| {
                    let v = self.body[at..at + len as usize].to_vec();
                    at += len as usize;
                    v
                })
            })
            .collect()
    }

    /// A ParameterStatus's name and value.
    pub fn parameter(&self) -> (String, String) {
        assert_eq!(self.tag, b'S');
        let mut parts = self.body.split(|b| *b == 0);
        let mut next = || String::from_utf8(parts.next().unwrap().to_vec()).unwrap();
        (next(), next())
    }
}

/// The type bytes of messages, as a string (`"TDDCZ"`).
pub fn tags(messages: &[Message]) -> String {
    messages.iter().map(|m| m.tag as char).collect()
}

pub struct RawClient {
    stream: TcpStream,
    buf: Vec<u8>,
}

/// A frontend message with its type byte and length.
pub fn framed(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
    out.extend_from_slice(body);
    out
}

fn cstr(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(s.as_bytes());
    out.push(0);
}

impl RawClient {
    /// Connects and sends a startup message with `params`, without reading.
    pub async fn start(addr: SocketAddr, params: &[(&str, &str)]) -> RawClient {
        let stream = TcpStream::connect(addr).await.unwrap();
        let mut client = RawClient {
            stream,
            buf: Vec::new(),
        };
        let mut body = 196_608i32.to_be_bytes().to_vec();
        for (k, v) in params {
            cstr(&mut body, k);
            cstr(&mut body, v);
        }
        body.push(0);
        let mut packet = ((body.len() + 4) as i32).to_be_bytes().to_vec();
        packet.extend(body);
        client.send(&packet).await;
        client
    }

    /// Connects as `user` to a server that trusts it, through to the
    /// first ReadyForQuery; returns the client and the startup messages.
    pub async fn connect(addr: SocketAddr) -> (RawClient, Vec<Message>) {
        let mut client = RawClient::start(addr, &[("user", "ada")]).await;
        let startup = client.until_ready().await;
        (client, startup)
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// Sends a simple Query and reads its answer through ReadyForQuery.
    pub async fn query(&mut self, sql: &str) -> Vec<Message> {
        let mut body = Vec::new();
        cstr(&mut body, sql);
        self.send(&framed(b'Q', &body)).await;
        self.until_ready().await
    }

    /// The next message; `None` when the server closed the connection.
    pub async fn next(&mut self) -> Option<Message> {
        loop {
            if self.buf.len() >= 5 {
                let len = i32::from_be_bytes(self.buf[1..5].try_into().unwrap()) as usize;
                if self.buf.len() > len {
                    let body = self.buf[5..1 + len].to_vec();
                    let tag = self.buf[0];
                    self.buf.drain(..1 + len);
                    return Some(Message { tag, body });
                }
            }
            let mut chunk = [0u8; 8192];
            let read = tokio::time::timeout(Duration::from_secs(10), self.stream.read(&mut chunk))
                .await
                .expect("the server answers within 10 s")
                .unwrap_or(0);
            if read == 0 {
                return None;
            }
            self.buf.extend_from_slice(&chunk[..read]);
        }
    }

    /// Messages through the next ReadyForQuery (included), or to the end
    /// of the connection.
    pub async fn until_ready(&mut self) -> Vec<Message> {
        let mut messages = Vec::new();
        while let Some(m) = self.next().await {
            let ready = m.tag == b'Z';
            messages.push(m);
            if ready {
                break;
            }
        }
        messages
    }
}

/// Parse (unnamed) of `sql` with declared parameter types.
pub fn parse(sql: &str, types: &[u32]) -> Vec<u8> {
    let mut body = vec![0];
    cstr(&mut body, sql);
    body.extend_from_slice(&(types.len() as i16).to_be_bytes());
    for t in types {
        body.extend_from_slice(&t.to_be_bytes());
    }
    framed(b'P', &body)
}

/// Bind of the unnamed statement to the unnamed portal: parameters all in
/// `param_format`, results all in `result_format` (0 text, 1 binary).
pub fn bind(params: &[Option<&[u8]>], param_format: i16, result_format: i16) -> Vec<u8> {
    let mut body = vec![0, 0];
    body.extend_from_slice(&1i16.to_be_bytes());
    body.extend_from_slice(&param_format.to_be_bytes());
    body.extend_from_slice(&(params.len() as i16).to_be_bytes());
    for p in params {
        match p {
            Some(bytes) => {
                body.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
                body.extend_from_slice(bytes);
            }
            None => body.extend_from_slice(&(-1i32).to_be_bytes()),
        }
    }
    body.extend_from_slice(&1i16.to_be_bytes());
    body.extend_from_slice(&result_format.to_be_bytes());
    framed(b'B', &body)
}

/// Describe of the unnamed statement (`S`) or portal (`P`).
pub fn describe(what: u8) -> Vec<u8> {
    framed(b'D', &[what, 0])
}

/// Execute of the unnamed portal, all rows.
pub fn execute() -> Vec<u8> {
    framed(b'E', &[0, 0, 0, 0, 0])
}

pub fn sync() -> Vec<u8> {
    framed(b'S', &[])
}
