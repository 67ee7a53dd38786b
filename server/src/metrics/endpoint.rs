//! The HTTP side of `/metrics`: `GET /metrics` (or `HEAD`) is answered
//! with the text exposition format, any other path with 404, another
//! method on `/metrics` with 405. One request per connection
//! (`Connection: close`), as Prometheus is content with; a client gets
//! [`REQUEST_TIMEOUT`] to send its request and the whole answer, so a
//! stalled one holds nothing for long.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use super::Metrics;

/// The default of `--metrics-listen`.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9544";

/// The path the figures are served at.
pub const PATH: &str = "/metrics";

/// How long a scrape connection may take, request and answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A request larger than this (headers included) is refused with 431.
const MAX_REQUEST: usize = 16 * 1024;

/// `--metrics-listen`: where `/metrics` is served, or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsListen {
    Off,
    At(SocketAddr),
}

impl FromStr for MetricsListen {
    type Err = String;

    fn from_str(text: &str) -> Result<MetricsListen, String> {
        if text.eq_ignore_ascii_case("off") {
            return Ok(MetricsListen::Off);
        }
        text.parse().map(MetricsListen::At).map_err(|_| {
            format!("{text:?} is neither an address such as {DEFAULT_LISTEN} nor `off`")
        })
    }
}

impl fmt::Display for MetricsListen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetricsListen::Off => f.write_str("off"),
            MetricsListen::At(addr) => write!(f, "{addr}"),
        }
    }
}

/// Answers scrapes on `listener` until the future is dropped (which ends
/// the connections being answered too).
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let metrics = metrics.clone();
                    connections.spawn(async move {
                        match tokio::time::timeout(REQUEST_TIMEOUT, answer(stream, &metrics)).await {
                            Ok(Ok(())) => {}
                            Ok(Err(e)) => tracing::debug!(%peer, error = %e, "/metrics: connection failed"),
                            Err(_) => tracing::debug!(%peer, "/metrics: request timed out"),
                        }
                    });
                }
                Err(e) => tracing::warn!(error = %e, "/metrics: accept failed"),
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Reads one request from `stream` and answers it.
async fn answer(mut stream: TcpStream, metrics: &Metrics) -> std::io::Result<()> {
    let mut request = Vec::new();
    let mut chunk = [0u8; 2048];
    let response = loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            // Closed before a whole request arrived: nobody to answer.
            return Ok(());
        }
        request.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut parsed = httparse::Request::new(&mut headers);
        match parsed.parse(&request) {
            Ok(httparse::Status::Complete(_)) => {
                break respond(
                    parsed.method.unwrap_or(""),
                    parsed.path.unwrap_or(""),
                    metrics,
                );
            }
            Ok(httparse::Status::Partial) if request.len() < MAX_REQUEST => continue,
            Ok(httparse::Status::Partial) => {
                break Response::text(
                    431,
                    "Request Header Fields Too Large",
                    "request too large\n",
                );
            }
            Err(e) => break Response::text(400, "Bad Request", &format!("{e}\n")),
        }
    };
    stream.write_all(&response.into_bytes()).await?;
    stream.shutdown().await
}

/// What a request is answered with.
#[derive(Debug)]
struct Response {
    status: u16,
    reason: &'static str,
    content_type: &'static str,
    body: String,
    /// `HEAD`: the headers of the answer without its body.
    head_only: bool,
    allow: Option<&'static str>,
}

impl Response {
    fn text(status: u16, reason: &'static str, body: &str) -> Response {
        Response {
            status,
            reason,
            content_type: "text/plain; charset=utf-8",
            body: body.to_owned(),
            head_only: false,
            allow: None,
        }
    }

    fn into_bytes(self) -> Vec<u8> {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.status,
            self.reason,
            self.content_type,
            self.body.len()
        );
        if let Some(allow) = self.allow {
            head.push_str(&format!("Allow: {allow}\r\n"));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        if !self.head_only {
            bytes.extend_from_slice(self.body.as_bytes());
        }
        bytes
    }
}

fn respond(method: &str, target: &str, metrics: &Metrics) -> Response {
    let path = target.split(['?', '#']).next().unwrap_or_default();
    if path != PATH {
        return Response::text(
            404,
            "Not Found",
            &format!("not found: Eddy serves its metrics at {PATH}\n"),
        );
    }
    if method != "GET" && method != "HEAD" {
        return Response {
            allow: Some("GET, HEAD"),
            ..Response::text(405, "Method Not Allowed", "only GET and HEAD\n")
        };
    }
    match metrics.render() {
        Ok(body) => Response {
            status: 200,
            reason: "OK",
            content_type: prometheus::TEXT_FORMAT,
            body,
            head_only: method == "HEAD",
            allow: None,
        },
        Err(e) => {
            tracing::error!(error = %e, "/metrics: cannot encode the metrics");
            Response::text(500, "Internal Server Error", &format!("{e}\n"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_is_an_address_or_off() {
        assert_eq!("off".parse(), Ok(MetricsListen::Off));
        assert_eq!("OFF".parse(), Ok(MetricsListen::Off));
        assert_eq!(
            DEFAULT_LISTEN.parse(),
            Ok(MetricsListen::At(([127, 0, 0, 1], 9544).into()))
        );
        let error = "localhost".parse::<MetricsListen>().unwrap_err();
        assert!(
            error.contains(DEFAULT_LISTEN) && error.contains("off"),
            "{error}"
        );
    }

    #[test]
    fn only_get_or_head_of_the_metrics_path_is_answered_with_metrics() {
        let (_dir, metrics) = crate::metrics::tests::empty();
        let answer = |method, path| {
            let r = respond(method, path, &metrics);
            (r.status, r.head_only, r.body.contains("eddy_connections"))
        };
        assert_eq!(answer("GET", "/metrics"), (200, false, true));
        assert_eq!(answer("GET", "/metrics?name[]=x"), (200, false, true));
        assert_eq!(answer("HEAD", "/metrics"), (200, true, true));
        assert_eq!(answer("GET", "/"), (404, false, false));
        assert_eq!(answer("GET", "/metrics/x"), (404, false, false));
        assert_eq!(answer("POST", "/metrics"), (405, false, false));
    }

    #[test]
    fn responses_are_http_with_a_length() {
        let bytes = Response {
            allow: Some("GET, HEAD"),
            ..Response::text(405, "Method Not Allowed", "only GET and HEAD\n")
        }
        .into_bytes();
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Length: 18\r\nConnection: close\r\nAllow: GET, HEAD\r\n\r\nonly GET and HEAD\n"
        );
    }
}
