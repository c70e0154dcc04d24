//! `download`, `prepare`, `train`, `refine`, `compare`, `reproduce`,
//! `diff` and `pages`.

use std::path::PathBuf;
use std::process::ExitCode;

use caltech_anomaly::analysis::RunKind;
use caltech_anomaly::analysis::{
    Bootstrap, ComparisonTable, UnseenComparisonTable, compare_runs, compare_unseen,
    comparison_table, refinement, same_images, seeds_table,
};
use caltech_anomaly::data::download::{self, DownloadConfig, DownloadOutcome};
use caltech_anomaly::data::{
    PoolSize, PrepareConfig, PreprocessConfig, SplitConfig, describe_skipped, prepare,
};
use caltech_anomaly::figures::plot;
use caltech_anomaly::scoring::{REPORT_PERCENTILE, has_current_unseen_scores};
use caltech_anomaly::study::{
    ReproduceConfig, RunSpec, Study, Tolerance, Tolerances, compare_results, drifted_pages,
    reproduce, run as run_training, with_seed_spread, write_pages,
};
use caltech_anomaly::{Error, Result};

use crate::cli::{DiffArgs, DownloadArgs, PagesArgs, PrepareArgs, TrainArgs};

pub(crate) fn run_download(data_dir: PathBuf, args: DownloadArgs) -> Result<()> {
    let config = DownloadConfig {
        url: args.url,
        md5: args.md5,
        ..DownloadConfig::default()
    };
    match download::download_dataset(&data_dir, &config)? {
        DownloadOutcome::AlreadyPresent => {
            println!("Caltech-101 is already at {}", data_dir.display())
        }
        DownloadOutcome::Downloaded { .. } => {
            println!("Caltech-101 extracted to {}", data_dir.display())
        }
    }
    Ok(())
}

pub(crate) fn run_reproduce(config: ReproduceConfig) -> Result<()> {
    let outcome = reproduce(config)?;
    let m = &outcome.metrics.baseline;
    println!(
        "{}: mean test error {:.5}, AUROC {:.3} [{:.3}, {:.3}], AUPRC {:.3}",
        m.model, m.mean_test_error, m.auroc.estimate, m.auroc.low, m.auroc.high, m.auprc.estimate
    );
    print!("{}", ComparisonTable(&outcome.metrics.refinement));
    println!("files:");
    for file in &outcome.files {
        println!("  {}", file.display());
    }
    println!("metrics: {}", outcome.metrics_path.display());
    println!("report:  {}", outcome.report_md.display());
    println!("         {}", outcome.report_html.display());
    Ok(())
}

/// Section 8 alone: the models on one split for each seed, their tables
/// and figures.
pub(crate) fn run_refine(config: ReproduceConfig) -> Result<()> {
    config.check()?;
    let study = Study::open(config.study.clone())?;
    let size = study.profile.settings().image_size;
    let prepared = study.prepare(config.split(study.profile), size)?;
    let configs = config.training_configs(study.profile);
    let seeds = config.training_seeds(study.profile);
    let runs = study.train_seeds(&prepared, &configs, &seeds)?;
    let refined = refinement(&runs, config.percentile, config.bootstrap)?;
    study.table("comparison", comparison_table(&refined.rows)?)?;
    print!("{}", ComparisonTable(&refined.rows));
    if seeds.len() > 1 {
        study.table("comparison_seeds", seeds_table(&refined.over_seeds)?)?;
        println!("over {} seeds (mean ± std):", seeds.len());
        for s in &refined.over_seeds {
            println!(
                "  {:<10} error {:.5} ± {:.5}, AUROC {:.3} ± {:.3}, AUPRC {:.3} ± {:.3}",
                s.model,
                s.mean_test_error.mean,
                s.mean_test_error.std,
                s.auroc.mean,
                s.auroc.std,
                s.auprc.mean,
                s.auprc.std
            );
        }
    }
    let device = &study.device.device;
    let (chosen, maps) = same_images(&runs[0], &prepared, 6, device)?;
    let stem = study.figure("refinement_reconstructions");
    for figure in [
        plot::same_images(&prepared, &runs[0], &chosen, &maps, &stem)?,
        plot::error_bars(&refined, &study.figure("refinement_error"))?,
        plot::auroc_bars(&refined, &study.figure("refinement_auroc"))?,
    ] {
        println!("figure: {}", figure.png.display());
    }
    println!("tables: {}", study.table_path("comparison").display());
    Ok(())
}

pub(crate) fn run_compare(runs: &[PathBuf], seed: u64) -> Result<()> {
    for run in runs {
        let kind = RunKind::of(run)?;
        if kind == RunKind::Autoencoder {
            continue;
        }
        return Err(Error::InvalidParameter(format!(
            "compare compares autoencoder runs (`train`'s, or reproduce's runs/<model>-*); {} is \
             {} run (reproduce's section 9 compares it)",
            run.display(),
            kind.described()
        )));
    }
    let bootstrap = Bootstrap {
        seed,
        ..Bootstrap::default()
    };
    print!(
        "{}",
        ComparisonTable(&compare_runs(runs, REPORT_PERCENTILE, bootstrap)?)
    );
    if runs.iter().all(|r| has_current_unseen_scores(r)) {
        println!("\nOn every image outside the pool (`score --unseen`):\n");
        print!(
            "{}",
            UnseenComparisonTable(&compare_unseen(runs, bootstrap)?)
        );
    } else {
        println!(
            "\n(`score --run RUN --unseen` for each run adds the comparison on every unseen image)"
        );
    }
    Ok(())
}

/// `diff`: a results folder beside a published one; the exit status is
/// 1 when anything differs beyond tolerance.
pub(crate) fn run_diff(args: DiffArgs) -> Result<ExitCode> {
    let tolerances = Tolerances::from(Tolerance::new(args.absolute, args.relative)?);
    let tolerances = match args.no_seed_spread {
        true => tolerances,
        false => with_seed_spread(&args.published, tolerances)?.0,
    };
    let diff = compare_results(&args.run, &args.published, &tolerances)?;
    print!("{}", diff.report());
    if let Some(out) = &args.out {
        println!("report: {}", diff.write_report(out)?.display());
    }
    Ok(if diff.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub(crate) fn run_prepare(data_dir: PathBuf, args: PrepareArgs) -> Result<()> {
    let config = PrepareConfig {
        data_dir,
        run_dir: args.out,
        split: SplitConfig {
            seed: args.seed,
            pool: if args.all_images {
                PoolSize::All
            } else {
                PoolSize::PerClass(args.per_class)
            },
            held_out: args.held_out,
            ..SplitConfig::default()
        },
        preprocess: PreprocessConfig {
            size: args.size,
            cache_dir: args.cache_dir,
            skip_bad: args.skip_bad,
            max_side: args.max_side,
            show_progress: true,
            resize: args.resize,
        },
        download: !args.no_download,
    };
    let prepared = prepare(&config)?;
    for class in &prepared.skipped_classes {
        eprintln!("warning: skipped empty class folder {}", class.display());
    }
    for image in &prepared.skipped_images {
        eprintln!("warning: skipped {}: {}", image.path, image.reason);
    }
    if !prepared.skipped_files.is_empty() {
        let files = describe_skipped(&prepared.skipped_files);
        eprintln!("note: the dataset scan passed over {files}");
    }
    let skipped = prepared.skipped_images.len() + prepared.skipped_classes.len();
    if skipped > 0 {
        eprintln!(
            "warning: {} bad images and {} empty classes skipped",
            prepared.skipped_images.len(),
            prepared.skipped_classes.len()
        );
    }
    println!("{}", prepared.summary());
    println!(
        "{} images at {s}x{s}: cache {} ({})",
        prepared.cache.len(),
        prepared.cache.path().display(),
        if prepared.reused_cache {
            "reused"
        } else {
            "built"
        },
        s = prepared.cache.size(),
    );
    println!(
        "manifest: {}",
        config
            .run_dir
            .join(caltech_anomaly::data::MANIFEST_FILE)
            .display()
    );
    if prepared.manifest.is_empty() {
        return Err(Error::InvalidParameter("no image left to work on".into()));
    }
    Ok(())
}

pub(crate) fn run_train(data_dir: PathBuf, args: TrainArgs) -> Result<()> {
    let spec = RunSpec {
        architecture: args.model,
        profile: args.profile,
        device: args.device,
        precision: args.precision,
        seed: args.seed,
        image_size: args.size,
        epochs: args.epochs,
        batch_size: args.batch,
        learning_rate: args.lr,
        encoding_dim: args.encoding_dim,
        pool: if args.all_images {
            Some(PoolSize::All)
        } else {
            args.per_class.map(PoolSize::PerClass)
        },
        early_stopping_patience: args.early_stopping,
        resize: args.resize,
        cache_dir: args.cache_dir,
        download: !args.no_download,
        skip_bad: args.skip_bad,
        resume: args.resume,
        restart: args.restart,
        show_progress: true,
        ..RunSpec::new(data_dir, args.out)
    };
    let run = run_training(&spec)?;
    let r = &run.record;
    println!(
        "{}: {} parameters, {} epochs (best {}), {:.1} s training",
        r.architecture, r.parameters, r.epochs_run, r.best_epoch, r.timings.train_s
    );
    println!(
        "test: {} images, mean error {:.6}, AUROC (held out vs rest) {:.3}",
        r.test_images, r.mean_test_error, r.test_auroc
    );
    println!("run: {}", spec.out.display());
    Ok(())
}

/// `pages`: writes the generated pages from the published results, or
/// (`--check`) lists those that differ; the exit status is 1 when any
/// does.
pub(crate) fn run_pages(args: PagesArgs) -> Result<ExitCode> {
    if !args.check {
        let written = write_pages(&args.root)?;
        for page in &written {
            println!("wrote {}", args.root.join(page).display());
        }
        if written.is_empty() {
            println!("every page is up to date");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let drifted = drifted_pages(&args.root)?;
    for page in &drifted {
        eprintln!(
            "{} differs from what the published data generates: run `caltech-anomaly pages`",
            args.root.join(page).display()
        );
    }
    Ok(if drifted.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
