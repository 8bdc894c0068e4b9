//! darts-pt: differentiable architecture search (DARTS and its variants) with
//! perturbation-based architecture selection (PT), on burn's CPU and wgpu backends.
//!
//! The crate reads like the paper: [`space`] and [`genotype`] are plain data, [`nn`] holds the
//! operations, supernets and discrete networks, [`search`] trains supernets, and the CLI and
//! the studio are thin front ends over these jobs, which report progress as [`job::Event`]s
//! and record everything in a [`run::RunDir`].

pub mod bench;
pub mod checkpoint;
pub mod cli;
pub mod config;
pub mod data;
pub mod demo;
pub mod device;
pub mod experiment;
pub mod genotype;
pub mod inspect;
pub mod job;
pub mod kernels;
pub mod lookup;
pub mod nn;
pub mod optim;
pub mod progress;
pub mod report;
pub mod run;
pub mod search;
pub mod select;
pub mod space;
pub mod studio;
pub mod train;
