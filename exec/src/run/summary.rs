//! Totals of a `sock-exec run`, beside its records, and their text form.

/// Totals of a run, beside the records.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct RunSummary {
    pub invocations: u64,
    pub handler_hits: u64,
    pub zygote_hits: u64,
    pub fresh: u64,
    /// Plans that failed when applied (a lost handler, a dead Zygote) and
    /// were replaced by the planner's fallback (`Planner::on_failure`).
    pub fallbacks: u64,
    /// Zygotes re-created after they died or broke (`RepairZygote`).
    pub zygote_repairs: u64,
    /// Invocations that waited for a core or for memory (`worker`).
    pub queued: u64,
    /// Invocations dropped: memory full under `when_full = drop`, waited
    /// `max_wait_s`, or bigger than the worker.
    pub dropped: u64,
    /// Side decisions applied, by kind: (count, total ms). Off every
    /// critical path in virtual time; in the concurrent replay the one
    /// forking thread is busy with them meanwhile.
    pub side_ms: std::collections::BTreeMap<String, (u64, f64)>,
    pub zygotes_created: u64,
    pub zygote_create_failures: u64,
    /// Pre-forked children the Zygotes forked (`Refill` decisions), and
    /// refills that failed.
    pub spares_forked: u64,
    pub refill_failures: u64,
    /// Spares found dead while they waited, reported to the planner
    /// (`Planner::on_spare_lost`, which refills them).
    pub spares_lost: u64,
    /// Zygotes that left the tree while containers forked from them still
    /// ran, and were kept until those were gone.
    pub zygotes_kept_for_children: u64,
    /// Of those, how many were still kept at the end of the replay.
    pub zygotes_retired: usize,
    /// Responses other than 200: handler errors, and requests that got no
    /// response (timeout, death; counted as status 599).
    pub errors: u64,
    /// Handlers that held a trace package outside their closure (must be 0).
    pub foreign_modules: u64,
    /// Invocations whose step boundaries came out of order, so their
    /// phases do not add up to the latency (must be 0).
    pub misordered_phases: u64,
    pub packages_installed: u64,
    /// pip runs the concurrent replay started in the background (its loop
    /// kept serving meanwhile), and calls that waited for a run another
    /// call had started for the same package instead of starting one.
    pub pip_background: u64,
    pub pip_joined: u64,
    /// Pre-warm timers the concurrent replay delivered at their due time.
    pub prewarm_timers: u64,
    /// Of those, built from source in a lean container (no wheel fitted).
    pub packages_built: u64,
    pub packages_evicted: u64,
    /// Packages pip could not install (`name==version`); their functions
    /// answered 500.
    pub packages_failed: Vec<String>,
    /// Failures to destroy a container or delete a package that the run
    /// survived (each logged with its error).
    pub teardown_errors: u64,
    /// cgroup memory reads that failed (left out of the measured figures,
    /// each logged).
    pub memory_read_errors: u64,
    pub wall_s: f64,
    /// Memory of the tiers at the end: the model's figure and the sum of
    /// the cgroups' memory usage (MB).
    pub zygote_mb_model: f64,
    pub zygote_mb_measured: f64,
    pub zygotes_live: usize,
    pub handler_idle_mb_model: f64,
    pub handler_idle_mb_measured: f64,
    pub handlers_live: usize,
}

impl RunSummary {
    /// The text summary `sock-exec run` prints.
    pub fn render(&self) -> String {
        let pct = |n: u64| 100.0 * n as f64 / self.invocations.max(1) as f64;
        format!(
            "invocations      {}  in {:.1} s wall\n\
             handler hits     {} ({:.1}%)\n\
             Zygote hits      {} ({:.1}%)\n\
             fresh            {} ({:.1}%)\n\
             fallbacks        {} failed plans re-planned; {} invocations queued, {} dropped\n\
             Zygotes          {} created, {} failed to start, {} repaired, {} kept for their children after eviction, {} live at the end\n\
             packages         {} installed ({} built from source), {} evicted, {} could not be installed{}\n\
             errors           {} non-200 responses, {} handlers holding a package they did not ask for, {} teardown failures, {} failed memory reads (all logged)\n\
             side work        {}\n\
             memory at end    Zygotes: model {:.1} MB, cgroups {:.1} MB; idle handlers: model {:.1} MB, cgroups {:.1} MB ({} live)\n",
            self.invocations,
            self.wall_s,
            self.handler_hits,
            pct(self.handler_hits),
            self.zygote_hits,
            pct(self.zygote_hits),
            self.fresh,
            pct(self.fresh),
            self.fallbacks,
            self.queued,
            self.dropped,
            self.zygotes_created,
            self.zygote_create_failures,
            self.zygote_repairs,
            self.zygotes_kept_for_children,
            self.zygotes_live,
            self.packages_installed,
            self.packages_built,
            self.packages_evicted,
            self.packages_failed.len(),
            if self.packages_failed.is_empty() {
                String::new()
            } else {
                format!(" ({})", self.packages_failed.join(" "))
            },
            self.errors,
            self.foreign_modules,
            self.teardown_errors,
            self.memory_read_errors,
            self.side_work(),
            self.zygote_mb_model,
            self.zygote_mb_measured,
            self.handler_idle_mb_model,
            self.handler_idle_mb_measured,
            self.handlers_live,
        )
    }

    fn side_work(&self) -> String {
        let parts: Vec<String> = self
            .side_ms
            .iter()
            .map(|(k, (n, ms))| format!("{k} {n} in {:.1} s", ms / 1e3))
            .collect();
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join(", ")
        }
    }
}
