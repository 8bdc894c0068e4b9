//! Integration tests of darts-pt: one test binary (each binary links all of burn), with a
//! module per area.

mod common;
mod networks;
mod selection;
mod wgpu_backend;
