//! The orders that make a comparison fair: every way of doing a thing gets every position as
//! often as the others, so that a ring that warms up, or caches that one way fills for the next,
//! favour none of them. Used by the shop's `--compare` and by `bench lessons`.

/// The order in which `n` variants run when each runs twice, mirrored (0 1 2 2 1 0): a ring that
/// warms up or slows down during the comparison then favours none of them.
pub fn mirrored(n: usize) -> impl Iterator<Item = usize> {
    (0..n).chain((0..n).rev())
}

/// Which of two ways goes first in round `round`: `[false, true]` in even rounds, `[true, false]`
/// in odd ones, so that each goes first as often as the other.
pub fn alternating(round: usize) -> [bool; 2] {
    let second_first = round % 2 == 1;
    [second_first, !second_first]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparisons_give_each_way_every_position_equally() {
        // Mirrored: each of three ways runs once in each half, first as often as last.
        let order: Vec<usize> = mirrored(3).collect();
        assert_eq!(order, [0, 1, 2, 2, 1, 0]);
        // Alternating: over any two rounds, each of two ways goes first once.
        let firsts: Vec<bool> = (0..4).map(|round| alternating(round)[0]).collect();
        assert_eq!(firsts, [false, true, false, true]);
        assert!((0..4).all(|round| alternating(round)[0] != alternating(round)[1]));
    }
}
