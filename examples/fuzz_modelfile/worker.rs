// SPDX-License-Identifier: MIT OR Apache-2.0
//! A worker process: runs a range of cases, each loaded as the element loads a model, and reports each case
//! before it runs (so that an abort is pinned to it), every finding, and a summary.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;

use nfbmr::{CodePolicy, Detector, DeviceSpec};

use crate::mutations::case_bytes;
use crate::{MEMORY_ALLOWANCE, SLOW};

fn proc_status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// What one case did.
struct Outcome {
    loaded: bool,
    /// A panic's message, or an error that does not name the file.
    finding: Option<(&'static str, String)>,
    elapsed: Duration,
    memory: u64,
}

fn run_case(path: &Path, bytes: &[u8]) -> Outcome {
    std::fs::write(path, bytes).expect("scratch file written");
    // Resets the peak resident size, so that VmHWM below is this case's peak.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let before = proc_status_kib("VmRSS:");
    let started = Instant::now();
    let result =
        std::panic::catch_unwind(|| Detector::load(path, DeviceSpec::Cpu, CodePolicy::Refuse));
    let elapsed = started.elapsed();
    let memory = proc_status_kib("VmHWM:").saturating_sub(before) * 1024;
    let (loaded, finding) = match result {
        Ok(Ok(_)) => (true, None),
        Ok(Err(err)) => {
            let message = err.to_string();
            let unnamed = !message.contains(&path.display().to_string());
            (false, unnamed.then_some(("unnamed-error", message)))
        }
        Err(panic) => (false, Some(("panic", nfbmr::error::panic_message(&*panic)))),
    };
    Outcome {
        loaded,
        finding,
        elapsed,
        memory,
    }
}

pub fn work(cases: std::ops::Range<u64>, seed: u64, seeds: &[Vec<u8>]) -> Result<()> {
    std::panic::set_hook(Box::new(|_| {})); // panics are reported as findings, once
    let scratch = tempfile::tempdir()?;
    let path = scratch.path().join("case.nfbmr");
    run_case(&path, &seeds[0]); // libtorch's first-use allocations are not a case's
    let mut out = std::io::stdout().lock();
    let (mut loaded, mut slowest, mut largest_ratio) = (0u64, (Duration::ZERO, 0), 0f64);
    for case in cases.clone() {
        writeln!(out, "case {case}")?;
        out.flush()?;
        let bytes = case_bytes(seed, case, seeds);
        let outcome = run_case(&path, &bytes);
        loaded += u64::from(outcome.loaded);
        slowest = slowest.max((outcome.elapsed, case));
        largest_ratio = largest_ratio.max(outcome.memory as f64 / bytes.len().max(1) as f64);
        let mut findings = Vec::from_iter(outcome.finding);
        if outcome.elapsed > SLOW {
            findings.push(("slow", format!("{:?}", outcome.elapsed)));
        }
        if outcome.memory > 8 * bytes.len() as u64 + MEMORY_ALLOWANCE {
            findings.push((
                "memory",
                format!("{} bytes for a {} byte file", outcome.memory, bytes.len()),
            ));
        }
        for (kind, detail) in findings {
            writeln!(out, "finding {case} {kind} {}", detail.replace('\n', " "))?;
        }
    }
    writeln!(
        out,
        "summary {} {loaded} {} {} {largest_ratio}",
        cases.end - cases.start,
        slowest.0.as_micros(),
        slowest.1
    )?;
    Ok(())
}
