//! Mutated requests built from libsette's URL grammar (`src/http/routes.rs`):
//! every endpoint, names encoded and broken, every query parameter a table
//! or query takes, hostile headers, and JSON bodies for every write.

use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde_json::json;

use super::pools::*;

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
    pub(crate) mentioned: Vec<String>,
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

    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.rng.gen_bool(p)
    }

    pub(crate) fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        *items.choose(&mut self.rng).unwrap()
    }

    /// A name from the pool (noted as mentioned) or junk.
    pub(crate) fn name(&mut self, pool: &[&str]) -> String {
        let name = if self.chance(0.8) {
            self.pick(pool)
        } else {
            self.pick(JUNK_NAMES)
        };
        self.mentioned.push(name.to_owned());
        name.to_owned()
    }

    pub(crate) fn value(&mut self) -> String {
        if self.chance(0.05) {
            return "x".repeat(self.rng.gen_range(100..5000));
        }
        self.pick(JUNK_VALUES).to_owned()
    }

    /// A name as a path segment: tilde-encoded, raw, or broken.
    pub(crate) fn segment(&mut self, name: &str) -> String {
        match self.rng.gen_range(0..10) {
            0..=6 => libsette::names::tilde_encode(name),
            7 => percent_all(name),
            8 => mutate(&mut self.rng, &libsette::names::tilde_encode(name)),
            9 if self.chance(0.5) => format!("{}%2F..", libsette::names::tilde_encode(name)),
            _ => name.replace(' ', "%20"),
        }
    }

    pub(crate) fn format(&mut self) -> &'static str {
        self.pick(&["", ".json", ".json", ".csv", ".JSON", ".json.json", "."])
    }

    /// Every identity on the plain paths of alpha and beta, labels and
    /// foreign keys included: probes no seed should skip.
    pub fn corpus(&mut self) -> Vec<Request> {
        let paths = [
            "/alpha/",
            "/alpha/.json",
            "/alpha/-/databases.json",
            "/alpha/cnrydb.json",
            "/alpha/cnrydb",
            "/alpha/cnrydb/cnryvis.json?_labels=on&_extra=expandable_columns,foreign_key_tables",
            "/alpha/cnrydb/cnryvis.json?_expand=ref&_facet=ref",
            "/alpha/cnrydb/cnryvis?_labels=on",
            "/alpha/cnrydb/cnryvis/1.json?_extra=foreign_key_tables",
            "/alpha/cnrydb/cnryvis/1",
            "/alpha/cnrydb/cnryvis.csv?_labels=on",
            "/alpha/cnrydb/cnryvis/-/schema.json",
            "/alpha/cnrydb/-/query.json?sql=select+*+from+cnryhid",
            "/alpha/-/tokens",
            "/alpha/-/api/tokens",
            "/alpha/-/allowed.json?action=view-table",
            "/alpha/-/allowed.json?action=insert-row",
            "/alpha/-/check.json?action=view-table&parent=cnrydb&child=cnryhid",
            "/alpha/-/rules.json?action=view-table",
            "/alpha/-/schema.json",
            "/alpha/-/schema.md",
            "/alpha/-/jump.json?q=cnry",
            "/alpha/-/config.json",
            "/alpha/cnrydb.db",
            "/alpha/cnrydb/-/schema.md",
            "/alpha/cnrydb/-/foreign-key-targets?table=cnryvis",
            "/alpha/cnrydb/cnryvis/-/foreign-key-suggestions",
            "/alpha/cnrydb/cnryvis/-/autocomplete?q=c",
            "/alpha/cnrydb/cnryhid/-/autocomplete?q=c",
            "/beta/",
            "/beta/.json",
            "/beta/pub.json",
            "/beta/pub/items.json?_search=item&_facet=n&_facet_array=tags",
            "/beta/pub/items.json?_labels=on",
            "/-/spaces",
            "/",
        ];
        let mut out = Vec::new();
        for who in [
            Who::Anonymous,
            Who::AlphaRestricted,
            Who::BetaFull,
            Who::BetaRestricted,
            Who::Junk,
        ] {
            for path in paths {
                let mut headers = vec![("Host".to_owned(), self.host.clone())];
                if let Some((_, token)) = self.tokens.iter().find(|(w, _)| *w == who) {
                    headers.push(("Authorization".into(), format!("Bearer {token}")));
                }
                out.push(Request {
                    who,
                    method: "GET",
                    target: path.into(),
                    headers,
                    body: vec![],
                    mentioned: vec![],
                });
            }
        }
        out
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
        let query = self.query(pool, kind);
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
            self.body(pool, kind)
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
                    "/-/check.json",
                    "/-/allowed.json",
                    "/-/rules.json",
                    "/-/schema.json",
                    "/-/schema.md",
                    "/-/config.json",
                    "/-/jump.json",
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
            8 => (format!("/{db_s}{fmt}"), "db"),
            9 => (format!("/{db_s}.db"), "db"),
            10 | 11 => (format!("/{db_s}/-/query{fmt}"), "query"),
            12 => {
                let endpoint = self.pick(&[
                    "schema.json",
                    "schema.md",
                    "query/parameters",
                    "foreign-key-targets",
                ]);
                (format!("/{db_s}/-/{endpoint}"), "db")
            }
            13 => (format!("/{db_s}/-/create"), "create"),
            14 => (format!("/{db_s}/-/execute-write"), "execute"),
            15..=17 => (format!("/{db_s}/{table_s}{fmt}"), "table"),
            18 => (
                format!(
                    "/{db_s}/{table_s}/-/{}",
                    self.pick(&[
                        "schema.json",
                        "count",
                        "schema.md",
                        "autocomplete",
                        "foreign-key-suggestions",
                    ])
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
