//! The run directory: the one record of a job that the CLI writes and the studio reads, and
//! this module its only owner. [`dir`] names every file and writes them; [`records`],
//! [`selection`] and [`events`] are the types the files hold; [`reader`] is the one reader,
//! over [`files::Files`] so that every front end reads runs the same way.

pub mod archive;
pub mod dir;
pub mod events;
pub mod files;
pub mod reader;
pub mod records;
pub mod selection;

pub use dir::RunDir;
pub use events::{Decision, RunEvent, Started};
pub use files::{DirEntry, Files, LocalFiles};
pub use reader::{FileError, RunReader, RunRecord, parse_jsonl};
pub use records::{
    AlphaRecord, FORMAT, MetricsKind, MetricsRecord, RunKind, RunState, RunStatus, TrainRecord,
    TrainResult,
};
pub use selection::{
    EdgeChoice, OpDecision, SelectionRecord, SgasDecision, SgasPtScores, TopologyDecision,
    TopologyRound,
};
