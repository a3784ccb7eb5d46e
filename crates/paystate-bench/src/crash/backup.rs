//! The backup taken under load: halfway through the kills, while the writers keep writing, the
//! run backs the database up the way the README says (`paystate backup` for SQLite, `pg_dump`
//! for PostgreSQL). Once the run is over it restores that backup into a fresh database, serves it,
//! and checks it like the live one: every write acknowledged before the backup began is there
//! exactly once, nothing is there that was never sent, event numbers are gap-free, no payment
//! moved backwards and every amount equals its events. Writes that were in flight or came later
//! may or may not be in it; they count as outcomes unknown.

use super::check::{self, Findings};
use super::server::Server;
use super::workload::{Outcome, Record, Shared};
use anyhow::{Context, Result, bail};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// A backup and what it must hold.
pub struct Snapshot {
    file: PathBuf,
    /// The tokens of the writes acknowledged before the backup began.
    acked_before: HashSet<String>,
    /// How long taking it took while the load ran.
    pub took_ms: u128,
}

/// What the restored backup held, as the table shows it.
pub struct BackupReport {
    pub acked_before: usize,
    pub events: usize,
    pub took_ms: u128,
    pub findings: Findings,
}

/// Backs the live database up. The acknowledged writes are read before the backup starts, so
/// each of them committed before it.
pub fn take(binary: &Path, store: &str, url: &str, dir: &Path, records: &[Record]) -> Result<Snapshot> {
    let acked_before = records.iter().filter(|r| r.outcome == Outcome::Acked).map(|r| r.token.clone()).collect();
    let started = Instant::now();
    let file = match store {
        "sqlite" => dir.join("backup.db"),
        _ => dir.join("backup.dump"),
    };
    let output = match store {
        "sqlite" => {
            Command::new(binary).args(["--database-url", url, "backup", "--to"]).arg(&file).current_dir(dir).output()
        }
        _ => Command::new("pg_dump").args(["--format=custom", "--file"]).arg(&file).arg(url).output(),
    }
    .context("cannot run the backup")?;
    if !output.status.success() {
        bail!("the backup under load failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(Snapshot { file, acked_before, took_ms: started.elapsed().as_millis() })
}

/// Restores the backup into `restored_url` (an empty database), serves it from `dir` and checks
/// it against the writers' records.
pub async fn verify(
    binary: &Path,
    store: &str,
    snapshot: &Snapshot,
    restored_url: &str,
    dir: &Path,
    shared: &Shared,
    records: &[Record],
) -> Result<BackupReport> {
    let run = format!("{}-", shared.run);
    let output = match store {
        "sqlite" => Command::new(binary)
            .args(["--database-url", restored_url, "restore", "--from"])
            .arg(&snapshot.file)
            .output(),
        _ => Command::new("pg_restore").args(["--no-owner", "--dbname", restored_url]).arg(&snapshot.file).output(),
    }
    .context("cannot run the restore")?;
    if !output.status.success() {
        bail!("restoring the backup failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let mut server = Server::new(binary, restored_url, dir)?;
    server.start().await.context("serving the restored backup")?;
    // The backup owes every write acknowledged before it began; any other write it may hold.
    let expected: Vec<Record> = records
        .iter()
        .map(|r| Record {
            outcome: if snapshot.acked_before.contains(&r.token) { Outcome::Acked } else { Outcome::Unknown },
            ..r.clone()
        })
        .collect();
    let client = reqwest::Client::new();
    let mut findings = Findings::default();
    for (t, tenant) in shared.tenants.iter().enumerate() {
        let events = check::events(&client, &server.base, &tenant.admin).await?;
        let payments = check::payments(&client, &server.base, &tenant.admin).await?;
        let mine: Vec<&Record> = expected.iter().filter(|r| r.tenant == t).collect();
        check::check(&mut findings, &run, &mine, &events, &payments);
    }
    server.kill();
    Ok(BackupReport {
        acked_before: snapshot.acked_before.len(),
        events: findings.events,
        took_ms: snapshot.took_ms,
        findings,
    })
}
