//! The generated world's shape and the facts that several tables must agree on: row counts
//! at a scale, customer and product ids, item prices, and each shopping session's plan
//! (customer, times, cart, promo, payment) shared by click_stream.csv and transactions.csv.
//! Everything here is a pure function of (seed, index), so tables can be generated in any
//! order and in parallel chunks. It must never write files or keep mutable state.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::vocab;

/// Rows at scale 1.
pub const BASE_CUSTOMERS: f64 = 100_000.0;
/// Rows at scale 1.
pub const BASE_PRODUCTS: f64 = 44_000.0;
/// Rows at scale 1.
pub const BASE_TRANSACTIONS: f64 = 850_000.0;
/// Rows at scale 1.
pub const BASE_CLICKS: f64 = 12_800_000.0;
/// Fewest events in a session.
const MIN_EVENTS: u16 = 2;
/// Mean events per session.
const MEAN_EVENTS: u64 = 14;

/// Tags that separate the random streams of different purposes.
pub mod tag {
    /// Session counts.
    pub const COUNTS: u64 = 1;
    /// A session's plan.
    pub const SESSION: u64 = 2;
    /// A session's id.
    pub const SESSION_ID: u64 = 3;
    /// Customers chunk.
    pub const CUSTOMERS: u64 = 4;
    /// Products chunk.
    pub const PRODUCTS: u64 = 5;
    /// Transactions chunk.
    pub const TRANSACTIONS: u64 = 6;
    /// Click stream chunk.
    pub const CLICKS: u64 = 7;
    /// Item prices.
    pub const PRICE: u64 = 8;
}

/// A well-mixed 64-bit value from (seed, tag, index) (SplitMix64's finalizer).
pub fn mix(seed: u64, tag: u64, i: u64) -> u64 {
    let mut z = seed
        .wrapping_add(tag.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(i.wrapping_mul(0xD1B5_4A32_D192_ED03))
        .wrapping_add(0x2545_F491_4F6C_DD1D);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A ChaCha8 stream for (seed, tag, index).
pub fn rng_for(seed: u64, tag: u64, i: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(mix(seed, tag, i))
}

/// Pick from a weighted list.
pub fn pick<T: Copy>(rng: &mut impl Rng, items: &[(T, u32)]) -> T {
    let total: u32 = items.iter().map(|x| x.1).sum();
    let mut r = rng.random_range(0..total.max(1));
    for (v, w) in items {
        if r < *w {
            return *v;
        }
        r -= w;
    }
    items[items.len() - 1].0
}

/// Pick an index by weight.
pub fn pick_index(rng: &mut impl Rng, weights: impl Iterator<Item = u32> + Clone) -> usize {
    let total: u32 = weights.clone().sum();
    let mut r = rng.random_range(0..total.max(1));
    let mut last = 0;
    for (i, w) in weights.enumerate() {
        if r < w {
            return i;
        }
        r -= w;
        last = i;
    }
    last
}

/// Pick uniformly.
pub fn pick_one<'a>(rng: &mut impl Rng, items: &[&'a str]) -> &'a str {
    items[rng.random_range(0..items.len())]
}

/// Row counts and the per-session event counts of one generated data set.
#[derive(Clone, Debug)]
pub struct World {
    /// Seed of every stream.
    pub seed: u64,
    /// customer.csv rows.
    pub customers: u64,
    /// product.csv rows.
    pub products: u64,
    /// transactions.csv rows.
    pub transactions: u64,
    /// click_stream.csv rows.
    pub clicks: u64,
    /// Events of each session; they sum to `clicks`.
    pub session_events: Vec<u16>,
}

fn scaled(base: f64, scale: f64, min: u64) -> u64 {
    ((base * scale).round() as u64).max(min)
}

impl World {
    /// The world at `scale` (1.0: the real data set's size).
    pub fn new(scale: f64, seed: u64) -> World {
        let customers = scaled(BASE_CUSTOMERS, scale, 10);
        let products = scaled(BASE_PRODUCTS, scale, 10);
        let transactions = scaled(BASE_TRANSACTIONS, scale, 10);
        let clicks = scaled(BASE_CLICKS, scale, 150).max(transactions * MIN_EVENTS as u64);
        let sessions = (clicks / MEAN_EVENTS).max(transactions).max(1);
        // Even split, then random transfers between neighbours keep the sum exact.
        let mut ev: Vec<u16> = (0..sessions)
            .map(|i| ((i + 1) * clicks / sessions - i * clicks / sessions) as u16)
            .collect();
        let mut rng = rng_for(seed, tag::COUNTS, 0);
        for pair in ev.chunks_exact_mut(2) {
            let give = pair[0] - MIN_EVENTS;
            let take = pair[1] - MIN_EVENTS;
            let d = rng.random_range(0..=(give + take)) as i32 - give as i32;
            pair[0] = (pair[0] as i32 + d) as u16;
            pair[1] = (pair[1] as i32 - d) as u16;
        }
        World {
            seed,
            customers,
            products,
            transactions,
            clicks,
            session_events: ev,
        }
    }

    /// Number of sessions.
    pub fn sessions(&self) -> u64 {
        self.session_events.len() as u64
    }

    /// The session that transaction `t` was booked in.
    pub fn session_of_transaction(&self, t: u64) -> u64 {
        (t as u128 * self.sessions() as u128 / self.transactions as u128) as u64
    }

    /// Whether session `s` ends in a booking (one transaction per booked session).
    pub fn is_booked(&self, s: u64) -> bool {
        let (n, t) = (self.sessions() as u128, self.transactions as u128);
        let first_t = (s as u128 * t).div_ceil(n);
        first_t < t && (first_t * n / t) as u64 == s
    }

    /// Id of customer row `i`.
    pub fn customer_id(&self, i: u64) -> u64 {
        i + 1
    }

    /// Id of product row `i`: increasing, with gaps, like the source catalogue's.
    pub fn product_id(&self, i: u64) -> u64 {
        1163 + i + i / 3
    }

    /// Price of a product in rupiah.
    pub fn item_price(&self, product_id: u64) -> u64 {
        50_000 + mix(self.seed, tag::PRICE, product_id) % 550_000
    }

    /// The session id of session `s`.
    pub fn session_uuid(&self, s: u64) -> (u64, u64) {
        (
            mix(self.seed, tag::SESSION_ID, 2 * s),
            mix(self.seed, tag::SESSION_ID, 2 * s + 1),
        )
    }

    /// The plan of session `s`; `times` receives its events' times (microseconds, ascending).
    pub fn session(&self, s: u64, times: &mut Vec<i64>) -> SessionPlan {
        let mut rng = rng_for(self.seed, tag::SESSION, s);
        // 2016-07-01 .. 2022-07-31
        let start = rng.random_range(1_467_331_200_000_000i64..1_659_225_600_000_000);
        let customer = self.customer_id(rng.random_range(0..self.customers));
        let mobile = rng.random_bool(0.7);
        let items = pick(&mut rng, &[(1usize, 60), (2, 25), (3, 10), (4, 5)]);
        let mut cart = [CartItem::default(); 4];
        for item in cart.iter_mut().take(items) {
            let pid = self.product_id(rng.random_range(0..self.products));
            item.product_id = pid;
            item.quantity = pick(&mut rng, &[(1u32, 80), (2, 15), (3, 5)]);
            item.price = self.item_price(pid);
        }
        let promo = if rng.random_bool(0.3) {
            Some((
                pick_one(&mut rng, vocab::PROMO_CODES),
                rng.random_range(1u64..=6) * 5_000,
            ))
        } else {
            None
        };
        let paid = rng.random_bool(0.95);
        times.clear();
        let mut t = start;
        for _ in 0..self.session_events[s as usize] {
            times.push(t);
            t += rng.random_range(3_000_000i64..240_000_000);
        }
        SessionPlan {
            customer,
            mobile,
            cart,
            items,
            promo,
            paid,
        }
    }
}

/// One item of a cart.
#[derive(Clone, Copy, Debug, Default)]
pub struct CartItem {
    /// Product id.
    pub product_id: u64,
    /// Quantity.
    pub quantity: u32,
    /// Unit price.
    pub price: u64,
}

/// What happens in a session.
#[derive(Clone, Debug)]
pub struct SessionPlan {
    /// Customer id.
    pub customer: u64,
    /// MOBILE (else WEB) traffic.
    pub mobile: bool,
    /// Cart items (the first `items`).
    pub cart: [CartItem; 4],
    /// Items in the cart.
    pub items: usize,
    /// Promo code and amount, if any.
    pub promo: Option<(&'static str, u64)>,
    /// Whether payment succeeded.
    pub paid: bool,
}

impl SessionPlan {
    /// The cart's items.
    pub fn items(&self) -> &[CartItem] {
        &self.cart[..self.items]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_exact_and_sessions_cover_transactions() {
        for scale in [0.0001, 0.001, 0.003] {
            let w = World::new(scale, 7);
            let total: u64 = w.session_events.iter().map(|&n| n as u64).sum();
            assert_eq!(total, w.clicks);
            assert!(w.session_events.iter().all(|&n| n >= MIN_EVENTS));
            let booked = (0..w.sessions()).filter(|&s| w.is_booked(s)).count() as u64;
            assert_eq!(booked, w.transactions);
            for t in 0..w.transactions {
                assert!(w.is_booked(w.session_of_transaction(t)));
            }
        }
    }
}
