//! Tier configuration: sizes, policies and which tiers are on. This is the
//! `tiers` part of a sim / sock-exec config file; [`Settings`] is the whole
//! file, read by `load.rs` ([`load_settings`]) for both binaries.

mod load;

pub use load::{load_settings, load_tree, read_json, SettingsError, MAX_JSON_BYTES};

use crate::cost::CostParams;
use crate::handler_cache::{KeepaliveFrom, PolicyConfig};
use crate::worker::WorkerConfig;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// How the import cache behaves; `Off` and `Root` reproduce SOCK's
/// comparisons (lean containers without Zygotes; a single bare Zygote).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ZygoteMode {
    /// No Zygotes: every cold start is a fresh interpreter.
    Off,
    /// Only the root Zygote (a bare interpreter) to fork from.
    Root,
    /// SOCK: the tree grows on demand and evicts under memory pressure.
    #[default]
    Dynamic,
    /// A fixed tree loaded from an OpenLambda tree file; no growth.
    Static,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self", default, deny_unknown_fields)]
pub struct HandlerTier {
    /// Memory for idle (paused) handler instances; 0 turns the tier off.
    pub budget_mb: f64,
    pub policy: PolicyConfig,
    /// When an idle instance's keep-alive starts: `"end"` of its call
    /// (default) or `"start"` (FaasCache). Not written when `"end"`.
    #[serde(skip_serializing_if = "KeepaliveFrom::is_end")]
    pub keepalive_from: KeepaliveFrom,
    /// An instance released by its call is paused only once idle this long
    /// (ms; OpenWhisk's pause grace): a hit within the grace finds it
    /// running and pays no unpause. 0 (default, not written): paused at
    /// its release, as SOCK does.
    #[serde(skip_serializing_if = "is_zero")]
    pub pause_grace_ms: f64,
}
object_only!(HandlerTier, "tiers.handler", serialize);

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

impl Default for HandlerTier {
    fn default() -> Self {
        HandlerTier {
            budget_mb: 4096.0,
            policy: PolicyConfig::default(),
            keepalive_from: KeepaliveFrom::End,
            pause_grace_ms: 0.0,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self", default, deny_unknown_fields)]
pub struct ZygoteTier {
    pub mode: ZygoteMode,
    /// Memory for the whole Zygote tree, root included.
    pub budget_mb: f64,
    /// Grow a new Zygote only when it would save at least this much import
    /// time per handler start (avoids Zygotes that save nothing).
    pub min_gain_ms: f64,
    /// Pre-forked children each Zygote keeps ready (0: fork on every hit;
    /// at most [`MAX_SPARES`]).
    pub spares: u32,
}

/// Most pre-forked children a Zygote may keep.
pub const MAX_SPARES: u32 = 64;
object_only!(ZygoteTier, "tiers.zygote", serialize);

impl Default for ZygoteTier {
    fn default() -> Self {
        ZygoteTier {
            mode: ZygoteMode::Dynamic,
            budget_mb: 2048.0,
            min_gain_ms: 1.0,
            spares: 1,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self", default, deny_unknown_fields)]
pub struct InstallTier {
    /// Disk for installed packages; 0 turns the tier off.
    pub budget_mb: f64,
}
object_only!(InstallTier, "tiers.install", serialize);

impl Default for InstallTier {
    fn default() -> Self {
        InstallTier { budget_mb: 8192.0 }
    }
}

/// All three tiers. Defaults: 4 GB handler cache with a 10-minute TTL,
/// 2 GB dynamic Zygote tree, 8 GB install cache.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(remote = "Self", default, deny_unknown_fields)]
pub struct TierConfig {
    pub handler: HandlerTier,
    pub zygote: ZygoteTier,
    pub install: InstallTier,
}
object_only!(TierConfig, "tiers", serialize);

/// A run's settings file (`sim --config`, `sock-exec run --config`):
/// `{"worker": .., "tiers": .., "cost": .., "replay": .., "zygote_tree": ..}`,
/// every section optional.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self", default, deny_unknown_fields)]
pub struct Settings {
    pub worker: WorkerConfig,
    pub tiers: TierConfig,
    pub cost: CostParams,
    pub replay: ReplaySettings,
    /// OpenLambda-format tree file, for `tiers.zygote.mode = "static"`.
    pub zygote_tree: Option<PathBuf>,
}
object_only!(Settings, "a settings file", serialize);

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self", default, deny_unknown_fields)]
pub struct ReplaySettings {
    /// The old name of `worker.cores` (before the worker model); when
    /// given it sets `worker.cores` ([`Settings::check`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<usize>,
    /// sim sets containers up one at a time, as `sock-exec run
    /// --concurrent`'s one loop does (`sim --serial-setup`,
    /// sim/src/setup_loop.rs); sock-exec's concurrent run is always so.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub serial_setup: bool,
}
object_only!(ReplaySettings, "replay", serialize);
