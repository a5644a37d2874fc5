//! The handler cache's own tests (the policies have theirs).

use super::*;

fn cache(mb: u64, p: PolicyConfig) -> HandlerCache {
    HandlerCache::new(Bytes::from_mb(mb), p.build())
}

#[test]
fn reuse_pause_and_lru_eviction() {
    let mut c = cache(100, PolicyConfig::Lru);
    let a = c.start(
        FunctionId(0),
        Bytes::from_mb(60),
        PackageSet::new(),
        Micros::ZERO,
    );
    let b = c.start(
        FunctionId(1),
        Bytes::from_mb(60),
        PackageSet::new(),
        Micros::ZERO,
    );
    assert_eq!(c.busy_bytes(), Bytes::from_mb(120));
    let (r, _) = c.release(a, Micros(10), Micros(0));
    assert!(r.kept && r.evicted.is_empty());
    let (r, gone) = c.release(b, Micros(20), Micros(0));
    assert_eq!(
        r,
        Release {
            kept: true,
            evicted: vec![a]
        }
    );
    assert_eq!(gone.len(), 1);
    assert_eq!(c.take_idle(FunctionId(0), Micros::ZERO), None);
    assert_eq!(c.take_idle(FunctionId(1), Micros::ZERO), Some(b));
    assert_eq!(c.idle_bytes(), Bytes::ZERO);
}

#[test]
fn too_big_or_disabled_is_destroyed() {
    let mut c = cache(10, PolicyConfig::Lru);
    let a = c.start(
        FunctionId(0),
        Bytes::from_mb(60),
        PackageSet::new(),
        Micros::ZERO,
    );
    assert!(!c.release(a, Micros(1), Micros(0)).0.kept);
    let mut c = cache(0, PolicyConfig::Lru);
    let a = c.start(
        FunctionId(0),
        Bytes::from_mb(1),
        PackageSet::new(),
        Micros::ZERO,
    );
    assert!(!c.release(a, Micros(1), Micros(0)).0.kept);
    assert_eq!(c.live_instances(), 0);
}

#[test]
fn ttl_expires_idle_only() {
    let mut c = cache(1000, PolicyConfig::Ttl { ttl_s: 1.0 });
    let a = c.start(
        FunctionId(0),
        Bytes::from_mb(1),
        PackageSet::new(),
        Micros::ZERO,
    );
    let b = c.start(
        FunctionId(1),
        Bytes::from_mb(1),
        PackageSet::new(),
        Micros::ZERO,
    );
    c.release(a, Micros(0), Micros(0));
    assert!(c.expire(Micros(999_999)).is_empty());
    let gone = c.expire(Micros(1_000_000));
    assert_eq!(gone.iter().map(|i| i.id).collect::<Vec<_>>(), vec![a]);
    assert!(c.instance(b).is_some(), "busy instance must survive");
}

#[test]
fn gdsf_keeps_expensive_frequent_functions() {
    let mut c = cache(100, PolicyConfig::Gdsf);
    for _ in 0..5 {
        c.note_invocation(FunctionId(0));
    }
    c.note_invocation(FunctionId(1));
    let a = c.start(
        FunctionId(0),
        Bytes::from_mb(50),
        PackageSet::new(),
        Micros::ZERO,
    );
    let b = c.start(
        FunctionId(1),
        Bytes::from_mb(50),
        PackageSet::new(),
        Micros::ZERO,
    );
    let d = c.start(
        FunctionId(2),
        Bytes::from_mb(50),
        PackageSet::new(),
        Micros::ZERO,
    );
    c.release(a, Micros(0), Micros(100_000));
    c.release(b, Micros(1), Micros(100_000));
    let (r, _) = c.release(d, Micros(2), Micros(100_000));
    assert_eq!(r.evicted, vec![b], "the rarely used function goes first");
}
