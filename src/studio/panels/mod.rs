//! The studio's panels, one file each. A panel is its own state (what it remembers between
//! frames) and a `ui` function that draws it from what the app lends it and returns the
//! actions the app must take (open a run, start a job, change the compute device); panels with
//! nothing to ask return nothing. Workers that belong to one panel (the perturbation scorer, the
//! device check) are started by that panel through [`super::jobs::spawn_worker`].

pub mod cell;
pub mod curves;
pub mod device;
pub mod perturb;
pub mod runs;
pub mod selection;
mod sgas_pt;
