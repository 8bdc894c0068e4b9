//! What a page around the studio offers that a desktop window does not need: choosing files on
//! the user's machine (a run as a zip or a folder, the NAS-Bench-201 table) and saving a run as
//! a download. The desktop opens runs by path and has no host; the web build brings one, and
//! hands what the user chose back to the app ([`crate::studio::StudioApp::open`],
//! [`crate::studio::StudioApp::set_table`]).

use std::path::Path;

/// A file the user is asked to choose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Upload {
    /// A run directory packed as a zip.
    RunZip,
    /// A run directory, chosen as a folder.
    RunFolder,
    /// NAS-Bench-201's table as CSV.
    Table,
}

pub trait Host: Send + Sync + std::fmt::Debug {
    /// Opens the chooser for `what`; what is chosen arrives later, through the host's owner.
    fn choose(&self, what: Upload);
    /// Offers the run at `dir` as a zip download.
    fn download(&self, dir: &Path) -> Result<(), String>;
}
