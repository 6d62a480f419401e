//! A real sqld primary for the replication tests, from `LIBSETTE_SQLD` (a
//! binary). Without it those tests skip and say so on one line.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The sqld binary, or `None` after printing why the test skips.
pub fn binary(test: &str) -> Option<PathBuf> {
    match std::env::var_os("LIBSETTE_SQLD") {
        Some(path) if !path.is_empty() => Some(PathBuf::from(path)),
        _ => {
            // Straight to stderr: the test harness captures eprintln!.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "{test} skipped: set LIBSETTE_SQLD to a sqld binary to run it"
            );
            None
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// sqld with namespaces on, its HTTP (and replication) and admin listeners
/// on loopback ports of its own; killed when dropped.
pub struct Sqld {
    binary: PathBuf,
    pub dir: tempfile::TempDir,
    http_port: u16,
    admin_port: u16,
    child: Option<Child>,
}

impl Sqld {
    pub fn start(binary: PathBuf) -> Sqld {
        let mut sqld = Sqld {
            binary,
            dir: tempfile::tempdir().unwrap(),
            http_port: free_port(),
            admin_port: free_port(),
            child: None,
        };
        sqld.restart();
        sqld
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    pub fn admin_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.admin_port)
    }

    pub fn primary(&self) -> libsette::replica::Primary {
        libsette::replica::Primary {
            url: self.url(),
            admin_url: self.admin_url(),
            token: String::new(),
            admin_key: None,
        }
    }

    /// Starts it (again) on the same folder and ports, and waits until its
    /// admin listener answers.
    pub fn restart(&mut self) {
        self.stop();
        let child = Command::new(&self.binary)
            .arg("--enable-namespaces")
            .arg("--db-path")
            .arg(self.dir.path().join("data.sqld"))
            .arg("--http-listen-addr")
            .arg(format!("127.0.0.1:{}", self.http_port))
            .arg("--admin-listen-addr")
            .arg(format!("127.0.0.1:{}", self.admin_port))
            .arg("--no-welcome")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting sqld");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.admin_port)).is_err()
            || std::net::TcpStream::connect(("127.0.0.1", self.http_port)).is_err()
        {
            assert!(Instant::now() < deadline, "sqld did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills it (SIGKILL); its files stay.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Sqld {
    fn drop(&mut self) {
        self.stop();
    }
}
