//! Many tests at once: the suite gates 8 scenarios of 5 rows each, and forty tests at 5% each
//! would call something "significant" in most pairs of unchanged runs. Holm's method keeps the
//! chance of even one false alarm in the whole family at 5%, and is never less powerful than
//! Bonferroni's.

/// Holm's adjusted p-values, in the order given: a test is significant for the family at level
/// `alpha` when its adjusted p-value is below `alpha`. The smallest p-value is multiplied by the
/// number of tests, the next by one fewer, and so on; each adjusted value is at least the one
/// before it in that order, and at most 1.
pub fn holm(p_values: &[f64]) -> Vec<f64> {
    let m = p_values.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&i, &j| p_values[i].total_cmp(&p_values[j]));
    let mut adjusted = vec![1.0; m];
    let mut running = 0.0_f64;
    for (rank, &i) in order.iter().enumerate() {
        running = running.max(((m - rank) as f64 * p_values[i]).min(1.0));
        adjusted[i] = running;
    }
    adjusted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holm_matches_a_textbook_case() {
        // R: p.adjust(c(0.01, 0.04, 0.03, 0.005), "holm") gives 0.03 0.06 0.06 0.02.
        let adjusted = holm(&[0.01, 0.04, 0.03, 0.005]);
        let expected = [0.03, 0.06, 0.06, 0.02];
        for (got, want) in adjusted.iter().zip(expected) {
            assert!((got - want).abs() < 1e-12, "{adjusted:?}");
        }
        assert!(holm(&[]).is_empty());
        assert_eq!(holm(&[0.5, 0.9]), vec![1.0, 1.0]);
    }
}
