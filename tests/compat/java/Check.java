// pgjdbc (Debian's libpostgresql-jdbc-java) against Eddy, in one of the modes
// given as the first argument:
//   text     — prepareThreshold=0, binaryTransfer=false: unnamed statements,
//              every value in text format;
//   binary   — prepareThreshold=1, binaryTransfer=true: named server-side
//              statements, binary parameters and results where pgjdbc has a
//              binary codec;
//   pgobject — binary, with interval and json(b) written as PGInterval /
//              PGobject and UUID as java.util.UUID: pgjdbc looks these types
//              up in pg_type first.
// interval, uuid and json(b) are otherwise written as untyped strings
// (Types.OTHER) and the server infers their types.
// Checks: a table of every type written with typed parameters and read back
// exactly, a parameterised SELECT, a prepared statement reused, a fetch size
// (Execute with max_rows, PortalSuspended, Execute again) and an error then
// recovery. uuid, json and jsonb columns are described by their own OIDs:
// read back as java.util.UUID (binary in binary mode) and as PGobjects of
// type json / jsonb, jsonb as PostgreSQL prints it.

import java.math.BigDecimal;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Types;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.UUID;

import org.postgresql.util.PGInterval;
import org.postgresql.util.PGobject;

public class Check {
    static final String CREATE = "CREATE TABLE compat_types ("
            + " id integer NOT NULL,"
            + " b boolean, i2 smallint, i4 integer, i8 bigint,"
            + " f4 real, f8 double precision, n numeric(12,4),"
            + " t text, v varchar(20), by bytea,"
            + " d date, ts timestamp, tstz timestamptz, iv interval,"
            + " u uuid, j json, jb jsonb)";

    static final UUID U = UUID.fromString("12345678-1234-5678-9abc-def012345678");
    static final String J = "{\"a\": [1, 2, null]}";
    static final String JB = "{\"b\":true,\"a\" : [1]}";
    static final String JB_STORED = "{\"a\": [1], \"b\": true}";
    static final LocalDateTime TS = LocalDateTime.of(2024, 2, 29, 12, 34, 56, 789012000);
    static final OffsetDateTime TSTZ = OffsetDateTime.of(TS, ZoneOffset.UTC);
    static final byte[] BY = {0x00, 0x01, (byte) 0xfe, (byte) 0xff};

    static void check(String what, Object got, Object want) {
        boolean equal = got instanceof byte[] && want instanceof byte[]
                ? Arrays.equals((byte[]) got, (byte[]) want)
                : Objects.equals(got, want);
        if (!equal) {
            throw new AssertionError(what + ": got " + show(got) + ", expected " + show(want));
        }
        System.out.println("ok: " + what);
    }

    static String show(Object o) {
        if (o instanceof byte[]) {
            return Arrays.toString((byte[]) o);
        }
        return o == null ? "null" : o + " (" + o.getClass().getSimpleName() + ")";
    }

    static PGobject json(String type, String value) throws SQLException {
        PGobject o = new PGobject();
        o.setType(type);
        o.setValue(value);
        return o;
    }

    public static void main(String[] args) throws Exception {
        String mode = args.length > 0 ? args[0] : "text";
        String options = !mode.equals("text")
                ? "prepareThreshold=1&binaryTransfer=true"
                : "prepareThreshold=0&binaryTransfer=false";
        String url = "jdbc:postgresql://" + env("EDDY_COMPAT_HOST", "127.0.0.1") + ":"
                + env("EDDY_COMPAT_PORT", "5433") + "/eddy?user=eddy&" + options;
        try (Connection conn = DriverManager.getConnection(url)) {
            run(conn, mode);
        }
    }

    static String env(String name, String fallback) {
        String v = System.getenv(name);
        return v == null ? fallback : v;
    }

    static void run(Connection conn, String mode) throws Exception {
        try (Statement st = conn.createStatement()) {
            st.execute(CREATE);
        }
        String insert = "INSERT INTO compat_types (id, b, i2, i4, i8, f4, f8, n, t, v, by, d, ts,"
                + " tstz, iv, u, j, jb) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
        try (PreparedStatement ps = conn.prepareStatement(insert)) {
            for (int id = 1; id <= 2; id++) {
                ps.setInt(1, id);
                ps.setBoolean(2, true);
                ps.setShort(3, (short) -12345);
                ps.setInt(4, 2_000_000_000);
                ps.setLong(5, 9_000_000_000_000_000_000L);
                ps.setFloat(6, 1.5f);
                ps.setDouble(7, -2.25e10);
                ps.setBigDecimal(8, new BigDecimal("12345678.1234"));
                ps.setString(9, "hello, ☃ 'quoted'");
                ps.setString(10, "varchar");
                ps.setBytes(11, BY);
                ps.setObject(12, LocalDate.of(2024, 2, 29));
                ps.setObject(13, TS);
                ps.setObject(14, TSTZ);
                if (mode.equals("pgobject")) {
                    ps.setObject(15, new PGInterval(0, 0, 1, 2, 3, 4.5));
                    ps.setObject(16, U);
                    ps.setObject(17, json("json", J));
                    ps.setObject(18, json("jsonb", JB));
                } else {
                    // Types.OTHER: sent untyped, the server infers the type.
                    ps.setObject(15, "1 day 02:03:04.5", Types.OTHER);
                    ps.setObject(16, U.toString(), Types.OTHER);
                    ps.setObject(17, J, Types.OTHER);
                    ps.setObject(18, JB, Types.OTHER);
                }
                check("insert row " + id, ps.executeUpdate(), 1);
            }
        }
        String select = "SELECT b, i2, i4, i8, f4, f8, n, t, v, by, d, ts, tstz, iv, u, j, jb"
                + " FROM compat_types WHERE id = ?";
        try (PreparedStatement ps = conn.prepareStatement(select)) {
            for (int id = 1; id <= 2; id++) {
                ps.setInt(1, id);
                try (ResultSet rs = ps.executeQuery()) {
                    check("row " + id + " found", rs.next(), true);
                    check("b", rs.getObject("b"), true);
                    check("i2", rs.getObject("i2"), -12345);
                    check("i4", rs.getObject("i4"), 2_000_000_000);
                    check("i8", rs.getObject("i8"), 9_000_000_000_000_000_000L);
                    check("f4", rs.getObject("f4"), 1.5f);
                    check("f8", rs.getObject("f8"), -2.25e10);
                    check("n", rs.getObject("n"), new BigDecimal("12345678.1234"));
                    check("t", rs.getObject("t"), "hello, ☃ 'quoted'");
                    check("v", rs.getObject("v"), "varchar");
                    check("by", rs.getObject("by"), BY);
                    check("d", rs.getObject("d", LocalDate.class), LocalDate.of(2024, 2, 29));
                    check("ts", rs.getObject("ts", LocalDateTime.class), TS);
                    check("tstz", rs.getObject("tstz", OffsetDateTime.class), TSTZ);
                    if (mode.equals("pgobject")) {
                        check("iv", rs.getObject("iv"), new PGInterval(0, 0, 1, 2, 3, 4.5));
                    } else {
                        check("iv", rs.getString("iv"), "1 day 02:03:04.5");
                    }
                    check("u", rs.getObject("u"), U);
                    check("j", rs.getObject("j"), json("json", J));
                    check("jb", rs.getObject("jb"), json("jsonb", JB_STORED));
                    check("one row", rs.next(), false);
                }
            }
        }

        // A uuid parameter (typed by pgjdbc) compared with the uuid column.
        try (PreparedStatement ps = conn.prepareStatement(
                "SELECT count(*) FROM compat_types WHERE u = ?")) {
            ps.setObject(1, U);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                check("uuid parameter", rs.getLong(1), 2L);
            }
        }
        try (PreparedStatement ps = conn.prepareStatement(
                "INSERT INTO compat_types (id, u) VALUES (?, ?)")) {
            ps.setInt(1, 9);
            ps.setObject(2, "not-a-uuid", Types.OTHER);
            ps.executeUpdate();
            throw new AssertionError("an invalid uuid was accepted");
        } catch (SQLException e) {
            check("invalid uuid SQLSTATE", e.getSQLState(), "22P02");
        }

        // The same statement run often enough to be named server-side.
        try (PreparedStatement ps = conn.prepareStatement(
                "SELECT i4 + ?, t FROM compat_types WHERE id = ? AND d = ?")) {
            for (int i = 0; i < 6; i++) {
                ps.setInt(1, i);
                ps.setInt(2, 1 + i % 2);
                ps.setObject(3, LocalDate.of(2024, 2, 29));
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    check("prepared statement run " + (i + 1), rs.getLong(1), 2_000_000_000L + i);
                }
            }
        }

        try (PreparedStatement ps = conn.prepareStatement(
                "INSERT INTO compat_types (id, t) VALUES (?, ?)")) {
            for (int id = 10; id < 15; id++) {
                ps.setInt(1, id);
                ps.setString(2, "row " + id);
                ps.addBatch();
            }
            check("batch insert", ps.executeBatch().length, 5);
        }
        // A fetch size takes effect inside a transaction: Execute with
        // max_rows = 2, PortalSuspended, Execute again on the same portal.
        conn.setAutoCommit(false);
        try (PreparedStatement ps = conn.prepareStatement(
                "SELECT id FROM compat_types WHERE id >= ? ORDER BY id")) {
            ps.setFetchSize(2);
            ps.setInt(1, 10);
            List<Integer> ids = new ArrayList<>();
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    ids.add(rs.getInt(1));
                }
            }
            check("rows fetched two at a time", ids, List.of(10, 11, 12, 13, 14));
        }
        conn.commit();
        conn.setAutoCommit(true);

        try (PreparedStatement ps = conn.prepareStatement("SELECT * FROM no_such_table WHERE x = ?")) {
            ps.setInt(1, 1);
            ps.executeQuery();
            throw new AssertionError("query of a missing table succeeded");
        } catch (SQLException e) {
            check("error SQLSTATE", e.getSQLState(), "42P01");
        }
        try (PreparedStatement ps = conn.prepareStatement("SELECT CAST(? AS bigint) * 2")) {
            ps.setLong(1, 21);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                check("recovered after the error", rs.getLong(1), 42L);
            }
        }
        System.out.println("ok: pgjdbc " + mode);
    }
}
