//! Which real closure each Azure app gets.
//!
//! The rule: apps sorted by (HashOwner, HashApp); closure files sorted by
//! file id and shuffled once (Fisher-Yates, the `closures` RNG stream of
//! `--seed`); the k-th app takes the k-th shuffled file, wrapping around when
//! there are more apps than files. So distinct apps get distinct files
//! (until the files run out), every function of an app shares its app's
//! closure, and a closure is independent of the app's traffic. Files that
//! compile to nothing (a bare `requirements.txt`) are kept: such an app
//! runs hello-world handlers.

use super::requirements::ClosureFile;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AssignError {
    #[error("{path}: holds no requirements file, so no app can get a closure")]
    NoClosures { path: String },
}

/// App key -> index into `files`.
pub fn assign(
    apps: &[(String, String)],
    files: &[ClosureFile],
    source: &str,
    rng: &mut StdRng,
) -> Result<BTreeMap<(String, String), usize>, AssignError> {
    if files.is_empty() && !apps.is_empty() {
        return Err(AssignError::NoClosures {
            path: source.to_string(),
        });
    }
    let mut order: Vec<usize> = (0..files.len()).collect();
    order.shuffle(rng);
    let mut sorted = apps.to_vec();
    sorted.sort();
    Ok(sorted
        .into_iter()
        .enumerate()
        .map(|(k, app)| (app, order[k % order.len()]))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn files(n: usize) -> Vec<ClosureFile> {
        (0..n)
            .map(|i| ClosureFile {
                id: format!("f{i}"),
                packages: Vec::new(),
            })
            .collect()
    }

    fn apps(n: usize) -> Vec<(String, String)> {
        (0..n)
            .map(|i| ("o".to_string(), format!("a{i:02}")))
            .collect()
    }

    #[test]
    fn distinct_until_files_run_out_and_order_free() {
        let mut rng = StdRng::seed_from_u64(5);
        let a = assign(&apps(10), &files(20), "r.json", &mut rng).expect("ok");
        let distinct: std::collections::BTreeSet<_> = a.values().collect();
        assert_eq!(distinct.len(), 10);
        let mut reversed = apps(10);
        reversed.reverse();
        let b = assign(
            &reversed,
            &files(20),
            "r.json",
            &mut StdRng::seed_from_u64(5),
        )
        .expect("ok");
        assert_eq!(a, b, "the apps' file order does not matter");
        let c = assign(&apps(5), &files(2), "r.json", &mut rng).expect("wraps");
        assert_eq!(c.len(), 5);
        assert!(assign(&apps(1), &files(0), "r.json", &mut rng).is_err());
    }
}
