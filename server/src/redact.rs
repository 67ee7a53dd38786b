//! Redaction of secrets in object definitions before they are shown or
//! logged.
//!
//! Connector options carry credentials: a `password` option, a URL with a
//! password in its user info (`postgres://u:secret@h/db`), a `password=`
//! query parameter or libpq key/value pair. Eddy keeps the definitions as
//! written (the connectors need them), so everything that *displays* a
//! definition — `SHOW CREATE`, `DESCRIBE`, `SHOW SOURCES/SINKS`, the
//! `pg_catalog` views, log lines — goes through [`redact_sql`] or
//! [`redact_options`] first. The secret is replaced by [`MASK`]; the rest
//! of the text is left as written so that it stays readable.

use std::borrow::Cow;
use std::collections::BTreeMap;

/// What a secret is replaced with.
pub const MASK: &str = "********";

/// Whether an option of this name holds a secret (`password`,
/// `sasl.password`, `ssl.key.password`, `secret`, `api_key`, `token`…).
pub fn is_secret_option(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.contains("password")
        || name.contains("passwd")
        || name.contains("secret")
        || name.contains("api_key")
        || name.contains("apikey")
        || name.ends_with("token")
        || name.ends_with("credentials")
}

/// Options with secret values masked and passwords removed from URLs and
/// connection strings in the others.
pub fn redact_options(options: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    options
        .iter()
        .map(|(k, v)| {
            let v = if is_secret_option(k) {
                MASK.to_string()
            } else {
                redact_value(v).into_owned()
            };
            (k.clone(), v)
        })
        .collect()
}

/// One option value (or any string) with the passwords inside it masked:
/// the password of a URL's user info (`scheme://user:secret@host`) and
/// `password=…` pairs (URL query parameters, libpq key/value strings).
pub fn redact_value(value: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(value);
    if let Some(masked) = mask_userinfo(&out) {
        out = Cow::Owned(masked);
    }
    if let Some(masked) = mask_password_pairs(&out) {
        out = Cow::Owned(masked);
    }
    out
}

/// `scheme://user:secret@host/…` → `scheme://user:********@host/…`, for
/// every URL in the text.
fn mask_userinfo(text: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = text;
    let mut changed = false;
    while let Some(i) = rest.find("://") {
        let (before, after) = rest.split_at(i + 3);
        out.push_str(before);
        let authority_end = after
            .find(|c: char| c == '/' || c == '?' || c == '#' || c.is_whitespace())
            .unwrap_or(after.len());
        let authority = &after[..authority_end];
        match (authority.rfind('@'), authority.find(':')) {
            (Some(at), Some(colon)) if colon < at => {
                out.push_str(&authority[..=colon]);
                out.push_str(MASK);
                out.push_str(&authority[at..]);
                changed = true;
            }
            _ => out.push_str(authority),
        }
        rest = &after[authority_end..];
    }
    out.push_str(rest);
    changed.then_some(out)
}

/// `…password=secret&…` / `host=h password=secret` → the value masked.
fn mask_password_pairs(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let mut out = String::new();
    let mut copied = 0;
    let mut search = 0;
    let mut changed = false;
    while let Some(found) = lower[search..].find("password=") {
        let start = search + found;
        let value_start = start + "password=".len();
        let at_boundary = start == 0
            || matches!(
                lower.as_bytes()[start - 1],
                b'?' | b'&' | b';' | b' ' | b'\t' | b'\n' | b'_' | b'.'
            );
        search = value_start;
        if !at_boundary {
            continue;
        }
        let value_end = text[value_start..]
            .find(|c: char| c == '&' || c == ';' || c == '#' || c.is_whitespace())
            .map_or(text.len(), |e| value_start + e);
        if value_end == value_start {
            continue;
        }
        out.push_str(&text[copied..value_start]);
        out.push_str(MASK);
        copied = value_end;
        search = value_end;
        changed = true;
    }
    out.push_str(&text[copied..]);
    changed.then_some(out)
}

/// A significant token before a string literal, enough to recognise
/// `password = '…'`, `'sasl.password' = '…'` and `PASSWORD '…'`.
#[derive(Debug, Clone, PartialEq)]
enum Prior {
    Word(String),
    Eq,
    Other,
}

/// SQL text (a `CREATE SOURCE/SINK`, `CREATE USER … PASSWORD`) with every
/// secret string literal masked: the value of a secret option
/// (`password = '…'`), the literal after `PASSWORD`, and passwords inside
/// other literals (URLs, connection strings). Comments and layout are kept.
pub fn redact_sql(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    // The last two significant tokens, most recent last.
    let mut prior: [Prior; 2] = [Prior::Other, Prior::Other];
    let push = |prior: &mut [Prior; 2], p: Prior| {
        prior[0] = std::mem::replace(&mut prior[1], p);
    };
    let mut chars = sql.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '\'' => {
                let (content, end) = read_quoted(sql, i, '\'');
                for _ in sql[i + 1..end].chars() {
                    chars.next();
                }
                let secret = match &prior {
                    [Prior::Word(key), Prior::Eq] => is_secret_option(key),
                    [_, Prior::Word(w)] => w.eq_ignore_ascii_case("password"),
                    _ => false,
                };
                if secret {
                    out.push('\'');
                    out.push_str(MASK);
                    out.push('\'');
                } else {
                    match redact_value(&content) {
                        Cow::Borrowed(_) => out.push_str(&sql[i..end]),
                        Cow::Owned(masked) => {
                            out.push('\'');
                            out.push_str(&masked.replace('\'', "''"));
                            out.push('\'');
                        }
                    }
                }
                push(&mut prior, Prior::Word(content));
            }
            '"' => {
                let (content, end) = read_quoted(sql, i, '"');
                for _ in sql[i + 1..end].chars() {
                    chars.next();
                }
                out.push_str(&sql[i..end]);
                push(&mut prior, Prior::Word(content));
            }
            '-' if sql[i..].starts_with("--") => {
                let end = sql[i..].find('\n').map_or(sql.len(), |e| i + e);
                out.push_str(&sql[i..end]);
                while chars.peek().is_some_and(|(j, _)| *j < end) {
                    chars.next();
                }
            }
            '/' if sql[i..].starts_with("/*") => {
                let end = sql[i + 2..].find("*/").map_or(sql.len(), |e| i + 2 + e + 2);
                out.push_str(&sql[i..end]);
                while chars.peek().is_some_and(|(j, _)| *j < end) {
                    chars.next();
                }
            }
            c if c.is_alphanumeric() || c == '_' => {
                let mut end = i + c.len_utf8();
                while let Some(&(j, d)) = chars.peek() {
                    if d.is_alphanumeric() || d == '_' || d == '.' || d == '$' {
                        end = j + d.len_utf8();
                        chars.next();
                    } else {
                        break;
                    }
                }
                out.push_str(&sql[i..end]);
                push(&mut prior, Prior::Word(sql[i..end].to_string()));
            }
            c if c.is_whitespace() => out.push(c),
            '=' => {
                out.push(c);
                push(&mut prior, Prior::Eq);
            }
            c => {
                out.push(c);
                push(&mut prior, Prior::Other);
            }
        }
    }
    out
}

/// The content of the quoted token starting at `start` (doubled quotes
/// unescaped) and the byte offset just after its closing quote.
fn read_quoted(sql: &str, start: usize, quote: char) -> (String, usize) {
    let mut content = String::new();
    let mut iter = sql[start + 1..].char_indices().peekable();
    while let Some((j, c)) = iter.next() {
        if c == quote {
            if iter.peek().is_some_and(|(_, d)| *d == quote) {
                iter.next();
                content.push(quote);
                continue;
            }
            return (content, start + 1 + j + 1);
        }
        content.push(c);
    }
    (content, sql.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_options_are_masked() {
        let sql = "CREATE SINK s WITH (connector = 'postgres', user = 'u', password = 'hunter2', table = 't')";
        let shown = redact_sql(sql);
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("password = '********'"), "{shown}");
        assert!(shown.contains("user = 'u'") && shown.contains("table = 't'"));
    }

    #[test]
    fn quoted_keys_and_dotted_keys_are_secret() {
        let shown = redact_sql("WITH ('sasl.password' = 'pw1', \"ssl.key.password\"='pw2')");
        assert!(!shown.contains("pw1") && !shown.contains("pw2"), "{shown}");
    }

    #[test]
    fn create_user_password_is_masked() {
        let shown = redact_sql("CREATE USER bob WITH PASSWORD 'it''s secret'");
        assert_eq!(shown, "CREATE USER bob WITH PASSWORD '********'");
    }

    #[test]
    fn urls_lose_their_passwords() {
        let shown = redact_sql(
            "WITH (url = 'postgres://app:s3cret@db:5432/x?sslmode=require', other = 'postgres://h/db?user=a&password=t0p&x=1')",
        );
        assert!(
            !shown.contains("s3cret") && !shown.contains("t0p"),
            "{shown}"
        );
        assert!(shown.contains("postgres://app:********@db:5432/x?sslmode=require"));
        assert!(shown.contains("user=a&password=********&x=1"));
    }

    #[test]
    fn libpq_strings_lose_their_passwords() {
        assert_eq!(
            redact_value("host=h user=u password=pw dbname=d"),
            "host=h user=u password=******** dbname=d"
        );
        assert_eq!(redact_value("plain text"), "plain text");
        assert_eq!(redact_value("mypassword=x"), "mypassword=x");
    }

    #[test]
    fn options_maps_are_redacted() {
        let mut options = BTreeMap::new();
        options.insert("password".to_string(), "pw".to_string());
        options.insert("url".to_string(), "postgres://u:pw@h/d".to_string());
        options.insert("table".to_string(), "t".to_string());
        let shown = redact_options(&options);
        assert_eq!(shown["password"], MASK);
        assert_eq!(shown["url"], "postgres://u:********@h/d");
        assert_eq!(shown["table"], "t");
    }

    #[test]
    fn comments_and_other_text_are_kept() {
        let sql = "-- password = 'x' in a comment\nSELECT 'password' /* 'y' */";
        assert_eq!(redact_sql(sql), sql);
    }
}
