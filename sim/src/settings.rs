//! Run settings: a JSON config file (`--config`), a calibration file
//! (`--calibration`, the cost parameters `sock-exec calibrate` writes), and
//! flags; later sources override earlier ones field by field. The files
//! are read, and the result checked, by sock-core's
//! [`sock_core::config::load_settings`] and [`Settings::check`], as
//! `sock-exec run` reads them; the flags are sim's own.

use crate::cli::{GdsfCostArg, KeepaliveFromArg, PolicyArg, RunArgs, WhenFullArg, ZygoteArg};
use anyhow::{bail, Result};
use sock_core::config::ZygoteMode;
use sock_core::handler_cache::{KeepaliveFrom, PolicyConfig};
use sock_core::worker::WhenFull;
use sock_core::zygote::StaticTreeNode;

/// The config file's shape lives in sock-core, so `sim` and `sock-exec run`
/// read one file the same way.
pub use sock_core::config::{ReplaySettings, Settings};

/// Largest settings, calibration or tree file read (bytes): sock-core's,
/// which reads them for `sim` and `sock-exec run` alike.
pub use sock_core::config::MAX_JSON_BYTES;

/// Numeric flags: finite, >= 0 and below the unit's limit, else an error
/// naming the flag (issue 12: `--ttl-s 1e308` became a TTL of 0).
fn check_flags(args: &RunArgs) -> Result<()> {
    use sock_core::units::{check_range, MAX_MB, MAX_MS};
    let flags = [
        ("--handler-mb", args.handler_mb, MAX_MB),
        ("--ttl-s", args.ttl_s, MAX_MS / 1000.0),
        ("--lifetime-s", args.lifetime_s, MAX_MS / 1000.0),
        ("--zygote-mb", args.zygote_mb, MAX_MB),
        ("--min-gain-ms", args.min_gain_ms, MAX_MS),
        ("--install-mb", args.install_mb, MAX_MB),
        (
            "--worker-mb",
            args.worker_mb.and_then(|b| b.into_option()),
            MAX_MB,
        ),
        (
            "--max-wait-s",
            args.max_wait_s.and_then(|b| b.into_option()),
            MAX_MS / 1000.0,
        ),
    ];
    for (flag, value, max) in flags {
        if let Some(v) = value {
            if let Err(why) = check_range(v, max) {
                bail!("{flag} is {}; {why}", sock_core::units::show(v));
            }
        }
    }
    Ok(())
}

/// The policies' parameter flags, on the policy chosen by the config file
/// or `--policy`; a flag its policy does not take is an error.
fn policy_flags(args: &RunArgs, policy: &mut PolicyConfig) -> Result<()> {
    use sock_core::handler_cache::GdsfCost;
    if let Some(l) = args.lifetime_s {
        match policy {
            PolicyConfig::Fixed { lifetime_s } => *lifetime_s = l,
            _ => bail!("--lifetime-s only applies to the fixed keep-alive policy"),
        }
    }
    if let Some(c) = args.gdsf_cost {
        let cost = match c {
            GdsfCostArg::Cold => GdsfCost::Cold,
            GdsfCostArg::ColdMinusWarm => GdsfCost::ColdMinusWarm,
        };
        *policy = match policy {
            PolicyConfig::Gdsf | PolicyConfig::GdsfCost { .. } => match cost {
                GdsfCost::Cold => PolicyConfig::Gdsf,
                cost => PolicyConfig::GdsfCost { cost },
            },
            _ => bail!("--gdsf-cost only applies to the gdsf keep-alive policy"),
        };
    }
    let h = &args.hybrid;
    if h.any() {
        let PolicyConfig::Hybrid(c) = policy else {
            bail!("--hybrid-range-min, --prewarm-pct, --keepalive-pct, --margin-pct, --min-samples, --cv-min and --fallback-s only apply to the hybrid keep-alive policy");
        };
        let set = |v: Option<f64>, to: &mut f64| {
            if let Some(v) = v {
                *to = v;
            }
        };
        if let Some(r) = h.hybrid_range_min {
            c.range_min = r;
        }
        if let Some(n) = h.min_samples {
            c.min_samples = n;
        }
        set(h.prewarm_pct, &mut c.prewarm_pct);
        set(h.keepalive_pct, &mut c.keepalive_pct);
        set(h.margin_pct, &mut c.margin_pct);
        set(h.cv_min, &mut c.cv_min);
        set(h.fallback_s, &mut c.fallback_s);
    }
    Ok(())
}

/// Config file, then calibration file, then flags.
pub fn resolve(args: &RunArgs) -> Result<Settings> {
    check_flags(args)?;
    let mut s = sock_core::config::load_settings(
        args.config.as_deref(),
        args.calibration.as_deref(),
        |p| std::fs::File::open(p),
    )?;
    let t = &mut s.tiers;
    if let Some(v) = args.handler_mb {
        t.handler.budget_mb = v;
    }
    if let Some(p) = args.policy {
        let ttl_s = args.ttl_s.unwrap_or(600.0);
        t.handler.policy = match p {
            PolicyArg::Lru => PolicyConfig::Lru,
            PolicyArg::Ttl => PolicyConfig::Ttl { ttl_s },
            PolicyArg::Gdsf => PolicyConfig::Gdsf,
            PolicyArg::Fixed => PolicyConfig::Fixed { lifetime_s: 600.0 },
            PolicyArg::Hybrid => PolicyConfig::Hybrid(Default::default()),
        };
    } else if let Some(ttl_s) = args.ttl_s {
        match &mut t.handler.policy {
            PolicyConfig::Ttl { ttl_s: v } => *v = ttl_s,
            _ => bail!("--ttl-s only applies to the ttl keep-alive policy"),
        }
    }
    policy_flags(args, &mut t.handler.policy)?;
    if let Some(k) = args.keepalive_from {
        t.handler.keepalive_from = match k {
            KeepaliveFromArg::End => KeepaliveFrom::End,
            KeepaliveFromArg::Start => KeepaliveFrom::Start,
        };
    }
    if let Some(z) = args.zygotes {
        t.zygote.mode = match z {
            ZygoteArg::Off => ZygoteMode::Off,
            ZygoteArg::Root => ZygoteMode::Root,
            ZygoteArg::Dynamic => ZygoteMode::Dynamic,
            ZygoteArg::Static => ZygoteMode::Static,
        };
    }
    if let Some(v) = args.zygote_mb {
        t.zygote.budget_mb = v;
    }
    if let Some(v) = args.min_gain_ms {
        t.zygote.min_gain_ms = v;
    }
    if let Some(v) = args.spares {
        t.zygote.spares = v;
    }
    if let Some(v) = args.install_mb {
        t.install.budget_mb = v;
    }
    if args.serial_setup {
        s.replay.serial_setup = true;
    }
    if args.no_noise {
        s.cost.noise = Default::default();
    }
    if let Some(seed) = args.noise_seed {
        s.cost.noise.seed = seed;
    }
    if let Some(p) = &args.zygote_tree {
        s.zygote_tree = Some(p.clone());
        if args.zygotes.is_none() {
            s.tiers.zygote.mode = ZygoteMode::Static;
        }
    }
    s.fold_deprecated()?;
    let w = &mut s.worker;
    if let Some(v) = args.worker_mb {
        w.memory_mb = v.into_option();
    }
    if let Some(v) = args.cores {
        if v == crate::cli::Bound::At(0) {
            bail!("--cores is 0; it must be at least 1 (or `unbounded`)");
        }
        w.cores = v.into_option();
    }
    if let Some(v) = args.when_full {
        w.when_full = match v {
            WhenFullArg::Queue => WhenFull::Queue,
            WhenFullArg::Drop => WhenFull::Drop,
        };
    }
    if let Some(v) = args.max_wait_s {
        w.max_wait_s = v.into_option();
    }
    s.check()?;
    Ok(s)
}

/// Loads the static tree file named by the settings, if any.
pub fn static_tree(s: &Settings) -> Result<Option<StaticTreeNode>> {
    Ok(sock_core::config::load_tree(s, |p| std::fs::File::open(p))?)
}
