//! Shared metrics handles for the evaluators' scale decisions.

/// Counters and a gauge registered once per evaluator (no-ops when no
/// `metrics` recorder is installed at construction).
#[derive(Debug, Clone)]
pub(crate) struct ScaleMetrics {
    up: metrics::Counter,
    down: metrics::Counter,
    desired: metrics::Gauge,
}

impl ScaleMetrics {
    pub(crate) fn new(
        events: &'static str,
        desired: &'static str,
        label: &'static str,
        name: &str,
    ) -> Self {
        ScaleMetrics {
            up: metrics::counter!(events, label => name.to_string(), "direction" => "up"),
            down: metrics::counter!(events, label => name.to_string(), "direction" => "down"),
            desired: metrics::gauge!(desired, label => name.to_string()),
        }
    }

    #[inline]
    pub(crate) fn record(&self, current: u32, replicas: u32) {
        if replicas > current {
            self.up.increment(1);
        } else if replicas < current {
            self.down.increment(1);
        }
        self.desired.set(f64::from(replicas));
    }
}
