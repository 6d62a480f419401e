//! The reference server (`shared/perf-reference`): found, built into our
//! own target folder (its source is read-only), started on a free port.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::fixture::{Server, pin_command};

/// The reference's source folder: `PERF_REFERENCE_DIR`, else the shared
/// folder beside the checkout.
fn source_dir() -> PathBuf {
    match std::env::var_os("PERF_REFERENCE_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/perf-reference"),
    }
}

fn target_dir() -> PathBuf {
    let root = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("target"),
    };
    root.join("perf-reference")
}

/// The reference binary, built if `build` (the `--bench` run) and otherwise
/// only if it already is; `None` (with one line saying why) when it cannot be.
pub fn binary(build: bool) -> Option<PathBuf> {
    let source = source_dir();
    let target = target_dir();
    let binary = target.join("release/perf-reference");
    let manifest = source.join("Cargo.toml");
    if !manifest.is_file() {
        println!(
            "reference server not found at {} (set PERF_REFERENCE_DIR): reference ratios skipped",
            source.display()
        );
        return None;
    }
    if !build {
        if binary.is_file() {
            return Some(binary);
        }
        println!(
            "reference server not built ({}; `cargo bench --bench http` builds it): reference ratios skipped",
            binary.display()
        );
        return None;
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("building the reference server from {}…", source.display());
    let status = Command::new(cargo)
        .args(["build", "--release", "--manifest-path"])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target)
        .status();
    match status {
        Ok(s) if s.success() && binary.is_file() => Some(binary),
        other => {
            println!("building the reference server failed ({other:?}): reference ratios skipped");
            None
        }
    }
}

/// A port nobody listens on now (the reference cannot bind port 0).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts the reference on `db` and waits until it accepts connections.
pub fn start(binary: &Path, db: &Path, cpu: Option<usize>) -> Server {
    for _ in 0..5 {
        let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let mut command = Command::new(binary);
        command
            .arg(db)
            .arg(addr.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        pin_command(&mut command, cpu);
        let child = command.spawn().expect("starting the reference server");
        let mut server = Server { child, addr };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if TcpStream::connect(addr).is_ok() {
                return server;
            }
            if server.child.try_wait().unwrap().is_some() {
                // Most likely someone took the port meanwhile: try another.
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    panic!("the reference server did not start");
}
