//! PostgreSQL's identifier rules, once for every caller: folding (an
//! unquoted identifier folds its ASCII letters to lower case, a quoted one
//! is kept as written) and quoting (always, for SQL that Eddy generates;
//! only where needed, for `quote_ident()` and names shown to users).

use datafusion::sql::sqlparser::ast::Ident;
use datafusion::sql::sqlparser::keywords::RESERVED_FOR_COLUMN_ALIAS;

/// The name `ident` stands for.
pub fn fold(ident: &Ident) -> String {
    fold_text(&ident.value, ident.quote_style.is_some())
}

/// The name an identifier written as `value` stands for, quoted or not.
/// PostgreSQL folds only ASCII letters (`downcase_identifier`): `"É"`
/// stays `É` unquoted too.
pub fn fold_text(value: &str, quoted: bool) -> String {
    if quoted {
        value.to_string()
    } else {
        value.to_ascii_lowercase()
    }
}

/// `"name"`, with embedded quotes doubled: safe in any SQL Eddy generates,
/// whatever the name holds.
pub fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// PostgreSQL's `quote_ident()`: the name as it is where it reads back as
/// itself unquoted (lower-case letters, digits and `_`, not starting with
/// a digit, not a reserved word), else [`quoted`].
pub fn quote_if_needed(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !RESERVED_FOR_COLUMN_ALIAS
            .iter()
            .any(|k| format!("{k:?}").eq_ignore_ascii_case(name));
    if plain {
        name.to_string()
    } else {
        quoted(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_and_quoting_follow_postgres() {
        assert_eq!(fold(&Ident::new("Clicks")), "clicks");
        assert_eq!(fold(&Ident::with_quote('"', "Clicks")), "Clicks");
        assert_eq!(fold(&Ident::new("ÉTÉ")), "ÉtÉ");
        assert_eq!(quoted(r#"a"b"#), r#""a""b""#);
        assert_eq!(quote_if_needed("clicks_2"), "clicks_2");
        assert_eq!(quote_if_needed("Clicks"), r#""Clicks""#);
        assert_eq!(quote_if_needed("2x"), r#""2x""#);
        assert_eq!(quote_if_needed("select"), r#""select""#);
        assert_eq!(quote_if_needed(r#"a"b"#), r#""a""b""#);
    }
}
