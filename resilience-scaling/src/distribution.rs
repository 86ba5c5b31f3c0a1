//! Splitting a replica total across pools so the parts sum exactly.
//!
//! Percent targets ("sdxl 60 %, sd3 20 %, flux 15 %, other 5 %") rarely
//! divide a replica count evenly; rounding each share on its own can give
//! one replica too many or too few. The largest-remainder (Hamilton) method
//! floors every share, then hands the leftover replicas to the shares with
//! the largest fractional parts, so the parts always sum to the total.
//!
//! ```
//! use resilience_scaling::distribution::Distribution;
//!
//! let models = Distribution::new([("sdxl", 60.0), ("sd3", 20.0), ("flux", 15.0), ("other", 5.0)])?;
//! let split = models.allocate(37);
//! assert_eq!(split.iter().map(|(_, n)| n).sum::<u32>(), 37);
//! assert_eq!(split[0], ("sdxl".to_string(), 22)); // 22.2
//! # Ok::<(), resilience_core::config::ConfigError>(())
//! ```

use std::collections::BTreeMap;

use resilience_core::config::ConfigError;

/// Splits `total` in proportion to `weights` with the largest-remainder
/// method. Ties go to the earlier weight. Non-finite or negative weights
/// count as 0; if every weight is 0 the total is split evenly.
///
/// ```
/// use resilience_scaling::distribution::largest_remainder;
/// assert_eq!(largest_remainder(10, &[1.0, 1.0, 1.0]), vec![4, 3, 3]);
/// assert_eq!(largest_remainder(7, &[0.6, 0.2, 0.15, 0.05]), vec![4, 2, 1, 0]);
/// assert_eq!(largest_remainder(5, &[]), Vec::<u32>::new());
/// ```
pub fn largest_remainder(total: u32, weights: &[f64]) -> Vec<u32> {
    if weights.is_empty() {
        return Vec::new();
    }
    let clean: Vec<f64> = weights
        .iter()
        .map(|w| if w.is_finite() && *w > 0.0 { *w } else { 0.0 })
        .collect();
    let sum: f64 = clean.iter().sum();
    let (clean, sum) = if sum > 0.0 && sum.is_finite() {
        (clean, sum)
    } else {
        (vec![1.0; weights.len()], weights.len() as f64)
    };
    let mut out = Vec::with_capacity(clean.len());
    let mut rema = Vec::with_capacity(clean.len());
    let mut given: u64 = 0;
    for (i, w) in clean.iter().enumerate() {
        let quota = f64::from(total) * w / sum;
        let floor = quota.floor().clamp(0.0, f64::from(total));
        out.push(floor as u32);
        given = given.saturating_add(floor as u64);
        rema.push((quota - floor, i));
    }
    let left = u64::from(total).saturating_sub(given);
    rema.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    // Fewer than one unit per part is left after the floors: hand them out
    // by largest remainder (cycling only if rounding left more).
    for &(_, idx) in rema
        .iter()
        .cycle()
        .take(usize::try_from(left).unwrap_or(usize::MAX))
    {
        if let Some(slot) = out.get_mut(idx) {
            *slot = slot.saturating_add(1);
        }
    }
    out
}

/// Like [`largest_remainder`], but every part first gets its minimum; the
/// rest is split by weight. When the minimums alone exceed the total, the
/// total is split in proportion to the minimums.
///
/// ```
/// use resilience_scaling::distribution::allocate_with_minimums;
/// // Tier minimums turbo 5, fast 10, relax 5; 30 workers, demand 1:3:1.
/// assert_eq!(allocate_with_minimums(30, &[1.0, 3.0, 1.0], &[5, 10, 5]), vec![7, 16, 7]);
/// assert_eq!(allocate_with_minimums(10, &[1.0, 1.0, 1.0], &[5, 10, 5]), vec![3, 5, 2]);
/// ```
pub fn allocate_with_minimums(total: u32, weights: &[f64], minimums: &[u32]) -> Vec<u32> {
    let n = weights.len().max(minimums.len());
    let mins: Vec<u32> = (0..n)
        .map(|i| minimums.get(i).copied().unwrap_or(0))
        .collect();
    let min_sum: u64 = mins.iter().map(|m| u64::from(*m)).sum();
    if min_sum > u64::from(total) {
        let w: Vec<f64> = mins.iter().map(|m| f64::from(*m)).collect();
        return largest_remainder(total, &w);
    }
    // min_sum <= total here.
    let rest = total.saturating_sub(u32::try_from(min_sum).unwrap_or(u32::MAX));
    let w: Vec<f64> = (0..n)
        .map(|i| weights.get(i).copied().unwrap_or(0.0))
        .collect();
    let extra = largest_remainder(rest, &w);
    mins.iter()
        .zip(extra)
        .map(|(m, e)| m.saturating_add(e))
        .collect()
}

/// Named percent targets (e.g. the GPU pool's model distribution), validated.
///
/// ```
/// use resilience_scaling::distribution::Distribution;
/// let d = Distribution::new([("a", 50.0), ("b", 50.0)]).unwrap();
/// assert_eq!(d.allocate(3), vec![("a".to_string(), 2), ("b".to_string(), 1)]);
/// assert!(Distribution::new([("a", -1.0)]).is_err());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Distribution {
    names: Vec<String>,
    weights: Vec<f64>,
}

impl Distribution {
    /// Builds a distribution from `(name, weight)` pairs; weights need not
    /// sum to 100, but must be finite, non-negative and not all zero.
    pub fn new<N: Into<String>>(
        parts: impl IntoIterator<Item = (N, f64)>,
    ) -> Result<Self, ConfigError> {
        let mut names = Vec::new();
        let mut weights = Vec::new();
        for (n, w) in parts {
            let n = n.into();
            if !(w.is_finite() && w >= 0.0) {
                return Err(ConfigError::invalid(
                    format!("distribution.{n}"),
                    format!("must be a finite, non-negative share, got {w}"),
                ));
            }
            if names.contains(&n) {
                return Err(ConfigError::invalid(
                    format!("distribution.{n}"),
                    "appears twice",
                ));
            }
            names.push(n);
            weights.push(w);
        }
        if weights.iter().all(|w| *w == 0.0) {
            return Err(ConfigError::invalid(
                "distribution",
                "needs at least one positive share",
            ));
        }
        Ok(Distribution { names, weights })
    }

    /// From a map (as deserialized from YAML), in name order.
    pub fn from_map(map: &BTreeMap<String, f64>) -> Result<Self, ConfigError> {
        Self::new(map.iter().map(|(k, v)| (k.clone(), *v)))
    }

    /// The names, in order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Splits `total` replicas; the counts sum to `total`.
    pub fn allocate(&self, total: u32) -> Vec<(String, u32)> {
        self.names
            .iter()
            .cloned()
            .zip(largest_remainder(total, &self.weights))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_exactly() {
        for total in 0..500 {
            let v = largest_remainder(total, &[60.0, 20.0, 15.0, 5.0]);
            assert_eq!(v.iter().sum::<u32>(), total);
            let v = allocate_with_minimums(total, &[3.0, 0.0, 1.0], &[5, 10, 5]);
            assert_eq!(v.iter().sum::<u32>(), total);
        }
        assert_eq!(largest_remainder(4, &[f64::NAN, 0.0]), vec![2, 2]);
    }
}
