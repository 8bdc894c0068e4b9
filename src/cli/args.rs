//! What several commands share: the data and device flags, Ctrl-C, and parsing of the
//! library's named values.

use std::path::PathBuf;
use std::str::FromStr;

use anyhow::Result;
use clap::Args;

use crate::config::layers::DataFlags;
use crate::device::{self, DeviceChoice, SelectedDevice};
use crate::job::Control;

/// Parses any value whose `FromStr` error is a message (spaces, methods, presets, ...).
pub fn parse<T: FromStr<Err = String>>(s: &str) -> Result<T, String> {
    s.parse()
}

/// `--data` and `--dataset`, shared by the commands that train.
#[derive(Args, Debug, Clone, Default)]
pub struct DataArgs {
    /// Dataset directory or file (CIFAR-10/100 binary or Python, IDX, image folder); the
    /// bundled Fashion-MNIST subset when absent. Training and experiments need a test split.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Force the dataset format: cifar10, cifar100, fashion-mnist, mnist, folder.
    #[arg(long)]
    pub dataset: Option<String>,
}

impl DataArgs {
    /// The data flags, with `--train-images` when the command has it.
    pub fn flags(&self, train_images: Option<usize>) -> DataFlags {
        DataFlags {
            path: self.data.clone(),
            dataset: self.dataset.clone(),
            train_images,
        }
    }
}

/// `--device`, shared by every command that computes.
#[derive(Args, Debug, Clone)]
pub struct DeviceArgs {
    /// Where to compute: auto (a real GPU if present, else CPU), cpu (flex backend), or wgpu /
    /// vulkan / metal / dx12 (burn's wgpu backend; runs on software adapters too).
    #[arg(long, default_value = "auto", value_parser = parse::<DeviceChoice>)]
    pub device: DeviceChoice,
}

impl DeviceArgs {
    /// Resolves the device and says which one was chosen (on stderr, so `--json` stays clean).
    pub fn select(&self) -> Result<SelectedDevice> {
        select(self.device)
    }

    /// The device to continue a run on: the one given, or the run's own when `auto`.
    pub fn select_or(&self, recorded: DeviceChoice) -> Result<SelectedDevice> {
        select(match self.device {
            DeviceChoice::Auto => recorded,
            d => d,
        })
    }
}

fn select(choice: DeviceChoice) -> Result<SelectedDevice> {
    let d = device::select(choice)?;
    eprintln!("device: {}", d.description);
    Ok(d)
}

/// A Control whose cancel flag Ctrl-C sets: the job saves a checkpoint at its next step.
pub fn ctrl_c_control() -> Control {
    let control = Control::new();
    let flag = control.cancel_flag();
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, std::sync::atomic::Ordering::SeqCst) {
            // A second Ctrl-C while the checkpoint is written: leave at once.
            std::process::exit(130);
        }
        eprintln!("\ninterrupt: saving a checkpoint at the next step (Ctrl-C again to abort)");
    });
    control
}

/// Exit status of an interrupted job (as for SIGINT).
pub const INTERRUPTED: i32 = 130;
