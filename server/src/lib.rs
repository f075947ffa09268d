//! The Strata gRPC server library.
