//! Bulk insert throughput through `/-/insert`, as a ratio to Datasette
//! 1.0a41's on the same machine in the same sitting (issue 17: ≥ 20×):
//! 100,000 rows in batches of `max_insert_rows` (100) from 4 concurrent
//! clients on each (see `bulk/mod.rs`). `cargo bench --bench insert` installs
//! Datasette into `target/bench-venv` if needed; under `cargo test` it
//! inserts 2,000 rows as a smoke test, against Datasette only if that venv
//! is already there.

// From this file `#[path]` is relative to `benches/`; from a
// `benches/NAME/main.rs` bench it would be `../bulk/mod.rs`.
#[path = "bulk/mod.rs"]
mod bulk;

use std::path::Path;

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let result = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap()
        .block_on(bulk::compare(
            Path::new(env!("CARGO_BIN_EXE_libsette")),
            full,
        ));
    let per_batch = format!(
        "{} rows in batches of {} from {} clients",
        result.rows,
        bulk::BATCH,
        bulk::CLIENTS
    );
    println!(
        "libsette:  {:.0} rows/s ({per_batch})",
        result.libsette_rows_per_s
    );
    match (result.datasette_rows_per_s, result.ratio()) {
        (Some(datasette), Some(ratio)) => {
            let met = if ratio >= bulk::TARGET_RATIO {
                "met"
            } else {
                "NOT MET"
            };
            println!("Datasette: {datasette:.0} rows/s ({per_batch})");
            println!(
                "ratio: {ratio:.1}× (target ≥ {:.0}×): {met}",
                bulk::TARGET_RATIO
            );
        }
        _ => println!(
            "Datasette: skipped ({})",
            result.skipped.as_deref().unwrap_or("no reason given")
        ),
    }
}
