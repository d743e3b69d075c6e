//! Tests on real control planes: one binary, so the shared fleet starts once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e {
    pub mod controlplane;
    pub mod crds;
    pub mod support;
    pub mod upstream;
}
