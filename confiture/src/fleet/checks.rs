//! `verify` and `drift` of a fleet.
//!
//! `verify` proves the migrations themselves, on a scratch database: what a fleet adds is the
//! servers (their versions, extensions, settings), not the databases. So it runs once per
//! distinct server of the list (the scratch database's server: the target's, or the
//! `--scratch-url` one for every target), with the first target listed on that server (its
//! credentials and settings; for a tenant schema, its `search_path` and ledger, the schema
//! created on the scratch database first), at most `jobs` servers at once. Every target gets
//! the result of its server: its exit code and error; the full report is on the first target
//! of each server, the others name it in [`TargetReport::shared_with`].
//!
//! `drift` compares each target's live schema with its own history replayed on a scratch
//! database, target by target. Tenant schemas are refused: the live schema is read from the
//! whole database, where every tenant's objects are.

use std::collections::HashMap;
use std::time::Instant;

use crate::config::ConnectionSpec;
use crate::drift::DriftOptions;
use crate::error::Result;
use crate::verify::VerifyOptions;

use super::{reported, CommandReport, Event, Fleet, FleetReport, Ran, Target};

/// Which server a connection reaches: its hosts and ports (the user and database aside).
fn server_key(connection: &ConnectionSpec) -> Vec<(String, u16)> {
    std::iter::once((connection.host.to_ascii_lowercase(), connection.port))
        .chain(
            connection
                .more_hosts
                .iter()
                .map(|(host, port)| (host.to_ascii_lowercase(), *port)),
        )
        .collect()
}

impl Fleet {
    /// `migrate verify` once per distinct server of the targets (see the module docs of
    /// `fleet`): each target reports its server's result. Refused as a whole (before
    /// connecting anywhere) when `verify` would refuse it on any database: files with errors,
    /// a `from` that names no migration. Its [`Event`]s are the runs: one per server, named
    /// by the first target on it (its place in the list), counted out of the servers.
    pub fn verify(
        &self,
        options: &VerifyOptions,
        progress: &(dyn Fn(&Event) + Sync),
    ) -> Result<FleetReport> {
        let start = Instant::now();
        let files = self.files()?;
        if let Some(first) = self.targets.first() {
            super::check_request(
                &self.migrator(first, &files),
                super::Request::Verify(options),
            )?;
        }
        // The first target of each server, in list order, and each target's representative.
        let mut firsts: Vec<usize> = Vec::new();
        let mut of_target: Vec<usize> = Vec::with_capacity(self.targets.len());
        let mut by_server: HashMap<Vec<(String, u16)>, usize> = HashMap::new();
        for (i, target) in self.targets.iter().enumerate() {
            let server = options.scratch.environment(&target.environment)?;
            let group = *by_server
                .entry(server_key(&server.connection))
                .or_insert_with(|| {
                    firsts.push(i);
                    firsts.len() - 1
                });
            of_target.push(group);
        }
        let representatives: Vec<(usize, &Target)> =
            firsts.iter().map(|&i| (i, &self.targets[i])).collect();
        let connections = crate::verify::CONNECTIONS_AT_ONCE;
        let scheduled = self.schedule(&representatives, connections, progress, |target, _| {
            let mut migrator = self.migrator(target, &files);
            match migrator.verify(options, &mut |_| {}) {
                Ok(report) => Ran {
                    exit_code: report.exit_code(),
                    failed: false,
                    error: None,
                    report: Some(CommandReport::Verify(Box::new(report))),
                    shared_with: None,
                    created_database: None,
                },
                Err(failed) => Ran {
                    exit_code: failed.error.exit_code(),
                    failed: true,
                    error: Some(reported(&failed.error, &failed.report.errors)),
                    report: Some(CommandReport::Verify(Box::new(failed.report))),
                    shared_with: None,
                    created_database: None,
                },
            }
        });
        let slots = of_target
            .iter()
            .enumerate()
            .map(|(i, &group)| {
                let (ran, ms) = scheduled.slots[group].as_ref()?;
                let first = firsts[group];
                Some(if first == i {
                    (ran.clone(), *ms)
                } else {
                    let shared = Ran {
                        report: None,
                        shared_with: Some(self.targets[first].shown()),
                        ..ran.clone()
                    };
                    (shared, *ms)
                })
            })
            .collect();
        let scheduled = super::Scheduled {
            slots,
            held_back: scheduled.held_back,
        };
        Ok(self.report("verify", scheduled, start))
    }

    /// `migrate drift` on every target: its live schema against its applied migrations
    /// replayed on a scratch database (on its server, or `options.scratch`'s). A target with
    /// drift is done with exit 9; one whose comparison could not be made failed. Refused as a
    /// whole for tenant schemas (usage error), and when the files cannot be read.
    pub fn drift(
        &self,
        options: &DriftOptions,
        progress: &(dyn Fn(&Event) + Sync),
    ) -> Result<FleetReport> {
        if let Some(tenant) = self.targets.iter().find(|t| t.schema.is_some()) {
            return Err(crate::drift::no_tenant_drift(&tenant.source));
        }
        // Unreadable files are the same failure on every database: refused once.
        let files = self.files()?;
        let replayed = crate::drift::Replayed::default();
        Ok(self.run(
            "drift",
            crate::verify::CONNECTIONS_AT_ONCE,
            progress,
            |target, _| match self.migrator(target, &files).drift_with(
                options,
                &mut |_| {},
                Some(&replayed),
            ) {
                Ok(report) => Ran {
                    exit_code: report.exit_code(),
                    failed: false,
                    error: None,
                    report: Some(CommandReport::Drift(Box::new(report))),
                    shared_with: None,
                    created_database: None,
                },
                Err(failed) => Ran {
                    exit_code: failed.error.exit_code(),
                    failed: true,
                    error: Some(reported(&failed.error, &failed.report.errors)),
                    report: Some(CommandReport::Drift(Box::new(failed.report))),
                    shared_with: None,
                    created_database: None,
                },
            },
        ))
    }
}
