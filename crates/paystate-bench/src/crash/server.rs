//! The `paystate serve` process the crash test kills: always the same port, database and working
//! directory, so that a restarted server is the same service to the writers.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    binary: PathBuf,
    database_url: String,
    /// The run's temporary directory: the server's working directory (a PostgreSQL server keeps
    /// its sealing key file there, which must outlive restarts) and its log.
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
    pub base: String,
}

impl Server {
    pub fn new(binary: &Path, database_url: &str, dir: &Path) -> Result<Server> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        Ok(Server {
            binary: binary.to_owned(),
            database_url: database_url.to_owned(),
            dir: dir.to_owned(),
            port,
            child: None,
            base: format!("http://127.0.0.1:{port}"),
        })
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    /// Starts the server and waits until `/readyz` answers 200: how long that took.
    pub async fn start(&mut self) -> Result<Duration> {
        let started = Instant::now();
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.log_path())?;
        let child = Command::new(&self.binary)
            .args(["serve", "--listen", &format!("127.0.0.1:{}", self.port), "--database-url", &self.database_url])
            .env("PAYSTATE_LOG", "warn")
            // The receiver of the webhooks is the harness itself, on loopback.
            .env("PAYSTATE_WEBHOOKS_ALLOW_PRIVATE_NETWORKS", "true")
            .current_dir(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .with_context(|| format!("cannot start {}", self.binary.display()))?;
        self.child = Some(child);
        let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?;
        // Bounded: 60 s covers a PostgreSQL server busy with the other engineers' tests.
        while started.elapsed() < Duration::from_secs(60) {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                bail!("the server exited at start ({status}); see {}", self.log_path().display());
            }
            let ready = client.get(format!("{}/readyz", self.base)).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return Ok(started.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        bail!("the server did not become ready in 60 s; see {}", self.log_path().display())
    }

    /// `kill -9`: the process gets no chance to finish anything.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // std's Child::kill sends SIGKILL on Unix.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}
