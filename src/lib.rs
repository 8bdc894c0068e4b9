//! darts-pt: differentiable architecture search (DARTS and its variants) with
//! perturbation-based architecture selection (PT), on burn's CPU and wgpu backends.
//!
//! The crate reads like the paper. [`space`] and [`genotype`] say what an architecture is;
//! [`nn`] holds the operations, supernets and discrete networks, with fast CPU [`kernels`];
//! [`config`] holds every setting and preset. [`search`], [`select`] and [`train`] are jobs
//! built on [`job`] (stepped, resumable, reporting events) that record everything in a
//! [`run`] directory. The CLI ([`cli`]) and the studio ([`studio`]) are thin front ends over
//! the same jobs and the same run reader; nothing below them knows they exist. [`fuzz`]
//! drives every parser of outside input from raw bytes.

#[cfg(not(target_arch = "wasm32"))]
pub mod bench;
pub mod checkpoint;
#[cfg(not(target_arch = "wasm32"))]
pub mod cli;
pub mod config;
pub mod data;
pub mod demo;
pub mod device;
pub mod device_stats;
#[cfg(not(target_arch = "wasm32"))]
pub mod experiment;
#[cfg(not(target_arch = "wasm32"))]
pub mod fuzz;
pub mod genotype;
pub mod inspect;
pub mod interop;
pub mod job;
pub mod kernels;
pub mod lookup;
pub mod nn;
pub mod optim;
pub mod progress;
#[cfg(feature = "remote")]
pub mod remote;
pub mod report;
pub mod run;
pub mod search;
pub mod select;
pub mod space;
pub mod storage;
pub mod studio;
pub mod train;
#[cfg(target_arch = "wasm32")]
pub mod web;

#[cfg(all(feature = "remote", target_arch = "wasm32"))]
compile_error!("the `remote` feature is for native builds: a page cannot reach a remote device");
