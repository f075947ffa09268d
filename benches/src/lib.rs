//! Shared helpers for the criterion benchmarks (data generation, temp stores).
