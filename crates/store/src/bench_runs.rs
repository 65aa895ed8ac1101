//! The history of benchmark runs (the suite, and side-by-side results saved as one): where
//! each run's files are, what ran, the machine's fingerprint, and a one-line summary.

use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::{now_ms, Result, Store};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct BenchRun {
    #[ts(type = "number")]
    pub id: i64,
    /// The folder with results.json, results.csv, report.md and the plots.
    pub out_dir: String,
    /// "quick", "standard", …, or "side-by-side".
    pub suite: String,
    pub model: String,
    pub engines: Vec<String>,
    /// The machine and build it ran on (JSON, as the results carry it).
    pub fingerprint: String,
    pub summary: String,
    /// "complete", "cancelled" or "failed".
    pub status: String,
    #[ts(type = "number")]
    pub created_ms: i64,
}

/// What a finished run adds to the history.
#[derive(Debug, Clone, PartialEq)]
pub struct NewBenchRun<'a> {
    pub out_dir: &'a str,
    pub suite: &'a str,
    pub model: &'a str,
    pub engines: &'a [String],
    pub fingerprint: &'a str,
    pub summary: &'a str,
    pub status: &'a str,
}

const SELECT: &str =
    "SELECT id, out_dir, suite, model, engines, fingerprint, summary, status, created_ms FROM bench_runs";

fn run_of_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<BenchRun> {
    let engines: String = r.get(4)?;
    Ok(BenchRun {
        id: r.get(0)?,
        out_dir: r.get(1)?,
        suite: r.get(2)?,
        model: r.get(3)?,
        engines: engines
            .split(',')
            .filter(|e| !e.is_empty())
            .map(str::to_owned)
            .collect(),
        fingerprint: r.get(5)?,
        summary: r.get(6)?,
        status: r.get(7)?,
        created_ms: r.get(8)?,
    })
}

impl Store {
    pub fn add_bench_run(&self, new: &NewBenchRun<'_>) -> Result<BenchRun> {
        let id = self.with(|c| {
            c.execute(
                "INSERT INTO bench_runs (out_dir, suite, model, engines, fingerprint, summary, status, created_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    new.out_dir,
                    new.suite,
                    new.model,
                    new.engines.join(","),
                    new.fingerprint,
                    new.summary,
                    new.status,
                    now_ms()
                ],
            )?;
            Ok(c.last_insert_rowid())
        })?;
        self.bench_run(id)
    }

    pub fn bench_run(&self, id: i64) -> Result<BenchRun> {
        self.with(|c| {
            c.query_row(&format!("{SELECT} WHERE id = ?1"), params![id], run_of_row)
                .optional()?
                .ok_or(crate::Error::NotFound("benchmark run", id))
        })
    }

    /// Newest first.
    pub fn bench_runs(&self) -> Result<Vec<BenchRun>> {
        self.with(|c| {
            let mut stmt = c.prepare(&format!("{SELECT} ORDER BY id DESC"))?;
            let rows = stmt.query_map([], run_of_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Forgets a run (its files stay where they are).
    pub fn delete_bench_run(&self, id: i64) -> Result<()> {
        self.with(|c| {
            c.execute("DELETE FROM bench_runs WHERE id = ?1", params![id])?;
            Ok(())
        })
    }
}
