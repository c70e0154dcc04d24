//! `caltech-anomaly`: headless access to every step of the study.

mod cli;

use std::process::ExitCode;

use caltech_anomaly::Result;
use caltech_anomaly::data::resolve_data_dir;
use clap::Parser;

use crate::cli::{
    BenchCommand, Cli, Command, Failed, error_report, run_bench_features, run_bench_precision,
    run_bench_prepare, run_bench_train, run_compare, run_diff, run_download, run_pages,
    run_prepare, run_refine, run_reproduce, run_score_images, run_score_unseen, run_train,
};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let failed = Failed::of(&cli.command);
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{}", error_report(failed, &e));
            ExitCode::FAILURE
        }
    }
}

/// Runs the command: its exit status is success but for `diff`'s
/// differences and the pages `pages --check` finds drifted.
fn run(cli: Cli) -> Result<ExitCode> {
    let data_dir = resolve_data_dir(cli.data_dir.as_deref());
    let done = match cli.command {
        Command::Diff(args) => return run_diff(args),
        Command::Pages(args) => return run_pages(args),
        Command::Download(args) => run_download(data_dir, args),
        Command::Prepare(args) => run_prepare(data_dir, args),
        Command::Train(args) => run_train(data_dir, args),
        Command::Reproduce(args) => run_reproduce(args.into_config(data_dir)),
        Command::Refine(args) => run_refine(args.into_config(data_dir)),
        Command::Compare { runs, seed } => run_compare(&runs, seed),
        Command::Score(args) if args.unseen => run_score_unseen(data_dir, args),
        Command::Score(args) => run_score_images(args),
        Command::Bench(BenchCommand::Train(args)) => run_bench_train(args),
        Command::Bench(BenchCommand::Precision(args)) => run_bench_precision(data_dir, args),
        Command::Bench(BenchCommand::Features(args)) => run_bench_features(args),
        Command::Bench(BenchCommand::Prepare {
            size,
            no_peer,
            python,
        }) => run_bench_prepare(data_dir, size, no_peer, python),
    };
    done.map(|()| ExitCode::SUCCESS)
}
