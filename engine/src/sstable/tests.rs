//! SSTable tests.
