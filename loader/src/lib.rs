//! CSV generation and bulk loading for Strata.
