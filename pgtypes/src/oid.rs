//! PostgreSQL's built-in types as `pg_type` lists them, with PostgreSQL's
//! own OIDs (drivers decode by them): the one table that `pg_type`,
//! `format_type`, `::regtype` and the codecs' type names read.

/// One row of `pg_type`.
pub struct PgType {
    pub oid: i64,
    pub name: &'static str,
    /// The name `format_type` prints.
    pub sql_name: &'static str,
    pub len: i16,
    pub category: &'static str,
    /// The array type of this type (0 for array types themselves).
    pub array: i64,
    /// The element type (for array types; 0 otherwise).
    pub elem: i64,
}

const fn t(
    oid: i64,
    name: &'static str,
    sql_name: &'static str,
    len: i16,
    category: &'static str,
    array: i64,
) -> PgType {
    PgType {
        oid,
        name,
        sql_name,
        len,
        category,
        array,
        elem: 0,
    }
}

const fn a(oid: i64, name: &'static str, sql_name: &'static str, elem: i64) -> PgType {
    PgType {
        oid,
        name,
        sql_name,
        len: -1,
        category: "A",
        array: 0,
        elem,
    }
}

pub const TYPES: &[PgType] = &[
    t(16, "bool", "boolean", 1, "B", 1000),
    t(17, "bytea", "bytea", -1, "U", 1001),
    t(18, "char", "\"char\"", 1, "Z", 1002),
    t(19, "name", "name", 64, "S", 1003),
    t(20, "int8", "bigint", 8, "N", 1016),
    t(21, "int2", "smallint", 2, "N", 1005),
    t(22, "int2vector", "int2vector", -1, "A", 1006),
    t(23, "int4", "integer", 4, "N", 1007),
    t(24, "regproc", "regproc", 4, "N", 1008),
    t(25, "text", "text", -1, "S", 1009),
    t(26, "oid", "oid", 4, "N", 1028),
    t(30, "oidvector", "oidvector", -1, "A", 1013),
    t(114, "json", "json", -1, "U", 199),
    t(700, "float4", "real", 4, "N", 1021),
    t(701, "float8", "double precision", 8, "N", 1022),
    t(1042, "bpchar", "character", -1, "S", 1014),
    t(1043, "varchar", "character varying", -1, "S", 1015),
    t(1082, "date", "date", 4, "D", 1182),
    t(1083, "time", "time without time zone", 8, "D", 1183),
    t(
        1114,
        "timestamp",
        "timestamp without time zone",
        8,
        "D",
        1115,
    ),
    t(
        1184,
        "timestamptz",
        "timestamp with time zone",
        8,
        "D",
        1185,
    ),
    t(1186, "interval", "interval", 16, "T", 1187),
    t(1700, "numeric", "numeric", -1, "N", 1231),
    t(2205, "regclass", "regclass", 4, "N", 2210),
    t(2206, "regtype", "regtype", 4, "N", 2211),
    t(2950, "uuid", "uuid", 16, "U", 2951),
    t(3802, "jsonb", "jsonb", -1, "U", 3807),
    a(199, "_json", "json[]", 114),
    a(1000, "_bool", "boolean[]", 16),
    a(1001, "_bytea", "bytea[]", 17),
    a(1002, "_char", "\"char\"[]", 18),
    a(1003, "_name", "name[]", 19),
    a(1005, "_int2", "smallint[]", 21),
    a(1006, "_int2vector", "int2vector[]", 22),
    a(1007, "_int4", "integer[]", 23),
    a(1008, "_regproc", "regproc[]", 24),
    a(1009, "_text", "text[]", 25),
    a(1013, "_oidvector", "oidvector[]", 30),
    a(1014, "_bpchar", "character[]", 1042),
    a(1015, "_varchar", "character varying[]", 1043),
    a(1016, "_int8", "bigint[]", 20),
    a(1021, "_float4", "real[]", 700),
    a(1022, "_float8", "double precision[]", 701),
    a(1028, "_oid", "oid[]", 26),
    a(1115, "_timestamp", "timestamp without time zone[]", 1114),
    a(1182, "_date", "date[]", 1082),
    a(1183, "_time", "time without time zone[]", 1083),
    a(1185, "_timestamptz", "timestamp with time zone[]", 1184),
    a(1187, "_interval", "interval[]", 1186),
    a(1231, "_numeric", "numeric[]", 1700),
    a(2210, "_regclass", "regclass[]", 2205),
    a(2211, "_regtype", "regtype[]", 2206),
    a(2951, "_uuid", "uuid[]", 2950),
    a(3807, "_jsonb", "jsonb[]", 3802),
];

/// The type of an OID, if Eddy knows it.
pub fn by_oid(oid: i64) -> Option<&'static PgType> {
    TYPES.iter().find(|t| t.oid == oid)
}

/// A type by any of the names `::regtype` accepts (`int4`, `integer`,
/// `pg_catalog.int4`, `character varying`, `text[]`).
pub fn by_name(name: &str) -> Option<&'static PgType> {
    let name = name.trim().to_ascii_lowercase();
    let name = name.strip_prefix("pg_catalog.").unwrap_or(&name);
    let alias = match name {
        "int" | "integer" => "int4",
        "smallint" => "int2",
        "bigint" => "int8",
        "real" => "float4",
        "double precision" | "float" => "float8",
        "boolean" => "bool",
        "decimal" => "numeric",
        "character varying" => "varchar",
        "character" => "bpchar",
        "timestamp without time zone" => "timestamp",
        "timestamp with time zone" => "timestamptz",
        other => other,
    };
    TYPES
        .iter()
        .find(|t| t.name == alias || t.sql_name == alias)
}

/// `format_type(oid, typmod)`.
pub fn format_type(oid: i64, typmod: Option<i32>) -> Option<String> {
    let ty = by_oid(oid)?;
    let typmod = typmod.filter(|m| *m >= 0);
    Some(match (ty.oid, typmod) {
        (1700, Some(m)) => {
            let m = m - 4;
            format!("numeric({},{})", (m >> 16) & 0xffff, m & 0xffff)
        }
        (1043 | 1042, Some(m)) => format!("{}({})", ty.sql_name, m - 4),
        _ => ty.sql_name.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_postgres() {
        assert_eq!(format_type(23, Some(-1)).as_deref(), Some("integer"));
        let numeric = crate::of_arrow(&arrow::datatypes::DataType::Decimal128(10, 2));
        assert_eq!(
            format_type(numeric.oid.into(), Some(numeric.typmod)).as_deref(),
            Some("numeric(10,2)")
        );
        assert_eq!(
            format_type(1043, Some(36)).as_deref(),
            Some("character varying(32)")
        );
        assert_eq!(by_name("integer").map(|t| t.oid), Some(23));
        assert_eq!(by_name("pg_catalog.text[]").map(|t| t.oid), Some(1009));
        for oid in [2950, 114, 3802] {
            assert_eq!(
                format_type(oid, Some(-1)),
                by_oid(oid).map(|t| t.name.to_string())
            );
        }
    }
}
