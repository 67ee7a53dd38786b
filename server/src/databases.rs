//! What a database is in Eddy.
//!
//! Eddy holds one database, `eddy`. Tools expect PostgreSQL's maintenance
//! databases as well: `dbmate up`, `createdb`, SQLAlchemy-utils'
//! `database_exists` and `psql -l` connect to `postgres` (or `template1`)
//! and ask `pg_database` whether their target exists. So `postgres` and
//! `template1` are other names of the same database:
//!
//! - a client may connect with any of the three names and sees the same
//!   objects; a connection to any other name is refused as PostgreSQL
//!   refuses it (FATAL 3D000, [`check_connect`]);
//! - `current_database()` is the name the client connected with, as in
//!   PostgreSQL; `pg_database` (and so psql's `\l`) lists all three
//!   ([`DATABASES`]);
//! - `CREATE DATABASE` of one of them fails with 42P04 (it exists), of any
//!   other name with 0A000; `DROP DATABASE` is refused the same way
//!   (`create_database`, `drop_database`).

use datafusion::sql::sqlparser::ast::{ObjectName, ObjectType, Statement};

use crate::error::{UserError, UserResult};
use crate::outcome::Outcome;
pub use eddy_pgcompat::pg_catalog::DatabaseEntry;

/// The names of Eddy's one database, with the OIDs PostgreSQL gives
/// `template1` and `postgres`.
pub const DATABASES: [DatabaseEntry; 3] = [
    DatabaseEntry {
        name: "eddy",
        oid: 16_384,
        is_template: false,
    },
    DatabaseEntry {
        name: "postgres",
        oid: 5,
        is_template: false,
    },
    DatabaseEntry {
        name: "template1",
        oid: 1,
        is_template: true,
    },
];

/// The database a startup packet names when it names none.
pub const DEFAULT: &str = "eddy";

pub fn lookup(name: &str) -> Option<&'static DatabaseEntry> {
    DATABASES.iter().find(|d| d.name == name)
}

/// The error a connection to `name` is refused with, as PostgreSQL words
/// it; `Ok` for Eddy's names.
pub fn check_connect(name: &str) -> Result<(), (&'static str, String)> {
    match lookup(name) {
        Some(_) => Ok(()),
        None => Err(("3D000", format!("database \"{name}\" does not exist"))),
    }
}

fn database_name(name: &ObjectName) -> String {
    match name.0.as_slice() {
        [part] => part
            .as_ident()
            .map_or_else(|| part.to_string(), crate::names::ident),
        _ => name.to_string(),
    }
}

fn one_database() -> String {
    let [eddy, aliases @ ..] = &DATABASES;
    let aliases: Vec<String> = aliases.iter().map(|d| format!("\"{}\"", d.name)).collect();
    format!(
        "Eddy has one database, \"{}\", which clients may also connect to as {}",
        eddy.name,
        aliases.join(" or ")
    )
}

/// `CREATE DATABASE` and `DROP DATABASE`, with the notices to send; `None`
/// for other statements.
pub fn execute_database_statement(stmt: &Statement) -> Option<UserResult<(Outcome, Vec<String>)>> {
    let done = |tag: &str| Outcome::Command(tag.into(), None);
    match stmt {
        Statement::CreateDatabase {
            db_name,
            if_not_exists,
            ..
        } => Some(
            create_database(db_name, *if_not_exists)
                .map(|notice| (done("CREATE DATABASE"), notice.into_iter().collect())),
        ),
        Statement::Drop {
            object_type: ObjectType::Database,
            names,
            if_exists,
            ..
        } => Some(drop_database(names, *if_exists).map(|notices| (done("DROP DATABASE"), notices))),
        _ => None,
    }
}

/// `CREATE DATABASE name`: `Ok(Some(notice))` when `IF NOT EXISTS` skips
/// an existing name.
fn create_database(name: &ObjectName, if_not_exists: bool) -> UserResult<Option<String>> {
    let name = database_name(name);
    match lookup(&name) {
        Some(_) if if_not_exists => Ok(Some(format!(
            "database \"{name}\" already exists, skipping"
        ))),
        Some(_) => Err(UserError::new(
            "42P04",
            format!("database \"{name}\" already exists"),
        )),
        None => Err(UserError::unsupported(format!(
            "CREATE DATABASE is not supported: {}; use it instead of \"{name}\"",
            one_database()
        ))),
    }
}

/// `DROP DATABASE names`: the notices of names `IF EXISTS` skips.
fn drop_database(names: &[ObjectName], if_exists: bool) -> UserResult<Vec<String>> {
    let mut notices = Vec::new();
    for name in names {
        let name = database_name(name);
        match lookup(&name) {
            Some(_) => {
                return Err(UserError::unsupported(format!(
                    "DROP DATABASE is not supported: {}",
                    one_database()
                )));
            }
            None if if_exists => {
                notices.push(format!("database \"{name}\" does not exist, skipping"))
            }
            None => {
                return Err(UserError::new(
                    "3D000",
                    format!("database \"{name}\" does not exist"),
                ));
            }
        }
    }
    Ok(notices)
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::ast::Ident;

    use super::*;

    fn name(text: &str) -> ObjectName {
        ObjectName::from(vec![Ident::new(text)])
    }

    #[test]
    fn one_database_under_three_names() {
        assert!(check_connect("postgres").is_ok());
        assert!(check_connect("template1").is_ok());
        assert_eq!(check_connect("shop").unwrap_err().0, "3D000");
        assert_eq!(
            create_database(&name("EDDY"), false).unwrap_err().sqlstate,
            "42P04"
        );
        assert!(create_database(&name("eddy"), true).unwrap().is_some());
        let other = create_database(&name("other"), false).unwrap_err();
        assert_eq!(other.sqlstate, "0A000");
        assert!(
            other.message.contains(
                "Eddy has one database, \"eddy\", which clients may also connect to as \"postgres\" or \"template1\""
            ),
            "{}",
            other.message
        );
        assert_eq!(
            drop_database(&[name("eddy")], true).unwrap_err().sqlstate,
            "0A000"
        );
        assert_eq!(drop_database(&[name("x")], true).unwrap().len(), 1);
        assert_eq!(
            drop_database(&[name("x")], false).unwrap_err().sqlstate,
            "3D000"
        );
    }
}
