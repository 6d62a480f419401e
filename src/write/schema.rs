//! Tables' schema text: `CREATE TABLE`
//! written the way sqlite-utils writes it (Datasette's `/-/create` and
//! `/-/alter` answers show that exact text), added columns, and the
//! rebuild of a table that applies `/-/alter` operations SQLite's own
//! `ALTER TABLE` cannot.

use std::collections::{HashMap, HashSet};

use libsql::{Connection, Value};

use super::live::{ForeignKey, live_table, single_pk, text};
use super::{WriteError, WriteResult, exec, select};
use crate::names::quote_ident;

/// The SQL type of an API column type (`text`, `integer`, `float`, `blob`).
pub fn api_type(name: &str) -> Option<&'static str> {
    match name {
        "text" => Some("TEXT"),
        "integer" => Some("INTEGER"),
        "float" => Some("REAL"),
        "blob" => Some("BLOB"),
        _ => None,
    }
}

/// A declared type normalised by its affinity, as sqlite-utils rebuilds tables.
fn affinity_type(decl: &str) -> &'static str {
    let t = decl.trim().to_ascii_uppercase();
    if t.is_empty() {
        "TEXT"
    } else if t.contains("INT") {
        "INTEGER"
    } else if t.contains("CHAR") || t.contains("CLOB") || t.contains("TEXT") {
        "TEXT"
    } else if t.contains("BLOB") {
        "BLOB"
    } else {
        "REAL"
    }
}

/// SQL text of a literal default given in a request.
pub fn literal_default(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::Null => None,
        serde_json::Value::Bool(b) => Some((*b as i64).to_string()),
        serde_json::Value::Number(n) => Some(
            n.as_f64()
                .filter(|_| n.is_f64())
                .map(crate::read::values::float_text)
                .unwrap_or_else(|| n.to_string()),
        ),
        serde_json::Value::String(s) => Some(sql_string(s)),
        other => Some(sql_string(&super::values::python_dumps(other))),
    }
}

/// A quoted SQL string literal.
pub fn sql_string(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Datasette's named default expressions.
pub fn default_expression(name: &str) -> Option<&'static str> {
    match name {
        "current_timestamp" => Some("CURRENT_TIMESTAMP"),
        "current_date" => Some("CURRENT_DATE"),
        "current_time" => Some("CURRENT_TIME"),
        "current_unixtime" => Some("(CAST(strftime('%s', 'now') AS INTEGER))"),
        "current_unixtime_ms" => {
            Some("(CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))")
        }
        _ => None,
    }
}

/// An existing default's text made fit to write again, as sqlite-utils does.
fn redeclared_default(text: &str) -> String {
    let upper = text.to_ascii_uppercase();
    let quoted = (text.starts_with('\'') && text.ends_with('\''))
        || (text.starts_with('"') && text.ends_with('"'));
    if quoted
        || [
            "CURRENT_TIME",
            "CURRENT_DATE",
            "CURRENT_TIMESTAMP",
            "TRUE",
            "FALSE",
            "NULL",
        ]
        .contains(&upper.as_str())
        || text.parse::<f64>().is_ok()
    {
        text.to_owned()
    } else if text.ends_with(')') {
        if text.starts_with('(') {
            text.to_owned()
        } else {
            format!("({text})")
        }
    } else {
        sql_string(text)
    }
}

/// One column of a table to create.
#[derive(Clone, Debug)]
pub struct ColumnDef {
    pub name: String,
    pub sql_type: String,
    pub not_null: bool,
    pub default: Option<String>,
}

/// A table to create.
#[derive(Clone, Debug, Default)]
pub struct TableDef {
    pub name: String,
    pub columns: Vec<ColumnDef>,
    pub pk: Vec<String>,
    pub foreign_keys: Vec<ForeignKey>,
}

/// `CREATE TABLE` as sqlite-utils writes it.
pub fn create_sql(def: &TableDef) -> String {
    let mut columns = def.columns.clone();
    let single_pk = (def.pk.len() == 1).then(|| def.pk[0].clone());
    if let Some(pk) = &single_pk
        && !columns.iter().any(|c| &c.name == pk)
    {
        columns.insert(
            0,
            ColumnDef {
                name: pk.clone(),
                sql_type: "INTEGER".into(),
                not_null: false,
                default: None,
            },
        );
    }
    let mut lines = Vec::new();
    for c in &columns {
        let mut line = format!("   {} {}", quote_ident(&c.name), c.sql_type);
        if single_pk.as_deref() == Some(c.name.as_str()) {
            line.push_str(" PRIMARY KEY");
        }
        if c.not_null {
            line.push_str(" NOT NULL");
        }
        if let Some(default) = &c.default {
            line.push_str(&format!(" DEFAULT {default}"));
        }
        if let Some(fk) = def.foreign_keys.iter().find(|f| f.column == c.name) {
            line.push_str(&format!(
                " REFERENCES {}({}){}",
                quote_ident(&fk.other_table),
                quote_ident(&fk.other_column),
                fk.actions
            ));
        }
        lines.push(line);
    }
    let compound = if def.pk.len() > 1 {
        let pks: Vec<String> = def.pk.iter().map(|p| quote_ident(p)).collect();
        format!(",\n   PRIMARY KEY ({})", pks.join(", "))
    } else {
        String::new()
    };
    format!(
        "CREATE TABLE {} (\n{}{compound}\n)",
        quote_ident(&def.name),
        lines.join(",\n")
    )
}

/// Resolves a foreign key's other column (the other table's primary key when not given).
pub fn foreign_key(
    conn: &Connection,
    column: &str,
    other_table: &str,
    other_column: Option<&str>,
) -> WriteResult<ForeignKey> {
    let other_column = match other_column {
        Some(c) => c.to_owned(),
        None => single_pk(conn, other_table)?,
    };
    Ok(ForeignKey {
        column: column.to_owned(),
        other_table: other_table.to_owned(),
        other_column,
        actions: String::new(),
    })
}

/// `ALTER TABLE … ADD COLUMN`, as sqlite-utils writes it.
pub fn add_column(
    conn: &Connection,
    table: &str,
    name: &str,
    sql_type: &str,
    not_null_default: Option<&str>,
) -> WriteResult<()> {
    let extra = not_null_default
        .map(|d| format!(" NOT NULL DEFAULT {d}"))
        .unwrap_or_default();
    exec(
        conn,
        &format!(
            "ALTER TABLE {} ADD COLUMN {} {sql_type}{extra};",
            quote_ident(table),
            quote_ident(name)
        ),
        vec![],
    )?;
    Ok(())
}

/// Changes to apply by rebuilding a table (sqlite-utils' `transform`).
#[derive(Clone, Debug, Default)]
pub struct Transform {
    /// Column → new SQL type.
    pub types: HashMap<String, String>,
    pub rename: HashMap<String, String>,
    pub drop: HashSet<String>,
    pub pk: Option<Vec<String>>,
    /// Column → NOT NULL on or off.
    pub not_null: Vec<(String, bool)>,
    /// Column → new default SQL, or none.
    pub defaults: Vec<(String, Option<String>)>,
    pub column_order: Option<Vec<String>>,
    pub add_foreign_keys: Vec<ForeignKey>,
    pub drop_foreign_keys: Vec<String>,
    pub set_foreign_keys: Option<Vec<ForeignKey>>,
}

impl Transform {
    pub fn is_empty(&self) -> bool {
        self.types.is_empty()
            && self.rename.is_empty()
            && self.drop.is_empty()
            && self.pk.is_none()
            && self.not_null.is_empty()
            && self.defaults.is_empty()
            && self.column_order.is_none()
            && self.add_foreign_keys.is_empty()
            && self.drop_foreign_keys.is_empty()
            && self.set_foreign_keys.is_none()
    }
}

/// A rebuild writes only columns, types, NOT NULL, defaults, the primary key
/// and foreign keys: refuse tables whose other constraints it would lose.
fn refuse_lossy_rebuild(conn: &Connection, table: &str) -> WriteResult<()> {
    let (_, rows) = select(
        conn,
        "select
            (select count(*) from pragma_index_list(?1) where origin = 'u')
          + (select count(*) from pragma_table_xinfo(?1) where hidden != 0)
          + (select count(*) from sqlite_master
              where type = 'table' and name = ?1
                and (upper(sql) like '%CHECK (%' or upper(sql) like '%CHECK(%'
                     or upper(sql) like '% COLLATE %' or upper(sql) like '% AUTOINCREMENT%'
                     or rtrim(upper(sql)) like '%STRICT' or rtrim(upper(sql)) like '%ROWID'))",
        vec![Value::Text(table.into())],
    )?;
    if matches!(rows.first().map(|r| &r[0]), Some(Value::Integer(n)) if *n > 0) {
        return Err(WriteError::invalid(format!(
            "Table {table} has constraints (CHECK, UNIQUE, COLLATE, AUTOINCREMENT, generated columns, STRICT or WITHOUT ROWID) that this alteration would lose; use add_column, rename_table or /-/execute-write instead"
        )));
    }
    Ok(())
}

/// Rebuilds `table` with the changes: a new table written by [`create_sql`],
/// the rows copied (rowids kept), the old table dropped and the new one
/// renamed into place, then its indexes and triggers created again.
pub fn transform(conn: &Connection, table: &str, changes: &Transform) -> WriteResult<()> {
    let live = live_table(conn, table)?
        .ok_or_else(|| WriteError::NotFound(format!("Table not found: {table}")))?;
    refuse_lossy_rebuild(conn, table)?;
    let find = |name: &str| {
        live.columns
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
            .map(|c| c.name.clone())
            .unwrap_or_else(|| name.to_owned())
    };
    let types: HashMap<String, String> = changes
        .types
        .iter()
        .map(|(k, v)| (find(k), v.clone()))
        .collect();
    let rename: HashMap<String, String> = changes
        .rename
        .iter()
        .map(|(k, v)| (find(k), v.clone()))
        .collect();
    let drop: HashSet<String> = changes.drop.iter().map(|c| find(c)).collect();
    let new_name = |c: &str| rename.get(c).cloned().unwrap_or_else(|| c.to_owned());

    let mut columns = Vec::new();
    let mut copy = Vec::new();
    for c in &live.columns {
        if drop.contains(&c.name) {
            continue;
        }
        copy.push((c.name.clone(), new_name(&c.name)));
        columns.push(ColumnDef {
            name: new_name(&c.name),
            sql_type: types
                .get(&c.name)
                .cloned()
                .unwrap_or_else(|| affinity_type(&c.decl_type).to_owned()),
            not_null: c.notnull,
            default: c.default.as_deref().map(redeclared_default),
        });
    }
    for (name, on) in &changes.not_null {
        let name = new_name(&find(name));
        if let Some(c) = columns.iter_mut().find(|c| c.name == name) {
            c.not_null = *on;
        }
    }
    for (name, default) in &changes.defaults {
        let name = new_name(&find(name));
        if let Some(c) = columns.iter_mut().find(|c| c.name == name) {
            c.default = default.clone();
        }
    }
    if let Some(order) = &changes.column_order {
        let order: Vec<String> = order.iter().map(|c| new_name(&find(c))).collect();
        columns.sort_by_key(|c| order.iter().position(|o| *o == c.name).unwrap_or(999));
    }
    let pk = match &changes.pk {
        Some(pk) => pk.iter().map(|p| new_name(&find(p))).collect(),
        // sqlite-utils keeps the key columns in table order.
        None => live
            .columns
            .iter()
            .filter(|c| c.pk > 0 && !drop.contains(&c.name))
            .map(|c| new_name(&c.name))
            .collect(),
    };
    let foreign_keys = match &changes.set_foreign_keys {
        Some(set) => set.clone(),
        None => {
            let dropped: HashSet<String> = changes
                .drop_foreign_keys
                .iter()
                .map(|c| find(c).to_ascii_lowercase())
                .chain(drop.iter().map(|c| c.to_ascii_lowercase()))
                .collect();
            let mut fks: Vec<ForeignKey> = live
                .foreign_keys
                .iter()
                .filter(|f| !dropped.contains(&f.column.to_ascii_lowercase()))
                .map(|f| ForeignKey {
                    column: new_name(&f.column),
                    ..f.clone()
                })
                .collect();
            fks.extend(changes.add_foreign_keys.iter().cloned());
            fks
        }
    };
    let temp = format!("{table}_new_{}", hex::encode(rand::random::<[u8; 6]>()));
    let sql = create_sql(&TableDef {
        name: temp.clone(),
        columns,
        pk,
        foreign_keys,
    });
    let (_, others) = select(
        conn,
        "select sql from sqlite_master
         where tbl_name = ?1 and type in ('index', 'trigger') and sql is not null
         order by type, rowid",
        vec![Value::Text(table.into())],
    )?;
    exec(conn, &sql, vec![])?;
    let (from, to): (Vec<String>, Vec<String>) = copy
        .iter()
        .map(|(a, b)| (quote_ident(a), quote_ident(b)))
        .unzip();
    exec(
        conn,
        &format!(
            "INSERT INTO {} (rowid, {}) SELECT rowid, {} FROM {}",
            quote_ident(&temp),
            to.join(", "),
            from.join(", "),
            quote_ident(table)
        ),
        vec![],
    )?;
    exec(conn, &format!("DROP TABLE {}", quote_ident(table)), vec![])?;
    // Views that name the table must keep naming it, not follow the rename.
    exec(conn, "PRAGMA legacy_alter_table = ON", vec![])?;
    let renamed = exec(
        conn,
        &format!(
            "ALTER TABLE {} RENAME TO {}",
            quote_ident(&temp),
            quote_ident(table)
        ),
        vec![],
    );
    exec(conn, "PRAGMA legacy_alter_table = OFF", vec![])?;
    renamed?;
    for row in others {
        if let Some(sql) = text(&row[0]) {
            exec(conn, &sql, vec![])?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_sql_as_sqlite_utils() {
        let col = |name: &str, t: &str| ColumnDef {
            name: name.into(),
            sql_type: t.into(),
            not_null: false,
            default: None,
        };
        let def = TableDef {
            name: "books".into(),
            columns: vec![col("id", "INTEGER"), col("title", "TEXT")],
            pk: vec!["id".into()],
            ..TableDef::default()
        };
        assert_eq!(
            create_sql(&def),
            "CREATE TABLE \"books\" (\n   \"id\" INTEGER PRIMARY KEY,\n   \"title\" TEXT\n)"
        );
        let def = TableDef {
            name: "badpk".into(),
            columns: vec![col("id", "INTEGER")],
            pk: vec!["nope".into()],
            ..TableDef::default()
        };
        assert_eq!(
            create_sql(&def),
            "CREATE TABLE \"badpk\" (\n   \"nope\" INTEGER PRIMARY KEY,\n   \"id\" INTEGER\n)"
        );
        let def = TableDef {
            name: "pairs".into(),
            columns: vec![col("a", "TEXT"), col("b", "INTEGER")],
            pk: vec!["a".into(), "b".into()],
            ..TableDef::default()
        };
        assert_eq!(
            create_sql(&def),
            "CREATE TABLE \"pairs\" (\n   \"a\" TEXT,\n   \"b\" INTEGER,\n   PRIMARY KEY (\"a\", \"b\")\n)"
        );
    }
}
