//! A tiny raw PostgreSQL wire-protocol client (protocol 3.0, simple query
//! only, plus raw bytes for tests of malformed input).
//!
//! Drivers such as tokio-postgres hide what the tests here need to see: the
//! ParameterStatus messages sent at startup and after `SET`, the transaction
//! status byte of every ReadyForQuery, and the exact sequence of messages a
//! multi-statement query produces. [`WireClient`] sends a startup message or a
//! `Query` and returns every backend message up to and including the next
//! ReadyForQuery, decoded into [`BackendMessage`].
//!
//! Decoding ([`decode`]) is free of IO; the client only moves bytes. Only
//! trust authentication is supported, which is what the test servers use.
//! Every read is bounded by [`WireClient::READ_TIMEOUT`] so that a server that
//! stops answering fails the test instead of hanging it.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One message from the server, with the fields the tests look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendMessage {
    /// `R`: the authentication request code (0 = AuthenticationOk).
    Authentication(i32),
    /// `S`: a run-time parameter the server reports to the client.
    ParameterStatus { name: String, value: String },
    /// `K`: the process id and secret key used to cancel queries.
    BackendKeyData { process_id: i32, secret_key: i32 },
    /// `Z`: the transaction status: `I` idle, `T` in a transaction, `E` in a
    /// failed transaction.
    ReadyForQuery(u8),
    /// `T`: the names of the columns that the following DataRows carry.
    RowDescription(Vec<String>),
    /// `D`: one row, as text (simple query results are always text).
    DataRow(Vec<Option<String>>),
    /// `C`: the command tag, e.g. `SELECT 1`, `BEGIN`, `ROLLBACK`.
    CommandComplete(String),
    /// `I`: the query string held no statement.
    EmptyQueryResponse,
    /// `E`
    ErrorResponse(ErrorFields),
    /// `N`
    NoticeResponse(ErrorFields),
    /// Any other message, by its type byte.
    Other(u8),
}

impl BackendMessage {
    /// A short name for assertion messages and sequence comparisons.
    pub fn kind(&self) -> &'static str {
        match self {
            BackendMessage::Authentication(_) => "Authentication",
            BackendMessage::ParameterStatus { .. } => "ParameterStatus",
            BackendMessage::BackendKeyData { .. } => "BackendKeyData",
            BackendMessage::ReadyForQuery(_) => "ReadyForQuery",
            BackendMessage::RowDescription(_) => "RowDescription",
            BackendMessage::DataRow(_) => "DataRow",
            BackendMessage::CommandComplete(_) => "CommandComplete",
            BackendMessage::EmptyQueryResponse => "EmptyQueryResponse",
            BackendMessage::ErrorResponse(_) => "ErrorResponse",
            BackendMessage::NoticeResponse(_) => "NoticeResponse",
            BackendMessage::Other(_) => "Other",
        }
    }
}

/// The fields of an ErrorResponse or NoticeResponse.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorFields {
    /// `S` (localized) or `V` (never localized).
    pub severity: String,
    /// `C`: the SQLSTATE.
    pub code: String,
    /// `M`
    pub message: String,
    /// `P`: 1-based character position in the query string.
    pub position: Option<u32>,
    /// Every field as (type byte, value), including the ones above.
    pub all: Vec<(u8, String)>,
}

/// Decodes the first complete backend message in `buf`.
///
/// Returns the message and the number of bytes it used, or `None` when `buf`
/// does not yet hold a whole message.
pub fn decode(buf: &[u8]) -> Result<Option<(BackendMessage, usize)>> {
    if buf.len() < 5 {
        return Ok(None);
    }
    let tag = buf[0];
    let len = i32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]);
    ensure!(
        len >= 4,
        "message {:?} has invalid length {len}",
        tag as char
    );
    let total = 1 + len as usize;
    if buf.len() < total {
        return Ok(None);
    }
    let mut body = Body(&buf[5..total]);
    let message = match tag {
        b'R' => BackendMessage::Authentication(body.i32()?),
        b'S' => BackendMessage::ParameterStatus {
            name: body.cstr()?,
            value: body.cstr()?,
        },
        b'K' => BackendMessage::BackendKeyData {
            process_id: body.i32()?,
            secret_key: body.i32()?,
        },
        b'Z' => BackendMessage::ReadyForQuery(body.u8()?),
        b'T' => {
            let count = body.i16()?;
            let mut names = Vec::with_capacity(count.max(0) as usize);
            for _ in 0..count {
                names.push(body.cstr()?);
                // table oid, column number, type oid, type size, type modifier, format
                body.skip(4 + 2 + 4 + 2 + 4 + 2)?;
            }
            BackendMessage::RowDescription(names)
        }
        b'D' => {
            let count = body.i16()?;
            let mut values = Vec::with_capacity(count.max(0) as usize);
            for _ in 0..count {
                let len = body.i32()?;
                values.push(if len < 0 {
                    None
                } else {
                    Some(body.text(len as usize)?)
                });
            }
            BackendMessage::DataRow(values)
        }
        b'C' => BackendMessage::CommandComplete(body.cstr()?),
        b'I' => BackendMessage::EmptyQueryResponse,
        b'E' => BackendMessage::ErrorResponse(body.error_fields()?),
        b'N' => BackendMessage::NoticeResponse(body.error_fields()?),
        other => BackendMessage::Other(other),
    };
    Ok(Some((message, total)))
}

/// The body of one message, consumed front to back.
struct Body<'a>(&'a [u8]);

impl Body<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8]> {
        ensure!(self.0.len() >= n, "message body ends early");
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn skip(&mut self, n: usize) -> Result<()> {
        self.take(n).map(|_| ())
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn i16(&mut self) -> Result<i16> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    fn i32(&mut self) -> Result<i32> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn text(&mut self, n: usize) -> Result<String> {
        Ok(String::from_utf8(self.take(n)?.to_vec())?)
    }

    fn cstr(&mut self) -> Result<String> {
        let end = self
            .0
            .iter()
            .position(|&b| b == 0)
            .context("string without terminator")?;
        let s = self.text(end)?;
        self.skip(1)?;
        Ok(s)
    }

    fn error_fields(&mut self) -> Result<ErrorFields> {
        let mut fields = ErrorFields::default();
        loop {
            let kind = self.u8()?;
            if kind == 0 {
                return Ok(fields);
            }
            let value = self.cstr()?;
            match kind {
                b'S' if fields.severity.is_empty() => fields.severity = value.clone(),
                b'V' => fields.severity = value.clone(),
                b'C' => fields.code = value.clone(),
                b'M' => fields.message = value.clone(),
                b'P' => fields.position = value.parse().ok(),
                _ => {}
            }
            fields.all.push((kind, value));
        }
    }
}

/// A connection that speaks the protocol by hand.
pub struct WireClient {
    stream: TcpStream,
    buf: Vec<u8>,
    /// Every message received during startup, up to the first ReadyForQuery.
    pub startup: Vec<BackendMessage>,
}

impl WireClient {
    /// How long one read may wait for the server.
    pub const READ_TIMEOUT: Duration = Duration::from_secs(60);

    /// Connects and completes the startup handshake with the given startup
    /// parameters (`user` is required by the protocol).
    pub async fn connect(addr: SocketAddr, params: &[(&str, &str)]) -> Result<WireClient> {
        let stream = tokio::time::timeout(Self::READ_TIMEOUT, TcpStream::connect(addr))
            .await
            .with_context(|| format!("connecting to {addr} timed out"))?
            .with_context(|| format!("connecting to {addr}"))?;
        let mut client = WireClient {
            stream,
            buf: Vec::new(),
            startup: Vec::new(),
        };
        let mut body = 196_608i32.to_be_bytes().to_vec(); // protocol 3.0
        for (name, value) in params {
            put_cstr(&mut body, name);
            put_cstr(&mut body, value);
        }
        body.push(0);
        let mut message = ((body.len() + 4) as i32).to_be_bytes().to_vec();
        message.extend_from_slice(&body);
        client.stream.write_all(&message).await?;
        let startup = client.read_until_ready().await?;
        for message in &startup {
            match message {
                BackendMessage::Authentication(0) => {}
                BackendMessage::Authentication(code) => {
                    bail!("server asked for authentication method {code}; only trust is supported")
                }
                BackendMessage::ErrorResponse(e) => {
                    bail!("startup failed: {} {}", e.code, e.message)
                }
                _ => {}
            }
        }
        client.startup = startup;
        Ok(client)
    }

    /// Connects as user `postgres` to database `postgres` with
    /// `application_name` set to `eddy-wire-test`.
    pub async fn connect_default(addr: SocketAddr) -> Result<WireClient> {
        Self::connect(
            addr,
            &[
                ("user", "postgres"),
                ("database", "postgres"),
                ("application_name", "eddy-wire-test"),
            ],
        )
        .await
    }

    /// The ParameterStatus messages received at startup, in order.
    pub fn startup_parameters(&self) -> Vec<(String, String)> {
        parameter_statuses(&self.startup)
    }

    /// Sends one simple `Query` and returns every message up to and including
    /// ReadyForQuery.
    pub async fn simple_query(&mut self, sql: &str) -> Result<Vec<BackendMessage>> {
        let mut body = Vec::with_capacity(sql.len() + 1);
        put_cstr(&mut body, sql);
        let mut message = vec![b'Q'];
        message.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
        message.extend_from_slice(&body);
        self.stream.write_all(&message).await?;
        self.read_until_ready()
            .await
            .with_context(|| format!("running {sql:?}"))
    }

    /// Sends `bytes` as they are: a test of how the server takes malformed
    /// messages.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<()> {
        self.stream.write_all(bytes).await?;
        Ok(())
    }

    /// Closes the sending side, then returns every message the server sends
    /// until it closes the connection (bounded by [`WireClient::READ_TIMEOUT`]).
    pub async fn finish(mut self) -> Result<Vec<BackendMessage>> {
        self.stream.shutdown().await?;
        read_to_end(&mut self.stream, &mut self.buf).await
    }

    /// Sends Terminate and closes the connection.
    pub async fn close(mut self) -> Result<()> {
        self.stream.write_all(&[b'X', 0, 0, 0, 4]).await?;
        Ok(())
    }

    async fn read_until_ready(&mut self) -> Result<Vec<BackendMessage>> {
        let mut messages = Vec::new();
        loop {
            while let Some((message, used)) = decode(&self.buf)? {
                self.buf.drain(..used);
                let ready = matches!(message, BackendMessage::ReadyForQuery(_));
                // A fatal startup error is followed by the server closing the
                // connection, not by ReadyForQuery.
                let fatal =
                    matches!(&message, BackendMessage::ErrorResponse(e) if e.severity == "FATAL");
                messages.push(message);
                if ready || fatal {
                    return Ok(messages);
                }
            }
            let mut chunk = [0u8; 8192];
            let n = tokio::time::timeout(Self::READ_TIMEOUT, self.stream.read(&mut chunk))
                .await
                .with_context(|| {
                    format!(
                        "no ReadyForQuery within {:?}; got {messages:?}",
                        Self::READ_TIMEOUT
                    )
                })??;
            ensure!(n > 0, "server closed the connection; got {messages:?}");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// Every message `stream` carries until the server closes it.
async fn read_to_end(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<Vec<BackendMessage>> {
    let mut messages = Vec::new();
    loop {
        while let Some((message, used)) = decode(buf)? {
            buf.drain(..used);
            messages.push(message);
        }
        let mut chunk = [0u8; 8192];
        let read = tokio::time::timeout(WireClient::READ_TIMEOUT, stream.read(&mut chunk))
            .await
            .with_context(|| format!("the server kept the connection open; got {messages:?}"))?;
        match read {
            Ok(0) => return Ok(messages),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            // A reset after the server's last words is a close too.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Ok(messages),
            Err(e) => return Err(e.into()),
        }
    }
}

/// Sends `bytes` on a new connection before any startup message, closes
/// the sending side and returns what the server answers until it closes.
pub async fn send_before_startup(addr: SocketAddr, bytes: &[u8]) -> Result<Vec<BackendMessage>> {
    let mut stream = tokio::time::timeout(WireClient::READ_TIMEOUT, TcpStream::connect(addr))
        .await
        .context("connecting timed out")??;
    stream.write_all(bytes).await?;
    stream.shutdown().await?;
    read_to_end(&mut stream, &mut Vec::new()).await
}

/// The (name, value) of every ParameterStatus in `messages`.
pub fn parameter_statuses(messages: &[BackendMessage]) -> Vec<(String, String)> {
    messages
        .iter()
        .filter_map(|m| match m {
            BackendMessage::ParameterStatus { name, value } => Some((name.clone(), value.clone())),
            _ => None,
        })
        .collect()
}

fn put_cstr(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(s.as_bytes());
    out.push(0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_data_row_with_null() {
        let buf = [
            b'D', 0, 0, 0, 15, 0, 2, 0, 0, 0, 1, b'7', 0xff, 0xff, 0xff, 0xff, b'Z',
        ];
        let (message, used) = decode(&buf).unwrap().unwrap();
        assert_eq!(
            message,
            BackendMessage::DataRow(vec![Some("7".into()), None])
        );
        assert_eq!(used, 16);
    }

    #[test]
    fn waits_for_a_whole_message() {
        assert_eq!(decode(&[b'Z', 0, 0, 0, 5]).unwrap(), None);
    }

    #[test]
    fn decodes_error_fields() {
        let mut body = Vec::new();
        for (k, v) in [
            (b'S', "ERROR"),
            (b'C', "42601"),
            (b'M', "syntax error"),
            (b'P', "11"),
        ] {
            body.push(k);
            put_cstr(&mut body, v);
        }
        body.push(0);
        let mut buf = vec![b'E'];
        buf.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
        buf.extend_from_slice(&body);
        let (message, _) = decode(&buf).unwrap().unwrap();
        let BackendMessage::ErrorResponse(e) = message else {
            panic!("{message:?}")
        };
        assert_eq!((e.code.as_str(), e.position), ("42601", Some(11)));
    }
}
