use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    darts_pt::kernels::keep_freed_memory();
    let cli = darts_pt::cli::Cli::parse();
    match darts_pt::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
