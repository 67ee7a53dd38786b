//! Keys and constraints: PostgreSQL's errors, upserts, deletes, epochs,
//! lookups, the DataFusion provider, and optimistic write sets.

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::Int64Type;
use datafusion::scalar::ScalarValue;

use super::*;

fn some(k: i64, v: &str) -> Row {
    (k, Some(v.to_string()), None)
}

#[test]
fn inserts_refuse_duplicate_keys_and_nulls_with_postgres_errors() {
    let dir = tempfile::tempdir().unwrap();
    let t = open_keyed(dir.path());
    t.write(WriteSet::insert(vec![keyed_rows(&[
        (Some(1), Some("a"), Some(10)),
        (Some(2), Some("b"), None),
    ])]))
    .unwrap();

    let err = t
        .write(WriteSet::insert(vec![row(1, "again")]))
        .unwrap_err();
    assert_eq!(err.code(), "23505");
    assert_eq!(
        err.to_string(),
        "duplicate key value violates unique constraint \"t_pkey\""
    );
    assert_eq!(err.detail(), Some("Key (k)=(1) already exists."));

    let err = t
        .write(WriteSet::insert(vec![keyed_rows(&[
            (Some(3), None, None),
            (Some(3), None, None),
        ])]))
        .unwrap_err();
    assert_eq!(
        err.detail(),
        Some("Key (k)=(3) already exists."),
        "within one write"
    );

    let err = t
        .write(WriteSet::insert(vec![keyed_rows(&[(
            Some(4),
            None,
            Some(10),
        )])]))
        .unwrap_err();
    assert_eq!(err.constraint(), Some("t_u_key"));
    assert_eq!(err.detail(), Some("Key (u)=(10) already exists."));

    // NULLs never conflict in a unique key.
    t.write(WriteSet::insert(vec![keyed_rows(&[
        (Some(5), None, None),
        (Some(6), None, None),
    ])]))
    .unwrap();

    let err = t
        .write(WriteSet::insert(vec![keyed_rows(&[(
            None,
            Some("x"),
            None,
        )])]))
        .unwrap_err();
    assert_eq!(err.code(), "23502");
    assert_eq!(
        err.to_string(),
        "null value in column \"k\" of relation \"t\" violates not-null constraint"
    );
    assert_eq!(err.detail(), Some("Failing row contains (null, x, null)."));

    // Refused writes changed nothing, in memory or on disk.
    let expected = vec![
        (1, Some("a".into()), Some(10)),
        some(2, "b"),
        (5, None, None),
        (6, None, None),
    ];
    assert_eq!(contents(&t), expected);
    drop(t);
    assert_eq!(contents(&open_keyed(dir.path())), expected);
}

#[test]
fn upserts_and_deletes_by_key_apply_once_per_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let t = open_keyed(dir.path());
    let out = t
        .write(WriteSet::upsert(vec![row(1, "a"), row(2, "b"), row(1, "a2")]).for_epoch("q#1", 1))
        .unwrap();
    assert_eq!(
        (out.inserted, out.replaced),
        (2, 0),
        "the last row of a key wins"
    );
    let out = t
        .write(
            WriteSet::upsert(vec![row(2, "b2"), row(3, "c")])
                .delete_keys(keys(&[1, 99]))
                .for_epoch("q#1", 2),
        )
        .unwrap();
    assert_eq!((out.inserted, out.replaced, out.deleted), (2, 1, 1));
    assert_eq!(contents(&t), [some(2, "b2"), some(3, "c")]);

    // A replay, also after a restart, changes nothing.
    let replay = WriteSet::upsert(vec![row(2, "stale")]).for_epoch("q#1", 2);
    assert!(!t.write(replay.clone()).unwrap().applied);
    drop(t);
    let t = open_keyed(dir.path());
    assert!(!t.write(replay).unwrap().applied);
    assert_eq!(contents(&t), [some(2, "b2"), some(3, "c")]);

    // An UPDATE that keeps the key: delete the old row, insert the new.
    t.write(
        WriteSet::new()
            .delete_keys(keys(&[3]))
            .with_rows([row(3, "c2")]),
    )
    .unwrap();
    // DELETE by the rows' values goes through the key.
    t.write(WriteSet::new().delete_rows(keyed_rows(&[(Some(2), Some("ignored"), None)])))
        .unwrap();
    assert_eq!(contents(&t), [some(3, "c2")]);
}

#[test]
fn a_table_without_a_key_deletes_by_value_and_refuses_upserts() {
    let dir = tempfile::tempdir().unwrap();
    let t = TableStore::open(dir.path())
        .unwrap()
        .create_or_load("t", keyed_schema())
        .unwrap();
    t.append(&[row(1, "a"), row(1, "a"), row(2, "b")]).unwrap();
    let out = t
        .write(WriteSet::new().delete_rows(keyed_rows(&[(Some(1), Some("a"), None)])))
        .unwrap();
    assert_eq!(out.deleted, 1, "one stored row per row given");
    assert_eq!(contents(&t), [some(1, "a"), some(2, "b")]);
    let err = t.write(WriteSet::upsert(vec![row(1, "x")])).unwrap_err();
    assert_eq!(err.code(), "42P10");
    assert_eq!(
        err.to_string(),
        "table \"t\" has no primary key: an upsert needs one"
    );
    // NOT NULL comes from the schema.
    let err = t.append(&[keyed_rows(&[(None, None, None)])]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "null value in column \"k\" of relation \"t\" violates not-null constraint \
         (Failing row contains (null, null, null).)"
    );
}

#[test]
fn point_lookups_find_the_live_row() {
    let dir = tempfile::tempdir().unwrap();
    let t = open_keyed(dir.path());
    for k in 0..50 {
        t.write(WriteSet::insert(vec![row(k, &format!("v{k}"))]))
            .unwrap();
    }
    t.write(WriteSet::upsert(vec![row(7, "seven")])).unwrap();
    t.write(WriteSet::new().delete_keys(keys(&[8]))).unwrap();
    let value = |t: &StoredTable, k: i64| {
        t.get(&[ScalarValue::Int64(Some(k))])
            .unwrap()
            .map(|b| b.column(1).as_string::<i32>().value(0).to_string())
    };
    assert_eq!(value(&t, 7).as_deref(), Some("seven"));
    assert_eq!(value(&t, 8), None);
    assert_eq!(value(&t, 9).as_deref(), Some("v9"));
    // A key of another integer type is converted.
    let b = t.get(&[ScalarValue::Int32(Some(3))]).unwrap().unwrap();
    assert_eq!(b.column(0).as_primitive::<Int64Type>().value(0), 3);
    let many = t.get_many(&keys(&[9, 8, 1000, 7])).unwrap();
    assert_eq!(
        many.column(0).as_primitive::<Int64Type>().values().to_vec(),
        [9, 7]
    );
    drop(t);
    let t = open_keyed(dir.path());
    assert_eq!(value(&t, 7).as_deref(), Some("seven"));
    assert_eq!(value(&t, 8), None);
}

#[test]
fn new_constraints_are_checked_against_the_stored_rows() {
    let dir = tempfile::tempdir().unwrap();
    let t = TableStore::open(dir.path())
        .unwrap()
        .create_or_load("t", keyed_schema())
        .unwrap();
    t.append(&[row(1, "a"), row(1, "b")]).unwrap();
    let err = t.set_constraints(keyed_constraints()).unwrap_err();
    assert_eq!(err.code(), "23505");
    assert_eq!(err.detail(), Some("Key (k)=(1) is duplicated."));
    // Unchanged: still no key.
    t.append(&[row(1, "c")]).unwrap();
    t.replace(vec![row(1, "a"), row(2, "b")]).unwrap();
    t.set_constraints(keyed_constraints()).unwrap();
    let err = t.append(&[row(2, "again")]).unwrap_err();
    assert!(err.to_string().contains("\"t_pkey\""), "{err}");
    let err = t.replace(vec![row(5, "a"), row(5, "b")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "duplicate key value violates unique constraint \"t_pkey\" (Key (k)=(5) already exists.)"
    );
}

#[test]
fn a_conflicting_write_set_fails_with_40001_and_a_concurrent_append_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let t = open_keyed(dir.path());
    t.write(WriteSet::insert(vec![row(1, "a"), row(2, "b")]))
        .unwrap();

    // Another writer appends a row with another key: no conflict.
    let v = t.read_version();
    t.write(WriteSet::insert(vec![row(3, "other")])).unwrap();
    t.write(
        WriteSet::new()
            .delete_keys(keys(&[1]))
            .with_rows([row(1, "mine")])
            .based_on(v),
    )
    .unwrap();

    // Another writer changes row 2 after the transaction read it.
    let v = t.read_version();
    t.write(WriteSet::upsert(vec![row(2, "theirs")])).unwrap();
    let mine = WriteSet::new()
        .delete_keys(keys(&[2]))
        .with_rows([row(2, "mine")])
        .based_on(v);
    let err = t.write(mine.clone()).unwrap_err();
    assert_eq!(err.code(), "40001");
    assert_eq!(
        err.to_string(),
        "could not serialize access due to concurrent update"
    );
    assert!(err.is_retryable());
    // Upserting over it, or deleting a row another writer deleted, too.
    let err = t
        .write(WriteSet::upsert(vec![row(2, "mine")]).based_on(v))
        .unwrap_err();
    assert_eq!(err.code(), "40001");
    let v = t.read_version();
    t.write(WriteSet::new().delete_keys(keys(&[3]))).unwrap();
    let err = t
        .write(WriteSet::new().delete_keys(keys(&[3])).based_on(v))
        .unwrap_err();
    assert_eq!(err.code(), "40001");
    assert_eq!(
        contents(&t),
        [some(1, "mine"), some(2, "theirs")],
        "failed write sets changed nothing"
    );
    // Based on the current version, the same write succeeds.
    t.write(mine.based_on(t.read_version())).unwrap();
    assert_eq!(contents(&t), [some(1, "mine"), some(2, "mine")]);
}

#[test]
fn a_rewrite_writes_only_the_difference_and_keeps_what_others_added() {
    let dir = tempfile::tempdir().unwrap();
    let t = open_keyed(dir.path());
    t.write(WriteSet::insert(vec![
        row(1, "a"),
        row(2, "b"),
        row(3, "c"),
    ]))
    .unwrap();
    // A transaction reads the table, updates row 2 and deletes row 3 (it
    // computes the whole new contents); meanwhile another writer adds 4.
    let (v, before) = t.snapshot();
    t.write(WriteSet::insert(vec![row(4, "theirs")])).unwrap();
    let after = [row(1, "a"), row(2, "mine")];
    let ws = WriteSet::rewrite(&t.schema(), &before, &after, v).unwrap();
    let outcome = t.write(ws).unwrap();
    assert_eq!(
        (outcome.inserted, outcome.deleted),
        (1, 2),
        "only the difference"
    );
    assert_eq!(
        contents(&t),
        [some(1, "a"), some(2, "mine"), some(4, "theirs")]
    );

    // Another writer changed a row the rewrite deletes: 40001, nothing done.
    let (v, before) = t.snapshot();
    t.write(WriteSet::upsert(vec![row(1, "theirs")])).unwrap();
    let after = [row(2, "mine"), row(4, "theirs")];
    let err = t
        .write(WriteSet::rewrite(&t.schema(), &before, &after, v).unwrap())
        .unwrap_err();
    assert_eq!(err.code(), "40001");
    assert_eq!(
        contents(&t),
        [some(1, "theirs"), some(2, "mine"), some(4, "theirs")]
    );

    // Duplicate rows in a table without a key are matched one for one.
    let plain = TableStore::open(dir.path())
        .unwrap()
        .create_or_load("plain", keyed_schema())
        .unwrap();
    plain
        .append(&[row(7, "x"), row(7, "x"), row(8, "y")])
        .unwrap();
    let (v, before) = plain.snapshot();
    let ws = WriteSet::rewrite(&plain.schema(), &before, &[row(7, "x"), row(8, "y")], v).unwrap();
    assert_eq!(plain.write(ws).unwrap().deleted, 1);
    assert_eq!(contents(&plain), [some(7, "x"), some(8, "y")]);
}

#[test]
fn write_sets_written_together_are_refused_together() {
    let dir = tempfile::tempdir().unwrap();
    let store = TableStore::open(dir.path()).unwrap();
    let a = store
        .create_or_load_with("a", keyed_schema(), keyed_constraints())
        .unwrap();
    let b = store
        .create_or_load_with("b", keyed_schema(), keyed_constraints())
        .unwrap();
    b.write(WriteSet::insert(vec![row(1, "taken")])).unwrap();
    // `a`'s write is fine, `b`'s repeats a key: neither is written.
    let err = write_together(vec![
        (a.clone(), WriteSet::insert(vec![row(1, "a")])),
        (b.clone(), WriteSet::insert(vec![row(1, "again")])),
    ])
    .unwrap_err();
    assert_eq!(err.code(), "23505");
    assert!(
        contents(&a).is_empty(),
        "nothing of the refused transaction"
    );
    // A conflict in the first table (by name) stops the second one too.
    let (v, _) = a.snapshot();
    a.write(WriteSet::insert(vec![row(2, "theirs")])).unwrap();
    let err = write_together(vec![
        (b.clone(), WriteSet::insert(vec![row(5, "b")])),
        (
            a.clone(),
            WriteSet::upsert(vec![row(2, "mine")]).based_on(v),
        ),
    ])
    .unwrap_err();
    assert_eq!(err.code(), "40001");
    assert_eq!(contents(&b), [some(1, "taken")]);
    let outcomes = write_together(vec![
        (b.clone(), WriteSet::insert(vec![row(5, "b")])),
        (a.clone(), WriteSet::insert(vec![row(3, "a")])),
    ])
    .unwrap();
    assert_eq!(
        outcomes.iter().map(|o| o.inserted).collect::<Vec<_>>(),
        [1, 1]
    );
    assert_eq!(contents(&a), [some(2, "theirs"), some(3, "a")]);
}

#[test]
fn without_a_key_a_row_deleted_meanwhile_fails_the_write_set() {
    let dir = tempfile::tempdir().unwrap();
    let t = TableStore::open(dir.path())
        .unwrap()
        .create_or_load("t", keyed_schema())
        .unwrap();
    t.append(&[row(1, "a"), row(2, "b")]).unwrap();
    let v = t.read_version();
    t.append(&[row(3, "c")]).unwrap();
    t.write(WriteSet::new().delete_rows(row(2, "b")).based_on(v))
        .unwrap();
    let v = t.read_version();
    t.write(WriteSet::new().delete_rows(row(1, "a"))).unwrap();
    let err = t
        .write(
            WriteSet::new()
                .delete_rows(row(1, "a"))
                .with_rows([row(1, "updated")])
                .based_on(v),
        )
        .unwrap_err();
    assert_eq!(err.code(), "40001");
    assert_eq!(contents(&t), [some(3, "c")]);
}

#[tokio::test]
async fn the_provider_answers_key_equalities_from_the_index() {
    use datafusion::logical_expr::{TableProviderFilterPushDown, col, lit};
    use datafusion::prelude::SessionContext;

    let dir = tempfile::tempdir().unwrap();
    let t = open_keyed(dir.path());
    t.write(WriteSet::insert(vec![
        row(1, "a"),
        row(2, "b"),
        row(3, "c"),
    ]))
    .unwrap();
    t.write(WriteSet::new().delete_keys(keys(&[3]))).unwrap();
    let provider = StoredTableProvider::new(t.clone());
    use datafusion::catalog::TableProvider;
    let on_key = col("k").eq(lit(2i64));
    let on_value = col("v").eq(lit("a"));
    assert_eq!(
        provider
            .supports_filters_pushdown(&[&on_key, &on_value])
            .unwrap(),
        [
            TableProviderFilterPushDown::Exact,
            TableProviderFilterPushDown::Unsupported
        ]
    );
    assert_eq!(
        provider.supports_filters_pushdown(&[&on_value]).unwrap(),
        [TableProviderFilterPushDown::Unsupported]
    );

    let ctx = SessionContext::new();
    ctx.register_table("t", Arc::new(provider)).unwrap();
    let values = |sql: &'static str| {
        let ctx = ctx.clone();
        async move {
            let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
            let mut out: Vec<String> = batches
                .iter()
                .flat_map(|b| {
                    let v = b
                        .column(0)
                        .as_string_view_opt()
                        .map(|a| a.iter().map(|s| s.unwrap().to_string()).collect::<Vec<_>>());
                    v.unwrap_or_else(|| {
                        let a = b.column(0).as_string::<i32>();
                        a.iter().map(|s| s.unwrap().to_string()).collect()
                    })
                })
                .collect();
            out.sort();
            out
        }
    };
    assert_eq!(values("SELECT v FROM t WHERE k = 2").await, ["b"]);
    assert_eq!(
        values("SELECT v FROM t WHERE 1 = k AND v = 'a'").await,
        ["a"]
    );
    assert_eq!(
        values("SELECT v FROM t WHERE k = 3").await,
        Vec::<String>::new()
    );
    assert_eq!(
        values("SELECT v FROM t WHERE k = 1 AND k = 2").await,
        Vec::<String>::new()
    );
    assert_eq!(values("SELECT v FROM t WHERE v <> 'z'").await, ["a", "b"]);
    let plan = ctx
        .sql("EXPLAIN SELECT v FROM t WHERE k = 2")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let text = datafusion::arrow::util::pretty::pretty_format_batches(&plan)
        .unwrap()
        .to_string();
    assert!(
        !text.contains("FilterExec"),
        "the key filter is exact: {text}"
    );
}

#[tokio::test]
async fn a_lookup_join_on_the_primary_key_sees_every_write_without_a_rebuild() {
    use crate::Lookup;
    use crate::join::TableLookup;
    let dir = tempfile::tempdir().unwrap();
    let t = open_keyed(dir.path());
    t.write(WriteSet::insert(vec![row(1, "a"), row(2, "b")]))
        .unwrap();
    let mut by_key = TableLookup::new(t.clone(), vec![0]).unwrap();
    let mut by_value = TableLookup::new(t.clone(), vec![1]).unwrap();
    let found = by_key.lookup(&keys(&[2, 3])).await.unwrap();
    assert_eq!(found.column(1).as_string::<i32>().value(0), "b");
    assert_eq!(found.num_rows(), 1);
    t.write(WriteSet::upsert(vec![row(3, "b")])).unwrap();
    let found = by_key.lookup(&keys(&[2, 3])).await.unwrap();
    assert_eq!(found.num_rows(), 2);
    let values: Vec<datafusion::arrow::array::ArrayRef> =
        vec![Arc::new(datafusion::arrow::array::StringArray::from(vec![
            "b",
        ]))];
    let found = by_value.lookup(&values).await.unwrap();
    let mut ks = found
        .column(0)
        .as_primitive::<Int64Type>()
        .values()
        .to_vec();
    ks.sort();
    assert_eq!(ks, [2, 3]);
}
