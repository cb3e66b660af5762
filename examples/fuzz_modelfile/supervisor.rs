// SPDX-License-Identifier: MIT OR Apache-2.0
//! The supervisor: worker processes over chunks of cases; a worker that dies or falls silent has its current
//! case saved as a finding, and the cases after it go on in a new worker.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::mutations::case_bytes;
use crate::{Args, SLOW, make_seeds, read_seeds};

struct Worker {
    child: Child,
    end: u64,
    current: Option<u64>,
    heard: Instant,
}

#[derive(Default)]
struct Totals {
    cases: u64,
    loaded: u64,
    /// Microseconds, and the case.
    slowest: (u64, u64),
    largest_ratio: f64,
    findings: HashMap<String, u64>,
}

pub fn supervise(args: &Args) -> Result<()> {
    let seeds_dir = tempfile::tempdir()?;
    make_seeds(seeds_dir.path()).context("making the seed models")?;
    let seeds = read_seeds(seeds_dir.path())?;
    std::fs::create_dir_all(&args.findings)
        .with_context(|| format!("creating {}", args.findings.display()))?;
    if !args.write_cases.is_empty() {
        return write_cases(args, &seeds);
    }
    let started = Instant::now();
    let totals = run_workers(args, seeds_dir.path(), &seeds)?;
    print_totals(args, &totals, started.elapsed());
    if totals.findings.is_empty() {
        Ok(())
    } else {
        bail!("findings in {}", args.findings.display())
    }
}

/// Writes the cases `--write-cases` names, to reproduce or keep them.
fn write_cases(args: &Args, seeds: &[Vec<u8>]) -> Result<()> {
    for &case in &args.write_cases {
        let path = args
            .findings
            .join(format!("seed{}-case{case}.nfbmr", args.seed));
        std::fs::write(&path, case_bytes(args.seed, case, seeds))?;
        println!("{}", path.display());
    }
    Ok(())
}

/// Runs every case in worker processes, `--jobs` at a time.
fn run_workers(args: &Args, seeds_dir: &Path, seeds: &[Vec<u8>]) -> Result<Totals> {
    let (lines, heard) = mpsc::channel::<(usize, Option<String>)>();
    let mut workers: HashMap<usize, Worker> = HashMap::new();
    let mut pending: Vec<(u64, u64)> = (0..args.cases)
        .step_by(args.chunk as usize)
        .map(|from| (from, (from + args.chunk).min(args.cases)))
        .collect();
    pending.reverse(); // popped from the end: chunks in order
    let mut totals = Totals::default();
    let mut next_id = 0;
    loop {
        while workers.len() < args.jobs
            && let Some((from, to)) = pending.pop()
        {
            workers.insert(next_id, spawn(args, seeds_dir, from, to, next_id, &lines)?);
            next_id += 1;
        }
        if workers.is_empty() {
            break;
        }
        match heard.recv_timeout(Duration::from_millis(200)) {
            Ok((id, Some(line))) => {
                let worker = workers.get_mut(&id).unwrap();
                worker.heard = Instant::now();
                record(args, seeds, &line, worker, &mut totals)?;
            }
            Ok((id, None)) => {
                let mut worker = workers.remove(&id).unwrap();
                let status = worker.child.wait()?;
                if !status.success() {
                    let case = worker.current.unwrap_or_default();
                    save(
                        args,
                        seeds,
                        case,
                        "crash",
                        &format!("worker ended: {status}"),
                        &mut totals,
                    )?;
                    if case + 1 < worker.end {
                        pending.push((case + 1, worker.end));
                    }
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                unreachable!("the supervisor holds a sender")
            }
        }
        for worker in workers.values_mut() {
            if worker.heard.elapsed() > SLOW * 10 {
                // Its reader thread then reports the end, and the case after it is queued.
                worker.child.kill()?;
                let case = worker.current.unwrap_or_default();
                save(args, seeds, case, "hang", "no answer for 10 s", &mut totals)?;
                worker.heard = Instant::now();
            }
        }
    }
    Ok(totals)
}

fn spawn(
    args: &Args,
    seeds: &Path,
    from: u64,
    to: u64,
    id: usize,
    lines: &mpsc::Sender<(usize, Option<String>)>,
) -> Result<Worker> {
    let mut child = Command::new(std::env::current_exe()?)
        .args([
            "--worker",
            &from.to_string(),
            &to.to_string(),
            "--seed",
            &args.seed.to_string(),
        ])
        .arg("--seeds")
        .arg(seeds)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take().unwrap();
    let lines = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines.send((id, Some(line)));
        }
        let _ = lines.send((id, None));
    });
    Ok(Worker {
        child,
        end: to,
        current: None,
        heard: Instant::now(),
    })
}

fn record(
    args: &Args,
    seeds: &[Vec<u8>],
    line: &str,
    worker: &mut Worker,
    totals: &mut Totals,
) -> Result<()> {
    let words: Vec<&str> = line.splitn(4, ' ').collect();
    match words[..] {
        ["case", case] => worker.current = Some(case.parse()?),
        ["finding", case, kind, detail] => save(args, seeds, case.parse()?, kind, detail, totals)?,
        ["summary", ..] => {
            let numbers: Vec<f64> = words[1..]
                .join(" ")
                .split(' ')
                .map(str::parse)
                .collect::<Result<_, _>>()?;
            totals.cases += numbers[0] as u64;
            totals.loaded += numbers[1] as u64;
            totals.slowest = totals.slowest.max((numbers[2] as u64, numbers[3] as u64));
            totals.largest_ratio = totals.largest_ratio.max(numbers[4]);
        }
        _ => bail!("unexpected line from a worker: {line}"),
    }
    Ok(())
}

/// Writes case `case` and what it did to the findings folder.
fn save(
    args: &Args,
    seeds: &[Vec<u8>],
    case: u64,
    kind: &str,
    detail: &str,
    totals: &mut Totals,
) -> Result<()> {
    *totals.findings.entry(kind.to_owned()).or_default() += 1;
    let stem = args
        .findings
        .join(format!("{kind}-seed{}-case{case}", args.seed));
    std::fs::write(
        stem.with_extension("nfbmr"),
        case_bytes(args.seed, case, seeds),
    )?;
    std::fs::write(stem.with_extension("txt"), format!("{detail}\n"))?;
    eprintln!("finding: case {case}: {kind}: {detail}");
    Ok(())
}

fn print_totals(args: &Args, totals: &Totals, elapsed: Duration) {
    println!(
        "fuzz_modelfile: seed {}, {} cases in {:.0} s",
        args.seed,
        totals.cases,
        elapsed.as_secs_f64()
    );
    println!("  loaded as a model      {}", totals.loaded);
    println!("  refused with an error  {}", totals.cases - totals.loaded);
    let (slowest_us, slowest_case) = totals.slowest;
    println!(
        "  slowest case           {:.1} ms (case {slowest_case})",
        slowest_us as f64 / 1000.0
    );
    println!(
        "  largest memory / file  {:.2}x (peak resident growth over the file's size)",
        totals.largest_ratio
    );
    let mut findings: Vec<_> = totals.findings.iter().collect();
    findings.sort();
    println!(
        "  findings               {}",
        if findings.is_empty() {
            "none".to_owned()
        } else {
            format!("{findings:?}")
        }
    );
}
