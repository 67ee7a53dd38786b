//! `pg_roles` (also answered for `pg_authid`) and `pg_user`: the
//! session's user and the users created with `CREATE USER`.

use datafusion::catalog::MemTable;
use datafusion::error::Result as DfResult;

use super::super::context::CatalogContext;
use super::super::oids::{self, relation_oid};
use super::super::rows::{Col::*, boolean, int, null, table, text};

/// A role of `pg_roles`: oid, name, can log in.
pub(super) struct Role {
    oid: i64,
    name: String,
    login: bool,
}

/// The session's user (the bootstrap superuser, oid 10) and the users
/// created with `CREATE USER`; passwords are never shown (`********`).
pub(super) fn roles(ctx: &CatalogContext) -> Vec<Role> {
    let user = ctx.user();
    let mut roles = vec![Role {
        oid: oids::BOOTSTRAP_SUPERUSER,
        name: user.clone(),
        login: true,
    }];
    for stored in ctx.source.roles() {
        if stored.name != user {
            roles.push(Role {
                oid: relation_oid("role", &stored.name),
                name: stored.name,
                login: stored.can_login,
            });
        }
    }
    roles
}

pub(super) fn pg_roles(roles: &[Role]) -> DfResult<MemTable> {
    table(
        &[
            ("oid", Oid),
            ("rolname", Text),
            ("rolsuper", Bool),
            ("rolinherit", Bool),
            ("rolcreaterole", Bool),
            ("rolcreatedb", Bool),
            ("rolcanlogin", Bool),
            ("rolreplication", Bool),
            ("rolconnlimit", I32),
            ("rolpassword", Text),
            ("rolvaliduntil", Timestamptz),
            ("rolbypassrls", Bool),
            ("rolconfig", TextArray),
        ],
        roles
            .iter()
            .map(|r| {
                vec![
                    int(r.oid),
                    text(&r.name),
                    boolean(true),
                    boolean(true),
                    boolean(true),
                    boolean(true),
                    boolean(r.login),
                    boolean(false),
                    int(-1),
                    text("********"),
                    null(),
                    boolean(true),
                    null(),
                ]
            })
            .collect(),
    )
}

pub(super) fn pg_user(roles: &[Role]) -> DfResult<MemTable> {
    table(
        &[
            ("usename", Text),
            ("usesysid", Oid),
            ("usecreatedb", Bool),
            ("usesuper", Bool),
            ("userepl", Bool),
            ("usebypassrls", Bool),
            ("passwd", Text),
            ("valuntil", Timestamptz),
            ("useconfig", TextArray),
        ],
        roles
            .iter()
            .filter(|r| r.login)
            .map(|r| {
                vec![
                    text(&r.name),
                    int(r.oid),
                    boolean(true),
                    boolean(true),
                    boolean(false),
                    boolean(true),
                    text("********"),
                    null(),
                    null(),
                ]
            })
            .collect(),
    )
}
