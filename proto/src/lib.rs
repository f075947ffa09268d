//! The generated strata.v1 gRPC contract.
