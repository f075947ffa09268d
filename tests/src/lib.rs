//! Helpers for end-to-end tests: locate the built `strata` binary, start servers on free ports.
