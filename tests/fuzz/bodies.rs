//! What the fuzzer puts in SQL parameters and request bodies: `_where`
//! fragments, SQL for the query and execute-write endpoints, and JSON
//! bodies for every write endpoint, each mutated now and then.

use rand::Rng;
use serde_json::{Value, json};

use super::fuzz_gen::{Gen, mutate};
use super::pools::*;

impl Gen<'_> {
    pub(crate) fn where_fragment(&mut self, pool: &Pool) -> String {
        let c = self.name(pool.columns);
        let t = self.name(pool.tables);
        let v = self.value().replace('\'', "''");
        match self.rng.gen_range(0..6) {
            0 => format!("\"{c}\" = '{v}'"),
            1 => "1=1) or (1=1".into(),
            2 => format!("id in (select id from \"{t}\")"),
            3 => "name in (select name from sqlite_master)".into(),
            4 => "exists (select * from pragma_database_list)".into(),
            _ => self.value(),
        }
    }

    pub(crate) fn sql(&mut self, pool: &Pool) -> String {
        let t = self.name(pool.tables);
        let c = self.name(pool.columns);
        match self.rng.gen_range(0..16) {
            0 => format!("select * from \"{t}\""),
            1 => format!("select \"{c}\" from \"{t}\" where \"{c}\" like :p"),
            2 => "select * from sqlite_master".into(),
            3 => "select * from pragma_database_list".into(),
            4 => "select * from pragma_table_list".into(),
            5 => "attach database 'x.db' as x".into(),
            6 => "select load_extension('x')".into(),
            7 => "select randomblob(100000)".into(),
            8 => "select zeroblob(1000000)".into(),
            9 => "select 1; select 2".into(),
            10 => "vacuum into '/tmp/fuzz-vacuum.db'".into(),
            11 => format!("select count(*) from \"{t}\" a, \"{t}\" b, \"{t}\" c"),
            12 => "with recursive c(x) as (select 1 union all select x + 1 from c limit 100000) select count(*) from c".into(),
            13 => format!("insert into \"{t}\" default values"),
            14 => "select :p, :q, :x".into(),
            _ => mutate(&mut self.rng, &format!("select * from \"{t}\" where {c} > 0")),
        }
    }

    pub(crate) fn row(&mut self, pool: &Pool) -> Value {
        let mut row = serde_json::Map::new();
        for _ in 0..self.rng.gen_range(0..4) {
            let c = self.name(pool.columns);
            row.insert(c, self.json_value(2));
        }
        Value::Object(row)
    }

    pub(crate) fn json_value(&mut self, depth: u32) -> Value {
        match self.rng.gen_range(0..12) {
            0 => Value::Null,
            1 => json!(self.chance(0.5)),
            2 => json!(self.rng.gen_range(-5i64..100)),
            3 => json!(self.pick(&[i64::MAX, i64::MIN])),
            4 => json!(u64::MAX),
            5 => json!(self.pick(&[1.5, -0.0, 1e300, 5e-324])),
            6 => json!({"$base64": true, "encoded": self.pick(&["aGVsbG8=", "!!", ""])}),
            7 => json!({"$raw": self.value()}),
            8 if depth > 0 => Value::Array(
                (0..self.rng.gen_range(0..3))
                    .map(|_| self.json_value(depth - 1))
                    .collect(),
            ),
            9 if depth > 0 => json!({"k": self.json_value(depth - 1)}),
            _ => json!(self.value()),
        }
    }

    pub(crate) fn body(&mut self, pool: &Pool, kind: &str) -> Vec<u8> {
        let needs_names = matches!(kind, "alter" | "create" | "tokens");
        let (t, c) = if needs_names {
            (self.name(pool.tables), self.name(pool.columns))
        } else {
            (String::new(), String::new())
        };
        let flags = ["return", "ignore", "replace", "alter", "pk", "confirm"];
        let mut body = match kind {
            "insert" | "upsert" => {
                let rows: Vec<Value> = (0..self.rng.gen_range(0..4))
                    .map(|_| self.row(pool))
                    .collect();
                if self.chance(0.5) {
                    json!({"rows": rows})
                } else {
                    json!({"row": rows.first().cloned().unwrap_or(Value::Null)})
                }
            }
            "update" => json!({"update": self.row(pool)}),
            "delete" | "drop" => json!({"confirm": self.chance(0.5)}),
            "alter" => {
                let op = self.pick(&[
                    "add_column",
                    "rename_column",
                    "rename_table",
                    "alter_column",
                    "drop_column",
                    "set_primary_key",
                    "reorder_columns",
                    "add_foreign_key",
                    "drop_foreign_key",
                    "nope",
                ]);
                let args = json!({"name": c, "type": self.pick(&["text", "integer", "float", "blob", "nope"]), "to": self.value(), "columns": [c], "column": c, "fk_table": t, "fk_column": "id", "default": self.json_value(1)});
                json!({"operations": [{"op": op, "args": args}]})
            }
            "create" => {
                let columns: Vec<Value> = (0..self.rng.gen_range(0..3))
                    .map(|_| json!({"name": self.value(), "type": self.pick(&["text", "integer", "float", "blob", "nope"])}))
                    .collect();
                let rows: Vec<Value> = (0..self.rng.gen_range(0..3))
                    .map(|_| self.row(pool))
                    .collect();
                match self.rng.gen_range(0..3) {
                    0 => json!({"table": t, "columns": columns, "pk": c}),
                    1 => json!({"table": t, "rows": rows, "pks": [c, "id"]}),
                    _ => json!({"table": t, "row": self.row(pool)}),
                }
            }
            "execute" => json!({"sql": self.sql(pool), "params": {"p": self.json_value(1)}}),
            "tokens" => {
                let expires = [
                    json!(60),
                    json!(-1),
                    json!(0),
                    json!(i64::MAX),
                    json!("x"),
                    json!(null),
                ][self.rng.gen_range(0..6)]
                .clone();
                json!({
                "name": self.value(),
                "expires_after": expires,
                "restrict_all": [self.pick(&["vi", "view-table", "nope"])],
                "restrict_database": {self.name(pool.dbs): ["vt"]},
                "restrict_resource": {self.name(pool.dbs): {t.clone(): ["vt", "ir"]}},
                })
            }
            _ => json!({}),
        };
        if let Value::Object(map) = &mut body {
            if self.chance(0.3) {
                let flag = self.pick(&flags);
                map.insert(flag.into(), self.json_value(1));
            }
            if self.chance(0.05) {
                map.insert("nope".into(), json!(1));
            }
        }
        let text = body.to_string();
        match self.rng.gen_range(0..20) {
            0 => Vec::new(),
            1 => format!("sql={}", libsette::read::args::quote_plus(&self.sql(pool))).into_bytes(),
            2 => self.value().into_bytes(),
            3 | 4 => mutate(&mut self.rng, &text).into_bytes(),
            5 => text.as_bytes()[..self.rng.gen_range(0..=text.len())].to_vec(),
            6 => vec![0xff, 0xfe, b'{'],
            _ => text.into_bytes(),
        }
    }
}
