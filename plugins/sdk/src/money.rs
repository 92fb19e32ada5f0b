//! Integer money arithmetic for rules: amounts never pass through a float.

/// `numerator / denominator` rounded half up (halves away from zero), as tax and proration round
/// to the minor unit. `denominator` must be positive. Never overflows: the remainder is compared
/// with what is left of the divisor instead of being doubled.
pub fn divide_round_half_up(numerator: i128, denominator: i128) -> i128 {
    assert!(denominator > 0, "rounding divides by a positive amount");
    let quotient = numerator / denominator;
    let remainder = (numerator % denominator).abs();
    if remainder >= denominator - remainder { quotient + numerator.signum() } else { quotient }
}

#[cfg(test)]
mod tests {
    use super::divide_round_half_up;

    #[test]
    fn halves_round_up_and_the_rest_to_nearest() {
        assert_eq!(divide_round_half_up(15, 10), 2);
        assert_eq!(divide_round_half_up(14, 10), 1);
        assert_eq!(divide_round_half_up(16, 10), 2);
        assert_eq!(divide_round_half_up(5, 10), 1);
        assert_eq!(divide_round_half_up(4, 10), 0);
        assert_eq!(divide_round_half_up(0, 10), 0);
        assert_eq!(divide_round_half_up(20, 10), 2);
        assert_eq!(divide_round_half_up(150, 10_000), 0);
        assert_eq!(divide_round_half_up(15_000, 10_000), 2);
    }

    #[test]
    fn negative_halves_round_away_from_zero() {
        assert_eq!(divide_round_half_up(-15, 10), -2);
        assert_eq!(divide_round_half_up(-14, 10), -1);
    }

    #[test]
    fn extremes_do_not_overflow() {
        assert_eq!(divide_round_half_up(i128::MAX, 1), i128::MAX);
        assert_eq!(divide_round_half_up(i128::MAX, i128::MAX), 1);
        assert_eq!(divide_round_half_up(i128::MAX - 1, i128::MAX), 1);
        assert_eq!(divide_round_half_up(i128::MAX / 2, i128::MAX), 0);
    }
}
