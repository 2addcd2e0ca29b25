//! Waits spread out a little, so that what failed together (refreshes in one
//! outage, deliveries to one receiver) does not come back all at once.

use std::time::Duration;

/// `base`, give or take a fifth (0.8× to 1.2×, uniformly).
pub(crate) fn jittered(base: Duration) -> Duration {
    let unit = (uuid::Uuid::new_v4().as_u128() % 10_000) as f64 / 10_000.0;
    base.mul_f64(0.8 + 0.4 * unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_within_a_fifth() {
        for _ in 0..1000 {
            let wait = jittered(Duration::from_secs(10));
            assert!((8.0..=12.0).contains(&wait.as_secs_f64()), "{wait:?}");
        }
    }
}
