//! `verify` and `drift` of a fleet.
//!
//! `verify` proves the migrations themselves, on a scratch database: what a fleet adds is the
//! servers (their versions, extensions, settings), not the databases. So it runs once per
//! distinct server of the list (the scratch database's server: the target's, or the
//! `--scratch-url` one for every target) and session there (its user and connection options:
//! a target whose options set another `search_path` runs apart, [`run_key`]), with the first
//! target listed of each (its credentials and settings; for a tenant schema, its `search_path`
//! and ledger, the schema created on the scratch database first), at most `jobs` at once. Every target gets
//! the result of its server: its exit code and error; the full report is on the first target
//! of each server, the others name it in [`TargetReport::shared_with`]. The servers are told
//! apart by their spelling (hosts and ports); the first target of each takes its database's
//! claim before its run, as every command's target does ([`super::targets::Claims`]), so a
//! database listed under two spellings of its server is refused the second time (exit 5) and
//! the other targets of that spelling share the run of the spelling that reached it first.
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

use super::{Event, Fleet, FleetReport, Ran, Target};

/// Which server a connection reaches, and the session it opens there: its hosts and ports, its
/// user, and its options (settings such as `search_path`, tenant `schema`'s pin aside: the
/// tenants of a database share a run), the database aside. Targets of one key share a run of
/// `verify`: a session with other settings or another role would not run the migrations as the
/// first target's did.
type RunKey = (Vec<(String, u16)>, String, Option<String>);

fn run_key(connection: &ConnectionSpec, schema: Option<&str>) -> RunKey {
    let hosts = std::iter::once((connection.host.to_ascii_lowercase(), connection.port))
        .chain(
            connection
                .more_hosts
                .iter()
                .map(|(host, port)| (host.to_ascii_lowercase(), *port)),
        )
        .collect();
    let options = super::targets::options_apart_from_tenant(connection.options.as_deref(), schema);
    (hosts, connection.user.clone(), options)
}

/// Takes `claim` on `target`'s database ([`super::Claim::take_naming_first`]) on a session of
/// its own, before the target's run. A target that cannot be reached takes none: whether it
/// must be (a database need not exist to be verified) is the run's to say. Stopped (`stop`)
/// while it connects, the target is `interrupted` at once, as its run would be.
fn claim_database(
    claim: &super::Claim,
    target: &Target,
    stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
) -> std::result::Result<(), (crate::Error, Option<usize>)> {
    let (claim, env) = (claim.clone(), target.environment.clone());
    let taken = crate::verify::unless_stopped(
        stop,
        ("connecting", crate::verify::Done::Nothing),
        move || match crate::db::connect(&env) {
            Ok(mut client) => claim.take_naming_first(&mut client),
            Err(_) => Ok(()),
        },
    );
    taken.unwrap_or_else(|interrupted| Err((interrupted, None)))
}

impl Fleet {
    /// `migrate verify` once per distinct server and session (user, connection options) of
    /// the targets (see the module docs of `fleet`): each target reports its run's result. Refused as a whole (before
    /// connecting anywhere) when `verify` would refuse it on any database: files with errors,
    /// a `from` that names no migration. Its [`Event`]s are the runs: one per server, named
    /// by the first target on it (its place in the list), counted out of the servers.
    pub fn verify(
        &self,
        options: &VerifyOptions,
        progress: &(dyn Fn(&Event) + Sync),
    ) -> Result<FleetReport> {
        let start = Instant::now();
        // Only databases that exist: a name the server lacks is refused as `up` and `status`
        // refuse it, never given another target's run (hostile run htl, C).
        let files = self.files(true)?;
        if let Some(first) = self.targets.first() {
            super::check_request(
                &self.migrator(first, &files),
                super::Request::Verify(options),
            )?;
        }
        // A target listed by name that its server does not have: refused now, in no group.
        let absent: Vec<Option<crate::Error>> = self
            .targets
            .iter()
            .map(|target| {
                let databases = files.absent.as_ref().filter(|_| target.entry().is_some())?;
                let refusal = databases
                    .check(&target.environment, self.stop.clone())
                    .err()?;
                // Completed as the target's session completes its errors.
                self.migrator(target, &files)
                    .suggested::<()>(Err(refusal))
                    .err()
            })
            .collect();
        // The first target of each server, in list order, and each target's representative.
        let mut firsts: Vec<usize> = Vec::new();
        let mut of_target: Vec<Option<usize>> = Vec::with_capacity(self.targets.len());
        let mut by_server: HashMap<RunKey, usize> = HashMap::new();
        for (i, target) in self.targets.iter().enumerate() {
            if absent[i].is_some() {
                of_target.push(None);
                continue;
            }
            let server = options.scratch.environment(&target.environment)?;
            let group = *by_server
                .entry(run_key(&server.connection, target.schema.as_deref()))
                .or_insert_with(|| {
                    firsts.push(i);
                    firsts.len() - 1
                });
            of_target.push(Some(group));
        }
        let representatives: Vec<(usize, &Target)> =
            firsts.iter().map(|&i| (i, &self.targets[i])).collect();
        // Each run's target takes its database's claim first, as every command's target does:
        // a database another spelling of its server already reached is refused (nothing runs
        // for it), and the other targets of its spelling have that server's run.
        let claims: Vec<super::Claim> = representatives
            .iter()
            .map(|(_, target)| files.claims.claim(target))
            .collect();
        let group_of_ticket: HashMap<usize, usize> = claims
            .iter()
            .enumerate()
            .map(|(group, claim)| (claim.ticket(), group))
            .collect();
        let reached_first = std::sync::Mutex::new(vec![None; representatives.len()]);
        let connections = crate::verify::CONNECTIONS_AT_ONCE;
        let scheduled = self.schedule(&representatives, connections, progress, |target, _, _| {
            // By value: the target a worker runs is a copy (its own wait watch,
            // `Fleet::work`), never the list's. Equal targets are one server's, one group.
            let group = representatives
                .iter()
                .position(|(_, t)| *t == target)
                .unwrap_or_default();
            let claim = &claims[group];
            let mut migrator = self.migrator(target, &files);
            migrator.claim = Some(claim.clone());
            if let Err((error, first)) = claim_database(claim, target, self.stop.clone()) {
                if let Some(&first) = first.and_then(|ticket| group_of_ticket.get(&ticket)) {
                    reached_first.lock().unwrap_or_else(|p| p.into_inner())[group] = Some(first);
                }
                // Completed as the target's session completes its errors (its tenant schema,
                // its suggested commands).
                let error = migrator.suggested::<()>(Err(error)).unwrap_err();
                return Ran::refused(&error);
            }
            Ran::of(migrator.verify(options, &mut |_| {}))
        });
        let reached_first = reached_first
            .into_inner()
            .unwrap_or_else(|p| p.into_inner());
        let slots = of_target
            .iter()
            .enumerate()
            .map(|(i, &group)| {
                let Some(group) = group else {
                    return absent[i].as_ref().map(|refusal| (Ran::refused(refusal), 0));
                };
                if firsts[group] == i {
                    return scheduled.slots[group].clone();
                }
                // A group whose first target was refused as another's database: the server is
                // that one's, and so is its run.
                let group = reached_first[group].unwrap_or(group);
                let (ran, ms) = scheduled.slots[group].as_ref()?;
                let shared = Ran {
                    report: None,
                    shared_with: Some(self.targets[firsts[group]].shown()),
                    ..ran.clone()
                };
                Some((shared, *ms))
            })
            .collect();
        let scheduled = super::Scheduled {
            slots,
            held_back: scheduled.held_back,
        };
        Ok(self.report("verify", &files, scheduled, start))
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
        let files = self.files(false)?;
        let replayed = crate::drift::Replayed::default();
        Ok(self.run(
            "drift",
            crate::verify::CONNECTIONS_AT_ONCE,
            &files,
            progress,
            |target, _, _| {
                Ran::of(self.migrator(target, &files).drift_with(
                    options,
                    &mut |_| {},
                    Some(&replayed),
                ))
            },
        ))
    }
}
