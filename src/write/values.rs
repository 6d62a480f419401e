//! JSON values of a write request as SQL values, as Datasette stores them:
//! booleans as 0/1, lists and objects as JSON text, `{"$base64": true,
//! "encoded": …}` as a blob and `{"$raw": …}` as its value untouched.

use base64::Engine;
use libsql::Value;
use serde_json::{Map, Value as Json};

/// The SQL value of one cell.
pub fn to_sql(value: &Json) -> Result<Value, String> {
    Ok(match value {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Integer(*b as i64),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::Integer(i)
            } else if n.is_u64() {
                return Err("Python int too large to convert to SQLite INTEGER".into());
            } else {
                Value::Real(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Json::String(s) => Value::Text(s.clone()),
        Json::Object(map) => {
            if map.len() == 1
                && let Some(raw) = map.get("$raw")
            {
                return match raw {
                    Json::Object(_) | Json::Array(_) => Ok(Value::Text(python_dumps(raw))),
                    other => to_sql(other),
                };
            }
            if map.len() == 2 && map.get("$base64") == Some(&Json::Bool(true)) {
                if let Some(encoded) = map.get("encoded") {
                    let Json::String(encoded) = encoded else {
                        return Err("$base64 encoded value must be a string".into());
                    };
                    return base64::engine::general_purpose::STANDARD
                        .decode(encoded)
                        .map(Value::Blob)
                        .map_err(|_| "Invalid $base64 encoded value".into());
                }
            }
            Value::Text(python_dumps(value))
        }
        Json::Array(_) => Value::Text(python_dumps(value)),
    })
}

/// The SQL values of a row's cells, in `columns` order (missing ones null).
pub fn row_values(row: &Map<String, Json>, columns: &[String]) -> Result<Vec<Value>, String> {
    columns
        .iter()
        .map(|c| row.get(c).map(to_sql).unwrap_or(Ok(Value::Null)))
        .collect()
}

/// Python's `json.dumps(value, ensure_ascii=False)`: `", "` and `": "` separators.
pub fn python_dumps(value: &Json) -> String {
    let mut out = String::new();
    dump(value, &mut out);
    out
}

fn dump(value: &Json, out: &mut String) {
    match value {
        Json::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                dump(item, out);
            }
            out.push(']');
        }
        Json::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&Json::String(key.clone()).to_string());
                out.push_str(": ");
                dump(item, out);
            }
            out.push('}');
        }
        Json::Number(n) if n.is_f64() => {
            out.push_str(&crate::read::values::float_text(n.as_f64().unwrap_or(0.0)))
        }
        other => out.push_str(&other.to_string()),
    }
}

/// The column type sqlite-utils infers for a column from the values it
/// holds across `rows`: `INTEGER`, `REAL`, `TEXT` or `BLOB`.
pub fn suggest_types(rows: &[Map<String, Json>]) -> Vec<(String, &'static str)> {
    #[derive(PartialEq, Clone, Copy)]
    enum Kind {
        Null,
        Bool,
        Int,
        Float,
        Str,
        Bytes,
        Json,
    }
    fn kind(value: &Json) -> Kind {
        match value {
            Json::Null => Kind::Null,
            Json::Bool(_) => Kind::Bool,
            Json::Number(n) if n.is_f64() => Kind::Float,
            Json::Number(_) => Kind::Int,
            Json::String(_) => Kind::Str,
            Json::Object(map)
                if map.len() == 2 && map.get("$base64") == Some(&Json::Bool(true)) =>
            {
                Kind::Bytes
            }
            Json::Object(map) if map.len() == 1 && map.contains_key("$raw") => kind(&map["$raw"]),
            _ => Kind::Json,
        }
    }
    let mut seen: Vec<(String, Vec<Kind>)> = Vec::new();
    for row in rows {
        for (key, value) in row {
            let k = kind(value);
            match seen.iter_mut().find(|(name, _)| name == key) {
                Some((_, kinds)) => {
                    if !kinds.contains(&k) {
                        kinds.push(k);
                    }
                }
                None => seen.push((key.clone(), vec![k])),
            }
        }
    }
    seen.into_iter()
        .map(|(name, mut kinds)| {
            if kinds.len() > 1 {
                kinds.retain(|k| *k != Kind::Null);
            }
            let all_in = |set: &[Kind]| kinds.iter().all(|k| set.contains(k));
            let t = if kinds == [Kind::Null] {
                "TEXT"
            } else if kinds.len() == 1 {
                match kinds[0] {
                    Kind::Bool | Kind::Int => "INTEGER",
                    Kind::Float => "REAL",
                    Kind::Bytes => "BLOB",
                    _ => "TEXT",
                }
            } else if all_in(&[Kind::Int, Kind::Bool]) {
                "INTEGER"
            } else if all_in(&[Kind::Int, Kind::Float, Kind::Bool]) {
                "REAL"
            } else if all_in(&[Kind::Bytes, Kind::Str]) {
                "BLOB"
            } else {
                "TEXT"
            };
            (name, t)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cells() {
        assert_eq!(to_sql(&json!(true)).unwrap(), Value::Integer(1));
        assert_eq!(
            to_sql(&json!(9007199254740993i64)).unwrap(),
            Value::Integer(9007199254740993)
        );
        assert_eq!(to_sql(&json!(2.5)).unwrap(), Value::Real(2.5));
        assert_eq!(
            to_sql(&json!({"a": [1, 2.0], "é": null})).unwrap(),
            Value::Text("{\"a\": [1, 2.0], \"é\": null}".into())
        );
        assert_eq!(
            to_sql(&json!({"$base64": true, "encoded": "AAE="})).unwrap(),
            Value::Blob(vec![0, 1])
        );
        assert!(to_sql(&json!({"$base64": true, "encoded": "!"})).is_err());
        assert_eq!(
            to_sql(&json!({"$raw": "x"})).unwrap(),
            Value::Text("x".into())
        );
    }

    #[test]
    fn inferred_types() {
        let rows: Vec<Map<String, Json>> = vec![
            json!({"id": 1, "name": "Ann", "born": 1950, "ratio": 0.5, "n": null}),
            json!({"id": 2, "name": "Ben", "born": null, "ratio": 1, "tags": ["a"]}),
        ]
        .into_iter()
        .map(|v| v.as_object().unwrap().clone())
        .collect();
        assert_eq!(
            suggest_types(&rows),
            vec![
                ("id".into(), "INTEGER"),
                ("name".into(), "TEXT"),
                ("born".into(), "INTEGER"),
                ("ratio".into(), "REAL"),
                ("n".into(), "TEXT"),
                ("tags".into(), "TEXT"),
            ]
        );
    }
}
