//! The data the bench serves (the reference README's `facetable`, the
//! spaces), the libsette server process, and CPU pinning of children.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use libsette::catalog::{Catalog, DataDir, spaces};
use libsette::import;
use libsette::names::{DbName, SpaceName};
use libsette::sqlite;

pub const ROWS: i64 = 5000;

/// The 5,000-row `facetable` with exactly the columns the reference's
/// README names, so both servers read the same rows.
pub fn build_facetable(path: &Path) {
    let db = sqlite::open_plain(path).unwrap();
    let conn = sqlite::connect(&db).unwrap();
    sqlite::execute_batch(
        &conn,
        "create table facetable (pk integer primary key, created text, planet_int integer,
             on_earth integer, state text, city text, neighborhood text, tags text, score real);
         begin;",
    )
    .unwrap();
    let states = ["CA", "MI", "MC", "NY", "TX"];
    for i in 1..=ROWS {
        sqlite::execute(
            &conn,
            "insert into facetable values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            (
                i,
                format!("2019-01-{:02} 08:00:00", 1 + i % 28),
                1 + i % 3,
                (i % 2 == 0) as i64,
                states[(i % 5) as usize],
                format!("city {}", i % 40),
                format!("hood {}", i % 97),
                format!(r#"["tag{}", "tag{}"]"#, i % 7, i % 11),
                i as f64 * 1.5,
            ),
        )
        .unwrap();
    }
    sqlite::execute_batch(&conn, "commit").unwrap();
}

/// A one-table database, copied into every small space.
pub fn build_small(path: &Path) {
    let db = sqlite::open_plain(path).unwrap();
    let conn = sqlite::connect(&db).unwrap();
    sqlite::execute_batch(
        &conn,
        "create table t (id integer primary key, v text); insert into t (v) values ('a'), ('b'), ('c');",
    )
    .unwrap();
}

/// Space `bench` (private, owner root) and space `pub` (public), each with
/// `facetable_db` imported as database `fixtures`.
pub fn bench_spaces(data: &DataDir, facetable_db: &Path) {
    let catalog = Catalog::open(data).unwrap();
    let conn = catalog.conn().unwrap();
    for (name, public) in [("bench", false), ("pub", true)] {
        spaces::create(&conn, &SpaceName::parse(name).unwrap(), "root", public).unwrap();
        libsette::import::import(&conn, data, name, facetable_db, Some("fixtures"), false).unwrap();
    }
}

/// `count` public spaces `t0…`, each with a copy of `template` as database `d`.
pub fn many_spaces(data: &DataDir, template: &Path, count: usize) {
    let catalog = Catalog::open(data).unwrap();
    let conn = catalog.conn().unwrap();
    for i in 0..count {
        let name = format!("t{i}");
        let space = spaces::create(&conn, &SpaceName::parse(&name).unwrap(), "root", true).unwrap();
        std::fs::create_dir_all(data.space_dir(&name)).unwrap();
        std::fs::copy(template, data.database_file(&name, "d")).unwrap();
        // As `libsette db import` registers a file.
        import::register(&conn, data, &space, &DbName::parse("d").unwrap()).unwrap();
    }
}

/// A token for actor root in space `bench`, minted by the binary's own CLI.
pub fn mint_token(data: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_libsette"))
        .arg("--data-dir")
        .arg(data)
        .args(["token", "create", "bench", "root"])
        .env("LIBSETTE_LOG", "error")
        .output()
        .expect("running libsette token create");
    assert!(
        out.status.success(),
        "token create failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(!token.is_empty() && !token.contains(char::is_whitespace));
    token
}

/// The CPUs this process may run on, in order.
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity fills it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

/// Lets the calling thread (and what it starts) run on every one of `cpus` again.
pub fn unpin_current(cpus: &[usize]) {
    // SAFETY: sched_setaffinity only reads the set it is given.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &cpu in cpus {
            libc::CPU_SET(cpu, &mut set);
        }
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// Pins the calling thread (0: this thread; or a child before exec) to `cpu`.
pub fn pin_current(cpu: usize) -> std::io::Result<()> {
    // SAFETY: as above; sched_setaffinity is async-signal-safe, so it may
    // run in a forked child before exec.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Makes `command`'s process start pinned to `cpu`, when there is one, and
/// die with the bench (a bench killed by a signal runs no destructors).
pub fn pin_command(command: &mut Command, cpu: Option<usize>) {
    // SAFETY: the closure only makes async-signal-safe calls.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            match cpu {
                Some(cpu) => pin_current(cpu),
                None => Ok(()),
            }
        });
    }
}

/// A server process, killed when dropped (so also when the bench panics).
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `libsette serve` on a free port, logging errors only.
pub fn start_libsette(data: &Path, cpu: Option<usize>) -> Server {
    start_logging(data, cpu, "error")
}

/// Starts `libsette serve` with `LIBSETTE_LOG=filter`, its log read from a
/// pipe (as Docker reads it) and dropped.
pub fn start_logging(data: &Path, cpu: Option<usize>, filter: &str) -> Server {
    let mut command = Command::new(env!("CARGO_BIN_EXE_libsette"));
    command
        .arg("--data-dir")
        .arg(data)
        .args(["serve", "--bind", "127.0.0.1:0"])
        // Every request comes from one address with one token: far past the
        // default rate limits, which would answer 429.
        .args(["--setting", "rate_limit_anonymous_per_minute", "0"])
        .args(["--setting", "rate_limit_token_per_minute", "0"])
        // The slow-query scenario's query runs about 900 ms alone, and about
        // 4 s beside the load (long reads run at the lowest CPU priority).
        .args(["--setting", "sql_time_limit_ms", "30000"])
        .env("LIBSETTE_LOG", filter)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    pin_command(&mut command, cpu);
    let mut child = command.spawn().expect("starting libsette");
    let mut log = child.stderr.take().unwrap();
    std::thread::spawn(move || std::io::copy(&mut log, &mut std::io::sink()));
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let url = first
        .split_whitespace()
        .find_map(|w| w.strip_prefix("http://"))
        .unwrap_or_else(|| panic!("no address in {first:?}"));
    let addr = url.trim_end_matches('/').parse().unwrap();
    std::thread::spawn(move || for _ in lines {});
    Server { child, addr }
}

/// CPU time (user and system, all threads) process `pid` has used, in seconds.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised name: state is field 3, utime 14, stime 15.
    let rest: Vec<&str> = stat
        .rsplit_once(") ")
        .map(|(_, r)| r.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        rest.get(i - 3)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    (ticks(14) + ticks(15)) / hz
}

/// The one-minute load average, as the kernel gives it.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

/// Resident memory (kB) and open file descriptors of process `pid`.
pub fn proc_figures(pid: u32) -> (u64, usize) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss_kb = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0);
    (rss_kb, fds)
}
