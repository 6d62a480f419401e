//! `?_trace=1` (with the `trace_debug` setting): the statements a request ran,
//! collected in a task-local list that costs nothing when no trace is asked for.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

/// The statements one request ran.
#[derive(Clone, Default)]
pub struct Trace(Arc<Mutex<Vec<Value>>>);

tokio::task_local! {
    static CURRENT: Trace;
}

impl Trace {
    /// Runs `work` with this trace collecting its statements.
    pub async fn collect<F: std::future::Future>(&self, work: F) -> F::Output {
        CURRENT.scope(self.clone(), work).await
    }

    /// The statements as Datasette's `_trace` lists them.
    pub fn to_json(&self) -> Value {
        let traces = self.0.lock().expect("trace lock").clone();
        json!({"num_traces": traces.len(), "traces": traces})
    }
}

/// Records a statement if the current request is being traced.
pub fn record(sql: &str, params: &[(String, libsql::Value)], took: Duration, error: Option<&str>) {
    let _ = CURRENT.try_with(|trace| {
        let params: serde_json::Map<String, Value> = params
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    super::values::to_json(v, super::values::Infinity::Null),
                )
            })
            .collect();
        trace.0.lock().expect("trace lock").push(json!({
            "sql": sql,
            "params": params,
            "duration_ms": took.as_secs_f64() * 1000.0,
            "error": error,
        }));
    });
}
