//! The `gauntlet` binary: parse, call the library, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;
use gauntlet::cli::{Cli, Command};
use gauntlet::exit;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let env = |name: &str| std::env::var(name).ok();
    let result = match cli.command {
        Command::Mock(args) => gauntlet::mock::run(
            args,
            env,
            gauntlet::signal::shutdown_signal(),
            &mut std::io::stdout(),
        )
        .await
        .map(|_| exit::PASS),
        Command::Handler(args) => gauntlet::handler::cli::run(
            args,
            env,
            gauntlet::signal::shutdown_signal(),
            &mut std::io::stdout(),
        )
        .await
        .map(|_| exit::PASS),
        Command::Compare(args) => {
            gauntlet::compare::run(&args, &mut std::io::stdout()).map(exit::of_verdict)
        }
        Command::Schema => {
            use std::io::Write;
            std::io::stdout()
                .write_all(gauntlet::report::schema().as_bytes())
                .map(|_| exit::PASS)
                .map_err(Into::into)
        }
        Command::Smoke(args) => gauntlet::smoke::run(args, env, &mut std::io::stdout()).await,
        Command::Calibrate(args) => {
            let interrupts = gauntlet::signal::Interrupts::install();
            match std::env::current_exe() {
                Ok(exe) => {
                    gauntlet::calibrate::run(args, &exe, &interrupts, &mut std::io::stdout())
                        .await
                        .map(|_| exit::PASS)
                }
                Err(e) => Err(e.into()),
            }
        }
        Command::Merge(args) => gauntlet::merge::run(args, env, &mut std::io::stdout())
            .await
            .map(|o| exit::of_verdict(o.verdict.pass)),
        Command::Run(args) => {
            let interrupts = gauntlet::signal::Interrupts::install();
            gauntlet::run::run_with(args, env, &interrupts, &mut std::io::stdout())
                .await
                .map(|o| match o.summary.canceled {
                    // Interrupted: the report is written and marked partial.
                    true => exit::INTERRUPTED,
                    false => exit::of_verdict(o.verdict.pass),
                })
        }
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(exit::code_of(&e))
        }
    }
}
