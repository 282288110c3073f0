//! Data staging: batch endpoints, uploads, signed URLs, background indexing and fetching,
//! and the output batches that jobs write.

pub(crate) mod batches;
pub(crate) mod ingests;
pub(crate) mod multipart;
pub(crate) mod references;
pub(crate) mod shards;
pub(crate) mod signed;
mod tarindex;
pub(crate) mod upload;

use std::path::PathBuf;

use super::state::State;
use super::store::{FileRec, file_key, layout};
use crate::error::{Error, Result};
use crate::model::{BatchContentType, BatchType, PartMetadata};

/// The files of a batch (or one part of it); `None` when there is no such batch.
pub(crate) fn batch_files(state: &State, batch: &str, part: Option<&str>) -> Option<Vec<FileRec>> {
    let data = state.lock();
    let b = data.staging.batches.get(batch)?;
    Some(b.files_in(part).cloned().collect())
}

/// Creates (or replaces) an output batch of one part from finished files, which move in.
pub(crate) fn create_output_batch(
    state: &State,
    batch: &str,
    display_name: &str,
    (part, content_type): (&str, &str),
    files: Vec<(String, PathBuf)>,
) -> Result<()> {
    let dir = state.data_dir.join(layout::batch_dir(batch));
    state.lock().staging.batches.remove(batch);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .map_err(|e| Error::io(format!("removing {}", dir.display()), e))?;
    }
    let mut recs = Vec::new();
    for (name, src) in files {
        let path = layout::part_file(batch, part, &name);
        let dst = state.data_dir.join(&path);
        let moved = std::fs::create_dir_all(dir.join("parts").join(part))
            .and_then(|()| std::fs::rename(&src, &dst))
            .and_then(|()| std::fs::metadata(&dst));
        let size = moved
            .map_err(|e| Error::io(format!("storing {}", dst.display()), e))?
            .len();
        let part = Some(part.to_string());
        recs.push(FileRec {
            part,
            ..FileRec::new(name, size, path)
        });
    }
    let mut data = state.lock();
    let content = BatchContentType::parse(content_type);
    let b = data
        .staging
        .batch_for(batch, display_name, BatchType::Multipart, content);
    b.parts = vec![PartMetadata {
        part_name: part.into(),
        part_type: "simple-batch".into(),
        content_type: content_type.into(),
        part_description: None,
        nested_content_type: None,
    }];
    for f in recs {
        b.files.insert(file_key(f.part.as_deref(), &f.name), f);
    }
    state.unlock_changed(data);
    Ok(())
}

/// Whether `header` (the first bytes of a file) starts like an image.
fn looks_like_image(header: &[u8]) -> bool {
    imagesize::image_type(header).is_ok()
}
