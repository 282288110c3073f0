//! Cutting files into tar shards within the service's limits.

use super::archive::{tar_entry_size, tar_size};
use super::discover::SourceFile;

/// The most images per shard when the service does not say (its documented limit).
///
/// ```
/// assert_eq!(roboflow_batch::ingest::DEFAULT_MAX_IMAGES_PER_SHARD, 500);
/// ```
pub const DEFAULT_MAX_IMAGES_PER_SHARD: u64 = 500;

/// The largest shard when the service does not say: 1 GiB.
///
/// ```
/// assert_eq!(roboflow_batch::ingest::DEFAULT_MAX_SHARD_BYTES, 1 << 30);
/// ```
pub const DEFAULT_MAX_SHARD_BYTES: u64 = 1 << 30;

/// Balanced shards never go below this many images (unless the limit is lower), so a small
/// ingest does not turn into many tiny shards.
const MIN_BALANCED_IMAGES: u64 = 100;

/// The limits a shard must respect.
///
/// ```
/// use roboflow_batch::ingest::ShardLimits;
/// let l = ShardLimits::default();
/// assert_eq!((l.max_images, l.max_bytes), (500, 1 << 30));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardLimits {
    /// The most images in one shard (`maxNumberOfImages`).
    pub max_images: u64,
    /// The largest shard in bytes, tar overhead included (`maxShardSize`).
    pub max_bytes: u64,
}

impl Default for ShardLimits {
    fn default() -> Self {
        ShardLimits {
            max_images: DEFAULT_MAX_IMAGES_PER_SHARD,
            max_bytes: DEFAULT_MAX_SHARD_BYTES,
        }
    }
}

/// A planned shard: indices into the file list, and its exact tar size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PlannedShard {
    pub files: Vec<usize>,
    pub tar_len: u64,
}

/// The plan: shards in order, and files that fit in no shard (even alone).
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub shards: Vec<PlannedShard>,
    pub too_big: Vec<usize>,
}

/// Cuts `files` (in order) into shards within `limits`. `extra` is the size one more
/// member adds to every shard (`notification_config.json`), and `workers` the number of
/// parallel uploads: the shard count is rounded up to a multiple of it where that keeps
/// shards of at least 100 images, so the last wave of uploads is not half empty.
pub(crate) fn plan(files: &[SourceFile], limits: ShardLimits, extra: u64, workers: usize) -> Plan {
    let max_images = limits.max_images.max(1);
    let n = files.len() as u64;
    let per = balanced_per_shard(n, max_images, workers.max(1) as u64);
    let mut plan = Plan::default();
    let empty = tar_size([]) + extra;
    let mut cur = PlannedShard {
        files: Vec::new(),
        tar_len: empty,
    };
    for (i, f) in files.iter().enumerate() {
        let add = tar_entry_size(f.name.len(), f.size);
        if empty + add > limits.max_bytes {
            plan.too_big.push(i);
            continue;
        }
        let full = cur.files.len() as u64 >= per || cur.tar_len + add > limits.max_bytes;
        if full && !cur.files.is_empty() {
            plan.shards.push(std::mem::replace(
                &mut cur,
                PlannedShard {
                    files: Vec::new(),
                    tar_len: empty,
                },
            ));
        }
        cur.files.push(i);
        cur.tar_len += add;
    }
    if !cur.files.is_empty() {
        plan.shards.push(cur);
    }
    plan
}

fn balanced_per_shard(n: u64, max_images: u64, workers: u64) -> u64 {
    if n == 0 {
        return max_images;
    }
    let shards = n.div_ceil(max_images);
    let rounded = shards.div_ceil(workers) * workers;
    let per = n.div_ceil(rounded);
    let floor = MIN_BALANCED_IMAGES.min(max_images);
    if per < floor {
        floor.min(max_images)
    } else {
        per.min(max_images)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn files(sizes: &[u64]) -> Vec<SourceFile> {
        sizes
            .iter()
            .enumerate()
            .map(|(i, &size)| SourceFile {
                path: PathBuf::from(format!("/d/{i}.jpg")),
                relative: format!("{i}.jpg"),
                name: format!("{i}.jpg"),
                size,
                modified: None,
            })
            .collect()
    }

    #[test]
    fn respects_the_image_count_and_balances_waves() {
        let f = files(&[1000; 10_000]);
        let p = plan(&f, ShardLimits::default(), 0, 8);
        assert_eq!(p.shards.len(), 24); // 20 at 500, rounded up to 3 full waves of 8
        assert!(p.shards.iter().all(|s| s.files.len() <= 500));
        let all: Vec<usize> = p.shards.iter().flat_map(|s| s.files.clone()).collect();
        assert_eq!(all, (0..10_000).collect::<Vec<_>>());
        // Small sets are not cut below 100 images per shard.
        let p = plan(&files(&[10; 150]), ShardLimits::default(), 0, 8);
        assert_eq!(
            p.shards.iter().map(|s| s.files.len()).collect::<Vec<_>>(),
            [100, 50]
        );
    }

    #[test]
    fn respects_the_byte_limit_exactly() {
        let f = files(&[1000, 1000, 1000, 5000]);
        let one = tar_entry_size(5, 1000);
        let limits = ShardLimits {
            max_images: 500,
            max_bytes: 1024 + 2 * one, // exactly two small files
        };
        let p = plan(&f, limits, 0, 1);
        assert_eq!(p.shards[0].files, [0, 1]);
        assert_eq!(p.shards[0].tar_len, limits.max_bytes);
        assert_eq!(p.shards[1].files, [2]);
        assert_eq!(p.too_big, [3]); // alone, it is still over the limit
        for s in &p.shards {
            let want = tar_size(s.files.iter().map(|&i| (f[i].name.len(), f[i].size)));
            assert_eq!(s.tar_len, want);
        }
    }

    #[test]
    fn counts_the_extra_member() {
        let f = files(&[1000, 1000]);
        let one = tar_entry_size(5, 1000);
        let extra = tar_entry_size(24, 40);
        let limits = ShardLimits {
            max_images: 500,
            max_bytes: 1024 + 2 * one + extra - 1,
        };
        let p = plan(&f, limits, extra, 1);
        assert_eq!(p.shards.len(), 2);
    }
}
