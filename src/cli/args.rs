//! What several commands share: the data and device flags, Ctrl-C, and parsing of the
//! library's named values.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{Result, bail};
use clap::Args;

use crate::config::Preset;
use crate::config::layers::{DataFlags, RunFlags};
use crate::device::{self, DeviceChoice, SelectedDevice};
use crate::job::Control;
use crate::space::SpaceId;

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

/// The data and size flags a search and a retraining share; empty ones take the preset's (or
/// the `--config` file's) value.
#[derive(Args, Debug, Clone, Default)]
pub struct RunArgs {
    #[command(flatten)]
    pub source: DataArgs,
    /// Use only the first N training images.
    #[arg(long)]
    pub train_images: Option<usize>,
    /// Epochs (a search's SGAS decision schedule is scaled to them).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Seed of the initialisation, the data order and every random choice.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Images per step.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Initial channels C.
    #[arg(long)]
    pub channels: Option<usize>,
    /// Cells L (DARTS family) or cells per stage N (NB201).
    #[arg(long)]
    pub layers: Option<usize>,
    /// Write a metrics line every N steps as well as every epoch.
    #[arg(long)]
    pub log_every: Option<usize>,
}

impl RunArgs {
    /// The flags given on the command line, as typed (`--epochs`, ...).
    pub fn given(&self) -> Vec<&'static str> {
        [
            ("--data", self.source.data.is_some()),
            ("--dataset", self.source.dataset.is_some()),
            ("--train-images", self.train_images.is_some()),
            ("--epochs", self.epochs.is_some()),
            ("--seed", self.seed.is_some()),
            ("--batch-size", self.batch_size.is_some()),
            ("--channels", self.channels.is_some()),
            ("--layers", self.layers.is_some()),
            ("--log-every", self.log_every.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, given)| given.then_some(name))
        .collect()
    }

    /// Refuses settings given with `--resume`: a run continues with the settings it was
    /// started with, and a flag ignored silently would leave the user believing otherwise.
    /// `new_run` is the command that starts a new run from the old one's settings.
    pub fn refuse_on_resume(&self, dir: &Path, new_run: &str) -> Result<()> {
        let given = self.given();
        if given.is_empty() {
            return Ok(());
        }
        bail!(
            "{} cannot change a resumed run: {} continues with the settings in its config.toml \
             (the learning-rate schedule is a cosine over the epochs the run was started with, \
             so more epochs would change the ones already trained). To train longer or \
             differently, start a new run from those settings: {new_run}",
            given.join(", "),
            dir.display(),
        )
    }

    /// These flags with the command's space, preset and device.
    pub fn flags(
        &self,
        space: Option<SpaceId>,
        preset: Option<Preset>,
        device: &DeviceArgs,
    ) -> RunFlags {
        RunFlags {
            space,
            preset,
            data: self.source.flags(self.train_images),
            epochs: self.epochs,
            seed: self.seed,
            batch_size: self.batch_size,
            channels: self.channels,
            layers: self.layers,
            log_every: self.log_every,
            // `auto` is the flag's default: it does not replace a device the file names.
            device: (device.device != DeviceChoice::Auto).then(|| device.device.clone()),
        }
    }
}

/// `--device`, shared by every command that computes.
#[derive(Args, Debug, Clone)]
pub struct DeviceArgs {
    /// Where to compute: auto (a real GPU if present, else CPU), cpu (flex backend), wgpu /
    /// vulkan / metal / dx12 (burn's wgpu backend; runs on software adapters too), or
    /// remote:ws://HOST:PORT (the device a `darts-pt serve` process offers; builds with the
    /// `remote` feature).
    #[arg(long, default_value = "auto", value_parser = parse::<DeviceChoice>)]
    pub device: DeviceChoice,
    /// A file holding a remote server's token (the one `darts-pt serve` printed, or the file it
    /// was started with); else DARTS_PT_TOKEN_FILE, else DARTS_PT_TOKEN.
    #[arg(long)]
    pub token_file: Option<PathBuf>,
}

impl DeviceArgs {
    /// Resolves the device and says which one was chosen (on stderr, so `--json` stays clean).
    pub fn select(&self) -> Result<SelectedDevice> {
        self.select_choice(&self.device)
    }

    /// The device to continue a run on: the one given, or the run's own when `auto`.
    pub fn select_or(&self, recorded: DeviceChoice) -> Result<SelectedDevice> {
        self.select_choice(&match self.device {
            DeviceChoice::Auto => recorded,
            ref d => d.clone(),
        })
    }

    /// Any device, with this command's token for a remote one.
    pub fn select_choice(&self, choice: &DeviceChoice) -> Result<SelectedDevice> {
        let d = device::select_with(choice, self.token_file.as_deref())?;
        eprintln!("device: {}", d.description);
        Ok(d)
    }
}

/// After a device stopped answering mid-job (a remote server gone): the run keeps its last
/// checkpoint, and `resume` is the command that continues it, on any device.
pub fn on_device_lost(e: anyhow::Error, device: &SelectedDevice, resume: &str) -> anyhow::Error {
    if_device_lost(e, || {
        format!(
            "lost {}; the run keeps its last checkpoint: continue it on any device with `{resume}`",
            device.description
        )
    })
}

/// `e` with `advice` in front when a device stopped answering; any other error as it is.
pub fn if_device_lost(e: anyhow::Error, advice: impl FnOnce() -> String) -> anyhow::Error {
    if e.is::<crate::job::read::DeviceLost>() {
        e.context(advice())
    } else {
        e
    }
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
