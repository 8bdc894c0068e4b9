use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = darts_pt::cli::Cli::parse();
    match darts_pt::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
