//! Malformed protocol input: bad lengths, Bind messages whose counts
//! contradict their contents, Parse messages cut short, CopyData outside
//! COPY, random bytes before and after startup. Each malformed message ends
//! its own connection with FATAL 08P01 (as in PostgreSQL) and one log line;
//! nothing else is affected, and nothing in the server panics.

use std::net::SocketAddr;

use anyhow::{Context, Result, ensure};
use eddy_tests::wire::send_before_startup;
use eddy_tests::{BackendMessage, WireClient, query_scalar};
use pgwire::messages::{DecodeContext, PgWireFrontendMessage, ProtocolVersion};

use crate::{TestEddy, with_logs};

/// A small seeded generator (xorshift64*), so that a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// A frontend message: type byte, length (as given, right or wrong), body.
fn message(tag: u8, length: i32, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// A frontend message with the right length.
fn framed(tag: u8, body: &[u8]) -> Vec<u8> {
    message(tag, body.len() as i32 + 4, body)
}

/// A malformed message after startup, as the fuzz loop makes them: a real
/// message type with its body cut, padded, or its counts rewritten, a
/// length that contradicts the body, or noise.
fn malformed(rng: &mut Rng) -> Vec<u8> {
    const TYPES: &[u8] = b"QPBEDCSHXdcfp";
    let tag = TYPES[rng.below(TYPES.len())];
    let body_len = rng.below(40);
    let mut body = rng.bytes(body_len);
    if tag == b'B' && body.len() >= 8 {
        // Empty names, then counts that promise far more than follows.
        body[0] = 0;
        body[1] = 0;
        body[2..4].copy_from_slice(&(rng.below(600) as u16).to_be_bytes());
    }
    match rng.below(4) {
        0 => message(tag, rng.below(4) as i32, &body),
        1 => message(tag, -(rng.below(1000) as i32) - 1, &body),
        2 => framed(tag, &body),
        _ => {
            let n = 1 + rng.below(30);
            rng.bytes(n)
        }
    }
}

/// Bytes before startup: a startup packet with a wrong length or version,
/// cut short, or noise.
fn malformed_startup(rng: &mut Rng) -> Vec<u8> {
    let mut body = 196_608i32.to_be_bytes().to_vec();
    body.extend_from_slice(b"user\0postgres\0");
    match rng.below(4) {
        0 => {
            let mut out = (rng.below(8) as i32).to_be_bytes().to_vec();
            out.extend_from_slice(&body);
            out
        }
        1 => {
            body[0..4].copy_from_slice(&rng.bytes(4));
            let mut out = ((body.len() + 4) as i32).to_be_bytes().to_vec();
            out.extend_from_slice(&body);
            out
        }
        2 => {
            // No terminating NUL: a parameter name runs to the end.
            body.extend_from_slice(b"options");
            let mut out = ((body.len() + 4) as i32).to_be_bytes().to_vec();
            out.extend_from_slice(&body);
            out
        }
        _ => {
            let n = 8 + rng.below(40);
            rng.bytes(n)
        }
    }
}

/// The problems in what the server answered to a malformed message: an
/// error that is not a protocol violation or a plain SQL error, or a FATAL
/// one that is not 08P01.
fn problems(sent: &[u8], answers: &[BackendMessage]) -> Option<String> {
    for answer in answers {
        if let BackendMessage::ErrorResponse(e) = answer {
            let fatal_not_protocol = e.severity == "FATAL" && e.code != "08P01";
            if fatal_not_protocol || e.code.starts_with("XX") || e.code.is_empty() {
                return Some(format!("{sent:?} got {e:?}"));
            }
        }
    }
    None
}

async fn wire(addr: SocketAddr) -> Result<WireClient> {
    WireClient::connect_default(addr).await
}

/// Sends `bytes` after startup and returns what the server answers until
/// it closes the connection.
async fn after_startup(addr: SocketAddr, bytes: &[u8]) -> Result<Vec<BackendMessage>> {
    let mut client = wire(addr).await?;
    client.send_raw(bytes).await?;
    client.finish().await
}

fn protocol_violation(answers: &[BackendMessage]) -> bool {
    answers.iter().any(|m| {
        matches!(m, BackendMessage::ErrorResponse(e) if e.code == "08P01" && e.severity == "FATAL")
    })
}

/// The cases the issue names, each answered with FATAL 08P01.
fn named_cases() -> Vec<(&'static str, Vec<u8>)> {
    let parse = framed(b'P', b"\0SELECT $1\0\0\x01\0\0\0\x17");
    let mut bind_counts = parse.clone();
    // Two parameters promised, one given.
    bind_counts.extend(framed(b'B', b"\0\0\0\0\0\x02\0\0\0\x011"));
    let mut bind_value = parse.clone();
    // A value longer than the message.
    bind_value.extend(framed(b'B', b"\0\0\0\0\0\x01\0\0\x10\x001\0\0"));
    let mut bind_formats = parse.clone();
    // 200 format codes promised in a message of a dozen bytes.
    bind_formats.extend(framed(b'B', b"\0\0\0\xc8\0\0\0\0"));
    vec![
        ("length 0", message(b'Q', 0, b"SELECT 1\0")),
        ("length 3", message(b'S', 3, b"")),
        ("negative length", message(b'Q', -5, b"SELECT 1\0")),
        ("huge length", message(b'P', i32::MAX, b"")),
        ("Bind with more parameters than values", bind_counts),
        ("Bind with a value longer than the message", bind_value),
        ("Bind with more format codes than bytes", bind_formats),
        ("Parse without its query", framed(b'P', b"stmt")),
        (
            "Parse without its type count",
            framed(b'P', b"\0SELECT 1\0"),
        ),
        (
            "Parse with fewer types than counted",
            framed(b'P', b"\0SELECT 1\0\0\x03\0\0\0\x17"),
        ),
        ("Execute without max rows", framed(b'E', b"\0")),
        ("Describe without a target", framed(b'D', b"")),
        ("Close without a target", framed(b'C', b"")),
        ("Sync with a body", framed(b'S', b"junk")),
        ("Query without its terminator", framed(b'Q', b"SELECT 1")),
        ("unknown message type", framed(b'!', b"")),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_messages_end_their_connection_with_08p01() -> Result<()> {
    let eddy = TestEddy::start().await?;
    let result = async {
        let addr = eddy.addr();
        let observer = eddy.client().await?;
        for (what, bytes) in named_cases() {
            let answers = after_startup(addr, &bytes).await.context(what)?;
            ensure!(
                protocol_violation(&answers),
                "{what}: no FATAL 08P01 in {answers:?}"
            );
            ensure!(
                query_scalar(&observer, "SELECT 1").await? == "1",
                "after {what} another session does not answer"
            );
        }
        // PostgreSQL ignores CopyData, CopyDone and CopyFail outside COPY
        // (what is left of a failed COPY); so does Eddy.
        let mut client = wire(addr).await?;
        client.send_raw(&framed(b'd', b"1\t2\n")).await?;
        client.send_raw(&framed(b'c', b"")).await?;
        let answers = client.simple_query("SELECT 42").await?;
        ensure!(
            answers.contains(&BackendMessage::DataRow(vec![Some("42".into())])),
            "after CopyData outside COPY: {answers:?}"
        );
        client.close().await?;

        let mut rng = Rng(0x005e_ed0f_edd1);
        for round in 0..300 {
            let (before, bytes) = match round % 3 {
                0 => (true, malformed_startup(&mut rng)),
                _ => (false, malformed(&mut rng)),
            };
            let answers = if before {
                send_before_startup(addr, &bytes).await
            } else {
                after_startup(addr, &bytes).await
            }
            .with_context(|| format!("round {round}: {bytes:?}"))?;
            if let Some(problem) = problems(&bytes, &answers) {
                anyhow::bail!("round {round}: {problem}");
            }
        }
        ensure!(
            query_scalar(&observer, "SELECT 1").await? == "1",
            "after the fuzzing the first session does not answer"
        );
        let fresh = eddy.client().await?;
        ensure!(
            query_scalar(&fresh, "SELECT 2").await? == "2",
            "a new session does not answer"
        );
        let log = std::fs::read_to_string(eddy.log_path())?;
        ensure!(
            !log.to_lowercase().contains("panic"),
            "the server log reports a panic"
        );
        let violations = log
            .lines()
            .filter(|l| l.contains("protocol violation"))
            .count();
        ensure!(
            violations >= named_cases().len(),
            "{violations} protocol violations logged"
        );
        Ok(())
    }
    .await;
    with_logs(result, &eddy, None)
}

/// The decoder itself, without a server: no input makes it panic, before
/// or after startup (a panic fails this test).
#[test]
fn decoding_random_bytes_never_panics() {
    let mut rng = Rng(0xdec0de);
    for round in 0..20_000 {
        let mut ctx = DecodeContext::new(ProtocolVersion::PROTOCOL3_0);
        ctx.awaiting_frontend_ssl = round % 3 == 0;
        ctx.awaiting_frontend_startup = round % 3 != 2;
        let bytes = match round % 2 {
            0 => malformed(&mut rng),
            _ => malformed_startup(&mut rng),
        };
        let mut buf = bytes::BytesMut::from(&bytes[..]);
        // Decode until the decoder wants more bytes, refuses, or (before
        // startup) stops consuming.
        loop {
            let before = buf.len();
            match PgWireFrontendMessage::decode(&mut buf, &ctx) {
                Ok(Some(_)) if !buf.is_empty() && buf.len() < before => {}
                _ => break,
            }
        }
    }
}
