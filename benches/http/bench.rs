//! The ways a figure is measured: paired runs, tails at 64 connections,
//! reads beside a slow query.

use std::cell::Cell;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::load::{self, Figures, Load, Urls};
use crate::table::{Goal, Row, Unit};
use crate::{CONNS, TAIL_CONNS, TOKEN_10};

/// Where the runs go and how long they last.
pub struct Bench {
    pub rt: tokio::runtime::Runtime,
    pub pool: load::Pool,
    /// The servers' names and process ids.
    pub pids: Vec<(&'static str, u32)>,
    pub libsette: SocketAddr,
    pub reference: Option<SocketAddr>,
    pub token: String,
    pub seconds: f64,
    pub warm: f64,
    pub rounds: usize,
    pub only: Option<String>,
    pub rows: Vec<Row>,
}

pub fn side<'a>(addr: SocketAddr, urls: &'a Urls, token: Option<&'a str>) -> Side<'a> {
    Side {
        addr,
        urls,
        token,
        conns: CONNS,
    }
}

/// One side of a run: a server, what to ask it, as whom, how many at once.
#[derive(Clone, Copy)]
pub struct Side<'a> {
    pub addr: SocketAddr,
    pub urls: &'a Urls,
    pub token: Option<&'a str>,
    pub conns: usize,
}

impl Bench {
    pub fn wants(&self, name: &str) -> bool {
        self.only.as_deref().is_none_or(|o| name.contains(o))
    }

    /// One run of `side` for `seconds` (or once through its list); any
    /// failed request ends the bench, naming it.
    pub fn run(&self, what: &str, side: Side, seconds: Option<f64>) -> Figures {
        let load = Load {
            addr: side.addr,
            urls: side.urls,
            token: side.token,
            conns: side.conns,
            seconds,
        };
        self.rt
            .block_on(load::run(&self.pool, &load))
            .unwrap_or_else(|e| panic!("{what}: a request failed: {e}{}", self.exited()))
    }

    /// Which servers stop running within 3 s of a failure (one killed from
    /// outside drains its connections first).
    fn exited(&self) -> String {
        let gone = |pid: &u32| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // The state follows the command name in parentheses.
            let state = stat.rsplit_once(") ").and_then(|(_, rest)| rest.get(..1));
            matches!(state, None | Some("Z") | Some("X"))
        };
        for _ in 0..30 {
            let names: Vec<_> = self.pids.iter().filter(|(_, p)| gone(p)).collect();
            if !names.is_empty() {
                return names
                    .iter()
                    .map(|(name, pid)| format!("; {name} (pid {pid}) has exited"))
                    .collect();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        String::new()
    }

    /// `rounds` rounds of `base` then `subject`, each for `seconds`; the
    /// figure per round is subject's req/s ÷ base's.
    pub fn paired(&mut self, name: &str, base: Side, subject: Side, unit: Unit, goal: Goal) {
        if !self.wants(name) {
            return;
        }
        println!("{name}:");
        self.run(name, base, Some(self.warm));
        self.run(name, subject, Some(self.warm));
        let mut values = Vec::new();
        for round in 1..=self.rounds {
            let b = self.run(name, base, Some(self.seconds));
            let s = self.run(name, subject, Some(self.seconds));
            let ratio = s.rps / b.rps;
            println!(
                "  round {round}: base {:.0} req/s, subject {:.0} req/s (p50 {:.2} ms, p99 {:.2} ms): {ratio:.3}",
                b.rps, s.rps, s.p50_ms, s.p99_ms
            );
            values.push(ratio);
        }
        self.rows.push(Row {
            name: name.to_owned(),
            values,
            unit,
            goal,
        });
    }

    /// p99 ÷ p50 of `side` at 64 connections, per round.
    pub fn tail(&mut self, name: &str, side: Side) {
        if !self.wants(name) {
            return;
        }
        println!("{name}:");
        let side = Side {
            conns: TAIL_CONNS,
            ..side
        };
        self.run(name, side, Some(self.warm));
        let mut values = Vec::new();
        for round in 1..=self.rounds {
            let f = self.run(name, side, Some(self.seconds));
            println!(
                "  round {round}: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms",
                f.rps, f.p50_ms, f.p99_ms
            );
            values.push(f.p99_ms / f.p50_ms);
        }
        self.rows.push(Row {
            name: name.to_owned(),
            values,
            unit: Unit::Times,
            goal: Goal::AtMost { median: 3.0 },
        });
    }

    /// p99 of the uncached token reads while a slow query runs again and
    /// again on another connection, ÷ their p99 in a quiet run just before.
    pub fn slow_query(&mut self, name: &str, slow_ms: f64) {
        if !self.wants(name) {
            return;
        }
        println!("{name}:");
        let n = self.calibrate(slow_ms);
        let sql = format!(
            "with recursive c(x) as (select 1 union all select x+1 from c where x < {n}) select count(*) from c"
        );
        let path = format!(
            "/bench/fixtures/-/query.json?sql={}",
            form_urlencoded::byte_serialize(sql.as_bytes()).collect::<String>()
        );
        let urls = Urls::Unique(TOKEN_10.into());
        let side = side(self.libsette, &urls, Some(&self.token));
        self.run(name, side, Some(self.warm));
        let mut values = Vec::new();
        for round in 1..=self.rounds {
            let quiet = self.run(name, side, Some(self.seconds));
            let stop = Cell::new(false);
            let (slow, noisy) = self.rt.block_on(async {
                let noisy = async {
                    // Let the first slow query get under way.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    let load = Load {
                        addr: side.addr,
                        urls: side.urls,
                        token: side.token,
                        conns: side.conns,
                        seconds: Some(self.seconds),
                    };
                    let figures = load::run(&self.pool, &load).await;
                    stop.set(true);
                    figures
                };
                futures::join!(
                    load::slow_loop(self.libsette, &path, Some(&self.token), &stop),
                    noisy
                )
            });
            let noisy = noisy.unwrap_or_else(|e| panic!("{name}: a request failed: {e}"));
            println!(
                "  round {round}: quiet p50 {:.2} / p99 {:.2} ms ({:.0} req/s); beside the slow query p50 {:.2} / p99 {:.2} ms ({:.0} req/s); slow query ran {} times, {:.0} ms each{}",
                quiet.p50_ms,
                quiet.p99_ms,
                quiet.rps,
                noisy.p50_ms,
                noisy.p99_ms,
                noisy.rps,
                slow.runs,
                slow.mean_ms,
                match &slow.refused {
                    Some(r) => format!(", refused {} times, last: {r}", slow.refusals),
                    None => String::new(),
                }
            );
            values.push(noisy.p99_ms / quiet.p99_ms);
        }
        self.rows.push(Row {
            name: name.to_owned(),
            values,
            unit: Unit::Times,
            goal: Goal::AtMost { median: 2.0 },
        });
    }

    /// The recursive CTE's bound for one run of about `ms` on a quiet server.
    fn calibrate(&self, ms: f64) -> u64 {
        let time = |n: u64| {
            let sql = format!(
                "with recursive c(x) as (select 1 union all select x+1 from c where x < {n}) select count(*) from c"
            );
            let path = Urls::Unique(format!(
                "/bench/fixtures/-/query.json?sql={}",
                form_urlencoded::byte_serialize(sql.as_bytes()).collect::<String>()
            ));
            let path = path.path(0).unwrap();
            let t = Instant::now();
            let answer = self
                .rt
                .block_on(load::get_once(self.libsette, &path, Some(&self.token)));
            assert_eq!(answer.status, 200, "slow query: {}", answer.describe());
            t.elapsed().as_secs_f64() * 1000.0
        };
        let mut n = 100_000u64;
        let mut took = time(n);
        while took < ms / 10.0 {
            n *= 10;
            took = time(n);
        }
        // Rescaled until close: the first scaling carries the short run's
        // fixed costs; the faster of two runs, as others share the machine.
        for _ in 0..4 {
            n = ((n as f64) * ms / took) as u64;
            took = time(n).min(time(n));
            if (took / ms - 1.0).abs() < 0.15 {
                break;
            }
        }
        println!("  slow query: count to {n}, one run took {took:.0} ms on a quiet server");
        n
    }
}
