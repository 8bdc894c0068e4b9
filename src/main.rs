//! The `darts-pt` command line; in a browser, the studio page (see `web/`).

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    use clap::Parser;
    darts_pt::kernels::keep_freed_memory();
    let cli = darts_pt::cli::Cli::parse();
    match darts_pt::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(target_arch = "wasm32")]
fn main() {
    darts_pt::web::start();
}
