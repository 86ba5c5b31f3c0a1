use std::sync::Arc;

use resilience_core::degradation::{DegradationLevel, FeatureId};

/// The request's feature is disabled at the current degradation level;
/// the inner service was not called.
///
/// It names the feature, the level (name and severity), the degradation
/// manager and the feature's mode at that level, so a log line or a `503`
/// body says exactly why the request was refused. Retry when the service
/// has recovered, or route the request to a degraded alternative
/// ([`DegradationLayer::reroute`](super::DegradationLayer::reroute)).
///
/// ```
/// use std::sync::Arc;
/// use resilience_core::degradation::{ComponentHealth, DegradationConfig, DegradationManager};
/// use resilience_tower::degradation::{DegradationLayer, FeatureDisabled};
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let m = DegradationManager::new(resilience_core::presets::workflow_runtime::degradation().unwrap()).unwrap();
/// let writes = m.feature("writes").unwrap();
/// let svc = DegradationLayer::new(m.clone(), move |_: &String| writes)
///     .layer(service_fn(|w: String| async move { Ok::<_, tower::BoxError>(w) }));
/// m.report_by_name("metadata_db_primary", ComponentHealth::Down).unwrap();
/// let err = svc.oneshot("INSERT".to_string()).await.unwrap_err();
/// let disabled = err.downcast_ref::<FeatureDisabled>().unwrap();
/// assert_eq!(disabled.feature(), "writes");
/// assert_eq!(disabled.level().name(), "read_only");
/// assert_eq!(disabled.mode(), Some("queued"));
/// assert_eq!(
///     err.to_string(),
///     "feature `writes` is disabled at degradation level `read_only` (level 3) of \
///      `workflow-runtime` (mode `queued`); retry after the service recovers, or serve \
///      a degraded alternative"
/// );
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureDisabled {
    pub(super) manager: Arc<str>,
    pub(super) feature: Arc<str>,
    pub(super) id: FeatureId,
    pub(super) level: DegradationLevel,
    pub(super) mode: Option<Arc<str>>,
}

impl FeatureDisabled {
    /// The feature's name.
    pub fn feature(&self) -> &str {
        &self.feature
    }

    /// The feature's id.
    pub fn feature_id(&self) -> FeatureId {
        self.id
    }

    /// The degradation level in force when the request was refused.
    pub fn level(&self) -> &DegradationLevel {
        &self.level
    }

    /// The feature's mode at that level (`off`, `queued`, ...).
    pub fn mode(&self) -> Option<&str> {
        self.mode.as_deref()
    }

    /// The degradation manager's name.
    pub fn manager(&self) -> &str {
        &self.manager
    }
}

impl std::fmt::Display for FeatureDisabled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "feature `{}` is disabled at degradation level `{}` (level {}) of `{}`",
            self.feature,
            self.level.name(),
            self.level.severity(),
            self.manager
        )?;
        if let Some(mode) = &self.mode {
            write!(f, " (mode `{mode}`)")?;
        }
        f.write_str("; retry after the service recovers, or serve a degraded alternative")
    }
}

impl std::error::Error for FeatureDisabled {}

/// The extractor returned a [`FeatureId`] that does not belong to the
/// layer's degradation manager (resolved from another manager). A bug in
/// the wiring, not a degradation: the request is refused rather than
/// checked against some other feature.
///
/// ```
/// use resilience_tower::degradation::UnknownFeature;
/// let e = UnknownFeature { manager: "api".into() };
/// assert!(e.to_string().contains("resolve feature ids with this manager's `feature()`"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the request's feature id does not belong to degradation manager `{manager}`; resolve feature ids with this manager's `feature()`")]
pub struct UnknownFeature {
    /// The layer's degradation manager.
    pub manager: String,
}
