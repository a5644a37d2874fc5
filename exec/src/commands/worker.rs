//! `sock-exec worker`: serves a function registry over HTTP on the three
//! tiers. One run of the engine per registry state: the catalog is built
//! from the registry (`worker::catalog`), a [`Runner`] serves the HTTP
//! source (`worker::server`) until the registry changes or a stop signal
//! arrives, drains, and tears down; a change builds the next catalog and
//! serves again (requests read meanwhile wait in the backlog; the
//! containers and caches of the old run are gone, the metadata cache of
//! measured packages stays).

use crate::cgroup::Cgroup;
use crate::cli::{Cli, WorkerArgs};
use crate::container::{Executor, ExecutorConfig};
use crate::install::{Installer, Source};
use crate::run::{RunOptions, Runner};
use crate::worker::catalog::CatalogBuilder;
use crate::worker::conn::Listener;
use crate::worker::registry::Registry;
use crate::worker::server::Http;
use anyhow::{Context, Result};
use std::io::Write;

fn listeners(args: &WorkerArgs) -> Result<Vec<Listener>> {
    let tcp = std::net::TcpListener::bind(args.listen)
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    tcp.set_nonblocking(true)?;
    let mut out = vec![Listener::Tcp(tcp)];
    if let Some(path) = &args.socket {
        // A socket file left by a worker that crashed.
        if path.exists() {
            std::fs::remove_file(path)
                .with_context(|| format!("cannot remove the old socket {}", path.display()))?;
        }
        let unix = std::os::unix::net::UnixListener::bind(path)
            .with_context(|| format!("cannot listen on {}", path.display()))?;
        unix.set_nonblocking(true)?;
        out.push(Listener::Unix(unix));
    }
    Ok(out)
}

pub(super) fn serve(cli: &Cli, args: &WorkerArgs) -> Result<()> {
    let root = super::existing_base(cli)?;
    let mut settings = sock_core::config::load_settings(
        args.config.as_deref(),
        args.calibration.as_deref(),
        |p| std::fs::File::open(p),
    )?;
    settings.check()?;
    let tree = sock_core::config::load_tree(&settings, |p| std::fs::File::open(p))?;
    let python = crate::base::python_version(&root)
        .with_context(|| format!("no python3.N under {}/usr/lib", root.display()))?;
    let source = match &args.find_links {
        Some(d) => Source::FindLinks(d.clone()),
        None => Source::Index,
    };
    let mut last_good = Registry::load(&args.registry)?;
    let work = args
        .work
        .clone()
        .unwrap_or_else(|| cli.state.join("worker"));
    let mut config = ExecutorConfig::new(cli.state.clone(), root);
    config.cgroup_prefix = args.cgroup_prefix.clone();
    let mut exec = Executor::new(config)?;
    let memory_file = exec.backend().memory_file(&Cgroup {
        rel: args.cgroup_prefix.clone(),
    });
    let meta = Installer::new(work.join("meta"), source.clone(), &python)?;
    let mut builder = CatalogBuilder::new(meta, work.join("scratch"), args.timeout_s);
    let listeners = listeners(args)?;
    let bound = match &listeners[0] {
        Listener::Tcp(l) => l.local_addr()?,
        Listener::Unix(_) => args.listen,
    };
    let mut http = Http::new(
        listeners,
        args.registry.clone(),
        args.drain_timeout_s,
        Some(memory_file),
    );
    let mut first = true;
    let summary = loop {
        let fingerprint = Registry::fingerprint(&args.registry)?;
        match Registry::load(&args.registry) {
            Ok(r) => last_good = r,
            Err(e) => {
                tracing::error!(error = %e, "the registry cannot be read; serving its last good state")
            }
        }
        let built = builder.build(&last_good, &mut exec)?;
        let names: Vec<&String> = last_good.functions.keys().collect();
        tracing::info!(functions = ?names, broken = built.broken.len(), "registry loaded");
        http.set_functions(built.ids.clone(), built.broken.clone(), fingerprint);
        let opts = RunOptions {
            work_dir: work.join("run"),
            source: source.clone(),
            python_version: python.clone(),
            speedup: None,
            timeout: args.timeout_s,
            progress_every: 0,
            worker: settings.worker.clone(),
            concurrent: true,
            handler_dirs: Some(built.handler_dirs.clone()),
            from_clients: true,
        };
        let mut runner = Runner::new(
            &mut exec,
            &built.catalog,
            settings.cost.clone(),
            settings.tiers.clone(),
            tree.as_ref(),
            opts,
        )?;
        if first {
            first = false;
            let mut out = std::io::stdout();
            writeln!(
                out,
                "sock-exec worker: listening on http://{bound}{} ({} functions from {})",
                args.socket
                    .as_ref()
                    .map(|p| format!(" and {}", p.display()))
                    .unwrap_or_default(),
                names.len(),
                args.registry.display()
            )?;
            out.flush()?;
        }
        runner.serve(&mut http)?;
        let summary = runner.finish()?;
        if http.stopping() {
            break summary;
        }
        http.stats.reloads += 1;
    };
    http.close();
    exec.shutdown()?;
    if let Some(path) = &args.socket {
        let _ = std::fs::remove_file(path);
    }
    // Stdout may be gone by now (a closed pipe): the stop is not an error.
    let _ = writeln!(
        std::io::stdout(),
        "sock-exec worker: stopped; {} (last registry state: {} calls served)",
        http.stats.line(),
        summary.invocations
    );
    Ok(())
}
