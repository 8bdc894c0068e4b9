//! Integration tests of darts-pt: one test binary (each binary links all of burn), with a
//! module per area.

mod cli;
mod common;
mod experiment;
mod fuzz;
mod interop;
mod layering;
mod networks;
mod pt;
mod remote;
mod search;
mod selection;
mod studio;
mod train;
mod web;
mod wgpu_backend;
mod wgpu_parity;
