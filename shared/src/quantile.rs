//! The one quantile definition of the project: nearest rank. The
//! `q`-quantile of `n` sorted values is the value at 1-based rank
//! `ceil(q * n)` (at least 1), so it is always one of the values, and the
//! median of an even count is the lower middle one. sim's summaries,
//! `sim compare`, the study, `sock-exec calibrate` and the benchmarks all
//! use it, so their medians and p95s are the same statistic.

/// The `q`-quantile (`q` in [0, 1]) of `sorted` (ascending); `None` when
/// it is empty.
pub fn nearest_rank<T: Copy>(sorted: &[T], q: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil().max(1.0) as usize;
    Some(sorted[rank.min(sorted.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::nearest_rank;

    #[test]
    fn nearest_rank_is_a_value_and_the_lower_middle_for_even_counts() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(nearest_rank(&v, 0.5), Some(2.0));
        assert_eq!(nearest_rank(&v, 0.95), Some(4.0));
        assert_eq!(nearest_rank(&v, 0.0), Some(1.0));
        assert_eq!(nearest_rank(&[7u64, 9, 11], 0.5), Some(9));
        assert_eq!(nearest_rank::<f64>(&[], 0.5), None);
    }
}
