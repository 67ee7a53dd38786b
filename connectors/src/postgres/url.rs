//! Connection URLs of the `postgres` sink, in the two forms users bring:
//!
//! - JDBC: `jdbc:postgresql://host[:port]/db?user=u&password=p`, also
//!   `jdbc:postgresql:db` (localhost) and `jdbc:postgresql://host/db`;
//! - libpq: `postgres://[user[:password]@]host[:port]/db?…` or
//!   `postgresql://…`.
//!
//! Query parameters understood in both: `user`, `password`, `host` (also a
//! Unix socket directory), `port`, `dbname`, `connect_timeout` /
//! `connectTimeout` (seconds), `application_name` / `ApplicationName`,
//! `currentSchema` / `options`, `sslmode` / `ssl` (only without TLS for
//! now). Other JDBC driver properties are ignored, as the JDBC driver
//! ignores properties it does not know.

use std::time::Duration;

use eddy_engine::{EngineError, Result};

/// A parsed connection URL: the connection settings and a description
/// without the password, for messages and logs.
#[derive(Debug, Clone)]
pub struct PgUrl {
    pub config: tokio_postgres::Config,
    /// `host:port/db`, never the password.
    pub display: String,
}

fn bad(url_without_secrets: &str, why: &str) -> EngineError {
    EngineError::Config(format!(
        "invalid PostgreSQL url '{url_without_secrets}': {why}; expected \
         'jdbc:postgresql://host:port/db?user=name' or 'postgres://user@host:port/db'"
    ))
}

/// Parses `url`; `password`, when given, overrides one in the URL.
pub fn parse_pg_url(url: &str, password: Option<&str>) -> Result<PgUrl> {
    let url = url.trim();
    let shown = redact(url);
    let rest = if let Some(jdbc) = url.strip_prefix("jdbc:postgresql:") {
        match jdbc.strip_prefix("//") {
            Some(r) => r.to_string(),
            None => format!("localhost/{jdbc}"),
        }
    } else if let Some(r) = url
        .strip_prefix("postgresql://")
        .or_else(|| url.strip_prefix("postgres://"))
    {
        r.to_string()
    } else {
        return Err(bad(&shown, "unknown scheme"));
    };

    let (authority_path, query) = rest.split_once('?').unwrap_or((&rest, ""));
    let (authority, path) = authority_path
        .split_once('/')
        .unwrap_or((authority_path, ""));
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };

    let mut config = tokio_postgres::Config::new();
    let mut user = None;
    let mut url_password = None;
    if let Some(info) = userinfo {
        let (u, p) = info
            .split_once(':')
            .map_or((info, None), |(u, p)| (u, Some(p)));
        if !u.is_empty() {
            user =
                Some(percent_decode(u).ok_or_else(|| bad(&shown, "bad percent-encoding in user"))?);
        }
        if let Some(p) = p {
            url_password = Some(
                percent_decode(p).ok_or_else(|| bad(&shown, "bad percent-encoding in password"))?,
            );
        }
    }
    let (mut host, mut port) =
        split_host_port(hostport).ok_or_else(|| bad(&shown, "bad host or port"))?;
    let mut dbname = match path {
        "" => None,
        p => Some(
            percent_decode(p)
                .ok_or_else(|| bad(&shown, "bad percent-encoding in database name"))?,
        ),
    };

    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(&value.replace('+', " "))
            .ok_or_else(|| bad(&shown, "bad percent-encoding"))?;
        match key {
            "user" => user = Some(value),
            "password" => url_password = Some(value),
            "host" => host = Some(value),
            "port" => {
                port = Some(
                    value
                        .parse()
                        .map_err(|_| bad(&shown, "port is not a number"))?,
                )
            }
            "dbname" => dbname = Some(value),
            "connect_timeout" | "connectTimeout" => {
                let secs: u64 = value
                    .parse()
                    .map_err(|_| bad(&shown, "connect timeout is not a number"))?;
                if secs > 0 {
                    config.connect_timeout(Duration::from_secs(secs));
                }
            }
            "application_name" | "ApplicationName" => {
                config.application_name(&value);
            }
            "currentSchema" => {
                config.options(format!("-c search_path={value}"));
            }
            "options" => {
                config.options(&value);
            }
            "sslmode" if matches!(value.as_str(), "disable" | "allow" | "prefer") => {}
            "ssl" if value == "false" => {}
            "sslmode" | "ssl" => {
                return Err(bad(
                    &shown,
                    "TLS connections to PostgreSQL are not supported yet; use sslmode=disable",
                ));
            }
            _ => {}
        }
    }

    let user = user.ok_or_else(|| {
        bad(
            &shown,
            "no user given (add '?user=name' or 'user@' before the host)",
        )
    })?;
    config.user(&user);
    if let Some(p) = password.map(str::to_string).or(url_password) {
        config.password(p);
    }
    let host = host.unwrap_or_else(|| "localhost".to_string());
    config.host(&host);
    let port = port.unwrap_or(5432);
    config.port(port);
    let db = dbname.unwrap_or_else(|| user.clone());
    config.dbname(&db);
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    Ok(PgUrl {
        config,
        display: format!("{host}:{port}/{db}"),
    })
}

/// `host`, `host:port`, `[v6]`, `[v6]:port` or empty.
fn split_host_port(s: &str) -> Option<(Option<String>, Option<u16>)> {
    if s.is_empty() {
        return Some((None, None));
    }
    let (host, port) = if let Some(v6) = s.strip_prefix('[') {
        let (h, after) = v6.split_once(']')?;
        (h, after.strip_prefix(':'))
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let port = match port {
        Some(p) => Some(p.parse().ok()?),
        None => None,
    };
    let host = (!host.is_empty()).then(|| percent_decode(host)).flatten();
    Some((host, port))
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The URL with any password replaced by `***`, for error messages.
pub fn redact(url: &str) -> String {
    let mut out = url.to_string();
    if let Some(start) = out.find("password=") {
        let value_start = start + "password=".len();
        let end = out[value_start..]
            .find('&')
            .map_or(out.len(), |e| value_start + e);
        out.replace_range(value_start..end, "***");
    }
    if let Some(scheme_end) = out.find("://") {
        let auth_start = scheme_end + 3;
        let auth_end = out[auth_start..]
            .find(['/', '?'])
            .map_or(out.len(), |e| auth_start + e);
        if let Some(at) = out[auth_start..auth_end].rfind('@') {
            let info = &out[auth_start..auth_start + at];
            if let Some(colon) = info.find(':') {
                out.replace_range(auth_start + colon + 1..auth_start + at, "***");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use tokio_postgres::config::Host;

    use super::*;

    fn parts(url: &str, password: Option<&str>) -> (String, u16, String, String, Option<String>) {
        let p = parse_pg_url(url, password).unwrap();
        let host = match &p.config.get_hosts()[0] {
            Host::Tcp(h) => h.clone(),
            Host::Unix(path) => path.display().to_string(),
        };
        (
            host,
            p.config.get_ports()[0],
            p.config.get_dbname().unwrap().to_string(),
            p.config.get_user().unwrap().to_string(),
            p.config
                .get_password()
                .map(|b| String::from_utf8(b.to_vec()).unwrap()),
        )
    }

    fn s(v: &str) -> String {
        v.to_string()
    }

    #[test]
    fn jdbc_urls() {
        assert_eq!(
            parts(
                "jdbc:postgresql://db.local:6543/shop?user=app&password=p%40ss",
                None
            ),
            (s("db.local"), 6543, s("shop"), s("app"), Some(s("p@ss")))
        );
        assert_eq!(
            parts(
                "jdbc:postgresql://localhost/shop?user=app&ssl=false&loginTimeout=5",
                Some("secret")
            ),
            (s("localhost"), 5432, s("shop"), s("app"), Some(s("secret")))
        );
        assert_eq!(
            parts("jdbc:postgresql:shop?user=app", None),
            (s("localhost"), 5432, s("shop"), s("app"), None)
        );
    }

    #[test]
    fn libpq_urls() {
        assert_eq!(
            parts("postgres://app:pw@127.0.0.1:5433/shop", None),
            (s("127.0.0.1"), 5433, s("shop"), s("app"), Some(s("pw")))
        );
        assert_eq!(
            parts("postgresql://app:pw@[::1]:5433/shop", Some("override")),
            (s("::1"), 5433, s("shop"), s("app"), Some(s("override")))
        );
        assert_eq!(
            parts("postgresql://app@pg", None),
            (s("pg"), 5432, s("app"), s("app"), None)
        );
        assert_eq!(
            parts("postgresql:///shop?host=/var/run/postgresql&user=app", None),
            (s("/var/run/postgresql"), 5432, s("shop"), s("app"), None)
        );
    }

    #[test]
    fn errors_never_show_the_password() {
        let err = parse_pg_url("mysql://u:topsecret@h/db", None)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "invalid PostgreSQL url 'mysql://u:***@h/db': unknown scheme; expected \
             'jdbc:postgresql://host:port/db?user=name' or 'postgres://user@host:port/db'"
        );
        let err = parse_pg_url(
            "jdbc:postgresql://h:port/db?password=topsecret&user=u",
            None,
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("'jdbc:postgresql://h:port/db?password=***&user=u': bad host or port")
        );
        let err = parse_pg_url("postgres://h/db", None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no user given"), "{err}");
        let err = parse_pg_url("postgres://u@h/db?sslmode=require", None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("TLS connections to PostgreSQL are not supported yet"),
            "{err}"
        );
    }
}
