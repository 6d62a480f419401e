//! Mutated requests built from libsette's URL grammar (`src/http/routes.rs`):
//! every endpoint, names encoded and broken, every query parameter a table
//! or query takes, hostile headers, and JSON bodies for every write.

use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde_json::{Value, json};

/// Who sends a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Who {
    Anonymous,
    AlphaFull,
    AlphaRestricted,
    BetaFull,
    BetaRestricted,
    Junk,
}

/// Names a space's requests draw from.
pub struct Pool {
    pub space: &'static str,
    pub dbs: &'static [&'static str],
    pub tables: &'static [&'static str],
    pub columns: &'static [&'static str],
}

pub const ALPHA: Pool = Pool {
    space: "alpha",
    dbs: &["cnrydb"],
    tables: &["cnryvis", "cnryhid", "cnryview"],
    columns: &["id", "cnryviscol", "cnryhidcol", "ref"],
};
/// What the unrestricted alpha token may write to: never the canaries.
pub const ALPHA_SCRATCH: Pool = Pool {
    space: "alpha",
    dbs: &["cnryscratch"],
    tables: &["s1", "s2"],
    columns: &["id", "v"],
};
pub const BETA: Pool = Pool {
    space: "beta",
    dbs: &["pub"],
    tables: &["items", "other", "s2"],
    columns: &["id", "name", "n", "tags", "item"],
};
pub const OTHER: Pool = Pool {
    space: "demo",
    dbs: &["library", "main"],
    tables: &["books", "t"],
    columns: &["id", "title"],
};

const JUNK_NAMES: &[&str] = &[
    "",
    ".",
    "..",
    "-",
    "~",
    "~zz",
    "~2",
    "+",
    "a b",
    "x~2Fy",
    "sqlite_master",
    "sqlite_sequence",
    "pragma_database_list",
    "x\"y",
    "[b]",
    "a/b",
    "rowid",
    "_rowid_",
    "ü",
    "%00",
    "name.json",
    "t.csv",
    "con",
    "0",
    "-1",
    "9223372036854775808",
    "'",
    "`",
    "\\",
    "*",
];
const JUNK_VALUES: &[&str] = &[
    "",
    "0",
    "-1",
    "1",
    "3",
    "1e308",
    "-1e308",
    "nan",
    "inf",
    "[1,2]",
    "[",
    "[\"a\",null]",
    "{}",
    "~",
    "%",
    "'",
    "\"",
    "null",
    "$null",
    "9999999999999999999",
    "1.5",
    "a,b",
    ",,",
    "true",
    " ",
    "\u{feff}",
    "é",
    "😀",
    "\\x00",
    "%zz",
    "1_000",
];
const SHAPES: &[&str] = &[
    "objects",
    "array",
    "arrays",
    "object",
    "arrayfirst",
    "nope",
    "",
];
const EXTRAS: &[&str] = &[
    "count",
    "facet_results",
    "human_description_en",
    "next_url",
    "columns",
    "primary_keys",
    "display_columns",
    "query",
    "metadata",
    "database",
    "table",
    "private",
    "render_cell",
    "expandable_columns",
    "suggested_facets",
    "debug",
    "request",
    "set_default",
    "count_sql",
    "facets_timed_out",
    "database_color",
    "form_hidden_args",
    "renderers",
    "sorted_facet_results",
    "is_view",
    "view_definition",
    "table_definition",
    "filters",
    "actions",
    "nope",
];
const OPS: &[&str] = &[
    "exact",
    "not",
    "contains",
    "notcontains",
    "endswith",
    "startswith",
    "gt",
    "gte",
    "lt",
    "lte",
    "like",
    "notlike",
    "glob",
    "in",
    "notin",
    "arraycontains",
    "arraynotcontains",
    "date",
    "isnull",
    "notnull",
    "isblank",
    "notblank",
    "nope",
    "",
];
const ARGS: &[&str] = &[
    "_shape",
    "_extra",
    "_size",
    "_sort",
    "_sort_desc",
    "_col",
    "_nocol",
    "_next",
    "_facet",
    "_facet_array",
    "_facet_date",
    "_facet_size",
    "_where",
    "_through",
    "_search",
    "_search_col",
    "_searchmode",
    "_labels",
    "_nolabels",
    "_json",
    "_timelimit",
    "_ttl",
    "_stream",
    "_dl",
    "_nl",
    "_trace",
    "_nofacet",
    "_nosuggest",
    "_filter_column",
    "_filter_op",
    "_filter_value",
    "sql",
    "_hash",
    "_context",
    "_nocount",
    "_header",
    "_fts",
    "table",
    "actor",
    "database",
    "event",
];

/// One request, and the names it mentions (which an error may echo back).
pub struct Request {
    pub who: Who,
    pub method: &'static str,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub mentioned: Vec<String>,
}

impl Request {
    pub fn bytes(&self) -> Vec<u8> {
        let mut out = format!("{} {} HTTP/1.1\r\n", self.method, self.target).into_bytes();
        for (k, v) in &self.headers {
            out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
        }
        if !self.body.is_empty() || self.method == "POST" {
            out.extend_from_slice(format!("Content-Length: {}\r\n", self.body.len()).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }

    /// The request as one line for a report.
    pub fn describe(&self) -> String {
        let headers: Vec<String> = self
            .headers
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        format!(
            "{:?} {} {} [{}] body={}",
            self.who,
            self.method,
            self.target,
            headers.join("; "),
            String::from_utf8_lossy(&self.body)
                .chars()
                .take(300)
                .collect::<String>()
        )
    }
}

pub struct Gen<'a> {
    pub rng: StdRng,
    pub tokens: &'a [(Who, String)],
    pub host: String,
    mentioned: Vec<String>,
}

impl<'a> Gen<'a> {
    pub fn new(rng: StdRng, tokens: &'a [(Who, String)], host: String) -> Gen<'a> {
        Gen {
            rng,
            tokens,
            host,
            mentioned: Vec::new(),
        }
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.gen_bool(p)
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        *items.choose(&mut self.rng).unwrap()
    }

    /// A name from the pool (noted as mentioned) or junk.
    fn name(&mut self, pool: &[&str]) -> String {
        let name = if self.chance(0.8) {
            self.pick(pool)
        } else {
            self.pick(JUNK_NAMES)
        };
        self.mentioned.push(name.to_owned());
        name.to_owned()
    }

    fn value(&mut self) -> String {
        if self.chance(0.05) {
            return "x".repeat(self.rng.gen_range(100..5000));
        }
        self.pick(JUNK_VALUES).to_owned()
    }

    /// A name as a path segment: tilde-encoded, raw, or broken.
    fn segment(&mut self, name: &str) -> String {
        match self.rng.gen_range(0..10) {
            0..=6 => libsette::names::tilde_encode(name),
            7 => percent_all(name),
            8 => mutate(&mut self.rng, &libsette::names::tilde_encode(name)),
            9 if self.chance(0.5) => format!("{}%2F..", libsette::names::tilde_encode(name)),
            _ => name.replace(' ', "%20"),
        }
    }

    fn format(&mut self) -> &'static str {
        self.pick(&["", ".json", ".json", ".csv", ".JSON", ".json.json", "."])
    }

    pub fn request(&mut self) -> Request {
        self.mentioned.clear();
        let who = self.pick(&[
            Who::Anonymous,
            Who::Anonymous,
            Who::AlphaFull,
            Who::AlphaRestricted,
            Who::AlphaRestricted,
            Who::BetaFull,
            Who::BetaRestricted,
            Who::Junk,
        ]);
        let writing = self.chance(0.35);
        let method = match (writing, self.rng.gen_range(0..100)) {
            (true, 0..=89) | (false, 0..=4) => "POST",
            (false, 5..=84) | (true, 90..=94) => "GET",
            (false, 85..=92) => "HEAD",
            _ => self.pick(&["PUT", "DELETE", "OPTIONS", "PATCH"]),
        };
        // Outsiders mostly ask beta, alpha's tokens mostly alpha; the
        // unrestricted alpha token writes only to its scratch database.
        let alpha_share = match who {
            Who::AlphaFull | Who::AlphaRestricted => 7,
            _ => 3,
        };
        let pool = match self.rng.gen_range(0..10) {
            _ if who == Who::AlphaFull && method != "GET" && method != "HEAD" => &ALPHA_SCRATCH,
            9 => &OTHER,
            n if n < alpha_share => &ALPHA,
            _ => &BETA,
        };
        let by_host = self.chance(0.15);
        let (path, kind) = self.path(pool, writing);
        let space = match self.rng.gen_range(0..20) {
            0 => self
                .pick(&[
                    "zzz",
                    "Alpha",
                    "alpha.",
                    "-",
                    "static",
                    "%61lpha",
                    "~61lpha",
                    "beta%2F..",
                    "",
                ])
                .to_owned(),
            _ => pool.space.to_owned(),
        };
        let mut target = if by_host {
            path
        } else {
            format!("/{space}{path}")
        };
        if self.chance(0.05) {
            target = self
                .pick(&[
                    "/-/health",
                    "/metrics",
                    "/",
                    "/-/login",
                    "/-/logout",
                    "/-/auth-token?token=junk",
                    "/-/spaces",
                    "/static/x.css",
                    "//evil.example/",
                    "/-/",
                    "*",
                    "/%2e%2e/etc/passwd",
                ])
                .to_owned();
        }
        let query = self.query(pool, &kind);
        if !query.is_empty() {
            target = format!("{target}?{query}");
        }
        if target.is_empty() || !target.starts_with(['/', '*']) {
            target.insert(0, '/');
        }
        let host = if by_host {
            format!("{space}.fuzz.test")
        } else {
            match self.rng.gen_range(0..20) {
                0 => "evil.example".into(),
                1 => "".into(),
                2 => "beta.fuzz.test".into(),
                3 => "[::1]".into(),
                _ => self.host.clone(),
            }
        };
        let mut headers = vec![("Host".to_owned(), host)];
        let token = self
            .tokens
            .iter()
            .find(|(w, _)| *w == who)
            .map(|(_, t)| t.clone());
        match (who, token) {
            (Who::Junk, _) => {
                let junk = self.pick(&[
                    "Bearer ",
                    "Bearer lstok_junk",
                    "Basic Zm9vOmJhcg==",
                    "bearer x y",
                    "Bearer lstok_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                ]);
                headers.push(("Authorization".into(), junk.into()));
            }
            (_, Some(token)) => headers.push(("Authorization".into(), format!("Bearer {token}"))),
            _ => {}
        }
        if self.chance(0.1) {
            let cookie = self.pick(&[
                "libsette_session=junk",
                "ds_actor=eyJhIjoicm9vdCJ9",
                "session=; csrftoken=x",
                "libsette_session=1.2.3",
            ]);
            headers.push(("Cookie".into(), cookie.into()));
        }
        if self.chance(0.1) {
            let origin = self.pick(&["http://evil.example", "null", "http://127.0.0.1"]);
            headers.push(("Origin".into(), origin.into()));
        }
        for (name, values) in [
            ("X-Forwarded-Proto", &["https", "http", "gopher"][..]),
            ("Sec-Fetch-Site", &["cross-site", "same-origin"][..]),
            ("If-None-Match", &["\"x\"", "*", "W/\"1\""][..]),
            ("Accept", &["text/html", "application/json", "*/*"][..]),
            ("Access-Control-Request-Method", &["POST"][..]),
        ] {
            if self.chance(0.04) {
                let v = self.pick(values);
                headers.push((name.into(), v.into()));
            }
        }
        let body = if method == "POST" {
            self.body(pool, &kind)
        } else {
            Vec::new()
        };
        if method == "POST" {
            let ct = match self.rng.gen_range(0..10) {
                0 => "application/x-www-form-urlencoded",
                1 => "text/plain",
                2 => "multipart/form-data; boundary=x",
                _ => "application/json",
            };
            headers.push(("Content-Type".into(), ct.into()));
        }
        Request {
            who,
            method,
            target,
            headers,
            body,
            mentioned: std::mem::take(&mut self.mentioned),
        }
    }

    /// A path under a space and what kind of endpoint it is.
    fn path(&mut self, pool: &Pool, writing: bool) -> (String, &'static str) {
        // Never the ids of the run's own tokens (1 to 4): a revoked token
        // would turn the rest of the run into 401s.
        let id = self.pick(&[
            "10",
            "11",
            "12",
            "0",
            "-1",
            "x",
            "99999999999999999999",
            "1e3",
        ]);
        let fmt = self.format();
        let choice = if writing {
            self.pick(&[5, 6, 7, 13, 14, 18, 19, 19, 19, 21, 21])
        } else {
            self.rng.gen_range(0..24)
        };
        let db = if (8..24).contains(&choice) {
            self.name(pool.dbs)
        } else {
            String::new()
        };
        let table = if (15..24).contains(&choice) {
            self.name(pool.tables)
        } else {
            String::new()
        };
        let (db_s, table_s) = (self.segment(&db), self.segment(&table));
        let pk = match self.rng.gen_range(0..6) {
            0 => "1,2".to_owned(),
            1 => self.value().replace(['/', '?', '#', ' '], "~2F"),
            2 => "~24null".into(),
            _ => self.rng.gen_range(-1..6).to_string(),
        };
        match choice {
            0 => ("".into(), "space"),
            1 => ("/".into(), "space"),
            2 => ("/.json".into(), "space"),
            3 => (
                self.pick(&[
                    "/-/databases.json",
                    "/-/actor.json",
                    "/-/versions.json",
                    "/-/settings.json",
                    "/-/threads.json",
                    "/-",
                ])
                .into(),
                "space",
            ),
            4 => ("/-/audit.json".into(), "audit"),
            5 => (
                self.pick(&["/-/tokens", "/-/members", "/-/api/tokens", "/-/api/tokens"])
                    .into(),
                "tokens",
            ),
            6 => (format!("/-/api/tokens/{id}/revoke"), "revoke"),
            7 => (format!("/-/tokens/{id}/revoke"), "revoke"),
            8 | 9 => (format!("/{db_s}{fmt}"), "db"),
            10 | 11 => (format!("/{db_s}/-/query{fmt}"), "query"),
            12 => (format!("/{db_s}/-/schema.json"), "db"),
            13 => (format!("/{db_s}/-/create"), "create"),
            14 => (format!("/{db_s}/-/execute-write"), "execute"),
            15..=17 => (format!("/{db_s}/{table_s}{fmt}"), "table"),
            18 => (
                format!(
                    "/{db_s}/{table_s}/-/{}",
                    self.pick(&["schema.json", "count"])
                ),
                "table",
            ),
            19 => {
                let op = self.pick(&["insert", "upsert", "insert", "alter", "drop"]);
                (format!("/{db_s}/{table_s}/-/{op}"), op)
            }
            20 => (format!("/{db_s}/{table_s}/{pk}{fmt}"), "row"),
            21 => {
                let op = self.pick(&["update", "delete"]);
                (format!("/{db_s}/{table_s}/{pk}/-/{op}"), op)
            }
            22 => (
                format!(
                    "/{}",
                    mutate(&mut self.rng, &format!("{db_s}/{table_s}/-/x"))
                ),
                "junk",
            ),
            _ => (format!("//{db_s}/"), "junk"),
        }
    }

    fn query(&mut self, pool: &Pool, kind: &str) -> String {
        let n = match kind {
            "table" | "query" | "db" | "row" | "audit" => self.rng.gen_range(0..6),
            _ => self.rng.gen_range(0..2),
        };
        let mut pairs: Vec<(String, String)> = Vec::new();
        for _ in 0..n {
            let pair = match self.rng.gen_range(0..12) {
                0..=3 => {
                    let column = self.name(pool.columns);
                    let op = self.pick(OPS);
                    let key = if op.is_empty() {
                        column
                    } else {
                        format!("{column}__{op}")
                    };
                    (key, self.value())
                }
                4 => ("sql".into(), self.sql(pool)),
                5 => ("_shape".into(), self.pick(SHAPES).into()),
                6 => ("_extra".into(), self.pick(EXTRAS).into()),
                7 => {
                    let arg = self.pick(&[
                        "_sort",
                        "_sort_desc",
                        "_col",
                        "_nocol",
                        "_facet",
                        "_facet_array",
                        "_facet_date",
                        "_search_col",
                        "_label",
                    ]);
                    (arg.into(), self.name(pool.columns))
                }
                8 => ("_where".into(), self.where_fragment(pool)),
                9 => {
                    let t = self.name(pool.tables);
                    let c = self.name(pool.columns);
                    let v = self.value();
                    (
                        "_through".into(),
                        json!({"table": t, "column": c, "value": v}).to_string(),
                    )
                }
                10 => (format!(":{}", self.pick(&["p", "q", "x"])), self.value()),
                _ => (self.pick(ARGS).into(), self.value()),
            };
            pairs.push(pair);
        }
        let mut q =
            libsette::read::args::encode(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        if self.chance(0.08) {
            q = mutate(&mut self.rng, &q);
        }
        if self.chance(0.03) {
            q.push_str(self.pick(&[
                "&%zz=1",
                "&=",
                "&&&",
                "&_size=%E9",
                "&a=%00",
                "&_next=%2C%2C",
            ]));
        }
        q.replace([' ', '\r', '\n', '#'], "+")
    }

    fn where_fragment(&mut self, pool: &Pool) -> String {
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

    fn sql(&mut self, pool: &Pool) -> String {
        let t = self.name(pool.tables);
        let c = self.name(pool.columns);
        let sql = match self.rng.gen_range(0..16) {
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
        };
        sql
    }

    fn row(&mut self, pool: &Pool) -> Value {
        let mut row = serde_json::Map::new();
        for _ in 0..self.rng.gen_range(0..4) {
            let c = self.name(pool.columns);
            row.insert(c, self.json_value(2));
        }
        Value::Object(row)
    }

    fn json_value(&mut self, depth: u32) -> Value {
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

    fn body(&mut self, pool: &Pool, kind: &str) -> Vec<u8> {
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

/// Every byte of `name` as `%XX`.
fn percent_all(name: &str) -> String {
    name.bytes().map(|b| format!("%{b:02X}")).collect()
}

/// A few random edits: insert, delete or replace characters, with some of
/// them special to URLs, tilde-encoding, JSON or SQL.
pub fn mutate(rng: &mut StdRng, text: &str) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    let specials = [
        '~', '%', '/', '.', ',', '"', '\'', '[', ']', '{', '}', ':', '+', '\\', '-', '*', ';', '0',
        'é', '\u{0}',
    ];
    for _ in 0..rng.gen_range(1..4) {
        let at = rng.gen_range(0..=chars.len());
        match rng.gen_range(0..3) {
            0 => chars.insert(at, *specials.choose(rng).unwrap()),
            1 if at < chars.len() => {
                chars.remove(at);
            }
            _ if at < chars.len() => chars[at] = *specials.choose(rng).unwrap(),
            _ => chars.push(*specials.choose(rng).unwrap()),
        }
    }
    chars.into_iter().collect()
}
