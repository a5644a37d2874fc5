//! The host parameters: fresh starts, root Zygotes, forks (plain, from a
//! pre-forked child, with many mounts, from a big Zygote) and resumes of
//! a paused handler.

use super::calibrator::{ok, progress, Calibrator};
use super::samples::Measured;
use super::{BIG_PACKAGE_MB, MOUNTS, PAUSE, TIMEOUT};
use crate::container::ContainerSpec;
use crate::install::wheel::{build_wheel, TestPackage};
use crate::install::{Installer, Source};
use crate::measure::{self, Marks};
use crate::sys::clock;
use anyhow::Context;
use std::path::PathBuf;

impl Calibrator {
    /// The host parameters.
    pub(super) fn host(&mut self, m: &mut Measured, python: &str) -> anyhow::Result<()> {
        let n = self.n;
        let noop = self.noop.clone();

        progress(format!("fresh starts of a no-op handler (n={n})"));
        for i in 0..=n {
            let (p, _, _) = self.fresh_once(&noop)?;
            if i > 0 {
                m.fresh.push(p.create as f64 / 1e3);
                m.transport_fresh.push(p.transport as f64 / 1e3);
            }
        }

        progress(format!("root Zygotes (n={n})"));
        let mut root = None;
        for _ in 0..n {
            if let Some(old) = root.take() {
                self.drop_live(old)?;
            }
            let (z, mem) = self.zygote(&ContainerSpec::default())?;
            m.root_mb.push(mem);
            root = Some(z);
        }
        let root = root.expect("n >= 1");

        progress(format!("forks from the root Zygote (n={n})"));
        for i in 0..=n {
            let s = self.fork_once(root, &[], false)?;
            if i > 0 {
                m.prepare.push(s.prepare);
                m.fork_base.push(s.fork);
                m.fork_mb.push(s.mem);
                m.transport.push(s.transport);
            }
        }

        progress(format!("pre-forked children of the root Zygote (n={n})"));
        for i in 0..=n {
            let s = self.fork_once(root, &[], true)?;
            if i > 0 {
                m.spare.push(s.fork);
                m.transport.push(s.transport);
            }
        }

        progress(format!(
            "forks from a Zygote holding a {BIG_PACKAGE_MB} MB package (n={n})"
        ));
        let mut big = TestPackage::new("sock-calibrate-big", "1.0");
        big.import_mb = BIG_PACKAGE_MB;
        let wheels = self.work.join("wheels");
        build_wheel(&wheels, &big).context("building the big test package")?;
        let installer = Installer::new(self.work.join("cache"), Source::FindLinks(wheels), python)?;
        installer.install(&big.key())?;
        let packages = vec![(big.key(), installer.key_path(&big.key())?)];
        let spec = ContainerSpec {
            packages: packages.clone(),
            imports: vec![big.module()],
            ..ContainerSpec::default()
        };
        progress(format!("forks mounting {MOUNTS} package folders (n={n})"));
        let many: Vec<(String, PathBuf)> = (0..MOUNTS)
            .map(|i| {
                (
                    format!("sock-calibrate-mount-{i}==1.0"),
                    packages[0].1.clone(),
                )
            })
            .collect();
        let root = self.live.len() - 1;
        for i in 0..=n {
            let s = self.fork_once(root, &many, false)?;
            if i > 0 {
                m.prepare_many.push(s.prepare);
            }
        }
        self.drop_live(root)?;

        let (z, mem) = self.zygote(&spec)?;
        m.big_mb = mem;
        for i in 0..=n {
            let s = self.fork_once(z, &packages, false)?;
            if i > 0 {
                m.fork_big.push(s.fork);
            }
        }
        self.drop_live(z)?;

        progress(format!("resuming a paused handler (n={n})"));
        let c = self.exec.create(&noop).context("creating a container")?;
        self.live.push(c);
        let h = self.live.len() - 1;
        for i in 0..=n {
            let c = &mut self.live[h];
            self.exec.pause(c).context("pausing")?;
            // A realistic pause: idle handlers wait seconds to minutes.
            std::thread::sleep(PAUSE);
            let start_ns = clock::monotonic_ns();
            self.exec.resume(c).context("resuming")?;
            let thawed_ns = clock::monotonic_ns();
            let r = self
                .exec
                .invoke(c, "{}", TIMEOUT)
                .context("invoking a resumed handler")?;
            let marks = Marks {
                start_ns,
                installed_ns: start_ns,
                done_ns: clock::monotonic_ns(),
            };
            let r = ok(r, c)?;
            if i > 0 {
                let p = measure::handler_hit(&marks, thawed_ns, &r).phases;
                m.unpause.push(p.unpause as f64 / 1e3);
                m.transport_warm.push(p.transport as f64 / 1e3);
            }
        }
        self.drop_live(h)?;
        Ok(())
    }
}
