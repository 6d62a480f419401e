//! `/-/execute-write`: what a statement does, found the way Datasette finds
//! it — by compiling it under an SQLite authorizer that records every table
//! read, row written and schema change — and the permission each operation
//! needs. ATTACH, extension loading, pragmas (writable_schema among them),
//! transactions and VACUUM are refused here and again by the authorizer the
//! statement then runs under.

use std::sync::{Arc, Mutex};

use libsql::{AuthAction, AuthContext, Authorization, Connection, Value};
use serde_json::{Value as Json, json};

use super::{WriteError, WriteResult, select, sql_error};
use crate::permissions::Resource;
use crate::sqlite::now;

/// One thing a statement does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    pub operation: &'static str,
    pub target_type: &'static str,
    /// The database as the space names it (`main` becomes the database's name).
    pub database: Option<String>,
    pub table: Option<String>,
    pub target: Option<String>,
    /// The trigger or view the operation happens in, if any.
    pub source: Option<String>,
    /// SQLite's own bookkeeping, not the user's doing.
    pub internal: bool,
    /// `virtual` or `shadow` for writes into such tables.
    pub table_kind: Option<String>,
}

/// What an operation means for the actor.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    Ignore,
    /// Refused whatever the actor's rights (VACUUM, writes to virtual tables).
    Reject(String),
    /// Not something writable SQL may do (ATTACH, pragmas, transactions…).
    Unsupported(String),
    /// Allowed with these permissions.
    Require(Vec<(&'static str, Resource)>),
}

impl Operation {
    fn new(operation: &'static str, target_type: &'static str) -> Operation {
        Operation {
            operation,
            target_type,
            database: None,
            table: None,
            target: None,
            source: None,
            internal: false,
            table_kind: None,
        }
    }

    pub fn is_write(&self) -> bool {
        !matches!(self.operation, "read" | "select" | "function")
    }

    pub fn decision(&self) -> Decision {
        let unsupported = || {
            Decision::Unsupported(format!(
                "Unsupported SQL operation: {} {}",
                self.operation, self.target_type
            ))
        };
        if self.internal || self.operation == "select" || self.operation == "function" {
            return Decision::Ignore;
        }
        if self.operation == "vacuum" {
            return Decision::Reject("VACUUM is not allowed in user-supplied SQL".into());
        }
        let (Some(db), table) = (self.database.clone(), self.table.clone()) else {
            return unsupported();
        };
        let on_table = |action: &'static str| match &table {
            Some(t) => Decision::Require(vec![(action, Resource::Table(db.clone(), t.clone()))]),
            None => unsupported(),
        };
        match (self.operation, self.target_type) {
            ("insert" | "update" | "delete", "table") => match self.table_kind.as_deref() {
                Some("virtual") => Decision::Reject(
                    "Writes to virtual tables are not allowed in user-supplied SQL".into(),
                ),
                Some("shadow") => Decision::Reject(
                    "Writes to shadow tables are not allowed in user-supplied SQL".into(),
                ),
                _ if self.operation == "delete" => on_table("delete-row"),
                _ => match &table {
                    Some(t) => Decision::Require(
                        ["insert-row", "update-row", "delete-row"]
                            .into_iter()
                            .map(|a| (a, Resource::Table(db.clone(), t.clone())))
                            .collect(),
                    ),
                    None => unsupported(),
                },
            },
            ("read", "table") => match &table {
                Some(t) if t.to_ascii_lowercase().starts_with("pragma_") => unsupported(),
                _ => on_table("view-table"),
            },
            ("create", "table") => {
                Decision::Require(vec![("create-table", Resource::Database(db.clone()))])
            }
            // The view's body is not analysed table by table (Datasette runs
            // it in a rolled-back savepoint): ask for execute-sql as well,
            // which already lets the actor read any table of the database.
            ("create", "view") => Decision::Require(vec![
                ("create-view", Resource::Database(db.clone())),
                ("execute-sql", Resource::Database(db.clone())),
            ]),
            ("drop", "view") => on_table("drop-view"),
            ("alter", "table") => on_table("alter-table"),
            ("drop", "table") => on_table("drop-table"),
            ("create" | "drop", "index") => on_table("alter-table"),
            _ => unsupported(),
        }
    }

    /// The row Datasette's answer shows for this operation.
    pub fn to_json(&self) -> Json {
        let required = match self.decision() {
            Decision::Require(perms) => perms.iter().map(|p| p.0).collect::<Vec<_>>().join(", "),
            _ => String::new(),
        };
        json!({
            "operation": self.operation,
            "database": self.database,
            "table": self.table.clone().or_else(|| self.target.clone()),
            "required_permission": required,
            "source": self.source,
        })
    }
}

const SCHEMA_TABLES: [&str; 4] = [
    "sqlite_master",
    "sqlite_schema",
    "sqlite_temp_master",
    "sqlite_temp_schema",
];

const INTERNAL_SCHEMA_FUNCTIONS: [&str; 9] = [
    "length",
    "like",
    "printf",
    "sqlite_drop_column",
    "sqlite_rename_column",
    "sqlite_rename_quotefix",
    "sqlite_rename_table",
    "sqlite_rename_test",
    "substr",
];

fn record(ctx: &AuthContext, database: &str) -> Operation {
    let schema = ctx.database_name.map(str::to_owned);
    let db = |s: &Option<String>| match s.as_deref() {
        Some("main") => Some(database.to_owned()),
        other => other.map(str::to_owned),
    };
    let mut op = Operation::new("unknown", "unknown");
    op.source = ctx.accessor.map(str::to_owned);
    let table_op = |mut op: Operation, name: &str, operation| {
        op.operation = operation;
        op.target_type = if SCHEMA_TABLES.contains(&name) {
            "schema"
        } else {
            "table"
        };
        op.database = db(&schema);
        op.table = (op.target_type == "table").then(|| name.to_owned());
        op.target = Some(name.to_owned());
        op
    };
    let schema_op = |mut op: Operation, operation, target_type, target: &str, table: &str| {
        op.operation = operation;
        op.target_type = target_type;
        op.database = db(&schema);
        op.table = Some(table.to_owned());
        op.target = Some(target.to_owned());
        op
    };
    use AuthAction as A;
    match ctx.action {
        A::Read { table_name, .. } => table_op(op, table_name, "read"),
        A::Insert { table_name } => table_op(op, table_name, "insert"),
        A::Update { table_name, .. } => table_op(op, table_name, "update"),
        A::Delete { table_name } => table_op(op, table_name, "delete"),
        A::CreateTable { table_name } | A::CreateTempTable { table_name } => {
            schema_op(op, "create", "table", table_name, table_name)
        }
        A::CreateView { view_name } | A::CreateTempView { view_name } => {
            schema_op(op, "create", "view", view_name, view_name)
        }
        A::CreateIndex {
            index_name,
            table_name,
        }
        | A::CreateTempIndex {
            index_name,
            table_name,
        } => schema_op(op, "create", "index", index_name, table_name),
        A::CreateTrigger {
            trigger_name,
            table_name,
        }
        | A::CreateTempTrigger {
            trigger_name,
            table_name,
        } => schema_op(op, "create", "trigger", trigger_name, table_name),
        A::DropTable { table_name } | A::DropTempTable { table_name } => {
            schema_op(op, "drop", "table", table_name, table_name)
        }
        A::DropView { view_name } | A::DropTempView { view_name } => {
            schema_op(op, "drop", "view", view_name, view_name)
        }
        A::DropIndex {
            index_name,
            table_name,
        }
        | A::DropTempIndex {
            index_name,
            table_name,
        } => schema_op(op, "drop", "index", index_name, table_name),
        A::DropTrigger {
            trigger_name,
            table_name,
        }
        | A::DropTempTrigger {
            trigger_name,
            table_name,
        } => schema_op(op, "drop", "trigger", trigger_name, table_name),
        A::CreateVtable { table_name, .. } => {
            schema_op(op, "create", "virtual-table", table_name, table_name)
        }
        A::DropVtable { table_name, .. } => {
            schema_op(op, "drop", "virtual-table", table_name, table_name)
        }
        A::AlterTable {
            database_name,
            table_name,
        } => {
            let mut op = schema_op(op, "alter", "table", table_name, table_name);
            op.database = db(&Some(database_name.to_owned()));
            op
        }
        A::Transaction { operation } => {
            // libsql does not export the operation's type; its name says it.
            op.operation = match format!("{operation:?}").as_str() {
                "Begin" => "begin",
                "Release" => "commit",
                "Rollback" => "rollback",
                _ => "unknown",
            };
            op.target_type = "transaction";
            op
        }
        A::Savepoint { savepoint_name, .. } => {
            op.operation = "savepoint";
            op.target_type = "transaction";
            op.target = Some(savepoint_name.to_owned());
            op
        }
        A::Attach { filename } => {
            op.operation = "attach";
            op.target_type = "database";
            op.target = Some(filename.to_owned());
            op
        }
        A::Detach { database_name } => {
            op.operation = "detach";
            op.target_type = "database";
            op.target = Some(database_name.to_owned());
            op
        }
        A::Pragma { pragma_name, .. } => {
            op.operation = "pragma";
            op.target_type = "pragma";
            op.target = Some(pragma_name.to_owned());
            op
        }
        A::Analyze { table_name } => {
            op.operation = "analyze";
            op.target_type = "table";
            op.database = db(&schema);
            op.table = Some(table_name.to_owned());
            op.target = Some(table_name.to_owned());
            op
        }
        A::Reindex { index_name } => {
            op.operation = "reindex";
            op.target_type = "index";
            op.database = db(&schema);
            op.target = Some(index_name.to_owned());
            op
        }
        A::Select => {
            op.operation = "select";
            op.target_type = "statement";
            op
        }
        A::Function { function_name } => {
            op.operation = "function";
            op.target_type = "function";
            op.target = Some(function_name.to_owned());
            op
        }
        A::Recursive => {
            op.operation = "select";
            op.target_type = "statement";
            op
        }
        A::Unknown { code, .. } => {
            op.database = db(&schema);
            op.target = Some(format!("SQLITE_{code}"));
            op
        }
    }
}

/// The first keyword of `sql`, comments and whitespace skipped, lowercased.
fn first_keyword(sql: &str) -> String {
    let mut rest = sql.trim_start();
    loop {
        if let Some(r) = rest.strip_prefix("--") {
            rest = r.split_once('\n').map(|x| x.1).unwrap_or("").trim_start();
        } else if let Some(r) = rest.strip_prefix("/*") {
            rest = r.split_once("*/").map(|x| x.1).unwrap_or("").trim_start();
        } else {
            break;
        }
    }
    rest.chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect::<String>()
        .to_ascii_lowercase()
}

/// True when `sql` holds more than one statement (outside a trigger body).
pub fn has_several_statements(sql: &str) -> bool {
    let mut chars = sql.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '\'' | '"' | '`' | '[' => {
                let close = if c == '[' { ']' } else { c };
                for (_, d) in chars.by_ref() {
                    if d == close {
                        break;
                    }
                }
            }
            '-' if sql[i..].starts_with("--") => {
                for (_, d) in chars.by_ref() {
                    if d == '\n' {
                        break;
                    }
                }
            }
            '/' if sql[i..].starts_with("/*") => {
                chars.next();
                let mut prev = ' ';
                for (_, d) in chars.by_ref() {
                    if prev == '*' && d == '/' {
                        break;
                    }
                    prev = d;
                }
            }
            ';' => {
                let tail = &sql[i + 1..];
                return !first_keyword(tail).is_empty()
                    && !sql.to_ascii_lowercase().contains("trigger");
            }
            _ => {}
        }
    }
    false
}

/// Compiles `sql` under a recording authorizer; the operations it would perform.
pub fn analyze(conn: &Connection, sql: &str, database: &str) -> WriteResult<Vec<Operation>> {
    let seen: Arc<Mutex<Vec<Operation>>> = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let db_name = database.to_owned();
    conn.authorizer(Some(Arc::new(move |ctx: &AuthContext| {
        let op = record(ctx, &db_name);
        let mut seen = sink.lock().expect("analysis lock");
        if !seen.contains(&op) {
            seen.push(op);
        }
        Authorization::Allow
    })))
    .map_err(sql_error)?;
    let prepared = now(conn.prepare(sql));
    conn.authorizer(None).map_err(sql_error)?;
    drop(prepared.map_err(|e| match sql_error(e) {
        WriteError::Invalid(m) => {
            WriteError::invalid(format!("Could not analyze query: {}", m.join("; ")))
        }
        other => other,
    })?);
    let mut ops = std::mem::take(&mut *seen.lock().expect("analysis lock"));
    if ops.is_empty() {
        let mut op = Operation::new("unknown", "statement");
        if first_keyword(sql) == "vacuum" {
            op = Operation::new("vacuum", "database");
        }
        op.database = Some(database.to_owned());
        ops.push(op);
    }
    mark_internal(&mut ops);
    for op in ops.iter_mut() {
        if matches!(op.operation, "insert" | "update" | "delete") && op.target_type == "table" {
            let (_, kind) = select(
                conn,
                "select type from pragma_table_list where name = ?1",
                vec![Value::Text(op.table.clone().unwrap_or_default())],
            )?;
            op.table_kind = kind.first().and_then(|r| match &r[0] {
                Value::Text(t) => Some(t.clone()),
                _ => None,
            });
        }
    }
    Ok(ops)
}

/// Marks what SQLite does on its own behalf (schema table updates, the
/// delete a DROP TABLE implies, helper functions of ALTER TABLE).
fn mark_internal(ops: &mut [Operation]) {
    let schema_change = ops.iter().any(|o| {
        matches!(
            o.target_type,
            "table" | "index" | "view" | "trigger" | "virtual-table"
        ) && matches!(o.operation, "create" | "alter" | "drop")
    });
    let dropped: Vec<(Option<String>, Option<String>)> = ops
        .iter()
        .filter(|o| o.operation == "drop" && matches!(o.target_type, "table" | "view"))
        .map(|o| (o.database.clone(), o.table.clone()))
        .collect();
    let drop_delete = |o: &Operation| {
        o.operation == "delete"
            && o.target_type == "table"
            && dropped.contains(&(o.database.clone(), o.table.clone()))
    };
    let user_table_access = ops.iter().any(|o| {
        matches!(o.operation, "read" | "insert" | "update" | "delete")
            && o.target_type == "table"
            && !drop_delete(o)
    });
    let internal: Vec<bool> = ops
        .iter()
        .map(|o| {
            (schema_change && (o.target_type == "schema" || o.operation == "reindex"))
                || (schema_change
                    && !user_table_access
                    && o.operation == "function"
                    && o.target
                        .as_deref()
                        .is_some_and(|t| INTERNAL_SCHEMA_FUNCTIONS.contains(&t)))
                || drop_delete(o)
        })
        .collect();
    for (op, internal) in ops.iter_mut().zip(internal) {
        op.internal = internal;
    }
}

/// The authorizer user SQL runs under on the writer: everything the analysis
/// allowed, never ATTACH/DETACH, pragmas, transactions or extension loading.
pub fn guard(ctx: &AuthContext) -> Authorization {
    match ctx.action {
        AuthAction::Attach { .. }
        | AuthAction::Detach { .. }
        | AuthAction::Pragma { .. }
        | AuthAction::Transaction { .. }
        | AuthAction::Savepoint { .. } => Authorization::Deny,
        AuthAction::Function { function_name }
            if function_name.eq_ignore_ascii_case("load_extension") =>
        {
            Authorization::Deny
        }
        _ => Authorization::Allow,
    }
}

/// What running a statement gave.
#[derive(Debug)]
pub struct Executed {
    pub rowcount: i64,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

/// Runs an analysed statement on the writer under [`guard`].
pub fn execute(
    conn: &Connection,
    sql: &str,
    params: Vec<(String, Value)>,
    ops: &[Operation],
) -> WriteResult<Executed> {
    conn.authorizer(Some(Arc::new(guard))).map_err(sql_error)?;
    let result = super::select(conn, sql, params);
    conn.authorizer(None).map_err(sql_error)?;
    let (columns, rows) = result?;
    let dml = ops
        .iter()
        .any(|o| !o.internal && matches!(o.operation, "insert" | "update" | "delete"))
        && !ops
            .iter()
            .any(|o| !o.internal && matches!(o.operation, "create" | "drop" | "alter"));
    Ok(Executed {
        rowcount: if dml { conn.changes() as i64 } else { -1 },
        columns,
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_splitting() {
        assert!(!has_several_statements("update t set a = 1"));
        assert!(!has_several_statements("update t set a = ';'; -- done"));
        assert!(has_several_statements("delete from a; delete from b"));
        assert_eq!(first_keyword("  /* x */ -- y\n VACUUM into 'x'"), "vacuum");
    }
}
