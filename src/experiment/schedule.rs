//! The experiment's units of work and their spread over devices.
//!
//! A unit is what one device does without handing over: a search with the selections made
//! from it (they read and write the same run directory, so they never run side by side), or
//! one retraining, which needs its selection to be finished. Each device has a worker thread
//! that takes the first unit whose inputs are ready; the units are listed searches first, so
//! the long phases start early. With one device this is the plain sequence.

use std::sync::{Condvar, Mutex};

use anyhow::{Result, anyhow};

use super::{Arm, Searcher};
use crate::device::SelectedDevice;
use crate::job::Control;

/// One unit of work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// The search of one supernet and every selection made from it.
    Search { seed: u64, searcher: Searcher },
    /// The retraining of one arm's cell.
    Train { seed: u64, arm: Arm },
}

impl Unit {
    /// The unit that must be finished before this one starts.
    fn needs(self) -> Option<Unit> {
        match self {
            Unit::Search { .. } => None,
            Unit::Train { seed, arm } => Some(Unit::Search {
                seed,
                searcher: arm.searcher(),
            }),
        }
    }
}

/// Every unit of the experiment with these arms: the searches of all seeds (each supernet
/// once), then the retrainings.
pub fn units(seeds: &[u64], arms: &[Arm]) -> Vec<Unit> {
    let mut searchers: Vec<Searcher> = arms.iter().map(|a| a.searcher()).collect();
    searchers.sort_unstable();
    searchers.dedup();
    let searches = seeds.iter().flat_map(|&seed| {
        searchers
            .iter()
            .map(move |&searcher| Unit::Search { seed, searcher })
    });
    let trains = seeds
        .iter()
        .flat_map(|&seed| arms.iter().map(move |&arm| Unit::Train { seed, arm }));
    searches.chain(trains).collect()
}

/// What the workers share.
#[derive(Default)]
struct Board {
    pending: Vec<Unit>,
    done: Vec<Unit>,
    running: usize,
    /// A unit was interrupted or failed: start nothing more.
    stop: bool,
    errors: Vec<anyhow::Error>,
}

impl Board {
    /// The next unit whose input is finished.
    fn ready(&mut self) -> Option<Unit> {
        let i = self
            .pending
            .iter()
            .position(|u| u.needs().is_none_or(|n| self.done.contains(&n)))?;
        Some(self.pending.remove(i))
    }
}

/// Runs `units` on `devices`, one at a time per device, with `run` (which returns false when
/// its unit was interrupted). Returns whether every unit finished. The first error stops the
/// other devices at their next step (each keeps its checkpoint, so re-running continues) and
/// is returned once they have stopped.
pub fn run<F>(units: &[Unit], devices: &[SelectedDevice], control: &Control, run: F) -> Result<bool>
where
    F: Fn(Unit, &SelectedDevice) -> Result<bool> + Sync,
{
    let board = Mutex::new(Board {
        pending: units.to_vec(),
        ..Board::default()
    });
    let changed = Condvar::new();
    let lock = || board.lock().unwrap_or_else(|p| p.into_inner());
    std::thread::scope(|scope| {
        for device in devices {
            let (run, lock, changed) = (&run, &lock, &changed);
            scope.spawn(move || {
                loop {
                    let unit = {
                        let mut b = lock();
                        loop {
                            if b.stop || b.pending.is_empty() {
                                break None;
                            }
                            if let Some(u) = b.ready() {
                                b.running += 1;
                                break Some(u);
                            }
                            if b.running == 0 {
                                // Nothing runs that could make a unit ready.
                                b.stop = true;
                                let stuck = anyhow!("units wait on each other: {:?}", b.pending);
                                b.errors.push(stuck);
                                break None;
                            }
                            b = changed.wait(b).unwrap_or_else(|p| p.into_inner());
                        }
                    };
                    let Some(unit) = unit else {
                        changed.notify_all();
                        return;
                    };
                    let outcome = run(unit, device);
                    let mut b = lock();
                    b.running -= 1;
                    match outcome {
                        Ok(true) => b.done.push(unit),
                        Ok(false) => b.stop = true,
                        Err(e) => {
                            b.stop = true;
                            b.errors.push(e);
                            control.cancel();
                        }
                    }
                    drop(b);
                    changed.notify_all();
                }
            });
        }
    });
    let mut b = board.into_inner().unwrap_or_else(|p| p.into_inner());
    if !b.errors.is_empty() {
        return Err(b.errors.remove(0));
    }
    Ok(b.pending.is_empty() && b.done.len() == units.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Method;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn cpu(n: usize) -> Vec<SelectedDevice> {
        (0..n)
            .map(|i| SelectedDevice {
                device: crate::device::Device::flex(),
                description: format!("worker {i}"),
                is_gpu: false,
            })
            .collect()
    }

    /// The default comparison: DARTS and fixed alpha.
    fn default_arms() -> Vec<Arm> {
        Arm::of(&[Method::Darts, Method::FixedAlpha])
    }

    #[test]
    fn every_method_brings_its_supernets_and_arms() {
        assert_eq!(units(&[0, 1], &default_arms()).len(), 2 * (2 + 3));
        let all = units(&[0], &Arm::of(&crate::experiment::METHODS));
        let searches: Vec<Searcher> = all
            .iter()
            .filter_map(|u| match u {
                Unit::Search { searcher, .. } => Some(*searcher),
                Unit::Train { .. } => None,
            })
            .collect();
        assert_eq!(searches, Searcher::ALL, "SGAS brings SGAS+PT's search too");
        assert_eq!(all.len(), 5 + 7);
    }

    #[test]
    fn every_unit_runs_once_after_its_search() {
        let units = units(&[0, 1], &default_arms());
        assert_eq!(units.len(), 10);
        let order = Mutex::new(Vec::new());
        let busy = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        let ok = run(&units, &cpu(3), &Control::new(), |u, _| {
            let now = busy.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(20));
            order.lock().unwrap().push(u);
            busy.fetch_sub(1, Ordering::SeqCst);
            Ok(true)
        })
        .unwrap();
        assert!(ok);
        let order = order.into_inner().unwrap();
        assert_eq!(order.len(), units.len());
        for (i, u) in order.iter().enumerate() {
            assert_eq!(order.iter().filter(|v| *v == u).count(), 1);
            if let Some(n) = u.needs() {
                let j = order.iter().position(|v| *v == n).unwrap();
                assert!(j < i, "{u:?} ran before {n:?}");
            }
        }
        // Three devices, four searches ready at the start: they ran side by side.
        assert_eq!(most.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn an_error_stops_the_other_devices_and_is_returned() {
        let units = units(&[0], &default_arms());
        let control = Control::new();
        let err = run(&units, &cpu(2), &control, |u, _| match u {
            Unit::Search {
                searcher: Searcher::FixedAlpha,
                ..
            } => Err(anyhow!("device lost")),
            _ => Ok(true),
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "device lost");
        assert!(control.is_cancelled());
    }

    #[test]
    fn an_interrupted_unit_ends_the_run_unfinished() {
        let units = units(&[0], &default_arms());
        let ran = AtomicUsize::new(0);
        let ok = run(&units, &cpu(1), &Control::new(), |_, _| {
            ran.fetch_add(1, Ordering::SeqCst);
            Ok(false)
        })
        .unwrap();
        assert!(!ok);
        assert_eq!(ran.load(Ordering::SeqCst), 1);
    }
}
