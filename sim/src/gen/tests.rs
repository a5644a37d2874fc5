use super::*;
use sock_core::trace::{Invocation, TraceReader};

fn small() -> GenParams {
    GenParams {
        packages: 60,
        functions: 40,
        invocations: 5_000,
        duration_s: 60.0,
        ..GenParams::default()
    }
}

fn bytes(p: &GenParams) -> Vec<u8> {
    let mut out = Vec::new();
    generate(p, &mut out).expect("valid params");
    out
}

fn read(text: &[u8]) -> (TraceHeader, Vec<Invocation>) {
    let reader = TraceReader::new(text, "gen.json").expect("header reads back");
    let header = reader.catalog().header.clone();
    let invocations = reader
        .collect::<Result<Vec<_>, _>>()
        .expect("invocations read back");
    (header, invocations)
}

#[test]
fn same_params_same_bytes() {
    for bursty in [false, true] {
        let p = GenParams { bursty, ..small() };
        assert_eq!(bytes(&p), bytes(&p));
        let other = GenParams {
            seed: 43,
            ..p.clone()
        };
        assert_ne!(bytes(&p), bytes(&other));
    }
}

#[test]
fn reads_back_with_exactly_the_requested_invocations() {
    for bursty in [false, true] {
        // Bursts much shorter than the trace, so the span stays near 60 s.
        let p = GenParams {
            bursty,
            burst_on_s: 0.5,
            burst_off_s: 4.5,
            ..small()
        };
        let mut out = Vec::new();
        let summary = generate(&p, &mut out).expect("valid");
        let (header, inv) = read(&out);
        assert_eq!(inv.len() as u64, p.invocations);
        assert!(inv.windows(2).all(|w| w[0].time <= w[1].time));
        assert_eq!(header.packages.len(), p.packages);
        assert_eq!(header.functions.len(), p.functions);
        assert_eq!(summary.invocations, p.invocations);
        assert_eq!(summary.span_us, inv.last().map_or(0, |i| i.time.0));
        assert_eq!(header.source["generator"], "sim trace gen");
        assert_eq!(header.source["params"]["seed"], 42);
        assert_eq!(header.source["params"]["bursty"], bursty);
        // Exact count, so the span is only close to --duration-s.
        let span_s = summary.span_us as f64 / 1e6;
        assert!(span_s > 30.0 && span_s < 120.0, "{span_s}");
    }
}

#[test]
fn packages_form_a_dag_and_requirements_are_distinct() {
    let p = GenParams {
        packages: 500,
        functions: 300,
        invocations: 10,
        dep_mean: 2.0,
        ..GenParams::default()
    };
    let (header, _) = read(&bytes(&p));
    for (i, pkg) in header.packages.iter().enumerate() {
        assert!(
            pkg.deps.iter().all(|&d| (d as usize) < i),
            "{i}: {:?}",
            pkg.deps
        );
        assert!(pkg.deps.windows(2).all(|w| w[0] < w[1]));
        assert!(pkg.deps.len() <= catalog::MAX_DEPS);
        assert!(pkg.import_ms >= 0.0 && pkg.import_mb >= 0.0 && pkg.install_ms >= 0.0);
    }
    assert_eq!(header.packages[0].deps, Vec::<u32>::new());
    assert_eq!(header.packages[42].name, "pkg0042");
    assert_eq!(header.functions[42].name, "fn00042");
    let mut hello = 0;
    for f in &header.functions {
        assert!(
            f.packages.windows(2).all(|w| w[0] < w[1]),
            "{:?}",
            f.packages
        );
        hello += usize::from(f.packages.is_empty());
        assert!(f.memory_mb >= catalog::PYTHON_BASE_MB);
    }
    // 10% of 300 expected; binomial sd ~5.
    assert!((10..=55).contains(&hello), "{hello}");
}

#[test]
fn tables_do_not_depend_on_arrival_knobs() {
    let a = small();
    let b = GenParams {
        invocations: 77,
        duration_s: 5.0,
        function_zipf: 2.0,
        bursty: true,
        ..small()
    };
    let (ha, _) = read(&bytes(&a));
    let (hb, _) = read(&bytes(&b));
    assert_eq!(ha.packages, hb.packages);
    assert_eq!(ha.functions, hb.functions);
}

#[test]
fn empty_edges_are_valid() {
    let none = GenParams {
        invocations: 0,
        ..small()
    };
    let (_, inv) = read(&bytes(&none));
    assert!(inv.is_empty());
    let nothing = GenParams {
        packages: 0,
        functions: 0,
        invocations: 0,
        ..small()
    };
    assert_eq!(read(&bytes(&nothing)).0.functions.len(), 0);
    // No packages: every function is a hello-world handler.
    let bare = GenParams {
        packages: 0,
        ..small()
    };
    let (header, inv) = read(&bytes(&bare));
    assert!(header.functions.iter().all(|f| f.packages.is_empty()));
    assert_eq!(inv.len() as u64, bare.invocations);
}

#[test]
fn bad_params_are_errors_naming_the_flag() {
    let cases: Vec<(GenParams, &str)> = vec![
        (
            GenParams {
                functions: 0,
                ..small()
            },
            "--functions is 0",
        ),
        (
            GenParams {
                duration_s: 0.0,
                ..small()
            },
            "--duration-s",
        ),
        (
            GenParams {
                duration_s: -1.0,
                ..small()
            },
            "--duration-s",
        ),
        (
            GenParams {
                duration_s: f64::INFINITY,
                ..small()
            },
            "--duration-s",
        ),
        (
            GenParams {
                package_zipf: f64::NAN,
                ..small()
            },
            "--package-zipf is NaN",
        ),
        (
            GenParams {
                function_zipf: -0.5,
                ..small()
            },
            "--function-zipf",
        ),
        (
            GenParams {
                function_zipf: f64::INFINITY,
                ..small()
            },
            "--function-zipf",
        ),
        (
            GenParams {
                dep_mean: 6.0,
                ..small()
            },
            "--dep-mean",
        ),
        (
            GenParams {
                extra_requirements: -1.0,
                ..small()
            },
            "--extra-requirements",
        ),
        (
            GenParams {
                hello_fraction: 1.5,
                ..small()
            },
            "--hello-fraction",
        ),
        (
            GenParams {
                burst_on_s: 0.0,
                ..small()
            },
            "--burst-on-s",
        ),
        (
            GenParams {
                burst_off_s: f64::NAN,
                ..small()
            },
            "--burst-off-s",
        ),
        (
            GenParams {
                packages: MAX_TABLE + 1,
                ..small()
            },
            "--packages",
        ),
    ];
    for (p, want) in cases {
        assert!(p.validate().is_err(), "{want}");
        let mut out = Vec::new();
        let err = generate(&p, &mut out).expect_err(want).to_string();
        assert!(err.contains(want), "{err:?} should mention {want:?}");
        assert!(out.is_empty(), "nothing is written for bad params");
    }
}

#[test]
fn extreme_but_valid_exponents_work() {
    let p = GenParams {
        package_zipf: 50.0,
        function_zipf: 50.0,
        extra_requirements: 20.0,
        ..small()
    };
    let (_, inv) = read(&bytes(&p));
    assert_eq!(inv.len() as u64, p.invocations);
    let bursty = GenParams {
        bursty: true,
        function_zipf: 6.0,
        functions: 2_000,
        ..p
    };
    let (_, inv) = read(&bytes(&bursty));
    assert_eq!(inv.len() as u64, bursty.invocations);
}

#[test]
fn clap_defaults_match_default() {
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        p: GenParams,
    }
    let cli = <Cli as clap::Parser>::try_parse_from(["gen"]).expect("defaults parse");
    let json = |p: &GenParams| serde_json::to_value(p).expect("serializes");
    assert_eq!(json(&cli.p), json(&GenParams::default()));
}

/// `cargo test --release -p sock-sim gen::tests::speed -- --ignored --nocapture`
#[test]
#[ignore = "measures speed; run by hand"]
fn speed_one_million() {
    for bursty in [false, true] {
        let p = GenParams {
            invocations: 1_000_000,
            bursty,
            ..GenParams::default()
        };
        let start = std::time::Instant::now();
        let mut sink = CountingSink(0);
        let s = generate(&p, &mut sink).expect("valid");
        let secs = start.elapsed().as_secs_f64();
        println!(
            "bursty={bursty}: {} invocations, {} bytes in {secs:.3} s ({:.1} M invocations/s)",
            s.invocations,
            sink.0,
            s.invocations as f64 / secs / 1e6
        );
    }
}

struct CountingSink(u64);

impl Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
