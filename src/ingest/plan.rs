//! Cutting files into tar shards within the service's limits.

use super::tar_shard::{TAR_END, tar_entry_size};

/// The most images per shard when the service does not say (its documented limit).
pub(crate) const DEFAULT_MAX_IMAGES_PER_SHARD: u64 = 500;

/// The largest shard when the service does not say: 1 GiB.
pub(crate) const DEFAULT_MAX_SHARD_BYTES: u64 = 1 << 30;

/// Balanced shards keep at least this many images: no swarm of tiny shards.
const MIN_BALANCED_IMAGES: u64 = 100;

/// The limits a shard must respect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ShardLimits {
    /// The most images in one shard (`maxNumberOfImages`).
    pub max_images: u64,
    /// The largest shard in bytes, tar overhead included (`maxShardSize`).
    pub max_bytes: u64,
}

/// A planned shard: its members, and its exact tar size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PlannedShard<T> {
    pub files: Vec<T>,
    pub tar_len: u64,
}

/// What one more file did to the plan.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step<T> {
    /// It joined the shard being filled.
    Added,
    /// It fits in no shard, even alone: it comes back.
    TooBig(T),
    /// The shard being filled was full: here it is, and the file starts the next one.
    Full(PlannedShard<T>),
}

/// Cuts files, one at a time, into shards within the limits (`extra`: a member every
/// shard adds), rounding the shard count up to a multiple of `workers` where shards
/// keep 100 images, so the last wave of uploads is not half empty.
#[derive(Debug)]
pub(crate) struct Planner<T> {
    max_bytes: u64,
    per: u64,
    empty: u64,
    cur: PlannedShard<T>,
}

impl<T> Planner<T> {
    pub fn new(files: u64, limits: ShardLimits, extra: u64, workers: usize) -> Planner<T> {
        let max_images = limits.max_images.max(1);
        let empty = TAR_END + extra;
        Planner {
            max_bytes: limits.max_bytes,
            per: balanced_per_shard(files, max_images, workers.max(1) as u64),
            empty,
            cur: PlannedShard {
                files: Vec::new(),
                tar_len: empty,
            },
        }
    }

    /// Adds a file of `name_len` and `size` bytes.
    pub fn push(&mut self, file: T, name_len: usize, size: u64) -> Step<T> {
        let add = tar_entry_size(name_len, size);
        if self.empty + add > self.max_bytes {
            return Step::TooBig(file);
        }
        let full =
            self.cur.files.len() as u64 >= self.per || self.cur.tar_len + add > self.max_bytes;
        let done = (full && !self.cur.files.is_empty()).then(|| {
            let files = Vec::new();
            std::mem::replace(
                &mut self.cur,
                PlannedShard {
                    files,
                    tar_len: self.empty,
                },
            )
        });
        self.cur.files.push(file);
        self.cur.tar_len += add;
        match done {
            Some(s) => Step::Full(s),
            None => Step::Added,
        }
    }

    /// The last shard, if it holds anything.
    pub fn finish(self) -> Option<PlannedShard<T>> {
        (!self.cur.files.is_empty()).then_some(self.cur)
    }
}

fn balanced_per_shard(n: u64, max_images: u64, workers: u64) -> u64 {
    if n == 0 {
        return max_images;
    }
    let rounded = n.div_ceil(max_images).div_ceil(workers) * workers;
    let floor = MIN_BALANCED_IMAGES.min(max_images);
    n.div_ceil(rounded).max(floor).min(max_images)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shards of files `i.jpg` of `sizes` (by position), and those too big.
    fn plan(
        sizes: &[u64],
        limits: ShardLimits,
        extra: u64,
        workers: usize,
    ) -> (Vec<PlannedShard<usize>>, Vec<usize>) {
        let mut p = Planner::new(sizes.len() as u64, limits, extra, workers);
        let (mut shards, mut too_big) = (Vec::new(), Vec::new());
        for (i, &size) in sizes.iter().enumerate() {
            match p.push(i, format!("{i}.jpg").len(), size) {
                Step::Added => {}
                Step::TooBig(i) => too_big.push(i),
                Step::Full(s) => shards.push(s),
            }
        }
        shards.extend(p.finish());
        (shards, too_big)
    }

    fn counts(shards: &[PlannedShard<usize>]) -> Vec<usize> {
        shards.iter().map(|s| s.files.len()).collect()
    }

    #[test]
    fn respects_the_image_count_and_balances_waves() {
        let limits = ShardLimits {
            max_images: DEFAULT_MAX_IMAGES_PER_SHARD,
            max_bytes: DEFAULT_MAX_SHARD_BYTES,
        };
        let (shards, _) = plan(&[1000; 10_000], limits, 0, 8);
        // 20 at 500, rounded up to 3 full waves of 8.
        assert_eq!(
            (shards.len(), counts(&shards).into_iter().max()),
            (24, Some(417))
        );
        let all: Vec<usize> = shards.iter().flat_map(|s| s.files.clone()).collect();
        assert_eq!(all, (0..10_000).collect::<Vec<_>>());
        // Small sets are not cut below 100 images per shard.
        let (shards, _) = plan(&[10; 150], limits, 0, 8);
        assert_eq!(counts(&shards), [100, 50]);
    }

    #[test]
    fn respects_the_byte_limit_exactly_counting_the_extra_member() {
        let one = tar_entry_size(5, 1000);
        let extra = tar_entry_size(24, 40);
        // (extra, max_bytes, shards, too big)
        type Case = (u64, u64, &'static [&'static [usize]], &'static [usize]);
        let cases: [Case; 2] = [
            (0, 1024 + 2 * one, &[&[0, 1], &[2]], &[3]), // exactly two small files
            (extra, 1024 + 2 * one + extra - 1, &[&[0], &[1], &[2]], &[3]),
        ];
        for (extra, max_bytes, want, too_big) in cases {
            let limits = ShardLimits {
                max_images: 500,
                max_bytes,
            };
            let sizes = [1000, 1000, 1000, 5000];
            let (shards, big) = plan(&sizes, limits, extra, 1);
            let got: Vec<&[usize]> = shards.iter().map(|s| s.files.as_slice()).collect();
            assert_eq!((&got[..], &big[..]), (want, too_big), "{extra}");
            for s in &shards {
                let members = s.files.iter().map(|&i| tar_entry_size(5, sizes[i]));
                let want = TAR_END + members.sum::<u64>() + extra;
                assert_eq!(s.tar_len, want);
                assert!(s.tar_len <= max_bytes);
            }
            assert_eq!(
                shards[0].tar_len == max_bytes,
                extra == 0,
                "the first is full"
            );
        }
    }
}
