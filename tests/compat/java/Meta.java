// pgjdbc's DatabaseMetaData against Eddy, as Metabase and DBeaver use it
// to sync a schema: getSchemas, getTables, getColumns, getPrimaryKeys,
// getImportedKeys / getExportedKeys, getIndexInfo, getTypeInfo, plus the
// connection facts tools read first (product name and version, the
// identifier quote). Each answer is compared with what PostgreSQL gives for
// the same schema (with Eddy's own schema eddy_catalog added to getSchemas).

import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

public class Meta {
    static void check(String what, Object got, Object want) {
        if (!Objects.equals(got, want)) {
            throw new AssertionError(what + ": got " + got + ", expected " + want);
        }
        System.out.println("ok: " + what);
    }

    /** The given columns of every row, each row as "a|b|c". */
    static List<String> rows(ResultSet rs, String... columns) throws SQLException {
        List<String> out = new ArrayList<>();
        try (rs) {
            while (rs.next()) {
                StringBuilder row = new StringBuilder();
                for (int i = 0; i < columns.length; i++) {
                    if (i > 0) {
                        row.append('|');
                    }
                    row.append(rs.getString(columns[i]));
                }
                out.add(row.toString());
            }
        }
        return out;
    }

    public static void main(String[] args) throws Exception {
        String url = "jdbc:postgresql://" + System.getenv("EDDY_COMPAT_HOST") + ":"
                + System.getenv("EDDY_COMPAT_PORT") + "/eddy?user=eddy";
        try (Connection conn = DriverManager.getConnection(url)) {
            try (Statement st = conn.createStatement()) {
                st.execute("CREATE TABLE customers (id integer PRIMARY KEY, email text NOT NULL,"
                        + " CONSTRAINT customers_email_key UNIQUE (email))");
                st.execute("CREATE TABLE orders (id bigint PRIMARY KEY,"
                        + " customer_id integer NOT NULL REFERENCES customers (id),"
                        + " amount numeric(10,2), placed_at timestamptz DEFAULT now())");
                st.execute("CREATE INDEX orders_placed_at ON orders (placed_at)");
            }
            DatabaseMetaData md = conn.getMetaData();
            check("product name", md.getDatabaseProductName(), "PostgreSQL");
            check("major version", md.getDatabaseMajorVersion(), 16);
            check("identifier quote", md.getIdentifierQuoteString(), "\"");

            check("getSchemas", rows(md.getSchemas(), "TABLE_SCHEM"),
                    List.of("eddy_catalog", "information_schema", "pg_catalog", "public"));
            check("getTables", rows(md.getTables(null, "public", "%", new String[] {"TABLE"}),
                    "TABLE_SCHEM", "TABLE_NAME", "TABLE_TYPE"),
                    List.of("public|customers|TABLE", "public|orders|TABLE"));
            check("getColumns", rows(md.getColumns(null, "public", "orders", "%"),
                    "COLUMN_NAME", "TYPE_NAME", "DATA_TYPE", "NULLABLE", "ORDINAL_POSITION",
                    "COLUMN_DEF"),
                    List.of("id|int8|-5|0|1|null",
                            "customer_id|int4|4|0|2|null",
                            "amount|numeric|2|1|3|null",
                            "placed_at|timestamptz|93|1|4|now()"));
            check("getPrimaryKeys", rows(md.getPrimaryKeys(null, "public", "orders"),
                    "TABLE_NAME", "COLUMN_NAME", "KEY_SEQ", "PK_NAME"),
                    List.of("orders|id|1|orders_pkey"));
            check("getImportedKeys", rows(md.getImportedKeys(null, "public", "orders"),
                    "PKTABLE_NAME", "PKCOLUMN_NAME", "FKTABLE_NAME", "FKCOLUMN_NAME", "KEY_SEQ",
                    "FK_NAME", "PK_NAME"),
                    List.of("customers|id|orders|customer_id|1|orders_customer_id_fkey|customers_pkey"));
            check("getExportedKeys", rows(md.getExportedKeys(null, "public", "customers"),
                    "FKTABLE_NAME", "FKCOLUMN_NAME"),
                    List.of("orders|customer_id"));
            check("getIndexInfo", rows(md.getIndexInfo(null, "public", "customers", false, false),
                    "INDEX_NAME", "NON_UNIQUE", "ORDINAL_POSITION", "COLUMN_NAME"),
                    List.of("customers_email_key|f|1|email", "customers_pkey|f|1|id"));
            check("getIndexInfo (unique only)",
                    rows(md.getIndexInfo(null, "public", "orders", true, false), "INDEX_NAME"),
                    List.of("orders_pkey"));
            List<String> types = rows(md.getTypeInfo(), "TYPE_NAME");
            for (String t : List.of("int4", "int8", "text", "numeric", "timestamptz", "bool")) {
                if (!types.contains(t)) {
                    throw new AssertionError("getTypeInfo lacks " + t + ": " + types);
                }
            }
            System.out.println("ok: getTypeInfo");
        }
        System.out.println("ok: pgjdbc DatabaseMetaData");
    }
}
