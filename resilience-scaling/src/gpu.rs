//! GPU-type routing: which GPU a request should run on, from a hardware
//! table and a workload routing matrix.
//!
//! The GPU inference platform's "Hardware Comparison" and "Workload Routing
//! Matrix" are the preset ([`GpuRouter::inference_platform`]): each workload
//! lists the GPU types that suit it; the router picks, among those with a
//! free worker, the **cheapest per hour** (the platform's own rationale for
//! its standard rows: "cost-efficient"). A workload with no suitable free
//! GPU gets `None`: queue it, or scale that GPU type's pool, rather than run
//! it on hardware the matrix rules out (an SDXL + multi-ControlNet request
//! does not fit in 24 GB).
//!
//! ```
//! use resilience_scaling::gpu::{GpuRouter, Workload};
//!
//! let router = GpuRouter::inference_platform();
//! let everything_free = |_: &str| true;
//! assert_eq!(router.route(Workload::SdxlStandard, everything_free).unwrap().name, "L4");
//! assert_eq!(router.route(Workload::Turbo, everything_free).unwrap().name, "H100");
//! // No A100 free: a multi-ControlNet request waits instead of landing on an L4.
//! assert!(router.route(Workload::SdxlMultiControlNet, |g: &str| !g.starts_with("A100")).is_none());
//! ```

use serde::{Deserialize, Serialize};

/// One GPU type of the hardware table.
///
/// ```
/// use resilience_scaling::gpu::GpuRouter;
/// let r = GpuRouter::inference_platform();
/// let h100 = r.gpu("H100").unwrap();
/// assert_eq!((h100.vram_gb, h100.fp16_tflops, h100.cost_per_hour), (80, 989.0, 6.0));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuType {
    /// Name ("A10G", "A100 40GB").
    pub name: String,
    /// Memory in GB.
    pub vram_gb: u32,
    /// FP16 throughput in TFLOPS.
    pub fp16_tflops: f64,
    /// Price per GPU-hour (USD).
    pub cost_per_hour: f64,
}

/// The request types of the GPU inference platform's routing matrix.
///
/// ```
/// use resilience_scaling::gpu::Workload;
/// assert_eq!(Workload::ALL.len(), 8);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Workload {
    /// SDXL standard: A10G / L4 (fits in 24 GB).
    SdxlStandard,
    /// SDXL + LoRA: A10G / L4 (minimal overhead).
    SdxlLora,
    /// SDXL + ControlNet: A10G / A100 (may need more VRAM).
    SdxlControlNet,
    /// SDXL + multi-ControlNet: A100 (complex composition).
    SdxlMultiControlNet,
    /// SD3 / Flux: A100 (larger models).
    Sd3OrFlux,
    /// High resolution (2K+): A100 / H100.
    HighRes,
    /// The Turbo tier: H100 (fastest generation).
    Turbo,
    /// Batch generation: A100 80GB (several images in parallel).
    Batch,
}

impl Workload {
    /// Every workload, in the matrix's order.
    pub const ALL: [Workload; 8] = [
        Workload::SdxlStandard,
        Workload::SdxlLora,
        Workload::SdxlControlNet,
        Workload::SdxlMultiControlNet,
        Workload::Sd3OrFlux,
        Workload::HighRes,
        Workload::Turbo,
        Workload::Batch,
    ];
}

/// Routes workloads to GPU types. See the [module docs](self).
///
/// ```
/// use resilience_scaling::gpu::{GpuRouter, Workload};
/// let r = GpuRouter::inference_platform();
/// assert_eq!(r.route(Workload::Batch, |_: &str| true).unwrap().vram_gb, 80);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct GpuRouter {
    gpus: Vec<GpuType>,
    matrix: Vec<(Workload, Vec<usize>)>,
}

impl GpuRouter {
    /// The GPU inference platform's hardware table (A10G 24 GB / 125 TFLOPS
    /// / $1.00, L4 24 GB / 120 / $0.80, A100 40GB 40 GB / 312 / $3.00,
    /// A100 80GB 80 GB / 312 / $4.50, H100 80 GB / 989 / $6.00) and routing
    /// matrix. "A100" in the matrix means either A100 variant.
    ///
    /// ```
    /// use resilience_scaling::gpu::{GpuRouter, Workload};
    /// let r = GpuRouter::inference_platform();
    /// assert_eq!(r.candidates(Workload::HighRes), ["A100 40GB", "A100 80GB", "H100"]);
    /// ```
    pub fn inference_platform() -> Self {
        let gpu = |name: &str, vram_gb, fp16_tflops, cost_per_hour| GpuType {
            name: name.into(),
            vram_gb,
            fp16_tflops,
            cost_per_hour,
        };
        let gpus = vec![
            gpu("A10G", 24, 125.0, 1.00),
            gpu("L4", 24, 120.0, 0.80),
            gpu("A100 40GB", 40, 312.0, 3.00),
            gpu("A100 80GB", 80, 312.0, 4.50),
            gpu("H100", 80, 989.0, 6.00),
        ];
        const A10G: usize = 0;
        const L4: usize = 1;
        const A100_40: usize = 2;
        const A100_80: usize = 3;
        const H100: usize = 4;
        let matrix = vec![
            (Workload::SdxlStandard, vec![A10G, L4]),
            (Workload::SdxlLora, vec![A10G, L4]),
            (Workload::SdxlControlNet, vec![A10G, A100_40, A100_80]),
            (Workload::SdxlMultiControlNet, vec![A100_40, A100_80]),
            (Workload::Sd3OrFlux, vec![A100_40, A100_80]),
            (Workload::HighRes, vec![A100_40, A100_80, H100]),
            (Workload::Turbo, vec![H100]),
            (Workload::Batch, vec![A100_80]),
        ];
        GpuRouter { gpus, matrix }
    }

    /// The hardware table.
    ///
    /// ```
    /// let r = resilience_scaling::gpu::GpuRouter::inference_platform();
    /// assert_eq!(r.gpus().len(), 5);
    /// ```
    pub fn gpus(&self) -> &[GpuType] {
        &self.gpus
    }

    /// A GPU type by name.
    ///
    /// ```
    /// let r = resilience_scaling::gpu::GpuRouter::inference_platform();
    /// assert_eq!(r.gpu("A10G").unwrap().cost_per_hour, 1.0);
    /// assert!(r.gpu("TPU").is_none());
    /// ```
    pub fn gpu(&self, name: &str) -> Option<&GpuType> {
        self.gpus.iter().find(|g| g.name == name)
    }

    /// The GPU types suited to `workload`, cheapest first.
    ///
    /// ```
    /// use resilience_scaling::gpu::{GpuRouter, Workload};
    /// let r = GpuRouter::inference_platform();
    /// assert_eq!(r.candidates(Workload::SdxlStandard), ["L4", "A10G"]); // $0.80 before $1.00
    /// ```
    pub fn candidates(&self, workload: Workload) -> Vec<&str> {
        let mut c: Vec<&GpuType> = self
            .matrix
            .iter()
            .find(|(w, _)| *w == workload)
            .map(|(_, ids)| ids.iter().filter_map(|i| self.gpus.get(*i)).collect())
            .unwrap_or_default();
        c.sort_by(|a, b| a.cost_per_hour.total_cmp(&b.cost_per_hour));
        c.into_iter().map(|g| g.name.as_str()).collect()
    }

    /// The cheapest suitable GPU type with a free worker (`has_free(name)`),
    /// or `None`: queue the request or scale that pool.
    ///
    /// ```
    /// use resilience_scaling::gpu::{GpuRouter, Workload};
    /// let r = GpuRouter::inference_platform();
    /// let free = |g: &str| g == "A100 80GB";
    /// assert_eq!(r.route(Workload::Sd3OrFlux, free).unwrap().name, "A100 80GB");
    /// ```
    pub fn route(&self, workload: Workload, has_free: impl Fn(&str) -> bool) -> Option<&GpuType> {
        self.candidates(workload)
            .into_iter()
            .find(|name| has_free(name))
            .and_then(|name| self.gpu(name))
    }
}
