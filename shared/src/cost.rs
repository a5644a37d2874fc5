//! The cost model: turns a plan into latency by phase.
//!
//! Parameters come from a calibration file that `sock-exec calibrate`
//! measures on a host, or from the defaults below, which are the figures
//! measured on the project's reference VM (see `../shared/BRIEF.md` §7 and
//! `BENCHMARKS.md`). Per-package import and install costs come from the
//! trace, optionally overridden per package by the calibration file.

use crate::noise::NoiseParams;
use crate::pkgset::PackageSet;
use crate::trace::Catalog;
use crate::units::{Bytes, Micros};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Host parameters of the cost model. All times in ms, memory in MB.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self", default, deny_unknown_fields)]
pub struct CostParams {
    /// Creating a lean container: cgroup from the pool, bind mounts,
    /// namespaces, chroot (not counting the interpreter start).
    pub container_create_ms: f64,
    /// Extra container set-up per package folder bind-mounted into it.
    pub create_per_package_ms: f64,
    /// Starting a fresh interpreter (`python3 -c pass` in the container).
    pub python_start_ms: f64,
    /// Fork of a minimal Zygote into a new container.
    pub fork_base_ms: f64,
    /// Extra fork time per MB of Zygote memory (page-table copy).
    pub fork_per_mb_ms: f64,
    /// Handing a new container to a Zygote's pre-forked child (a spare):
    /// it joins the cgroup, enters the root, drops privileges. No fork.
    pub spare_hit_ms: f64,
    /// The request's way in and the response's way out (HTTP over the
    /// Unix socket, the handler's module load), on every path.
    pub transport_ms: f64,
    /// Extra transport on a cold start's first request (a new process
    /// faults in the runtime's pages and accepts its first connection);
    /// 0 unless fitted (`sim calibrate` fits it from a run's records).
    pub transport_cold_ms: f64,
    /// Extra transport on a fresh start's first request above a forked
    /// child's: the fresh interpreter's first `compile()` (loading the
    /// handler) builds the compiler's AST types, which a Zygote did once
    /// before it served; 0 unless measured or fitted.
    pub transport_fresh_ms: f64,
    /// Thawing a paused handler container (cgroup freezer).
    pub unpause_ms: f64,
    /// Multiplies every package's `import_ms` (host speed vs trace host).
    pub import_scale: f64,
    /// Multiplies every package's `install_ms`.
    pub install_scale: f64,
    /// Memory of the root Zygote: a bare interpreter.
    pub interpreter_mb: f64,
    /// Private memory of a forked Zygote before it imports anything.
    pub zygote_fork_mb: f64,
    /// Per-package overrides keyed `name==version` (measured on this host).
    pub packages: BTreeMap<String, PackageCost>,
    /// Sampled noise on the phases ([`crate::noise`]); empty (the default,
    /// and left out of a written file): one value per phase.
    #[serde(skip_serializing_if = "NoiseParams::is_empty")]
    pub noise: NoiseParams,
}
object_only!(CostParams, "cost parameters", serialize);

/// A measured override for one package.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
pub struct PackageCost {
    pub import_ms: Option<f64>,
    pub import_mb: Option<f64>,
    pub install_ms: Option<f64>,
}
object_only!(PackageCost, "a package cost override", serialize);

impl Default for CostParams {
    fn default() -> Self {
        CostParams {
            container_create_ms: 2.0,
            create_per_package_ms: 0.0,
            python_start_ms: 21.0,
            fork_base_ms: 0.7,
            fork_per_mb_ms: 0.04,
            spare_hit_ms: 0.5,
            transport_ms: 0.3,
            transport_cold_ms: 0.0,
            transport_fresh_ms: 0.0,
            unpause_ms: 0.5,
            import_scale: 1.0,
            install_scale: 1.0,
            interpreter_mb: 10.0,
            zygote_fork_mb: 2.0,
            packages: BTreeMap::new(),
            noise: NoiseParams::default(),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CostError {
    #[error("calibration field {field} is {}; it must be a finite number in [0, {max:e}]", crate::units::show(*value))]
    BadNumber { field: String, value: f64, max: f64 },
    #[error("calibration names package {0:?}, which is not in the trace")]
    UnknownPackage(String),
    #[error("calibration {0}")]
    BadNoise(String),
}

/// Latency of one invocation, by phase; `total()` is the end-to-end
/// latency (the field list: [`crate::phases::ByPhase`]).
pub type Phases = crate::phases::ByPhase<Micros>;

/// Cost parameters resolved against a trace's packages.
#[derive(Clone, Debug)]
pub struct CostModel {
    pub params: CostParams,
    import_time: Vec<Micros>,
    import_mem: Vec<Bytes>,
    install_time: Vec<Micros>,
}

impl CostModel {
    pub fn new(params: CostParams, catalog: &Catalog) -> Result<CostModel, CostError> {
        check_params(&params)?;
        let n = catalog.package_count();
        let ids = (0..n).map(|i| crate::units::PackageId(i as u32));
        let mut import_time: Vec<Micros> = ids
            .clone()
            .map(|p| Micros::from_ms_f64(catalog.package(p).import_ms * params.import_scale))
            .collect();
        let mut import_mem: Vec<Bytes> = ids.clone().map(|p| catalog.import_mem(p)).collect();
        let mut install_time: Vec<Micros> = ids
            .map(|p| Micros::from_ms_f64(catalog.package(p).install_ms * params.install_scale))
            .collect();
        for (key, over) in &params.packages {
            let p = catalog
                .lookup(key)
                .map_err(|_| CostError::UnknownPackage(key.clone()))?
                .index();
            if let Some(ms) = over.import_ms {
                import_time[p] = Micros::from_ms_f64(ms);
            }
            if let Some(mb) = over.import_mb {
                import_mem[p] = Bytes::from_mb_f64(mb);
            }
            if let Some(ms) = over.install_ms {
                install_time[p] = Micros::from_ms_f64(ms);
            }
        }
        Ok(CostModel {
            params,
            import_time,
            import_mem,
            install_time,
        })
    }

    pub fn import_time(&self, s: &PackageSet) -> Micros {
        s.iter().map(|p| self.import_time[p.index()]).sum()
    }

    pub fn import_mem(&self, s: &PackageSet) -> Bytes {
        s.iter().map(|p| self.import_mem[p.index()]).sum()
    }

    pub fn install_time(&self, s: &PackageSet) -> Micros {
        s.iter().map(|p| self.install_time[p.index()]).sum()
    }

    /// Container set-up with `packages` package folders mounted.
    pub fn container_create(&self, packages: usize) -> Micros {
        Micros::from_ms_f64(
            self.params.container_create_ms + self.params.create_per_package_ms * packages as f64,
        )
    }

    pub fn spare_hit(&self) -> Micros {
        Micros::from_ms_f64(self.params.spare_hit_ms)
    }

    pub fn transport(&self) -> Micros {
        Micros::from_ms_f64(self.params.transport_ms)
    }

    /// Transport of a cold start's first request.
    pub fn transport_cold(&self) -> Micros {
        Micros::from_ms_f64(self.params.transport_ms + self.params.transport_cold_ms)
    }

    /// What a fresh start's first request adds to [`CostModel::transport_cold`].
    pub fn transport_fresh(&self) -> Micros {
        Micros::from_ms_f64(self.params.transport_fresh_ms)
    }

    pub fn python_start(&self) -> Micros {
        Micros::from_ms_f64(self.params.python_start_ms)
    }

    pub fn unpause(&self) -> Micros {
        Micros::from_ms_f64(self.params.unpause_ms)
    }

    /// Forking a Zygote holding `mem` bytes (CoW: cost grows with page tables).
    pub fn fork(&self, mem: Bytes) -> Micros {
        Micros::from_ms_f64(self.params.fork_base_ms + self.params.fork_per_mb_ms * mem.as_mb_f64())
    }

    pub fn interpreter_mem(&self) -> Bytes {
        Bytes::from_mb_f64(self.params.interpreter_mb)
    }

    pub fn zygote_fork_mem(&self) -> Bytes {
        Bytes::from_mb_f64(self.params.zygote_fork_mb)
    }
}

fn check_params(p: &CostParams) -> Result<(), CostError> {
    p.noise.check().map_err(CostError::BadNoise)?;
    let fields = [
        ("container_create_ms", p.container_create_ms),
        ("create_per_package_ms", p.create_per_package_ms),
        ("spare_hit_ms", p.spare_hit_ms),
        ("transport_ms", p.transport_ms),
        ("transport_cold_ms", p.transport_cold_ms),
        ("transport_fresh_ms", p.transport_fresh_ms),
        ("python_start_ms", p.python_start_ms),
        ("fork_base_ms", p.fork_base_ms),
        ("fork_per_mb_ms", p.fork_per_mb_ms),
        ("unpause_ms", p.unpause_ms),
        ("import_scale", p.import_scale),
        ("install_scale", p.install_scale),
        ("interpreter_mb", p.interpreter_mb),
        ("zygote_fork_mb", p.zygote_fork_mb),
    ];
    let mut all: Vec<(String, f64)> = fields.iter().map(|(n, v)| (n.to_string(), *v)).collect();
    for (k, c) in &p.packages {
        for (n, v) in [
            ("import_ms", c.import_ms),
            ("import_mb", c.import_mb),
            ("install_ms", c.install_ms),
        ] {
            if let Some(v) = v {
                all.push((format!("packages.{k:?}.{n}"), v));
            }
        }
    }
    // Ranges from the field's unit suffix (issue 12: huge finite values
    // saturated into nonsense latencies instead of being refused).
    let max = |field: &str| {
        if field.ends_with("_scale") {
            crate::units::MAX_SCALE
        } else if field.ends_with("_mb") {
            crate::units::MAX_MB
        } else {
            crate::units::MAX_MS
        }
    };
    match all
        .into_iter()
        .find(|(f, v)| crate::units::check_range(*v, max(f)).is_err())
    {
        Some((field, value)) => Err(CostError::BadNumber {
            max: max(&field),
            field,
            value,
        }),
        None => Ok(()),
    }
}
