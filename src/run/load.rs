//! The load phase of a run: start goose's dispatchers, begin the schedule once
//! they are all ready (faults installed on the same zero), pace the load, snapshot
//! as it goes, and relay the process's signals into the run.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use gauntlet_mock::Rule;
use tokio_util::sync::CancellationToken;

use super::{LEAD, Loaded, READY_TIMEOUT, Resolved};
use crate::exit::UsageError;
use crate::load::{Pacer, Shared};
use crate::measure::Recorder;
use crate::plan::Plan;
use crate::signal::Interrupts;
use crate::snapshots;
use crate::twin_link::TwinLink;

/// File descriptors kept for everything but the load's connections.
const FD_RESERVE: u64 = 256;

/// Room for batches in flight: the plan's, within what the file-descriptor limit
/// allows (raised to its hard limit first). Each batch in flight may hold a
/// connection, and with the embedded twin its other end too; a connection refused
/// for want of descriptors would be charged to the target.
fn room_in_flight(plan: &Plan, embedded: bool, out: &mut impl Write) -> anyhow::Result<usize> {
    let want = plan.max_in_flight();
    let limit = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024);
    let per_batch = if embedded { 2 } else { 1 };
    let fit = (limit.saturating_sub(FD_RESERVE) / per_batch).max(1) as usize;
    if fit < want {
        writeln!(
            out,
            "note: the file-descriptor limit ({limit}) leaves room for {fit} batches in flight, not the plan's {want}; raise it (ulimit -n) if the harness_lag check fails"
        )?;
    }
    Ok(want.min(fit))
}

/// The run's id: it tags every action (`payload.run`) and names every key. On a
/// twin (reset before the run) it comes from the plan's text and the seed, so two runs of
/// one seed send the same requests and get the same faults; on a real deployment
/// it is random, so a rerun never collides with an earlier run's keys.
fn run_id(plan: &Plan, link: &TwinLink) -> String {
    if matches!(link, TwinLink::None) {
        return gauntlet_mock::engine::secret::random_secret("run")[..15].to_string();
    }
    use sha2::Digest;
    let digest = sha2::Sha256::new()
        .chain_update(plan.text.as_bytes())
        .chain_update(plan.run.seed.to_le_bytes())
        .finalize();
    format!("run{}", hex::encode(&digest[..6]))
}

/// Start the users, begin the schedule once they are all ready (installing the
/// faults on the same zero), pace goose through it, snapshot as it goes.
pub(super) async fn load(
    plan: &Plan,
    r: &Resolved,
    link: &TwinLink,
    host: &str,
    dir: &Path,
    interrupts: &Interrupts,
    out: &mut (impl Write + Send),
) -> anyhow::Result<Loaded> {
    // On a shared twin only segment 0 resets it: the others' share arrives there too.
    if plan.segment.is_none_or(|s| !s.shared_twin || s.index == 0) {
        link.reset().await?;
    }
    let hooks = crate::webhook_run::setup(plan, r, link, host, out).await?;
    let users = plan.users();
    let room = room_in_flight(plan, matches!(link, TwinLink::Embedded(..)), out)?;
    let recorder = Arc::new(Recorder::new());
    let rates = {
        let p = plan.clone();
        move |t: Duration| p.rate_at(t)
    };
    let shared = Arc::new(Shared {
        pacer: match plan.segment {
            Some(s) => Pacer::unbegun(plan.run.duration, plan.run.batch, plan.run.seed, rates)
                .segmented(u64::from(s.index), u64::from(s.count)),
            None => Pacer::unbegun(plan.run.duration, plan.run.batch, plan.run.seed, rates),
        },
        client: plan.client.clone(),
        creds: crate::client::Credentials::ApiKey(r.key.clone()),
        signer: r.signer.clone(),
        recorder: recorder.clone(),
        run_id: run_id(plan, link),
        seed: plan.run.seed,
        stop: CancellationToken::new(),
        cut: CancellationToken::new(),
        goose_ended: CancellationToken::new(),
        in_flight: Arc::new(tokio::sync::Semaphore::new(room)),
        tracker: tokio_util::task::TaskTracker::new(),
        drain: plan.drain(),
        drain_deadline: std::sync::OnceLock::new(),
        pool: hooks.pool.clone(),
        transfer_share: hooks.transfer_share,
    });
    let boson = crate::run::boson::shared(plan, link, out)?;
    writeln!(
        out,
        "gauntlet run {}: {:.0} s at {:.0} actions/s against {}, {users} users, up to {} batches in flight, seed {}",
        plan.name,
        plan.run.duration.as_secs_f64(),
        plan.run.rate,
        r.description,
        room,
        plan.run.seed
    )?;
    out.flush()?;
    let (started_at, cpu0) = (SystemTime::now(), cpu_time::ProcessTime::now());
    let relay = tokio::spawn(relay_interrupts(
        (interrupts.stop.clone(), interrupts.cut.clone()),
        (shared.stop.clone(), shared.cut.clone()),
    ));
    let boson_relay = boson.as_ref().map(|b| {
        tokio::spawn(relay_interrupts(
            (interrupts.stop.clone(), interrupts.cut.clone()),
            (b.stop.clone(), b.cut.clone()),
        ))
    });
    let goose_dir = dir.join("goose");
    let attack = crate::load::attack(shared.clone(), boson.clone(), host, users, &goose_dir);
    let saver = super::soak::Saver {
        plan: plan.clone(),
        target: r.description.clone(),
        faults: r.faults.clone(),
        users,
        room,
        run_id: shared.run_id.clone(),
        rec: recorder.clone(),
        started_at,
        cpu0,
        dir: dir.to_path_buf(),
        twin_in_process: matches!(link, TwinLink::Embedded(..)),
        twin_apart: matches!(link, TwinLink::Remote { .. }),
    };
    let schedule = begin_schedule(plan, r, link, &shared, boson.as_deref(), users, saver);
    let (attack, schedule) = tokio::join!(attack, schedule);
    relay.abort();
    if let Some(r) = boson_relay {
        r.abort();
    }
    let canceled = goose::is_killswitch_triggered() || shared.stop.is_cancelled();
    let cpu_s = cpu0.elapsed().as_secs_f64();
    let schedule = match (schedule, &attack) {
        (Ok(s), _) => s,
        // Goose's own error says more than "its users never got ready".
        (Err(e), Err(g)) => {
            return Err(e.context(format!("the load generator failed: {g:?}")));
        }
        (Err(e), Ok(_)) => return Err(e),
    };
    // From here on, a failed write to the terminal must not cost the measurements.
    if canceled {
        let _ = writeln!(
            out,
            "interrupted: the batches in flight were finished (or cut off) and are counted; no new ones were started"
        );
    }
    schedule.snaps_stop.cancel();
    let ended = schedule.snaps.await.ok();
    if let Err(e) = &attack {
        let _ = writeln!(out, "error: goose ended with an error: {e:?}");
    }
    Ok(Loaded {
        users,
        room,
        run_id: shared.run_id.clone(),
        recorder,
        epoch: schedule.epoch,
        attack,
        canceled,
        cut: shared.cut.is_cancelled() && interrupts.cut.is_cancelled(),
        early_rate: schedule.early_rate,
        launch: schedule.launch,
        thirds: ended.as_ref().map_or_else(
            || (crate::measure::hist(), crate::measure::hist()),
            |e| e.thirds.clone(),
        ),
        restarts: ended
            .as_ref()
            .map(|e| e.restarts.clone())
            .unwrap_or_default(),
        intervals: ended.map(|e| e.rows).unwrap_or_default(),
        started_at,
        cpu_s,
        hooks,
        boson,
    })
}

/// What beginning the schedule leaves behind.
struct Schedule {
    /// The twin time of the schedule's zero, when there is a twin.
    epoch: Option<Duration>,
    snaps: tokio::task::JoinHandle<snapshots::Ended>,
    snaps_stop: CancellationToken,
    early_rate: Option<f64>,
    /// On a shared twin: when segment 0 installed the faults (twin ms).
    launch: Option<u64>,
}

/// Wait until every user is ready, install the faults and begin the schedule on
/// one zero (LEAD from now), start the snapshots, and read the achieved rate as
/// soon as the steady part is over (the twin keeps an hour of timeline, and a soak
/// runs longer). On an error the users are stopped, so goose ends too.
async fn begin_schedule(
    plan: &Plan,
    r: &Resolved,
    link: &TwinLink,
    shared: &Shared,
    boson: Option<&crate::load::boson::Shared>,
    users: usize,
    saver: super::soak::Saver,
) -> anyhow::Result<Schedule> {
    let all_ready = async {
        shared.pacer.wait_ready(users).await;
        if let Some(b) = boson {
            b.pacer.wait_ready(1).await;
        }
    };
    let ready = tokio::select! {
        _ = all_ready => true,
        _ = tokio::time::sleep(READY_TIMEOUT) => false,
        _ = shared.stop.cancelled() => true,
        _ = shared.goose_ended.cancelled() => false,
    };
    if shared.stop.is_cancelled() {
        // Stopped before the schedule began: nothing is installed or begun, and
        // the whole schedule counts as unsent.
        return Ok(Schedule {
            launch: None,
            epoch: None,
            snaps: tokio::spawn(async {
                snapshots::Ended {
                    rows: Vec::new(),
                    thirds: (crate::measure::hist(), crate::measure::hist()),
                    restarts: Vec::new(),
                }
            }),
            snaps_stop: CancellationToken::new(),
            early_rate: None,
        });
    }
    if !ready {
        shared.stop.cancel();
        if let Some(b) = boson {
            b.stop.cancel();
        }
        return Err(UsageError(format!(
            "goose started {} of {users} users in {} s: the load generator could not start",
            shared.pacer.users_ready(),
            READY_TIMEOUT.as_secs()
        ))
        .into());
    }
    let (epoch, start, launch) = match zero(plan, r, link, &shared.run_id).await {
        Ok(z) => z,
        Err(e) => {
            shared.stop.cancel();
            if let Some(b) = boson {
                b.stop.cancel();
            }
            return Err(e);
        }
    };
    let start_wall = SystemTime::now() + start.saturating_duration_since(Instant::now());
    shared.recorder.set_zero(start);
    shared.pacer.begin(start);
    if let Some(b) = boson {
        b.pacer.begin(start);
    }
    let snaps_stop = CancellationToken::new();
    let windows = plan.fault_windows(&r.faults);
    shared.recorder.set_windows(crate::soak::windows::Book::new(
        crate::soak::windows::spans(windows.clone(), plan.run.duration, plan.soak.slice),
    ));
    let hlog = saver.dir.join("latency.hlog");
    let save: Option<(Duration, snapshots::SaveFn)> = plan.soak.save_every.map(|every| {
        let saver = Arc::new(saver);
        let f: snapshots::SaveFn =
            Arc::new(move |rows, restarts, at_s| saver.save(rows, restarts, at_s));
        (every, f)
    });
    let snaps = tokio::spawn(snapshots::run(snapshots::Snapshotting {
        rec: shared.recorder.clone(),
        every: plan.run.snapshot,
        progress: crate::progress::Progress::new(plan.run.duration, windows),
        hlog,
        start_time: start_wall,
        stop: snaps_stop.clone(),
        watch: link
            .probe()
            .map(|p| crate::soak::target::Watch::new(p, r.faults.clone())),
        thirds: thirds(plan),
        save,
        thresholds: plan.window_thresholds(),
        leak_mib_per_s: plan.soak.test_leak_mib_per_s,
    }));
    let (steady0, steady1) = plan.steady_window();
    let early_rate = match epoch {
        None => None,
        Some(e) => tokio::select! {
            _ = tokio::time::sleep_until((start + steady1 + Duration::from_secs(1)).into()) => {
                link.oracle((e + steady0, e + steady1)).await.ok().flatten().and_then(|a| a.applied_rate)
            }
            _ = shared.stop.cancelled() => None,
            _ = shared.goose_ended.cancelled() => None,
        },
    };
    Ok(Schedule {
        epoch,
        snaps,
        snaps_stop,
        early_rate,
        launch,
    })
}

/// Install the faults and set the schedule's zero: `LEAD` from now, on the
/// twin's epoch. Segments on a shared twin meet on one zero instead: segment 0
/// installs the faults labelled with the run's id and `SHARED_LEAD` ahead, the
/// others wait for that label. A segment on a shared twin reads no account
/// (its epoch is None): `gauntlet merge` reads the twin once.
async fn zero(
    plan: &Plan,
    r: &Resolved,
    link: &TwinLink,
    run_id: &str,
) -> anyhow::Result<(Option<Duration>, Instant, Option<u64>)> {
    use crate::segment::SHARED_LEAD;
    match plan.segment.filter(|s| s.shared_twin) {
        Some(s) if s.index > 0 => {
            let (start, launch) = crate::segment::meet(link, run_id, plan.run.duration).await?;
            Ok((None, start, Some(launch)))
        }
        Some(_) => {
            let faults: Vec<Rule> = r.faults.iter().map(|f| f.delayed(SHARED_LEAD)).collect();
            let launch = link.install_labeled(&faults, Some(run_id)).await?;
            Ok((
                None,
                Instant::now() + SHARED_LEAD,
                launch.map(|e| e.as_millis() as u64),
            ))
        }
        None => {
            let faults: Vec<Rule> = r.faults.iter().map(|f| f.delayed(LEAD)).collect();
            let epoch = link.install(&faults).await?.map(|e| e + LEAD);
            Ok((epoch, Instant::now() + LEAD, None))
        }
    }
}

/// The first and last thirds of the measured run (after the warm-up), seconds.
fn thirds(plan: &Plan) -> [(f64, f64); 2] {
    let (w, d) = (
        plan.run.warmup.as_secs_f64(),
        plan.run.duration.as_secs_f64(),
    );
    let third = (d - w).max(0.0) / 3.0;
    [(w, w + third), (d - third, d)]
}

/// The process's Ctrl-C/SIGTERM, relayed into this run: the first stops the load,
/// the second cuts the drain short.
async fn relay_interrupts(
    from: (CancellationToken, CancellationToken),
    to: (CancellationToken, CancellationToken),
) {
    from.0.cancelled().await;
    to.0.cancel();
    from.1.cancelled().await;
    to.1.cancel();
}
