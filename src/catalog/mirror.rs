//! The catalog's mirror of each tenant database's schema: tables, views,
//! columns, primary keys, foreign keys and FTS tables. It makes "which tables
//! may this actor view" one SQL query, and is refreshed whenever the tenant
//! file's `PRAGMA schema_version` differs from the one it was taken at.

use std::collections::HashMap;

use anyhow::{Context, Result};
use libsql::Connection;

use crate::sqlite::{self, Own, Sql};

/// One table or view as read from a tenant database.
#[derive(Clone, Debug, PartialEq)]
pub struct TableSchema {
    pub name: String,
    pub kind: &'static str,
    pub hidden: bool,
    pub fts_table: Option<String>,
    pub sql: Option<String>,
    pub columns: Vec<ColumnSchema>,
    pub foreign_keys: Vec<ForeignKey>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ColumnSchema {
    pub cid: i64,
    pub name: String,
    pub decl_type: String,
    pub notnull: bool,
    pub pk: i64,
    pub hidden: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ForeignKey {
    pub column: String,
    pub other_table: String,
    pub other_column: String,
}

/// The tenant database's schema version.
pub fn schema_version(tenant: &impl Own) -> Result<i64> {
    let version = tenant.own("pragma schema_version", |statement| {
        sqlite::now(async {
            match statement.query(()).await?.next().await? {
                Some(row) => row.get::<i64>(0).map(Some),
                None => Ok(None),
            }
        })
    })??;
    version.context("pragma schema_version answers")
}

/// Reads every table and view of a tenant database.
pub fn read_schema(tenant: &Connection) -> Result<Vec<TableSchema>> {
    let objects = sqlite::query_all(
        tenant,
        "select l.name, l.type, m.sql
         from pragma_table_list l left join sqlite_master m on m.name = l.name
         where l.schema = 'main' and l.type in ('table', 'view', 'virtual', 'shadow')
           and l.name not like 'sqlite\\_%' escape '\\'
         order by l.name",
        (),
    )?;
    let mut tables = Vec::with_capacity(objects.len());
    for object in &objects {
        let name: String = object.get(0)?;
        let kind: String = object.get(1)?;
        let sql = sqlite::text(object, 2)?;
        let is_fts = sql
            .as_deref()
            .is_some_and(|s| s.to_ascii_uppercase().contains("USING FTS"));
        tables.push(TableSchema {
            fts_table: if is_fts {
                Some(name.clone())
            } else {
                fts_table_for(tenant, &name)?
            },
            columns: columns(tenant, &name)?,
            foreign_keys: foreign_keys(tenant, &name)?,
            kind: kind_name(&kind),
            hidden: is_fts || kind == "shadow",
            sql,
            name,
        });
    }
    Ok(tables)
}

/// `table`, `view` or `shadow` (virtual tables count as tables).
fn kind_name(kind: &str) -> &'static str {
    match kind {
        "view" => "view",
        "shadow" => "shadow",
        _ => "table",
    }
}

/// The FTS table indexing `table`, found as Datasette finds it.
fn fts_table_for(tenant: &Connection, table: &str) -> Result<Option<String>> {
    let row = sqlite::query_one(
        tenant,
        "select name from sqlite_master
         where rootpage = 0 and upper(sql) like '%VIRTUAL TABLE%USING FTS%'
           and (sql like '%content=\"' || ?1 || '\"%'
                or sql like '%content=''' || ?1 || '''%'
                or sql like '%content=[' || ?1 || ']%'
                or sql like '%content=' || ?1 || ')%'
                or sql like '%content=' || ?1 || ',%')
         order by name limit 1",
        [table],
    )?;
    row.map(|r| r.get(0)).transpose()
}

fn columns(tenant: &Connection, table: &str) -> Result<Vec<ColumnSchema>> {
    sqlite::query_all(
        tenant,
        "select cid, name, type, \"notnull\", pk, hidden from pragma_table_xinfo(?1) order by cid",
        [table],
    )?
    .iter()
    .map(|row| {
        Ok(ColumnSchema {
            cid: row.get(0)?,
            name: row.get(1)?,
            // Columns of views and virtual tables may have no declared type.
            decl_type: sqlite::text(row, 2)?.unwrap_or_default(),
            notnull: row.get::<i64>(3)? != 0,
            pk: row.get(4)?,
            hidden: row.get::<i64>(5)? != 0,
        })
    })
    .collect()
}

fn foreign_keys(tenant: &Connection, table: &str) -> Result<Vec<ForeignKey>> {
    sqlite::query_all(
        tenant,
        "select \"from\", \"table\", \"to\" from pragma_foreign_key_list(?1) order by id, seq",
        [table],
    )?
    .iter()
    .map(|row| {
        let other_table: String = row.get(1)?;
        Ok(ForeignKey {
            column: row.get(0)?,
            // A foreign key without a column names the other table's primary key.
            other_column: sqlite::text(row, 2)?.unwrap_or_else(|| "rowid".into()),
            other_table,
        })
    })
    .collect()
}

/// Replaces the mirror of one database with `tables`, taken at `version`.
pub fn store(
    catalog: &Connection,
    database_id: i64,
    version: i64,
    tables: &[TableSchema],
) -> Result<()> {
    sqlite::write_transaction(catalog, |conn| {
        sqlite::execute(
            conn,
            "delete from mirror_tables where database_id = ?1",
            [database_id],
        )?;
        for table in tables {
            sqlite::execute(
                conn,
                "insert into mirror_tables (database_id, name, kind, hidden, fts_table, sql)
                 values (?1, ?2, ?3, ?4, ?5, ?6)",
                (
                    database_id,
                    table.name.as_str(),
                    table.kind,
                    table.hidden as i64,
                    table.fts_table.clone(),
                    table.sql.clone(),
                ),
            )?;
            let table_id = conn.last_insert_rowid();
            for c in &table.columns {
                sqlite::execute(
                    conn,
                    "insert into mirror_columns (table_id, cid, name, type, \"notnull\", pk, hidden)
                     values (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    (
                        table_id,
                        c.cid,
                        c.name.as_str(),
                        c.decl_type.as_str(),
                        c.notnull as i64,
                        c.pk,
                        c.hidden as i64,
                    ),
                )?;
            }
            for fk in &table.foreign_keys {
                sqlite::execute(
                    conn,
                    "insert into mirror_foreign_keys (table_id, column_name, other_table, other_column)
                     values (?1, ?2, ?3, ?4)",
                    (
                        table_id,
                        fk.column.as_str(),
                        fk.other_table.as_str(),
                        fk.other_column.as_str(),
                    ),
                )?;
            }
        }
        sqlite::execute(
            conn,
            "update databases set schema_version = ?2 where id = ?1",
            (database_id, version),
        )?;
        Ok(())
    })
}

/// Brings the mirror of `database_id` up to date with the tenant file; returns
/// the schema version it now reflects. Cheap when nothing changed: on a
/// pooled catalog connection, one kept lookup.
pub fn refresh(catalog: &(impl Sql + Own), database_id: i64, tenant: &Connection) -> Result<i64> {
    let version = schema_version(tenant)?;
    let stored: Option<i64> = catalog
        .one(
            "select schema_version from databases where id = ?1",
            [database_id],
        )?
        .map(|row| row.get(0))
        .transpose()?
        .flatten();
    if stored != Some(version) {
        let tables = read_schema(tenant)?;
        store(catalog.conn(), database_id, version, &tables)?;
    }
    Ok(version)
}

/// The mirrored tables and views of one database, ordered by name
/// (three queries, whatever the number of tables).
pub fn load(catalog: &impl Sql, database_id: i64) -> Result<Vec<TableSchema>> {
    let mut columns: HashMap<i64, Vec<ColumnSchema>> = HashMap::new();
    for c in catalog.all(
        "select c.table_id, c.cid, c.name, c.type, c.\"notnull\", c.pk, c.hidden
         from mirror_columns c join mirror_tables t on t.id = c.table_id
         where t.database_id = ?1 order by c.table_id, c.cid",
        [database_id],
    )? {
        columns.entry(c.get(0)?).or_default().push(ColumnSchema {
            cid: c.get(1)?,
            name: c.get(2)?,
            decl_type: c.get(3)?,
            notnull: c.get::<i64>(4)? != 0,
            pk: c.get(5)?,
            hidden: c.get::<i64>(6)? != 0,
        });
    }
    let mut foreign_keys: HashMap<i64, Vec<ForeignKey>> = HashMap::new();
    for f in catalog.all(
        "select f.table_id, f.column_name, f.other_table, f.other_column
         from mirror_foreign_keys f join mirror_tables t on t.id = f.table_id
         where t.database_id = ?1 order by f.rowid",
        [database_id],
    )? {
        foreign_keys.entry(f.get(0)?).or_default().push(ForeignKey {
            column: f.get(1)?,
            other_table: f.get(2)?,
            other_column: f.get(3)?,
        });
    }
    catalog
        .all(
            "select id, name, kind, hidden, fts_table, sql from mirror_tables
         where database_id = ?1 order by name",
            [database_id],
        )?
        .iter()
        .map(|row| {
            let table_id: i64 = row.get(0)?;
            let kind: String = row.get(2)?;
            Ok(TableSchema {
                name: row.get(1)?,
                kind: kind_name(&kind),
                hidden: row.get::<i64>(3)? != 0,
                fts_table: row.get(4)?,
                sql: row.get(5)?,
                columns: columns.remove(&table_id).unwrap_or_default(),
                foreign_keys: foreign_keys.remove(&table_id).unwrap_or_default(),
            })
        })
        .collect()
}

/// Every mirrored table and view of a space's databases as (database, name,
/// kind), tables backing virtual tables left out.
pub fn space_tables(catalog: &Connection, space_id: i64) -> Result<Vec<(String, String, String)>> {
    sqlite::query_all(
        catalog,
        "select d.name, t.name, t.kind from mirror_tables t join databases d on d.id = t.database_id
         where d.space_id = ?1 and t.kind != 'shadow' order by d.name, t.name",
        [space_id],
    )?
    .iter()
    .map(|row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
    .collect()
}
