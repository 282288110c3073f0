//! Data staging: batches, uploads (simple, sharded, video, references), signed URLs,
//! background shard indexing, downloads and fault injection.

pub mod faults;
mod fetch;
mod fetch_one;
mod handlers;
mod indexer;
pub(crate) mod ingest;
pub(crate) mod multipart;
mod put;
mod range;
pub(crate) mod signed;
pub(crate) mod signing;
mod store;
mod tarindex;

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::thread::JoinHandle;

use super::State;
use crate::error::{Error, Result};
use crate::model::{BatchContentType, BatchType, PartMetadata};
use crate::server::{Body, Head, Reply};

pub(crate) use fetch::FetchQueue;
pub(crate) use store::StagingData;
use store::{FileRec, check_file_name, layout};

/// One stored file of a batch, as the jobs engine reads it.
#[derive(Debug, Clone)]
pub(crate) struct StoredFile {
    /// The file's name within the batch.
    pub name: String,
    /// The part it belongs to (multipart batches).
    pub part: Option<String>,
    /// Its size in bytes.
    pub size: u64,
    /// Where its bytes are.
    pub source: FileSource,
}

/// Where a stored file's bytes are.
#[derive(Debug, Clone)]
pub(crate) enum FileSource {
    /// A whole file on disk.
    Path(PathBuf),
    /// A member of a stored tar shard.
    TarMember {
        /// The shard.
        tar: PathBuf,
        /// Where the member's data starts.
        offset: u64,
    },
    /// Nowhere: the discard store kept only the record.
    Discarded,
}

/// Why a job cannot read a batch of the discard store.
pub(crate) const DISCARDED: &str = "images were discarded (--store discard); jobs cannot run";

impl StoredFile {
    /// Opens the file's bytes (exactly `size` of them).
    pub fn open(&self) -> std::io::Result<Box<dyn Read + Send>> {
        match &self.source {
            FileSource::Path(p) => Ok(Box::new(std::fs::File::open(p)?)),
            FileSource::TarMember { tar, offset } => {
                let mut f = std::fs::File::open(tar)?;
                f.seek(SeekFrom::Start(*offset))?;
                Ok(Box::new(f.take(self.size)))
            }
            FileSource::Discarded => {
                Err(std::io::Error::new(std::io::ErrorKind::NotFound, DISCARDED))
            }
        }
    }
}

/// One part of an output batch, for [`State::create_output_batch`].
#[derive(Debug, Clone)]
pub(crate) struct OutputPart {
    /// The part's name (`partName`).
    pub name: String,
    /// The part's type (`partType`).
    pub part_type: String,
    /// What it holds (`contentType`: `metadata`, `archives`, …).
    pub content_type: String,
    /// `(file name, path of a finished file)`; the store moves the files in.
    pub files: Vec<(String, PathBuf)>,
}

impl State {
    /// The files of a batch (or one part of it); `None` when there is no such batch.
    pub(crate) fn batch_files(
        &self,
        batch_id: &str,
        part: Option<&str>,
    ) -> Option<Vec<StoredFile>> {
        let inner = self.lock();
        let batch = inner.staging.batches.get(batch_id)?;
        Some(batch.files_in(part).map(|f| self.stored(f)).collect())
    }

    fn stored(&self, f: &FileRec) -> StoredFile {
        let path = f.abs_path(self.data_dir());
        StoredFile {
            name: f.name.clone(),
            part: f.part.clone(),
            size: f.size,
            source: if f.discarded {
                FileSource::Discarded
            } else if f.path.ends_with(".tar") && f.offset > 0 {
                FileSource::TarMember {
                    tar: path,
                    offset: f.offset,
                }
            } else {
                FileSource::Path(path)
            },
        }
    }

    /// Creates (or replaces) a multipart output batch from finished files.
    pub(crate) fn create_output_batch(
        &self,
        batch_id: &str,
        display_name: &str,
        parts: Vec<OutputPart>,
    ) -> Result<()> {
        store::check_batch_id(batch_id).map_err(|m| Error::invalid("batch_id", m))?;
        let dir = self.data_dir().join(layout::batch_dir(batch_id));
        self.lock().staging.batches.remove(batch_id);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .map_err(|e| Error::io(format!("removing {}", dir.display()), e))?;
        }
        let mut files = Vec::new();
        for p in &parts {
            check_file_name("partName", &p.name).map_err(|m| Error::invalid("partName", m))?;
            for (name, src) in &p.files {
                check_file_name("fileName", name).map_err(|m| Error::invalid("fileName", m))?;
                let rel = layout::part_file(batch_id, &p.name, name);
                let size = move_file(src, &self.data_dir().join(&rel))?;
                files.push(FileRec {
                    name: name.clone(),
                    part: Some(p.name.clone()),
                    size,
                    shard_id: None,
                    path: rel,
                    offset: 0,
                    discarded: false,
                });
            }
        }
        let content = match parts.first() {
            Some(first) if parts.iter().all(|p| p.content_type == first.content_type) => {
                BatchContentType::parse(&first.content_type)
            }
            _ => BatchContentType::Mixed,
        };
        {
            let mut inner = self.lock();
            let b = inner.staging.batch_or_create(
                batch_id,
                display_name,
                BatchType::Multipart,
                content,
            );
            b.parts = parts
                .iter()
                .map(|p| PartMetadata {
                    part_name: p.name.clone(),
                    part_type: p.part_type.clone(),
                    content_type: p.content_type.clone(),
                    part_description: None,
                    nested_content_type: None,
                })
                .collect();
            for f in files {
                b.files
                    .insert(store::file_key(f.part.as_deref(), &f.name), f);
            }
        }
        self.save()
    }

    pub(crate) fn staging(&self, head: &Head, rest: &[&str], req: &mut Body<'_>) -> Reply {
        handlers::route(self, head, rest, req)
    }

    pub(crate) fn signed(&self, head: &Head, rest: &[&str], req: &mut Body<'_>) -> Reply {
        signed::route(self, head, rest, req)
    }

    pub(crate) fn start_staging_background(
        self: &Arc<Self>,
        stopping: Arc<AtomicBool>,
    ) -> Result<Vec<JoinHandle<()>>> {
        let mut threads = indexer::start(self, stopping.clone())?;
        threads.extend(fetch::start(self, stopping)?);
        Ok(threads)
    }
}

/// Moves a finished file into the store (copying across file systems); returns its size.
fn move_file(src: &Path, dst: &Path) -> Result<u64> {
    if let Some(parent) = dst.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| Error::io(format!("creating {}", parent.display()), e))?;
    }
    if std::fs::rename(src, dst).is_err() {
        std::fs::copy(src, dst)
            .map_err(|e| Error::io(format!("copying {} to {}", src.display(), dst.display()), e))?;
        let _ = std::fs::remove_file(src);
    }
    std::fs::metadata(dst)
        .map(|m| m.len())
        .map_err(|e| Error::io(format!("reading {}", dst.display()), e))
}

pub(crate) use crate::media::mime_for;

/// Whether `header` (the first bytes of a file) starts like an image.
pub(crate) fn looks_like_image(header: &[u8]) -> bool {
    imagesize::image_type(header).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::{Sandbox, SandboxConfig};

    #[test]
    fn output_batches_list_parts_files_and_downloads() {
        let sb = Sandbox::start(SandboxConfig::default()).unwrap();
        let scratch = sb.data_dir().join("scratch");
        std::fs::create_dir_all(&scratch).unwrap();
        let (a, b) = (scratch.join("a.jsonl"), scratch.join("b.tar"));
        std::fs::write(&a, b"{\"x\":1}\n").unwrap();
        std::fs::write(&b, vec![1u8; 3000]).unwrap();
        let parts = vec![
            OutputPart {
                name: "results".into(),
                part_type: "output".into(),
                content_type: "metadata".into(),
                files: vec![("a.jsonl".into(), a)],
            },
            OutputPart {
                name: "archives".into(),
                part_type: "output".into(),
                content_type: "archives".into(),
                files: vec![("b.tar".into(), b)],
            },
        ];
        sb.state()
            .create_output_batch("job1-processing", "job1", parts)
            .unwrap();
        let api = sb.client();
        let meta = api.batch("job1-processing").unwrap();
        assert_eq!(meta.batch_type, BatchType::Multipart);
        assert_eq!(meta.batch_content_type, BatchContentType::Mixed);
        let parts = api.list_parts("job1-processing").unwrap();
        assert_eq!(
            parts
                .iter()
                .map(|p| p.part_name.as_str())
                .collect::<Vec<_>>(),
            ["results", "archives"]
        );
        assert_eq!(
            api.batch_count("job1-processing", Some("archives"))
                .unwrap(),
            1
        );
        assert_eq!(api.batch_count("job1-processing", None).unwrap(), 2);
        let files = api
            .list_files_page("job1-processing", Some("archives"), &Default::default())
            .unwrap();
        assert_eq!(files.items[0].part_name.as_deref(), Some("archives"));
        assert_eq!(files.items[0].content_type, "archives");
        let mut body = api.download(&files.items[0].download_url).unwrap().body;
        let mut v = Vec::new();
        body.read_to_end(&mut v).unwrap();
        assert_eq!(v, vec![1u8; 3000]);
        let stored = sb
            .state()
            .batch_files("job1-processing", Some("results"))
            .unwrap();
        let mut s = String::new();
        stored[0].open().unwrap().read_to_string(&mut s).unwrap();
        assert_eq!(s, "{\"x\":1}\n");
        // Replacing keeps only the new parts.
        sb.state()
            .create_output_batch("job1-processing", "job1", Vec::new())
            .unwrap();
        assert!(api.list_parts("job1-processing").unwrap().is_empty());
        assert!(sb.state().batch_files("nope", None).is_none());
    }

    #[test]
    fn tar_members_open_at_their_offset() {
        let sb =
            Sandbox::start(SandboxConfig::default().with_indexing_delay(std::time::Duration::ZERO))
                .unwrap();
        let api = sb.client();
        let png =
            b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\0\x02\0\0\0\x03\x08\x02\0\0\0\0\0\0\0".to_vec();
        let mut t = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(png.len() as u64);
        h.set_entry_type(tar::EntryType::Regular);
        t.append_data(&mut h, "p.png", &png[..]).unwrap();
        let target = api.request_shard_upload("tarred", None).unwrap();
        api.put_signed(
            &target,
            &crate::api::UploadSource::bytes(t.into_inner().unwrap()),
        )
        .unwrap();
        let start = std::time::Instant::now();
        while api.batch_count("tarred", None).unwrap() == 0 {
            assert!(start.elapsed().as_secs() < 10);
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let files = sb.state().batch_files("tarred", None).unwrap();
        assert!(matches!(
            files[0].source,
            FileSource::TarMember { offset: 512, .. }
        ));
        let mut v = Vec::new();
        files[0].open().unwrap().read_to_end(&mut v).unwrap();
        assert_eq!(v, png);
    }
}
