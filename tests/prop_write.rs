//! Property tests of the write side: JSON bodies (`write::json`), JSON
//! values as SQL values (`write::values`), and the analysis of
//! `/-/execute-write` statements, run on a real libSQL file.
//! `PROPTEST_CASES=N` runs more cases than the quick default.

use std::path::Path;

use base64::Engine;
use libsette::write::analysis::{self, Decision, Operation};
use libsette::write::{json, values};
use libsql::{Connection, Value};
use proptest::prelude::*;
use serde_json::Value as Json;

fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(cases)
    }
}

/// Any JSON value, magic objects (`$raw`, `$base64`) included now and then.
fn json_value() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        any::<i64>().prop_map(Json::from),
        (i64::MAX as u64..=u64::MAX).prop_map(Json::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Json::from),
        "\\PC{0,8}".prop_map(Json::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Json::Array),
            proptest::collection::vec(
                (
                    prop_oneof![
                        "\\PC{0,4}",
                        Just("$raw".to_owned()),
                        Just("$base64".to_owned()),
                        Just("encoded".to_owned())
                    ],
                    inner
                ),
                0..4
            )
            .prop_map(|pairs| Json::Object(pairs.into_iter().collect())),
        ]
    })
}

/// Equal JSON values; floats within a few ulps, as serde_json's default
/// parser is not correctly rounded (Rust's float text is).
fn same(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            x == y || (x - y).abs() <= 4.0 * f64::EPSILON * x.abs().max(y.abs())
        }
        (Json::Array(x), Json::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Json::Object(x), Json::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

proptest! {
    #![proptest_config(config(512))]

    /// Any bytes: Ok exactly when they are JSON, else Datasette's message
    /// pointing inside the text.
    #[test]
    fn json_bodies_parse_or_explain(body in prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..40),
        "[\\[\\]{}\":, 0-9a-z.eE+\\-\\\\\n]{0,30}".prop_map(String::into_bytes),
        json_value().prop_map(|v| v.to_string().into_bytes()),
    ]) {
        let expected: Option<Json> = serde_json::from_slice(&body).ok()
            .filter(|_| std::str::from_utf8(&body).is_ok());
        match (json::parse(&body), expected) {
            (Ok(v), Some(e)) => prop_assert_eq!(v, e),
            (Err(message), None) => {
                prop_assert!(message.starts_with("Invalid JSON: "), "{}", message);
                if let Some(at) = message.rsplit_once("(char ") {
                    let n: usize = at.1.trim_end_matches(')').parse().unwrap();
                    let chars = String::from_utf8_lossy(&body).chars().count();
                    prop_assert!(n <= chars, "{} past the {} characters", message, chars);
                }
            }
            (got, expected) => prop_assert!(false, "{:?} but serde says {:?}", got, expected),
        }
    }

    /// Each JSON value becomes the SQL value Datasette stores; lists and
    /// objects become JSON text that reads back as the same value.
    #[test]
    fn json_values_become_sql_values(value in json_value()) {
        let magic = value.as_object().is_some_and(|m| {
            (m.len() == 1 && m.contains_key("$raw"))
                || (m.len() == 2 && m.get("$base64") == Some(&Json::Bool(true)) && m.contains_key("encoded"))
        });
        let sql = values::to_sql(&value);
        match (&value, sql) {
            (Json::Null, Ok(Value::Null)) => {}
            (Json::Bool(b), Ok(Value::Integer(i))) => prop_assert_eq!(i, *b as i64),
            (Json::Number(n), Ok(Value::Integer(i))) => prop_assert_eq!(Some(i), n.as_i64()),
            (Json::Number(n), Ok(Value::Real(f))) => prop_assert_eq!(Some(f), n.as_f64().filter(|_| n.is_f64())),
            (Json::Number(n), Err(_)) => prop_assert!(n.is_u64() && n.as_i64().is_none()),
            (Json::String(s), Ok(Value::Text(t))) => prop_assert_eq!(&t, s),
            (_, Ok(Value::Text(t))) if !magic => {
                let back: Json = serde_json::from_str(&t).map_err(|e| TestCaseError::fail(format!("{e}: {t}")))?;
                prop_assert!(same(&back, &value), "{} read back as {}", value, back);
            }
            (_, _) if magic => {}
            (_, other) => prop_assert!(false, "{:?} gave {:?}", value, other),
        }
    }

    /// `{"$base64": true, "encoded": …}` stores exactly the encoded bytes.
    #[test]
    fn base64_values_are_blobs(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let encoded = base64::engine::general_purpose::STANDARD.encode(&bytes);
        let value = serde_json::json!({"$base64": true, "encoded": encoded});
        prop_assert_eq!(values::to_sql(&value), Ok(Value::Blob(bytes)));
    }

    /// The statement splitter and the read-only check take any text.
    #[test]
    fn statement_checks_never_panic(sql in "\\PC{0,40}|([;'\"`\\[\\]/*\\-\n a-z]|--|/\\*|\\*/){0,30}") {
        let several = analysis::has_several_statements(&sql);
        let read = libsette::read::sql_text::check_read_only(&sql);
        // A text the read check lets through as one statement has no second one for writes either.
        if read.is_ok() {
            prop_assert!(!several || sql.to_ascii_lowercase().contains("trigger"), "{:?}", sql);
        }
    }
}

/// What `/-/execute-write` would do with `sql`, as its handler decides:
/// `Ok(true)` when it ran.
fn execute_write(conn: &Connection, sql: &str) -> Result<bool, String> {
    if sql.trim().is_empty() || analysis::has_several_statements(sql) {
        return Ok(false);
    }
    let Ok(ops) = analysis::analyze(conn, sql, "data") else {
        return Ok(false);
    };
    if !ops.iter().any(Operation::is_write) {
        return Ok(false);
    }
    for op in &ops {
        match op.decision() {
            Decision::Ignore => {}
            Decision::Reject(_) | Decision::Unsupported(_) => return Ok(false),
            Decision::Require(_) if op.database.as_deref() != Some("data") => return Ok(false),
            Decision::Require(_) => {}
        }
    }
    analysis::execute(conn, sql, vec![], &ops)
        .map(|_| true)
        .map_err(|e| e.to_string())
}

/// A statement that must never run, or one that may, with a path to write to.
fn statement(dir: &str) -> impl Strategy<Value = (String, bool)> {
    let evil = format!("{dir}/evil.db");
    let dangerous = vec![
        format!("attach database '{evil}' as x"),
        format!("ATTACH '{evil}' AS \"x\""),
        format!("attach 'file:{evil}?mode=rwc' as x"),
        format!("vacuum into '{evil}'"),
        format!("VACUUM main INTO '{evil}'"),
        "insert into t values (load_extension('/tmp/none'), 1)".into(),
        "insert into t select load_extension('x'), 2".into(),
        "update t set a = load_extension('x')".into(),
        "insert into t select file, 3 from pragma_database_list".into(),
        "create table leak as select * from pragma_database_list".into(),
        "insert into t select seq, 4 from pragma_database_list".into(),
        "pragma writable_schema = 1".into(),
        "pragma journal_mode = off".into(),
        "detach database main".into(),
        "vacuum".into(),
        "begin".into(),
        "savepoint s".into(),
        "create trigger tr after insert on t begin select load_extension('x'); end".into(),
        "insert into t select * from vv".into(),
    ];
    let benign = vec![
        "insert into t values (1, 'a')".to_owned(),
        "update t set b = 'x' where a = 1".into(),
        "delete from t where a > 3".into(),
        "create table n (x)".into(),
        "drop table if exists n".into(),
        "create index i on t (b)".into(),
        "create view vv as select load_extension('x'), 1".into(),
        "with w(a) as (select 5) insert into t select a, 'w' from w".into(),
        "replace into t values (2, 'r')".into(),
        "alter table t add column c".into(),
    ];
    let dangerous_len = dangerous.len();
    let all: Vec<String> = dangerous.into_iter().chain(benign).collect();
    (
        0..all.len(),
        prop_oneof!["", " ", "/* c */ ", "-- c\n", "\n\t"],
        any::<bool>(),
        proptest::option::of((
            any::<prop::sample::Index>(),
            "[;'\"`\\[\\]()*/\\- a-z0-9]{1,3}",
        )),
    )
        .prop_map(move |(i, prefix, upper, mutation)| {
            let mut sql = format!("{prefix}{}", all[i]);
            if upper {
                sql = sql.to_uppercase();
            }
            // The statement "insert into t select * from vv" is dangerous when
            // the view calls load_extension, which is what it tests.
            let mut flagged = i < dangerous_len;
            if let Some((at, text)) = mutation {
                let mut at = at.index(sql.len() + 1);
                while !sql.is_char_boundary(at) {
                    at -= 1;
                }
                sql.insert_str(at, &text);
                flagged = false;
            }
            (sql, flagged)
        })
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

proptest! {
    #![proptest_config(config(96))]

    /// Sequences of near-SQL through the execute-write checks: what could
    /// ATTACH, VACUUM INTO, load an extension or read file paths never runs,
    /// and no statement leaves another database attached or a file behind.
    #[test]
    fn execute_write_never_escapes_its_database(
        script in proptest::collection::vec(statement("DIR"), 1..5),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.db");
        let db = libsette::sqlite::open_file(&path).unwrap();
        let conn = db.connect().unwrap();
        libsette::sqlite::execute_batch(&conn, "create table t (a, b)").unwrap();
        let home = dir.path().to_str().unwrap();
        for (sql, dangerous) in &script {
            let sql = sql.replace("DIR", home);
            let ran = execute_write(&conn, &sql);
            prop_assert!(!(*dangerous && ran == Ok(true)), "ran: {}", sql);
            let attached = libsette::sqlite::query_all(&conn, "select name from pragma_database_list", ()).unwrap();
            let names: Vec<String> = attached.iter().map(|r| r.get::<String>(0).unwrap()).collect();
            prop_assert!(names.iter().all(|n| n == "main" || n == "temp"), "{:?} after {}", names, sql);
            let stray: Vec<String> = files(dir.path()).into_iter()
                .filter(|f| !["data.db", "data.db-wal", "data.db-shm", "data.db-journal"].contains(&f.as_str()))
                .collect();
            prop_assert!(stray.is_empty(), "{:?} after {}", stray, sql);
            let leaked = libsette::sqlite::query_all(&conn, "select count(*) from t where b like ? or a like ?",
                vec![Value::Text(format!("%{home}%")), Value::Text(format!("%{home}%"))]).unwrap();
            prop_assert_eq!(leaked[0].get::<i64>(0).unwrap(), 0, "a path was written by {}", sql);
        }
    }
}
