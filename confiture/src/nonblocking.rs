//! The async commands (feature `tokio`): `Migrator::up_async` and friends.
//!
//! They run the blocking engine on `tokio::task::spawn_blocking` rather than on an engine of
//! their own over `tokio-postgres`: one engine decides everything (plan, lock, batching, the
//! recovery after a lost connection), whatever the caller; a migration run is a few seconds of
//! database work once at startup, for which one blocking-pool thread is the right tool; and
//! this layer sits above `Migrator`, so it does not care which driver `db` uses.

// A failed command carries its report so far, as the blocking commands do (`migrator/`).
#![allow(clippy::result_large_err)]

use crate::error::{Error, ErrorKind, Result};
use crate::migrate::{
    BaselineOptions, BaselineReport, DownOptions, DownReport, Failed, Outcome, Progress,
    ReinitOptions, ReinitReport, UpOptions, UpReport,
};
use crate::status::StatusReport;
use crate::Migrator;

impl Migrator {
    /// [`Migrator::up`] for async code: runs on `tokio::task::spawn_blocking`, so the runtime's
    /// threads keep serving other tasks meanwhile. Works on multi-thread and current-thread
    /// runtimes.
    ///
    /// `progress` is called on the blocking thread. If the returned future is dropped before
    /// it completes, the command still runs to its end on that thread (a migration is never
    /// abandoned half-way; the lock is released as usual) and this `Migrator` connects again
    /// on its next command.
    ///
    /// ```no_run
    /// use confiture::config::Environment;
    /// use confiture::migrate::{no_progress, UpOptions};
    ///
    /// async fn migrate(database_url: &str) -> confiture::Result<()> {
    ///     let env = Environment::from_url(database_url, "DATABASE_URL")?;
    ///     let mut migrator = confiture::Migrator::new(env, "db/migrations", Default::default());
    ///     let report = migrator.up_async(UpOptions::default(), no_progress).await?;
    ///     eprintln!("applied {:?}", report.applied);
    ///     Ok(())
    /// }
    /// ```
    pub async fn up_async(
        &mut self,
        options: UpOptions,
        mut progress: impl FnMut(Progress) + Send + 'static,
    ) -> Outcome<UpReport> {
        self.blocking(move |m| m.up(&options, &mut progress), failed)
            .await
    }

    /// [`Migrator::down`] on `spawn_blocking`; see [`Migrator::up_async`].
    ///
    /// ```no_run
    /// use confiture::migrate::{no_progress, DownOptions};
    ///
    /// async fn roll_back_newest(migrator: &mut confiture::Migrator) -> confiture::Result<Vec<String>> {
    ///     let report = migrator.down_async(DownOptions::default(), no_progress).await?;
    ///     Ok(report.rolled_back)
    /// }
    /// ```
    pub async fn down_async(
        &mut self,
        options: DownOptions,
        mut progress: impl FnMut(Progress) + Send + 'static,
    ) -> Outcome<DownReport> {
        self.blocking(move |m| m.down(&options, &mut progress), failed)
            .await
    }

    /// [`Migrator::baseline`] on `spawn_blocking`; see [`Migrator::up_async`].
    ///
    /// ```no_run
    /// use confiture::migrate::{no_progress, BaselineOptions};
    ///
    /// async fn adopt(migrator: &mut confiture::Migrator) -> confiture::Result<Vec<String>> {
    ///     let report = migrator.baseline_async(BaselineOptions::through(12), no_progress).await?;
    ///     Ok(report.baselined)
    /// }
    /// ```
    pub async fn baseline_async(
        &mut self,
        options: BaselineOptions,
        mut progress: impl FnMut(Progress) + Send + 'static,
    ) -> Outcome<BaselineReport> {
        self.blocking(move |m| m.baseline(&options, &mut progress), failed)
            .await
    }

    /// [`Migrator::reinit`] on `spawn_blocking`; see [`Migrator::up_async`].
    ///
    /// ```no_run
    /// use confiture::migrate::{no_progress, ReinitOptions};
    ///
    /// async fn accept_edits(migrator: &mut confiture::Migrator) -> confiture::Result<Vec<String>> {
    ///     let report = migrator.reinit_async(ReinitOptions::default(), no_progress).await?;
    ///     Ok(report.accepted)
    /// }
    /// ```
    pub async fn reinit_async(
        &mut self,
        options: ReinitOptions,
        mut progress: impl FnMut(Progress) + Send + 'static,
    ) -> Outcome<ReinitReport> {
        self.blocking(move |m| m.reinit(&options, &mut progress), failed)
            .await
    }

    /// [`Migrator::status`] on `spawn_blocking`.
    ///
    /// ```no_run
    /// async fn ready(migrator: &mut confiture::Migrator) -> confiture::Result<bool> {
    ///     Ok(migrator.status_async().await?.is_up_to_date())
    /// }
    /// ```
    pub async fn status_async(&mut self) -> Result<StatusReport> {
        self.blocking(|m| m.status(), Err).await
    }

    /// Moves this `Migrator` to a blocking-pool thread, runs `work` there and puts it back.
    /// Meanwhile `self` is a [`Migrator::detached`] copy: if this future is dropped, the real
    /// one finishes `work` and closes its connection on that thread.
    async fn blocking<T: Send + 'static>(
        &mut self,
        work: impl FnOnce(&mut Migrator) -> T + Send + 'static,
        not_run: impl FnOnce(Error) -> T,
    ) -> T {
        let mut moved = std::mem::replace(self, self.detached());
        let task = tokio::task::spawn_blocking(move || {
            let result = {
                let _blocking = crate::migrator::BlockingThread::enter();
                work(&mut moved)
            };
            (moved, result)
        });
        match task.await {
            Ok((migrator, result)) => {
                *self = migrator;
                result
            }
            Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
            Err(_) => not_run(Error::new(
                ErrorKind::Connection,
                "the command did not run: the tokio runtime is shutting down",
            )),
        }
    }
}

fn failed<R: Default>(error: Error) -> Outcome<R> {
    Err(Failed {
        error,
        report: R::default(),
    })
}
