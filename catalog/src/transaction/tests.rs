//! Tests of catalog transactions: savepoints, drops, conflicts and
//! dependencies against what other transactions committed.

use std::collections::BTreeMap;

use super::*;
use crate::{SinkDef, StreamingQueryDef, TableDef};

pub fn table(name: &str) -> CatalogObject {
    CatalogObject::Table(TableDef {
        name: name.into(),
        columns: vec![],
        primary_key: vec![],
        primary_key_name: None,
        indexes: vec![],
        foreign_keys: vec![],
        comments: Default::default(),
        sql: format!("CREATE TABLE {name} ()"),
    })
}

pub fn sink_into(name: &str, table: &str) -> CatalogObject {
    let mut options = BTreeMap::new();
    options.insert("table".to_string(), table.to_string());
    CatalogObject::Sink(SinkDef {
        name: name.into(),
        connector: "table".into(),
        options,
        sql: String::new(),
    })
}

fn query(name: &str, sink: &str, input: &str) -> CatalogObject {
    CatalogObject::StreamingQuery(StreamingQueryDef {
        name: name.into(),
        options: BTreeMap::new(),
        sink: sink.into(),
        query: format!("SELECT * FROM {input}"),
        inputs: vec![input.into()],
        incarnation: 1,
        sql: String::new(),
        paused: false,
    })
}

fn open() -> (tempfile::TempDir, Arc<Catalog>) {
    let dir = tempfile::tempdir().unwrap();
    let cat = Arc::new(Catalog::open(dir.path()).unwrap());
    (dir, cat)
}

#[test]
fn changes_are_private_until_commit_and_a_clone_is_a_savepoint() {
    let (_dir, cat) = open();
    let mut tx = cat.begin();
    assert!(tx.create(table("t"), false).unwrap());
    let savepoint = tx.clone();
    tx.create(sink_into("s", "t"), false).unwrap();
    assert!(cat.lookup(ObjectKind::Table, "t").unwrap().is_none());
    assert_eq!(tx.list(ObjectKind::Sink).unwrap().len(), 1);
    let mut tx = savepoint;
    assert!(tx.list(ObjectKind::Sink).unwrap().is_empty());
    assert!(!tx.create(table("t"), true).unwrap());
    assert!(matches!(
        tx.create(table("t"), false),
        Err(CatalogError::AlreadyExists { .. })
    ));
    let changes = cat.commit(&tx).unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].after, Some(table("t")));
    assert_eq!(cat.list(ObjectKind::Table).unwrap(), vec![table("t")]);
}

#[test]
fn drop_refuses_dependents_and_cascades() {
    let (_dir, cat) = open();
    let mut tx = cat.begin();
    tx.create(table("t"), false).unwrap();
    tx.create(table("input"), false).unwrap();
    tx.create(sink_into("s", "t"), false).unwrap();
    tx.create(query("q", "s", "input"), false).unwrap();
    cat.commit(&tx).unwrap();

    let mut tx = cat.begin();
    let err = tx
        .drop_object(ObjectKind::Table, "t", false, false)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot drop table \"t\" because other objects depend on it: sink \"s\""
    );
    let dropped = tx.drop_object(ObjectKind::Table, "t", false, true).unwrap();
    let names: Vec<_> = dropped.iter().map(|o| o.name().to_string()).collect();
    assert_eq!(names, ["q", "s", "t"]);
    assert_eq!(cat.list(ObjectKind::StreamingQuery).unwrap().len(), 1);
    cat.commit(&tx).unwrap();
    assert!(cat.list(ObjectKind::StreamingQuery).unwrap().is_empty());
    assert!(
        cat.begin()
            .drop_object(ObjectKind::Table, "nope", true, false)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn created_and_dropped_again_is_no_change() {
    let (_dir, cat) = open();
    let mut tx = cat.begin();
    tx.create(table("t"), false).unwrap();
    tx.drop_object(ObjectKind::Table, "t", false, false)
        .unwrap();
    assert!(tx.is_empty());
    // Another session's table of that name stays.
    let mut other = cat.begin();
    other.create(table("t"), false).unwrap();
    cat.commit(&other).unwrap();
    assert!(cat.commit(&tx).unwrap().is_empty());
    assert!(cat.lookup(ObjectKind::Table, "t").unwrap().is_some());
}

#[test]
fn a_relied_on_definition_changed_meanwhile_fails_the_commit() {
    let (_dir, cat) = open();
    let mut setup = cat.begin();
    setup.create(table("t"), false).unwrap();
    cat.commit(&setup).unwrap();
    // `a` writes rows of `t` and creates `u`; `b` drops `t` first.
    let (mut a, mut b) = (cat.begin(), cat.begin());
    a.rely_on(ObjectKind::Table, "t").unwrap();
    a.create(table("u"), false).unwrap();
    assert!(
        a.changes().iter().all(|c| c.name == "u"),
        "relying is no change"
    );
    b.drop_object(ObjectKind::Table, "t", false, false).unwrap();
    cat.commit(&b).unwrap();
    assert!(matches!(
        cat.commit(&a),
        Err(CatalogError::Conflict { created: false, .. })
    ));
    assert!(cat.lookup(ObjectKind::Table, "u").unwrap().is_none());
    // Unchanged meanwhile: the commit goes through.
    let mut c = cat.begin();
    c.rely_on(ObjectKind::Table, "u").unwrap();
    c.create(table("t"), false).unwrap();
    cat.commit(&c).unwrap();
}

#[test]
fn a_name_changed_meanwhile_fails_the_commit_whole() {
    let (_dir, cat) = open();
    let (mut a, mut b) = (cat.begin(), cat.begin());
    a.create(table("t"), false).unwrap();
    a.create(table("u"), false).unwrap();
    b.create(table("t"), false).unwrap();
    cat.commit(&b).unwrap();
    let err = cat.commit(&a).unwrap_err();
    assert!(matches!(err, CatalogError::Conflict { created: true, .. }));
    assert!(cat.lookup(ObjectKind::Table, "u").unwrap().is_none());

    // Dropped by one, changed by the other.
    let (mut a, mut b) = (cat.begin(), cat.begin());
    a.drop_object(ObjectKind::Table, "t", false, false).unwrap();
    let mut t = table("t");
    if let CatalogObject::Table(def) = &mut t {
        def.sql = "changed".into();
    }
    b.put(t).unwrap();
    cat.commit(&b).unwrap();
    assert!(matches!(
        cat.commit(&a),
        Err(CatalogError::Conflict { created: false, .. })
    ));
}

#[test]
fn dependencies_are_checked_against_what_others_committed() {
    let (_dir, cat) = open();
    let mut tx = cat.begin();
    tx.create(table("t"), false).unwrap();
    cat.commit(&tx).unwrap();
    // One session drops t while another creates a sink into it.
    let (mut dropper, mut creator) = (cat.begin(), cat.begin());
    dropper
        .drop_object(ObjectKind::Table, "t", false, false)
        .unwrap();
    creator.create(sink_into("s", "t"), false).unwrap();
    cat.commit(&creator).unwrap();
    assert!(matches!(
        cat.commit(&dropper),
        Err(CatalogError::HasDependents { .. })
    ));
    assert!(cat.lookup(ObjectKind::Table, "t").unwrap().is_some());
}
