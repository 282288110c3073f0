use std::path::Path;

/// Images or videos, and which files it takes (the official client's extensions).
///
/// ```
/// assert!(roboflow_batch::model::MediaKind::Videos.matches("clip.Mp4"));
/// ```
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum MediaKind {
    /// Images: `bmp dib jpeg jpg jpe jp2 png webp`.
    #[default]
    Images,
    /// Videos: `mp4 m4a m4p m4b m4r m4v avi mov mkv flv wmv mpeg mpg 3gp webm ogg`.
    Videos,
}

impl MediaKind {
    /// The extensions taken, lowercase.
    ///
    /// ```
    /// assert!(roboflow_batch::model::MediaKind::Videos.extensions().contains(&"mkv"));
    /// ```
    pub fn extensions(self) -> &'static [&'static str] {
        match self {
            MediaKind::Images => &["bmp", "dib", "jpeg", "jpg", "jpe", "jp2", "png", "webp"],
            MediaKind::Videos => &[
                "mp4", "m4a", "m4p", "m4b", "m4r", "m4v", "avi", "mov", "mkv", "flv", "wmv",
                "mpeg", "mpg", "3gp", "webm", "ogg",
            ],
        }
    }

    /// Whether a path (or an object key) has one of the extensions, in any case.
    ///
    /// ```
    /// assert!(!roboflow_batch::model::MediaKind::Images.matches("photos.jpg/"));
    /// ```
    pub fn matches(self, path: impl AsRef<Path>) -> bool {
        let path = path.as_ref();
        let dir = path.as_os_str().as_encoded_bytes().last() == Some(&b'/');
        !dir && path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| self.extensions().iter().any(|x| x.eq_ignore_ascii_case(e)))
    }

    /// `images` or `videos`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            MediaKind::Images => "images",
            MediaKind::Videos => "videos",
        }
    }
}
