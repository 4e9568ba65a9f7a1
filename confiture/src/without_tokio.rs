//! The async commands when the `tokio` feature is off: the same names, so that calling one
//! fails to compile with an error that names the feature to turn on, rather than rustc's
//! "no method named `up_async` found for struct `Migrator`". They can never be called: their
//! bound is on a trait no type implements, which nothing outside this module can name.

use crate::error::Result;
use crate::migrate::{
    BaselineOptions, BaselineReport, DownOptions, DownReport, Outcome, Progress, ReinitOptions,
    ReinitReport, UpOptions, UpReport,
};
use crate::status::StatusReport;
use crate::Migrator;

mod sealed {
    /// Implemented by nothing: the bound of the async commands without the `tokio` feature.
    #[diagnostic::on_unimplemented(
        message = "`Migrator::up_async`, `down_async`, `baseline_async`, `reinit_async` and `status_async` need confiture's `tokio` feature",
        label = "compiled only with confiture's `tokio` feature",
        note = "turn it on in Cargo.toml: confiture = {{ version = \"0.1\", features = [\"tokio\"] }}",
        note = "or call the blocking command (`up`, `down`, `baseline`, `reinit`, `status`) inside `tokio::task::spawn_blocking`"
    )]
    pub trait NeedsTheTokioFeature {}
}

use sealed::NeedsTheTokioFeature;

/// Never callable: see the module's documentation. `for<'a> &'a (): ...` rather than `(): ...`:
/// a bound without a binder is checked where it is written, this one where it is used.
#[allow(private_bounds)]
#[doc(hidden)]
impl Migrator {
    pub async fn up_async(
        &mut self,
        _options: UpOptions,
        _progress: impl FnMut(Progress) + Send + 'static,
    ) -> Outcome<UpReport>
    where
        for<'a> &'a (): NeedsTheTokioFeature,
    {
        unreachable!("no type implements NeedsTheTokioFeature")
    }

    pub async fn down_async(
        &mut self,
        _options: DownOptions,
        _progress: impl FnMut(Progress) + Send + 'static,
    ) -> Outcome<DownReport>
    where
        for<'a> &'a (): NeedsTheTokioFeature,
    {
        unreachable!("no type implements NeedsTheTokioFeature")
    }

    pub async fn baseline_async(
        &mut self,
        _options: BaselineOptions,
        _progress: impl FnMut(Progress) + Send + 'static,
    ) -> Outcome<BaselineReport>
    where
        for<'a> &'a (): NeedsTheTokioFeature,
    {
        unreachable!("no type implements NeedsTheTokioFeature")
    }

    pub async fn reinit_async(
        &mut self,
        _options: ReinitOptions,
        _progress: impl FnMut(Progress) + Send + 'static,
    ) -> Outcome<ReinitReport>
    where
        for<'a> &'a (): NeedsTheTokioFeature,
    {
        unreachable!("no type implements NeedsTheTokioFeature")
    }

    pub async fn status_async(&mut self) -> Result<StatusReport>
    where
        for<'a> &'a (): NeedsTheTokioFeature,
    {
        unreachable!("no type implements NeedsTheTokioFeature")
    }
}
