//! Tests of the generator: determinism, headers, field counts and cross-table references.

use std::collections::BTreeSet;

use super::*;

const SCALE: f64 = 0.0005;

fn read(path: &Path) -> (Vec<String>, Vec<csv::StringRecord>) {
    let mut r = csv::ReaderBuilder::new().from_path(path).unwrap();
    let header = r.headers().unwrap().iter().map(str::to_string).collect();
    let rows = r.records().map(|x| x.unwrap()).collect();
    (header, rows)
}

#[test]
fn same_seed_same_bytes_different_seed_different_bytes() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let c = tempfile::tempdir().unwrap();
    generate(a.path(), SCALE, 42).unwrap();
    generate(b.path(), SCALE, 42).unwrap();
    generate(c.path(), SCALE, 43).unwrap();
    for f in [
        "customer.csv",
        "product.csv",
        "transactions.csv",
        "click_stream.csv",
    ] {
        let x = std::fs::read(a.path().join(f)).unwrap();
        let y = std::fs::read(b.path().join(f)).unwrap();
        let z = std::fs::read(c.path().join(f)).unwrap();
        assert_eq!(x, y, "{f} differs for the same seed");
        assert_ne!(x, z, "{f} is the same for different seeds");
    }
}

#[test]
fn output_does_not_depend_on_thread_count() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    generate(a.path(), SCALE, 5).unwrap();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    pool.install(|| generate(b.path(), SCALE, 5)).unwrap();
    let x = std::fs::read(a.path().join("click_stream.csv")).unwrap();
    let y = std::fs::read(b.path().join("click_stream.csv")).unwrap();
    assert_eq!(x, y);
}

#[test]
fn files_have_the_brief_headers_counts_and_consistent_references() {
    let dir = tempfile::tempdir().unwrap();
    let s = generate(dir.path(), SCALE, 42).unwrap();
    let rows: Vec<u64> = s.files.iter().map(|f| f.rows).collect();
    assert_eq!(rows, vec![50, 22, 425, 6400]);
    let mut parsed = Vec::new();
    for (file, header) in [
        ("customer.csv", CUSTOMER_HEADER),
        ("product.csv", PRODUCT_HEADER),
        ("transactions.csv", TRANSACTIONS_HEADER),
        ("click_stream.csv", CLICK_HEADER),
    ] {
        let (h, recs) = read(&dir.path().join(file));
        assert_eq!(h.join(","), header, "{file}");
        for r in &recs {
            assert_eq!(r.len(), h.len(), "{file}: {r:?}");
        }
        parsed.push(recs);
    }
    let (cust, prod, tx, clicks) = (&parsed[0], &parsed[1], &parsed[2], &parsed[3]);
    assert_eq!(cust.len() as u64, rows[0]);
    assert_eq!(clicks.len() as u64, rows[3]);

    let customer_ids: BTreeSet<&str> = cust.iter().map(|r| &r[0]).collect();
    assert_eq!(customer_ids.len(), cust.len());
    for r in cust {
        assert!(r[5] == *"M" || r[5] == *"F");
        assert!(r[7] == *"Android" || r[7] == *"iOS");
        assert!(r[4].contains('@') && r[4].starts_with(&r[3]), "{r:?}");
        assert_eq!(r[8].len(), 36);
        assert!(r[10].parse::<f64>().is_ok() && r[11].parse::<f64>().is_ok());
        assert_eq!(&r[13], "Indonesia");
    }
    let product_ids: BTreeSet<&str> = prod.iter().map(|r| &r[0]).collect();
    assert_eq!(product_ids.len(), prod.len());

    let mut events_by_session: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    let names = [
        "HOMEPAGE",
        "SCROLL",
        "SEARCH",
        "ADD_TO_CART",
        "ITEM_DETAIL",
        "ADD_PROMO",
        "BOOKING",
        "CLICK",
    ];
    for r in clicks {
        assert!(names.contains(&&r[1]), "{r:?}");
        assert!(r[4] == *"MOBILE" || r[4] == *"WEB");
        assert!(crate::time::parse_timestamp_micros(r[2].as_bytes()).is_some());
        assert_eq!(r[2].len(), 27, "{}", &r[2]);
        assert!(r[5].is_empty() || (r[5].starts_with('{') && r[5].ends_with('}')));
        events_by_session.entry(&r[0]).or_default().push(&r[2]);
    }
    for (sid, times) in &events_by_session {
        assert!(
            times.windows(2).all(|w| w[0] < w[1]),
            "session {sid} not in time order"
        );
    }
    let mut promo_empty = 0;
    for r in tx {
        assert!(customer_ids.contains(&r[1]), "unknown customer {}", &r[1]);
        assert!(
            events_by_session.contains_key(&r[3]),
            "unknown session {}",
            &r[3]
        );
        assert!(
            r[4].starts_with("[{'product_id': ") && r[4].ends_with("}]"),
            "{}",
            &r[4]
        );
        for part in r[4].split("'product_id': ").skip(1) {
            let id = part.split(',').next().unwrap();
            assert!(product_ids.contains(id), "unknown product {id}");
        }
        assert!(["Debit Card", "Credit Card", "OVO", "Gopay", "LinkAja"].contains(&&r[5]));
        assert!(r[6] == *"Success" || r[6] == *"Failed");
        promo_empty += r[8].is_empty() as usize;
        assert!(r[13].parse::<u64>().is_ok());
    }
    assert!(
        promo_empty > tx.len() / 3,
        "promo_code should often be empty"
    );
    // product_metadata is quoted in the file because it holds commas.
    let raw = std::fs::read_to_string(dir.path().join("transactions.csv")).unwrap();
    assert!(raw.contains(",\"[{'product_id': "));
}
