//! The brief's four tables, written out from the brief for tests that check loads against it.
//!
//! It must never be derived from the loader's mappings (a wrong mapping must fail a test).

/// The brief's table layout, written from the brief (not from the loader's mapping, so a
/// wrong mapping fails the tests that use it): (table, CSV file, row key columns joined by `#`,
/// [(family, [qualifiers])]).
pub type Layout = (
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static [(&'static str, &'static [&'static str])],
);

pub const LAYOUTS: [Layout; 4] = [
    (
        "customers",
        "customer.csv",
        &["customer_id"],
        &[
            (
                "personal_info",
                &[
                    "first_name",
                    "last_name",
                    "username",
                    "email",
                    "gender",
                    "birthdate",
                ],
            ),
            (
                "device_info",
                &["device_type", "device_id", "device_version"],
            ),
            (
                "location_info",
                &[
                    "home_location_lat",
                    "home_location_long",
                    "home_location",
                    "home_country",
                ],
            ),
            ("join_info", &["first_join_date"]),
        ],
    ),
    (
        "product",
        "product.csv",
        &["id"],
        &[
            ("product_info", &["productDisplayName"]),
            (
                "product_details",
                &[
                    "gender",
                    "masterCategory",
                    "subCategory",
                    "articleType",
                    "baseColour",
                ],
            ),
            ("metadata", &["season", "year", "usage"]),
        ],
    ),
    (
        "transactions",
        "transactions.csv",
        &["booking_id"],
        &[
            (
                "transaction_details",
                &[
                    "created_at",
                    "customer_id",
                    "session_id",
                    "product_metadata",
                ],
            ),
            (
                "payment_info",
                &[
                    "payment_method",
                    "payment_status",
                    "promo_amount",
                    "promo_code",
                ],
            ),
            (
                "shipment_info",
                &[
                    "shipment_fee",
                    "shipment_date_limit",
                    "shipment_location_lat",
                    "shipment_location_long",
                ],
            ),
            ("transaction_summary", &["total_amount"]),
        ],
    ),
    (
        "clickstream",
        "click_stream.csv",
        &["session_id", "event_time", "event_id"],
        &[
            (
                "event_details",
                &["event_name", "event_time", "event_id", "session_id"],
            ),
            ("traffic_info", &["traffic_source"]),
            ("metadata", &["event_metadata"]),
        ],
    ),
];
