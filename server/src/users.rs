//! Users (PostgreSQL roles that log in) and their SCRAM-SHA-256 verifiers.
//!
//! Only verifiers are stored — salt, iteration count, `StoredKey` and
//! `ServerKey` (RFC 5802, as PostgreSQL stores them) — never the password:
//! the SCRAM exchange needs nothing else, and a stolen file does not give
//! the password away. The store is one small JSON file, `users.json` in the
//! data directory, replaced atomically (temporary file, fsync, rename,
//! fsync of the directory) on every change; it is read on each connection,
//! so a user created in one session can log in as soon as that session
//! commits. Role statements are transactional, as in PostgreSQL: a change
//! is checked at once against the file as the transaction sees it, kept in
//! the transaction ([`UserChange`]), and applied again to the current file
//! at COMMIT; ROLLBACK leaves the file untouched.
//!
//! `CREATE USER`/`ALTER USER` are not PostgreSQL syntax to sqlparser (it
//! parses Snowflake's), so [`rewrite_user_statements`] turns them into
//! `CREATE ROLE … LOGIN` / `ALTER ROLE` before parsing, as PostgreSQL
//! itself treats them.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use datafusion::sql::sqlparser::ast::{
    AlterRoleOperation, CreateRole, Expr, ObjectType, Password, RoleOption, Statement, Value,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::tokenizer::{Location, Token, Tokenizer};
use eddy_wire::ScramVerifier;
use serde::{Deserialize, Serialize};

use crate::error::{UserError, UserResult};
use crate::names;

/// PostgreSQL's default `scram_iterations`.
const SCRAM_ITERATIONS: usize = 4096;

/// The superuser `--password-file` / `EDDY_PASSWORD` sets a password for.
pub const BOOTSTRAP_USER: &str = "eddy";

/// Serialises read-modify-write cycles of the file within the process.
static WRITE_LOCK: Mutex<()> = Mutex::new(());

/// A SCRAM-SHA-256 verifier; the byte strings are hex in the file.
#[derive(Clone, Serialize, Deserialize)]
pub struct Verifier {
    pub iterations: usize,
    pub salt: String,
    pub stored_key: String,
    pub server_key: String,
}

impl Verifier {
    /// Derives the verifier of `password` with a fresh random salt.
    pub fn new(password: &str) -> Verifier {
        let salt: [u8; 16] = rand::random();
        let derived = ScramVerifier::derive(password, &salt, SCRAM_ITERATIONS);
        Verifier {
            iterations: derived.iterations,
            salt: hex(&derived.salt),
            stored_key: hex(&derived.stored_key),
            server_key: hex(&derived.server_key),
        }
    }

    fn verifier(&self) -> Option<ScramVerifier> {
        Some(ScramVerifier {
            salt: unhex(&self.salt)?,
            iterations: self.iterations,
            stored_key: unhex(&self.stored_key)?,
            server_key: unhex(&self.server_key)?,
        })
    }
}

#[derive(Clone, Serialize, Deserialize)]
pub struct UserRecord {
    /// `LOGIN` (users) or `NOLOGIN` (plain roles).
    pub login: bool,
    /// `None`: no password; such a user cannot log in while passwords are
    /// required.
    pub scram_sha_256: Option<Verifier>,
}

/// The users file's contents.
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct UsersFile {
    users: BTreeMap<String, UserRecord>,
}

/// A role statement's change of the users file, kept by the transaction
/// until COMMIT and applied once to check it, then again at commit.
pub type UserChange = Arc<dyn Fn(&mut UsersFile) -> UserResult<()> + Send + Sync>;

impl UsersFile {
    /// Every user with whether it may log in and whether it has a
    /// password, by name (for `pg_roles`, `pg_user`, psql's `\du`).
    pub fn list(&self) -> Vec<(String, bool, bool)> {
        self.users
            .iter()
            .map(|(name, u)| (name.clone(), u.login, u.scram_sha_256.is_some()))
            .collect()
    }
}

/// The users of one data directory.
pub struct UserStore {
    path: PathBuf,
}

impl UserStore {
    pub fn at(data_dir: &Path) -> UserStore {
        UserStore {
            path: data_dir.join("users.json"),
        }
    }

    fn load(&self) -> std::io::Result<UsersFile> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: {e}", self.path.display()),
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(UsersFile::default()),
            Err(e) => Err(e),
        }
    }

    fn save(&self, file: &UsersFile) -> std::io::Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let tmp = self.path.with_extension("json.tmp");
        {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&serde_json::to_vec_pretty(file)?)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &self.path)?;
        std::fs::File::open(dir)?.sync_all()
    }

    /// The file with a transaction's changes applied, not saved.
    pub fn replayed(&self, changes: &[UserChange]) -> UserResult<UsersFile> {
        let mut file = self.load().map_err(storage_error)?;
        for change in changes {
            change(&mut file)?;
        }
        Ok(file)
    }

    /// Applies a transaction's changes to the current file and saves it
    /// (COMMIT): all of them, or none when one fails.
    pub fn apply(&self, changes: &[UserChange]) -> UserResult<()> {
        self.update(|file| {
            for change in changes {
                change(file)?;
            }
            Ok(())
        })
    }

    /// Loads, changes and saves the file under the process's write lock.
    fn update<T>(&self, change: impl FnOnce(&mut UsersFile) -> UserResult<T>) -> UserResult<T> {
        let _guard = WRITE_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let mut file = self.load().map_err(storage_error)?;
        let result = change(&mut file)?;
        self.save(&file).map_err(storage_error)?;
        Ok(result)
    }

    /// Whether some user has a password (which turns authentication on).
    pub fn has_passwords(&self) -> std::io::Result<bool> {
        Ok(self
            .load()?
            .users
            .values()
            .any(|u| u.scram_sha_256.is_some()))
    }

    /// The SCRAM verifier `user` logs in with; `None` when there is no
    /// such user, it may not log in, or it has no password.
    pub fn scram_verifier(&self, user: &str) -> std::io::Result<Option<ScramVerifier>> {
        Ok(self
            .load()?
            .users
            .get(user)
            .filter(|u| u.login)
            .and_then(|u| u.scram_sha_256.as_ref())
            .and_then(Verifier::verifier))
    }

    /// Sets `user`'s password, creating the user if needed (the bootstrap
    /// superuser's password at start-up).
    pub fn set_password(&self, user: &str, password: &str) -> UserResult<()> {
        let verifier = Verifier::new(password);
        self.update(|file| {
            let record = file.users.entry(user.to_string()).or_insert(UserRecord {
                login: true,
                scram_sha_256: None,
            });
            record.login = true;
            record.scram_sha_256 = Some(verifier);
            Ok(())
        })
    }
}

fn storage_error(e: std::io::Error) -> UserError {
    UserError::new("58030", format!("could not update the users file: {e}"))
}

/// The change of the users file `CREATE ROLE`/`ALTER ROLE`/`DROP ROLE`
/// (and their `USER` forms) make, and the statement's tag, for the
/// session's transaction to keep until COMMIT; `None` for any other
/// statement.
pub fn role_change(stmt: &Statement) -> Option<UserResult<(UserChange, &'static str)>> {
    let (change, t) = match stmt {
        Statement::CreateRole(create) => (create_roles(create), "CREATE ROLE"),
        Statement::CreateUser(create) => {
            let name = names::ident(&create.name);
            let if_not_exists = create.if_not_exists;
            let change: UserChange = Arc::new(move |file| {
                if file.users.contains_key(&name) {
                    if if_not_exists {
                        return Ok(());
                    }
                    return Err(already_exists(&name));
                }
                file.users.insert(
                    name.clone(),
                    UserRecord {
                        login: true,
                        scram_sha_256: None,
                    },
                );
                Ok(())
            });
            (Ok(change), "CREATE ROLE")
        }
        Statement::AlterRole { name, operation } => {
            (alter_role(&names::ident(name), operation), "ALTER ROLE")
        }
        Statement::Drop {
            object_type: ObjectType::Role | ObjectType::User,
            if_exists,
            names: dropped,
            ..
        } => {
            let if_exists = *if_exists;
            let change = dropped
                .iter()
                .map(names::object_name)
                .collect::<UserResult<Vec<_>>>()
                .map(|dropped| -> UserChange {
                    Arc::new(move |file| {
                        for name in &dropped {
                            if file.users.remove(name).is_none() && !if_exists {
                                return Err(does_not_exist(name));
                            }
                        }
                        Ok(())
                    })
                });
            (change, "DROP ROLE")
        }
        _ => return None,
    };
    Some(change.map(|c| (c, t)))
}

fn create_roles(create: &CreateRole) -> UserResult<UserChange> {
    let names = create
        .names
        .iter()
        .map(names::object_name)
        .collect::<UserResult<Vec<_>>>()?;
    let verifier = create
        .password
        .as_ref()
        .map(verifier_of)
        .transpose()?
        .flatten();
    let (if_not_exists, login) = (create.if_not_exists, create.login.unwrap_or(false));
    Ok(Arc::new(move |file| {
        for name in &names {
            if file.users.contains_key(name) {
                if if_not_exists {
                    continue;
                }
                return Err(already_exists(name));
            }
            file.users.insert(
                name.clone(),
                UserRecord {
                    login,
                    scram_sha_256: verifier.clone(),
                },
            );
        }
        Ok(())
    }))
}

fn alter_role(name: &str, operation: &AlterRoleOperation) -> UserResult<UserChange> {
    let name = name.to_string();
    match operation {
        AlterRoleOperation::WithOptions { options } => {
            let mut password = None;
            let mut login = None;
            for option in options {
                match option {
                    RoleOption::Password(p) => password = Some(verifier_of(p)?),
                    RoleOption::Login(l) => login = Some(*l),
                    // Privileges are not modelled: every user is a superuser.
                    _ => {}
                }
            }
            Ok(Arc::new(move |file| {
                let record = file
                    .users
                    .get_mut(&name)
                    .ok_or_else(|| does_not_exist(&name))?;
                if let Some(password) = &password {
                    record.scram_sha_256 = password.clone();
                }
                if let Some(login) = login {
                    record.login = login;
                }
                Ok(())
            }))
        }
        AlterRoleOperation::RenameRole { role_name } => {
            let new_name = names::ident(role_name);
            Ok(Arc::new(move |file| {
                if file.users.contains_key(&new_name) {
                    return Err(already_exists(&new_name));
                }
                let record = file
                    .users
                    .remove(&name)
                    .ok_or_else(|| does_not_exist(&name))?;
                // PostgreSQL clears an MD5 password on rename; SCRAM ones
                // do not depend on the name and are kept.
                file.users.insert(new_name.clone(), record);
                Ok(())
            }))
        }
        other => Err(UserError::unsupported(format!(
            "ALTER ROLE {name} {other} is not supported"
        ))),
    }
}

/// The verifier for `PASSWORD '…'`; `Ok(None)` for `PASSWORD NULL`.
fn verifier_of(password: &Password) -> UserResult<Option<Verifier>> {
    match password {
        Password::NullPassword => Ok(None),
        Password::Password(Expr::Value(v)) => match &v.value {
            Value::SingleQuotedString(s) | Value::EscapedStringLiteral(s) => {
                if s.is_empty() {
                    // As PostgreSQL: an empty password is no password.
                    Ok(None)
                } else {
                    Ok(Some(Verifier::new(s)))
                }
            }
            Value::Null => Ok(None),
            _ => Err(UserError::new("42601", "PASSWORD takes a string literal")),
        },
        Password::Password(_) => Err(UserError::new("42601", "PASSWORD takes a string literal")),
    }
}

fn already_exists(name: &str) -> UserError {
    UserError::new("42710", format!("role \"{name}\" already exists"))
}

fn does_not_exist(name: &str) -> UserError {
    UserError::new("42704", format!("role \"{name}\" does not exist"))
}

/// `CREATE USER x …` → `CREATE ROLE x … LOGIN`, `ALTER USER` → `ALTER
/// ROLE`, statement by statement; other text is returned unchanged.
pub fn rewrite_user_statements(sql: &str) -> Cow<'_, str> {
    if !sql.to_ascii_lowercase().contains("user") {
        return Cow::Borrowed(sql);
    }
    let Ok(tokens) = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize_with_location() else {
        return Cow::Borrowed(sql);
    };
    let offsets = LineOffsets::new(sql);
    // (byte offset of a `USER` keyword to replace, whether to add LOGIN)
    let mut user_words: Vec<usize> = Vec::new();
    let mut login_at: Vec<usize> = Vec::new();
    let mut significant: Vec<(String, usize)> = Vec::new();
    let mut has_login_option = false;
    let mut finish = |significant: &mut Vec<(String, usize)>, has_login: bool, end: usize| {
        let words: Vec<&str> = significant
            .iter()
            .take(2)
            .map(|(w, _)| w.as_str())
            .collect();
        match words.as_slice() {
            ["CREATE", "USER"] => {
                user_words.push(significant[1].1);
                if !has_login {
                    login_at.push(end);
                }
            }
            ["ALTER", "USER"] => user_words.push(significant[1].1),
            _ => {}
        }
        significant.clear();
    };
    for t in &tokens {
        match &t.token {
            Token::Whitespace(_) => {}
            Token::SemiColon | Token::EOF => {
                let end = offsets.byte(t.span.start).unwrap_or(sql.len());
                finish(&mut significant, has_login_option, end);
                has_login_option = false;
            }
            Token::Word(w) if w.quote_style.is_none() => {
                let upper = w.value.to_ascii_uppercase();
                if upper == "LOGIN" || upper == "NOLOGIN" {
                    has_login_option = true;
                }
                if significant.len() < 2 {
                    let at = offsets.byte(t.span.start).unwrap_or(0);
                    significant.push((upper, at));
                }
            }
            other => {
                if significant.len() < 2 {
                    significant.push((other.to_string(), 0));
                }
            }
        }
    }
    finish(&mut significant, has_login_option, sql.len());
    if user_words.is_empty() {
        return Cow::Borrowed(sql);
    }
    let mut out = sql.to_string();
    // Edits from the end, so that earlier offsets stay valid.
    let mut edits: Vec<(usize, &str, usize)> =
        user_words.iter().map(|&at| (at, "ROLE", 4)).collect();
    edits.extend(login_at.iter().map(|&at| (at, " LOGIN", 0)));
    edits.sort_by_key(|edit| std::cmp::Reverse(edit.0));
    for (at, text, len) in edits {
        if out.get(at..at + len).is_some() {
            out.replace_range(at..at + len, text);
        }
    }
    Cow::Owned(out)
}

/// Byte offsets of (line, column) locations, columns counted in chars.
struct LineOffsets<'a> {
    sql: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineOffsets<'a> {
    fn new(sql: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(sql.match_indices('\n').map(|(i, _)| i + 1));
        LineOffsets { sql, starts }
    }

    fn byte(&self, loc: Location) -> Option<usize> {
        let line_start = *self
            .starts
            .get(usize::try_from(loc.line).ok()?.checked_sub(1)?)?;
        let column = usize::try_from(loc.column).ok()?.checked_sub(1)?;
        let line = &self.sql[line_start..];
        Some(
            line_start
                + line
                    .char_indices()
                    .nth(column)
                    .map_or(line.len(), |(i, _)| i),
        )
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_user_becomes_create_role_login() {
        assert_eq!(
            rewrite_user_statements("CREATE USER bob WITH PASSWORD 'it''s'"),
            "CREATE ROLE bob WITH PASSWORD 'it''s' LOGIN"
        );
        assert_eq!(
            rewrite_user_statements(
                "select 1;\n create user \"Bob\" password 'x'; ALTER USER bob WITH PASSWORD 'y';"
            ),
            "select 1;\n create ROLE \"Bob\" password 'x' LOGIN; ALTER ROLE bob WITH PASSWORD 'y';"
        );
        assert_eq!(
            rewrite_user_statements("CREATE USER bob NOLOGIN"),
            "CREATE ROLE bob NOLOGIN"
        );
        assert_eq!(rewrite_user_statements("SELECT user"), "SELECT user");
    }

    #[test]
    fn rewritten_statements_parse() {
        for sql in [
            "CREATE USER bob WITH PASSWORD 'pw'",
            "CREATE USER bob PASSWORD 'pw'",
            "ALTER USER bob WITH PASSWORD 'pw2'",
            "ALTER USER bob PASSWORD NULL",
            "DROP USER IF EXISTS bob",
            "CREATE ROLE r LOGIN PASSWORD 'pw'",
        ] {
            let rewritten = rewrite_user_statements(sql);
            let parsed = eddy_sql::parse_statements(&rewritten)
                .unwrap_or_else(|e| panic!("{rewritten}: {e:?}"));
            assert_eq!(parsed.len(), 1, "{rewritten}");
        }
    }

    #[test]
    fn verifiers_check_the_right_password_only() {
        let v = Verifier::new("pencil");
        let stored = v.verifier().expect("hex that reads back");
        let expected = ScramVerifier::derive("pencil", &stored.salt, stored.iterations);
        assert_eq!(stored, expected);
        let wrong = ScramVerifier::derive("pencils", &stored.salt, stored.iterations);
        assert_ne!(stored.stored_key, wrong.stored_key);
        let other = Verifier::new("pencil");
        assert_ne!(other.salt, v.salt, "salts are random");
    }

    #[test]
    fn the_file_holds_verifiers_not_passwords() {
        let dir = tempfile::tempdir().unwrap();
        let store = UserStore::at(dir.path());
        assert!(!store.has_passwords().unwrap());
        store.set_password("eddy", "correct horse").unwrap();
        let text = std::fs::read_to_string(dir.path().join("users.json")).unwrap();
        assert!(!text.contains("correct horse"), "{text}");
        assert!(store.has_passwords().unwrap());
        assert!(store.scram_verifier("eddy").unwrap().is_some());
        assert!(store.scram_verifier("nobody").unwrap().is_none());
        assert_eq!(
            store.replayed(&[]).unwrap().list(),
            vec![("eddy".to_string(), true, true)]
        );
    }
}
