//! Percentiles over a handful of measurements.

use std::time::Duration;

/// Nearest-rank percentile (`p` in 0..=100) of `samples`; `None` when empty.
pub fn percentile(samples: &[Duration], p: f64) -> Option<Duration> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort();
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let ms = |v: u64| Duration::from_millis(v);
        let samples: Vec<Duration> = (1..=20).map(ms).collect();
        assert_eq!(percentile(&samples, 99.0), Some(ms(20)));
        assert_eq!(percentile(&samples, 50.0), Some(ms(10)));
        assert_eq!(percentile(&[ms(7)], 99.0), Some(ms(7)));
        assert_eq!(percentile(&[], 99.0), None);
    }
}
