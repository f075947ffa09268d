//! Row writers of the four generated CSV files: each appends the rows of one chunk to a byte
//! buffer, drawing from that chunk's own random stream. Owns what a realistic row looks like.
//! It must never allocate per field (values go straight into the buffer) and never depend on
//! anything but (world, chunk index), so output is the same whatever the thread count.

use rand::Rng;

use super::fmt::{push_field, push_fixed, push_int, push_uuid};
use super::vocab::{self, PROVINCES};
use super::world::{World, pick, pick_index, pick_one, rng_for, tag};
use crate::time::{push_date, push_timestamp_micros};

/// Header of customer.csv.
pub const CUSTOMER_HEADER: &str = "customer_id,first_name,last_name,username,email,gender,birthdate,device_type,device_id,device_version,home_location_lat,home_location_long,home_location,home_country,first_join_date";
/// Header of product.csv.
pub const PRODUCT_HEADER: &str = "id,gender,masterCategory,subCategory,articleType,baseColour,season,year,usage,productDisplayName";
/// Header of transactions.csv.
pub const TRANSACTIONS_HEADER: &str = "created_at,customer_id,booking_id,session_id,product_metadata,payment_method,payment_status,promo_amount,promo_code,shipment_fee,shipment_date_limit,shipment_location_lat,shipment_location_long,total_amount";
/// Header of click_stream.csv.
pub const CLICK_HEADER: &str =
    "session_id,event_name,event_time,event_id,traffic_source,event_metadata";

/// Rows per chunk of the small tables.
pub const ROWS_PER_CHUNK: u64 = 8192;
/// Sessions per chunk of click_stream.csv.
pub const SESSIONS_PER_CHUNK: u64 = 2048;

fn push_lower(out: &mut Vec<u8>, s: &str) {
    out.extend(
        s.bytes()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_lowercase()),
    );
}

/// A location near one of the provinces: (lat, long) in millionths of a degree, and its name.
fn location(rng: &mut impl Rng) -> (i64, i64, &'static str) {
    let weighted: u32 = PROVINCES.iter().map(|p| p.3).sum();
    let mut r = rng.random_range(0..weighted);
    let mut prov = PROVINCES[0];
    for p in PROVINCES {
        if r < p.3 {
            prov = *p;
            break;
        }
        r -= p.3;
    }
    let lat = (prov.1 * 1e6) as i64 + rng.random_range(-600_000..600_000);
    let long = (prov.2 * 1e6) as i64 + rng.random_range(-600_000..600_000);
    (lat, long, prov.0)
}

/// Append customer rows `[start, end)`.
pub fn customers(w: &World, chunk: u64, out: &mut Vec<u8>) {
    let mut rng = rng_for(w.seed, tag::CUSTOMERS, chunk);
    let start = chunk * ROWS_PER_CHUNK;
    let end = (start + ROWS_PER_CHUNK).min(w.customers);
    for i in start..end {
        let female = rng.random_bool(0.6);
        let first = pick_one(
            &mut rng,
            if female {
                vocab::FEMALE_NAMES
            } else {
                vocab::MALE_NAMES
            },
        );
        let last = pick_one(&mut rng, vocab::LAST_NAMES);
        push_int(out, w.customer_id(i));
        out.push(b',');
        out.extend_from_slice(first.as_bytes());
        out.push(b',');
        out.extend_from_slice(last.as_bytes());
        out.push(b',');
        let user_start = out.len();
        push_lower(out, first);
        match rng.random_range(0..3) {
            0 => {
                out.push(b'_');
                push_lower(out, last);
            }
            1 => {
                push_lower(out, last);
                push_int(out, rng.random_range(1..100u32));
            }
            _ => {
                out.push(b'.');
                push_int(out, rng.random_range(1960..2008u32));
            }
        }
        let user_end = out.len();
        out.push(b',');
        out.extend_from_within(user_start..user_end);
        out.push(b'@');
        out.extend_from_slice(pick(&mut rng, vocab::EMAIL_DOMAINS).as_bytes());
        out.extend_from_slice(if female { b",F," } else { b",M," });
        // 1960-01-01 .. 2007-12-31
        push_date(out, rng.random_range(-3653i64..13_878));
        let ios = rng.random_bool(0.35);
        out.extend_from_slice(if ios { b",iOS," } else { b",Android," });
        push_uuid(out, rng.random(), rng.random());
        out.push(b',');
        out.extend_from_slice(
            pick_one(
                &mut rng,
                if ios {
                    vocab::IOS_VERSIONS
                } else {
                    vocab::ANDROID_VERSIONS
                },
            )
            .as_bytes(),
        );
        let (lat, long, prov) = location(&mut rng);
        out.push(b',');
        push_fixed(out, lat, 6);
        out.push(b',');
        push_fixed(out, long, 6);
        out.push(b',');
        out.extend_from_slice(prov.as_bytes());
        out.extend_from_slice(b",Indonesia,");
        // 2016-06-01 .. 2022-06-30
        push_date(out, rng.random_range(16_953i64..19_173));
        out.push(b'\n');
    }
}

/// Append product rows of one chunk.
pub fn products(w: &World, chunk: u64, out: &mut Vec<u8>, name: &mut Vec<u8>) {
    let mut rng = rng_for(w.seed, tag::PRODUCTS, chunk);
    let start = chunk * ROWS_PER_CHUNK;
    let end = (start + ROWS_PER_CHUNK).min(w.products);
    for i in start..end {
        let gender = pick(&mut rng, vocab::PRODUCT_GENDERS);
        let mi = pick_index(&mut rng, vocab::CATEGORIES.iter().map(|c| c.1));
        let (master, _, subs) = vocab::CATEGORIES[mi];
        let (sub, _, articles) = subs[pick_index(&mut rng, subs.iter().map(|s| s.1))];
        let article = pick_one(&mut rng, articles);
        let colour = pick(&mut rng, vocab::COLOURS);
        push_int(out, w.product_id(i));
        for v in [gender, master, sub, article, colour] {
            out.push(b',');
            out.extend_from_slice(v.as_bytes());
        }
        for v in [
            pick(&mut rng, vocab::SEASONS),
            pick(&mut rng, vocab::YEARS),
            pick(&mut rng, vocab::USAGES),
        ] {
            out.push(b',');
            out.extend_from_slice(v.as_bytes());
        }
        out.push(b',');
        name.clear();
        name.extend_from_slice(pick_one(&mut rng, vocab::BRANDS).as_bytes());
        name.push(b' ');
        name.extend_from_slice(gender.as_bytes());
        name.push(b' ');
        match rng.random_range(0..100) {
            0..=2 => {
                name.extend_from_slice(b"Pack of ");
                push_int(name, rng.random_range(2..5u32));
                name.extend_from_slice(b", ");
            }
            3..=4 => {
                name.extend_from_slice(article.as_bytes());
                name.extend_from_slice(b", ");
            }
            _ => {}
        }
        name.extend_from_slice(colour.as_bytes());
        name.push(b' ');
        name.extend_from_slice(article.as_bytes());
        push_field(out, name);
        out.push(b'\n');
    }
}

/// Append transaction rows of one chunk.
pub fn transactions(w: &World, chunk: u64, out: &mut Vec<u8>, scratch: &mut Vec<u8>) {
    let mut rng = rng_for(w.seed, tag::TRANSACTIONS, chunk);
    let start = chunk * ROWS_PER_CHUNK;
    let end = (start + ROWS_PER_CHUNK).min(w.transactions);
    let mut times = Vec::new();
    for t in start..end {
        let s = w.session_of_transaction(t);
        let plan = w.session(s, &mut times);
        let created = times.last().copied().unwrap_or(0);
        push_timestamp_micros(out, created);
        out.push(b',');
        push_int(out, plan.customer);
        out.push(b',');
        push_uuid(out, rng.random(), rng.random());
        out.push(b',');
        let (hi, lo) = w.session_uuid(s);
        push_uuid(out, hi, lo);
        out.push(b',');
        scratch.clear();
        scratch.push(b'[');
        let mut goods = 0u64;
        for (k, item) in plan.items().iter().enumerate() {
            if k > 0 {
                scratch.extend_from_slice(b", ");
            }
            scratch.extend_from_slice(b"{'product_id': ");
            push_int(scratch, item.product_id);
            scratch.extend_from_slice(b", 'quantity': ");
            push_int(scratch, item.quantity);
            scratch.extend_from_slice(b", 'item_price': ");
            push_int(scratch, item.price);
            scratch.push(b'}');
            goods += item.price * item.quantity as u64;
        }
        scratch.push(b']');
        push_field(out, scratch);
        out.push(b',');
        out.extend_from_slice(pick(&mut rng, vocab::PAYMENT_METHODS).as_bytes());
        out.extend_from_slice(if plan.paid { b",Success," } else { b",Failed," });
        let promo = plan.promo.map(|p| p.1).unwrap_or(0);
        push_int(out, promo);
        out.push(b',');
        if let Some((code, _)) = plan.promo {
            out.extend_from_slice(code.as_bytes());
        }
        out.push(b',');
        let fee = pick(
            &mut rng,
            &[(0u64, 25), (10_000, 40), (25_000, 25), (50_000, 10)],
        );
        push_int(out, fee);
        out.push(b',');
        push_timestamp_micros(
            out,
            created
                + rng.random_range(2i64..6) * 86_400_000_000
                + rng.random_range(0..3_600_000_000),
        );
        let (lat, long, _) = location(&mut rng);
        out.push(b',');
        push_fixed(out, lat, 6);
        out.push(b',');
        push_fixed(out, long, 6);
        out.push(b',');
        push_int(out, (goods + fee).saturating_sub(promo));
        out.push(b'\n');
    }
}

/// Append the events of the sessions of one chunk, in session order and time order.
pub fn clicks(w: &World, chunk: u64, out: &mut Vec<u8>, scratch: &mut Vec<u8>) {
    let mut rng = rng_for(w.seed, tag::CLICKS, chunk);
    let start = chunk * SESSIONS_PER_CHUNK;
    let end = (start + SESSIONS_PER_CHUNK).min(w.sessions());
    let mut times = Vec::new();
    for s in start..end {
        let plan = w.session(s, &mut times);
        let n = times.len();
        let booked = w.is_booked(s);
        let (hi, lo) = w.session_uuid(s);
        let items = plan.items();
        // Booked sessions end with the cart, the promo and the booking.
        let tail = if booked {
            let want = items.len() + plan.promo.is_some() as usize + 1;
            want.min(n.saturating_sub(1))
        } else {
            0
        };
        for (k, &t) in times.iter().enumerate() {
            scratch.clear();
            let name: &str = if k == 0 {
                "HOMEPAGE"
            } else if k + tail >= n {
                let pos = k + tail - n; // 0..tail
                if k == n - 1 {
                    scratch.extend_from_slice(b"{'payment_status': '");
                    scratch.extend_from_slice(if plan.paid { b"Success" } else { b"Failed" });
                    scratch.extend_from_slice(b"'}");
                    "BOOKING"
                } else if plan.promo.is_some() && k == n - 2 {
                    if let Some((code, amount)) = plan.promo {
                        scratch.extend_from_slice(b"{'promo_code': '");
                        scratch.extend_from_slice(code.as_bytes());
                        scratch.extend_from_slice(b"', 'promo_amount': ");
                        push_int(scratch, amount);
                        scratch.push(b'}');
                    }
                    "ADD_PROMO"
                } else {
                    let item = items[pos.min(items.len() - 1)];
                    cart_metadata(scratch, item.product_id, item.quantity, item.price);
                    "ADD_TO_CART"
                }
            } else {
                let ev = pick(&mut rng, vocab::FILLER_EVENTS);
                match ev {
                    "SEARCH" => {
                        scratch.extend_from_slice(b"{'search_keywords': '");
                        scratch.extend_from_slice(
                            pick_one(&mut rng, vocab::SEARCH_KEYWORDS).as_bytes(),
                        );
                        scratch.extend_from_slice(b"'}");
                    }
                    "ADD_TO_CART" => {
                        let pid = w.product_id(rng.random_range(0..w.products));
                        cart_metadata(scratch, pid, 1, w.item_price(pid));
                    }
                    _ => {}
                }
                ev
            };
            push_uuid(out, hi, lo);
            out.push(b',');
            out.extend_from_slice(name.as_bytes());
            out.push(b',');
            push_timestamp_micros(out, t);
            out.push(b',');
            push_uuid(out, rng.random(), rng.random());
            out.extend_from_slice(if plan.mobile { b",MOBILE," } else { b",WEB," });
            push_field(out, scratch);
            out.push(b'\n');
        }
    }
}

fn cart_metadata(out: &mut Vec<u8>, product_id: u64, quantity: u32, price: u64) {
    out.extend_from_slice(b"{'product_id': ");
    push_int(out, product_id);
    out.extend_from_slice(b", 'quantity': ");
    push_int(out, quantity);
    out.extend_from_slice(b", 'item_price': ");
    push_int(out, price);
    out.push(b'}');
}
