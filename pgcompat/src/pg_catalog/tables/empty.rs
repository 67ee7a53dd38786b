//! The relations Eddy has nothing to list in — functions, inheritance,
//! enums, ranges, sequences, views, rules, operator classes, policies,
//! extended statistics, publications, triggers, role memberships, shared
//! comments, foreign-data wrappers — declared by their columns alone.
//! They exist, empty, so that the queries clients join them into still
//! plan.

use super::super::rows::Col::{self, *};

/// Each empty relation with its columns, in PostgreSQL's order.
const EMPTY: &[(&str, &[(&str, Col)])] = &[
    (
        "pg_auth_members",
        &[
            ("oid", Oid),
            ("roleid", Oid),
            ("member", Oid),
            ("grantor", Oid),
            ("admin_option", Bool),
        ],
    ),
    (
        "pg_shdescription",
        &[("objoid", Oid), ("classoid", Oid), ("description", Text)],
    ),
    (
        "pg_proc",
        &[
            ("oid", Oid),
            ("proname", Text),
            ("pronamespace", Oid),
            ("proowner", Oid),
            ("prolang", Oid),
            ("prokind", Text),
            ("proretset", Bool),
            ("prorettype", Oid),
            ("pronargs", I16),
            ("proargtypes", OidArray),
            ("proargnames", TextArray),
            ("prosrc", Text),
        ],
    ),
    (
        "pg_inherits",
        &[
            ("inhrelid", Oid),
            ("inhparent", Oid),
            ("inhseqno", I32),
            ("inhdetachpending", Bool),
        ],
    ),
    (
        "pg_enum",
        &[
            ("oid", Oid),
            ("enumtypid", Oid),
            ("enumsortorder", F32),
            ("enumlabel", Text),
        ],
    ),
    (
        "pg_range",
        &[
            ("rngtypid", Oid),
            ("rngsubtype", Oid),
            ("rngmultitypid", Oid),
            ("rngcollation", Oid),
            ("rngsubopc", Oid),
            ("rngcanonical", Text),
            ("rngsubdiff", Text),
        ],
    ),
    (
        "pg_sequence",
        &[
            ("seqrelid", Oid),
            ("seqtypid", Oid),
            ("seqstart", I64),
            ("seqincrement", I64),
            ("seqmax", I64),
            ("seqmin", I64),
            ("seqcache", I64),
            ("seqcycle", Bool),
        ],
    ),
    (
        "pg_sequences",
        &[
            ("schemaname", Text),
            ("sequencename", Text),
            ("sequenceowner", Text),
            ("data_type", Text),
            ("start_value", I64),
            ("min_value", I64),
            ("max_value", I64),
            ("increment_by", I64),
            ("cycle", Bool),
            ("cache_size", I64),
            ("last_value", I64),
        ],
    ),
    (
        "pg_views",
        &[
            ("schemaname", Text),
            ("viewname", Text),
            ("viewowner", Text),
            ("definition", Text),
        ],
    ),
    (
        "pg_rewrite",
        &[
            ("oid", Oid),
            ("rulename", Text),
            ("ev_class", Oid),
            ("ev_type", Text),
            ("ev_enabled", Text),
            ("is_instead", Bool),
            ("ev_qual", Text),
            ("ev_action", Text),
        ],
    ),
    (
        "pg_opclass",
        &[
            ("oid", Oid),
            ("opcmethod", Oid),
            ("opcname", Text),
            ("opcnamespace", Oid),
            ("opcowner", Oid),
            ("opcfamily", Oid),
            ("opcintype", Oid),
            ("opcdefault", Bool),
            ("opckeytype", Oid),
        ],
    ),
    (
        "pg_policy",
        &[
            ("oid", Oid),
            ("polname", Text),
            ("polrelid", Oid),
            ("polcmd", Text),
            ("polpermissive", Bool),
            ("polroles", OidArray),
            ("polqual", Text),
            ("polwithcheck", Text),
        ],
    ),
    (
        "pg_statistic_ext",
        &[
            ("oid", Oid),
            ("stxrelid", Oid),
            ("stxname", Text),
            ("stxnamespace", Oid),
            ("stxowner", Oid),
            ("stxstattarget", I32),
            ("stxkeys", I16Array),
            ("stxkind", TextArray),
            ("stxexprs", Text),
        ],
    ),
    (
        "pg_publication",
        &[
            ("oid", Oid),
            ("pubname", Text),
            ("pubowner", Oid),
            ("puballtables", Bool),
            ("pubinsert", Bool),
            ("pubupdate", Bool),
            ("pubdelete", Bool),
            ("pubtruncate", Bool),
            ("pubviaroot", Bool),
        ],
    ),
    (
        "pg_publication_rel",
        &[
            ("oid", Oid),
            ("prpubid", Oid),
            ("prrelid", Oid),
            ("prqual", Text),
            ("prattrs", I16Array),
        ],
    ),
    (
        "pg_publication_namespace",
        &[("oid", Oid), ("pnpubid", Oid), ("pnnspid", Oid)],
    ),
    (
        "pg_trigger",
        &[
            ("oid", Oid),
            ("tgrelid", Oid),
            ("tgparentid", Oid),
            ("tgname", Text),
            ("tgfoid", Oid),
            ("tgtype", I16),
            ("tgenabled", Text),
            ("tgisinternal", Bool),
            ("tgconstrrelid", Oid),
            ("tgconstrindid", Oid),
            ("tgconstraint", Oid),
            ("tgdeferrable", Bool),
            ("tginitdeferred", Bool),
            ("tgnargs", I16),
            ("tgattr", I16Array),
            ("tgqual", Text),
        ],
    ),
    (
        "pg_foreign_data_wrapper",
        &[
            ("oid", Oid),
            ("fdwname", Text),
            ("fdwowner", Oid),
            ("fdwhandler", Oid),
            ("fdwvalidator", Oid),
            ("fdwacl", TextArray),
            ("fdwoptions", TextArray),
        ],
    ),
];

/// The columns of `name`, if it is one of the empty relations.
pub(super) fn columns(name: &str) -> Option<&'static [(&'static str, Col)]> {
    EMPTY
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, columns)| *columns)
}
