//! Data staging handlers (placeholder).

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::thread::JoinHandle;

use serde::{Deserialize, Serialize};

use super::http::{Head, Reply};
use super::State;
use crate::error::Result;

/// Batches, files and shards.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct StagingData {}

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
}

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
    pub(crate) fn staging(&self, head: &Head, _rest: &[&str], _req: &mut tiny_http::Request) -> Reply {
        Reply::error(501, format!("{} not implemented yet", head.method))
    }

    pub(crate) fn signed(&self, _head: &Head, _rest: &[&str], _req: &mut tiny_http::Request) -> Reply {
        Reply::error(501, "not implemented yet")
    }

    /// The files of a batch (or one part of it); `None` when there is no such batch.
    pub(crate) fn batch_files(&self, _batch_id: &str, _part: Option<&str>) -> Option<Vec<StoredFile>> {
        None
    }

    /// Creates (or replaces) a multipart output batch from finished files.
    pub(crate) fn create_output_batch(&self, _batch_id: &str, _display_name: &str, _parts: Vec<OutputPart>) -> Result<()> {
        Ok(())
    }

    pub(crate) fn start_staging_background(self: &Arc<Self>, _stopping: Arc<AtomicBool>) -> Result<Vec<JoinHandle<()>>> {
        Ok(Vec::new())
    }
}
