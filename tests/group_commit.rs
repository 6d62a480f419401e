//! Writes that queue while another commits share its next transaction
//! (`tenant::commits`): each still stands alone. A write that fails changes
//! nothing, its neighbours in the same transaction are all saved, and every
//! acknowledged write is there afterwards.

mod common;

use common::Server;
use serde_json::json;

#[tokio::test]
async fn concurrent_writes_commit_together_and_fail_alone() {
    let server = Server::start(&[]);
    server.cli(&["space", "create", "g", "--owner", "root"]);
    server.cli(&["db", "create", "g", "data"]);
    let token = server.token(&["g", "root"]);
    let reply = server
        .post(
            "/g/data/-/create",
            Some(&token),
            &json!({"table": "t", "columns": [
                {"name": "id", "type": "integer"},
                {"name": "batch", "type": "integer"}
            ], "pk": "id"}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let reply = server
        .post(
            "/g/data/t/-/insert",
            Some(&token),
            &json!({"rows": [{"id": 0, "batch": -1}]}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);

    // 60 inserts at once, 100 rows each; every third also repeats id 0, so
    // it fails on its last row after writing 99 others.
    let batches = 60usize;
    let mut tasks = Vec::new();
    for batch in 0..batches {
        let (client, base, token) = (server.client.clone(), server.base.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            let mut rows: Vec<_> = (0..100)
                .map(|i| json!({"id": 1 + batch * 100 + i, "batch": batch}))
                .collect();
            if batch % 3 == 0 {
                rows[99] = json!({"id": 0, "batch": batch});
            }
            let reply = client
                .post(format!("{base}/g/data/t/-/insert"))
                .bearer_auth(&token)
                .json(&json!({ "rows": rows }))
                .send()
                .await
                .unwrap();
            (batch, reply.status().as_u16())
        }));
    }
    let mut saved = Vec::new();
    for task in tasks {
        let (batch, status) = task.await.unwrap();
        match batch % 3 {
            0 => assert_eq!(status, 400, "batch {batch} repeats a key"),
            _ => {
                assert_eq!(status, 201, "batch {batch}");
                saved.push(batch as i64);
            }
        }
    }
    // Exactly the acknowledged batches, whole; nothing of the failed ones.
    let sql = "select batch, count(*) as n from t where batch >= 0 group by batch order by batch";
    let reply = server
        .get(
            &format!(
                "/g/data/-/query.json?sql={}&_shape=array",
                sql.replace(' ', "+")
                    .replace('=', "%3D")
                    .replace('>', "%3E")
            ),
            Some(&token),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let counts: Vec<(i64, i64)> = reply
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["batch"].as_i64().unwrap(), r["n"].as_i64().unwrap()))
        .collect();
    let expected: Vec<(i64, i64)> = saved.iter().map(|&b| (b, 100)).collect();
    assert_eq!(counts, expected);
    // One audit row per acknowledged write (audit rows share commits too).
    let log = server
        .get("/g/-/audit.json?table=t&_size=1000", Some(&token))
        .await;
    assert_eq!(log.status, 200, "{}", log.text);
    let inserts = log.json()["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "insert-rows" && e["rows_affected"] == 100)
        .count();
    assert_eq!(inserts, saved.len());
    // The metric shows writes shared transactions (else this proves little).
    let metrics = server.get("/metrics", None).await.text;
    let commits = common::metric(&metrics, "libsette_commits_total");
    let writes = common::metric(&metrics, "libsette_commit_writes_total");
    assert!(writes >= batches as u64, "{metrics}");
    assert!(
        commits < writes,
        "no transaction held two writes: {commits} commits for {writes} writes"
    );
}
