//! Which cgroup layout the host runs, read from the mount table (never
//! guessed from hard-coded controller names): v1, v2 or hybrid (v1
//! controllers plus an empty v2 hierarchy, as on this project's VM).

use std::path::PathBuf;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CgroupLayout {
    /// Only cgroup v1 hierarchies; `controllers` maps each to its mount point.
    V1 { controllers: Vec<(String, PathBuf)> },
    /// The unified hierarchy only.
    V2 { mount: PathBuf },
    /// v1 controllers plus a v2 hierarchy (usually `/sys/fs/cgroup/unified`).
    Hybrid {
        controllers: Vec<(String, PathBuf)>,
        unified: PathBuf,
    },
    /// No cgroup file system is mounted.
    None,
}

/// Parses `/proc/self/mountinfo` text (proc(5)): field 5 is the mount
/// point; after the ` - ` separator come the fs type, source and super
/// options, where v1 lists its controllers.
pub fn detect(mountinfo: &str) -> CgroupLayout {
    let mut v1 = Vec::new();
    let mut v2 = None;
    for line in mountinfo.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let Some(mount) = pre.split(' ').nth(4) else {
            continue;
        };
        let mut post = post.split(' ');
        let fstype = post.next().unwrap_or("");
        let super_opts = post.nth(1).unwrap_or("");
        match fstype {
            "cgroup2" => v2 = Some(PathBuf::from(mount)),
            "cgroup" => {
                for opt in super_opts.split(',') {
                    let known = [
                        "cpu",
                        "cpuacct",
                        "cpuset",
                        "memory",
                        "pids",
                        "freezer",
                        "devices",
                        "blkio",
                        "io",
                        "perf_event",
                        "net_cls",
                        "net_prio",
                        "hugetlb",
                        "rdma",
                        "misc",
                    ];
                    if known.contains(&opt) {
                        v1.push((opt.to_string(), PathBuf::from(mount)));
                    } else if let Some(name) = opt.strip_prefix("name=") {
                        v1.push((format!("name={name}"), PathBuf::from(mount)));
                    }
                }
            }
            _ => {}
        }
    }
    v1.sort();
    match (v1.is_empty(), v2) {
        (true, None) => CgroupLayout::None,
        (true, Some(mount)) => CgroupLayout::V2 { mount },
        (false, None) => CgroupLayout::V1 { controllers: v1 },
        (false, Some(unified)) => CgroupLayout::Hybrid {
            controllers: v1,
            unified,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
35 25 0:30 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw,nsdelegate
36 25 0:31 / /sys/fs/cgroup/freezer rw,nosuid - cgroup cgroup rw,freezer
37 25 0:32 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct
38 25 0:33 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
";

    #[test]
    fn detects_hybrid_v1_v2() {
        match detect(HYBRID) {
            CgroupLayout::Hybrid {
                controllers,
                unified,
            } => {
                assert_eq!(unified, PathBuf::from("/sys/fs/cgroup/unified"));
                let names: Vec<&str> = controllers.iter().map(|(c, _)| c.as_str()).collect();
                assert_eq!(names, vec!["cpu", "cpuacct", "freezer", "name=systemd"]);
            }
            other => panic!("{other:?}"),
        }
        let v2 = "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        assert_eq!(
            detect(v2),
            CgroupLayout::V2 {
                mount: "/sys/fs/cgroup".into()
            }
        );
        assert_eq!(detect(""), CgroupLayout::None);
    }
}
