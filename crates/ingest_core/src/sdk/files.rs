//! Files of an experiment in the ml-dash layout: `files/<prefix>/<id>/<filename>`, with one record
//! per file in `files/.files_metadata.json` (`{"files": [...]}`, the SDK's fields). Saving a file
//! with the prefix and name of an existing one replaces it, as the SDK does.
//!
//! Images are encoded here (JPEG or PNG, by the file name's extension), off the JS thread (on the
//! writer's encoder threads, see `engine/writer/files.rs`), so the JS caller only copies its pixels.

use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value as Json};
use sha2::{Digest, Sha256};

use crate::error::{IngestError, Result};
use crate::{storage::fsx, storage::paths, time};

const METADATA_FILE: &str = paths::FILES_METADATA;

/// Pixel element types an image may arrive in (floats are scaled as the SDK scales them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelType {
    U8,
    F32,
    F64,
}

/// An image to encode: `width × height × channels` pixels, row-major, interleaved.
#[derive(Debug, Clone)]
pub struct Image {
    pub pixels: Vec<u8>,
    pub pixel_type: PixelType,
    pub width: u32,
    pub height: u32,
    pub channels: u8,
}

/// Image formats, chosen by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    Jpeg { quality: u8 },
    Png,
}

impl ImageFormat {
    /// The format for file `name` (`.jpg`/`.jpeg`, `.png`), or `None`.
    pub fn for_name(name: &str, quality: u8) -> Option<ImageFormat> {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".jpg") || lower.ends_with(".jpeg") {
            Some(ImageFormat::Jpeg { quality })
        } else if lower.ends_with(".png") {
            Some(ImageFormat::Png)
        } else {
            None
        }
    }
}

fn invalid_image(reason: String) -> IngestError {
    IngestError::InvalidImage(reason)
}

impl Image {
    /// Checks sizes against the pixel data and what `format` can hold.
    pub fn validate(&self, format: ImageFormat) -> Result<()> {
        if !matches!(self.channels, 1 | 3 | 4) {
            return Err(invalid_image(format!(
                "channels must be 1, 3 or 4, got {}",
                self.channels
            )));
        }
        if self.width == 0 || self.height == 0 {
            return Err(invalid_image(format!(
                "an image of {}x{} has no pixels",
                self.width, self.height
            )));
        }
        let element = match self.pixel_type {
            PixelType::U8 => 1,
            PixelType::F32 => 4,
            PixelType::F64 => 8,
        };
        let expected = (self.width as usize)
            .checked_mul(self.height as usize)
            .and_then(|n| n.checked_mul(usize::from(self.channels)))
            .and_then(|n| n.checked_mul(element));
        if expected != Some(self.pixels.len()) {
            return Err(invalid_image(format!(
                "{}x{}x{} pixels need {} values, data has {}",
                self.width,
                self.height,
                self.channels,
                self.width as usize * self.height as usize * usize::from(self.channels),
                self.pixels.len() / element
            )));
        }
        if let ImageFormat::Jpeg { .. } = format {
            if self.width > u32::from(u16::MAX) || self.height > u32::from(u16::MAX) {
                return Err(invalid_image(format!(
                    "JPEG holds at most 65535x65535, got {}x{}",
                    self.width, self.height
                )));
            }
        }
        Ok(())
    }

    /// The pixels as 8-bit values, as the SDK makes them from a numpy array (`_save_image`): floats
    /// all at most 1 are multiplied by 255, any others are min–max scaled to 0–255, both in the
    /// array's own float width and truncated (`astype(np.uint8)`). Where numpy leaves the result
    /// undefined (NaN, values below 0 in the first case) the pixel is 0.
    fn bytes(&self) -> Vec<u8> {
        /// `values` (of one float type) scaled as above.
        macro_rules! scaled {
            ($values:expr, $float:ty) => {{
                let values: Vec<$float> = $values.collect();
                let max = values.iter().copied().fold(<$float>::NEG_INFINITY, <$float>::max);
                let min = values.iter().copied().fold(<$float>::INFINITY, <$float>::min);
                // Truncation of a value numpy would cast: NaN and negatives are 0, 255 at most.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let cast = |v: $float| {
                    if v.is_nan() || v < 0.0 {
                        0
                    } else {
                        v.min(255.0) as u8
                    }
                };
                if max <= 1.0 {
                    values.iter().map(|&v| cast(v * 255.0)).collect()
                } else {
                    values
                        .iter()
                        .map(|&v| cast((v - min) / (max - min) * 255.0))
                        .collect()
                }
            }};
        }
        match self.pixel_type {
            PixelType::U8 => self.pixels.clone(),
            PixelType::F32 => scaled!(
                self.pixels
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
                f32
            ),
            PixelType::F64 => scaled!(
                self.pixels
                    .chunks_exact(8)
                    .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])),
                f64
            ),
        }
    }

    /// RGBA pixels on a white background, as the SDK (PIL) flattens them for JPEG, which has no
    /// alpha: each channel `(c·a + 255·(255 − a)) / 255`, rounded.
    fn on_white(rgba: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(rgba.len() / 4 * 3);
        for pixel in rgba.chunks_exact(4) {
            let alpha = u32::from(pixel[3]);
            for &c in &pixel[..3] {
                let blended = (u32::from(c) * alpha + 255 * (255 - alpha) + 127) / 255;
                out.push(u8::try_from(blended).unwrap_or(u8::MAX));
            }
        }
        out
    }

    /// Encodes the image (validated) as `format`.
    pub fn encode(&self, format: ImageFormat) -> Result<Vec<u8>> {
        self.validate(format)?;
        let mut data = self.bytes();
        let mut out = Vec::new();
        match format {
            ImageFormat::Jpeg { quality } => {
                let color = match self.channels {
                    1 => jpeg_encoder::ColorType::Luma,
                    3 => jpeg_encoder::ColorType::Rgb,
                    _ => {
                        data = Image::on_white(&data);
                        jpeg_encoder::ColorType::Rgb
                    }
                };
                let (w, h) = (
                    u16::try_from(self.width).unwrap_or(u16::MAX),
                    u16::try_from(self.height).unwrap_or(u16::MAX),
                );
                jpeg_encoder::Encoder::new(&mut out, quality)
                    .encode(&data, w, h, color)
                    .map_err(|e| invalid_image(format!("JPEG encoding failed: {e}")))?;
            }
            ImageFormat::Png => {
                let mut encoder = png::Encoder::new(&mut out, self.width, self.height);
                encoder.set_color(match self.channels {
                    1 => png::ColorType::Grayscale,
                    3 => png::ColorType::Rgb,
                    _ => png::ColorType::Rgba,
                });
                encoder.set_depth(png::BitDepth::Eight);
                let mut writer = encoder
                    .write_header()
                    .map_err(|e| invalid_image(format!("PNG encoding failed: {e}")))?;
                writer
                    .write_image_data(&data)
                    .and_then(|()| writer.finish())
                    .map_err(|e| invalid_image(format!("PNG encoding failed: {e}")))?;
            }
        }
        Ok(out)
    }
}

/// Where Python's `mimetypes` reads the system's tables, in its order (a later file wins).
const SYSTEM_MIME_TABLES: [&str; 9] = [
    "/etc/mime.types",
    "/etc/httpd/mime.types",
    "/etc/httpd/conf/mime.types",
    "/etc/apache/mime.types",
    "/etc/apache2/mime.types",
    "/usr/local/etc/httpd/conf/mime.types",
    "/usr/local/lib/netscape/mime.types",
    "/usr/local/etc/httpd/conf/mime.types",
    "/usr/local/etc/mime.types",
];

/// Extension (with its dot) → type, from the system's tables (read once); `None` when the system
/// has none.
fn system_mime_types() -> Option<&'static std::collections::HashMap<String, String>> {
    static TABLE: std::sync::OnceLock<Option<std::collections::HashMap<String, String>>> = std::sync::OnceLock::new();
    TABLE
        .get_or_init(|| {
            let mut table = None;
            for path in SYSTEM_MIME_TABLES {
                let Ok(text) = std::fs::read_to_string(path) else {
                    continue;
                };
                let table = table.get_or_insert_with(std::collections::HashMap::new);
                for line in text.lines() {
                    let line = line.split('#').next().unwrap_or("");
                    let mut words = line.split_whitespace();
                    let Some(mime) = words.next() else {
                        continue;
                    };
                    for ext in words {
                        table.insert(format!(".{ext}"), mime.to_string());
                    }
                }
            }
            table
        })
        .as_ref()
}

/// `posixpath.splitext`: the last `.suffix` of the name (not a leading dot), and the rest.
fn split_extension(name: &str) -> (&str, &str) {
    let file = name.rsplit('/').next().unwrap_or(name);
    let stem_start = name.len() - file.len() + (file.len() - file.trim_start_matches('.').len());
    match name[stem_start..].rfind('.') {
        Some(dot) => name.split_at(stem_start + dot),
        None => (name, ""),
    }
}

/// The content type the SDK records for `filename`: what Python's `mimetypes.guess_type` gives,
/// from the same system tables (Debian's `/etc/mime.types`: 1,500 extensions), or where the system
/// has none from a well-kept built-in one (the `mime_guess` crate's); `application/octet-stream`
/// when it knows none. As Python does, one compression suffix is looked through (`data.json.gz`:
/// `application/json`) and `.tgz`-style names are read as what they abbreviate (`.tar.gz`:
/// `application/x-tar`). (Python also has a table of its own under the system's; the 17 entries
/// of it Debian's lacks, `.h5` among them, are `application/octet-stream` here.)
pub fn content_type(filename: &str) -> String {
    let (base, ext) = split_extension(filename);
    let abbreviates = match ext.to_ascii_lowercase().as_str() {
        ".svgz" => Some(".svg.gz"),
        ".tgz" | ".taz" | ".tz" => Some(".tar.gz"),
        ".tbz2" => Some(".tar.bz2"),
        ".txz" => Some(".tar.xz"),
        _ => None,
    };
    match abbreviates {
        Some(full) => {
            let expanded = format!("{base}{full}");
            let (base, ext) = split_extension(&expanded);
            content_type_of(base, ext)
        }
        None => content_type_of(base, ext),
    }
}

fn content_type_of(base: &str, ext: &str) -> String {
    let (_, ext) = match ext {
        ".gz" | ".Z" | ".bz2" | ".xz" | ".br" => split_extension(base),
        _ => (base, ext),
    };
    let known = match system_mime_types() {
        Some(system) => system
            .get(ext)
            .or_else(|| system.get(&ext.to_ascii_lowercase()))
            .cloned(),
        None => ext
            .strip_prefix('.')
            .and_then(|bare| mime_guess::from_ext(bare).first_raw())
            .map(str::to_string),
    };
    known.unwrap_or_else(|| "application/octet-stream".to_string())
}

/// The SHA-256 of `bytes`, lowercase hex (the SDK's `checksum`).
fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .fold(String::with_capacity(64), |mut hex, byte| {
            hex.push_str(&format!("{byte:02x}"));
            hex
        })
}

/// The files of one experiment.
pub struct Files {
    /// The experiment directory: nothing is written or read outside it (see [`fsx`]).
    root: PathBuf,
    dir: PathBuf,
    last_id: u64,
    /// The records as this engine knows them (read once), with the index of each live record by
    /// (path, filename): a save costs the same with ten or ten thousand files.
    records: Option<Records>,
    /// Whether `records` changed since `.files_metadata.json` was written (see [`Files::seal`]).
    dirty: bool,
    /// Directories of replaced files, removed once the records no longer name them on disk.
    replaced: Vec<PathBuf>,
}

#[derive(Default)]
struct Records {
    all: Vec<Json>,
    live: std::collections::HashMap<(String, String), usize>,
}

/// The (path, filename) a live record is found by, `None` for a deleted one.
fn live_key(record: &Json) -> Option<(String, String)> {
    if !record.get("deletedAt").is_none_or(Json::is_null) {
        return None;
    }
    let text = |key: &str| record.get(key).and_then(Json::as_str).map(str::to_string);
    // The root is `/` (the SDK's); records from before that said so name it ``.
    let path = text("path").map(|path| if path.is_empty() { "/".to_string() } else { path })?;
    Some((path, text("filename")?))
}

/// The prefix (without slashes around it, may be empty) and file name `to` is stored as under
/// `prefix`: `to`'s directory, if any, joins the prefix. Both must be relative names.
pub(crate) fn target<'a>(prefix: &str, to: &'a str) -> Result<(String, &'a str)> {
    let (prefix, filename) = match to.rsplit_once('/') {
        Some((dir, name)) if prefix.is_empty() => (dir.to_string(), name),
        Some((dir, name)) => (format!("{prefix}/{dir}"), name),
        None => (prefix.to_string(), to),
    };
    if !prefix.is_empty() {
        paths::file_prefix(&prefix)?;
    }
    paths::check_relative("file name", filename)?;
    Ok((prefix, filename))
}

impl Files {
    pub fn new(experiment_dir: &Path) -> Files {
        Files {
            root: experiment_dir.to_path_buf(),
            dir: experiment_dir.join("files"),
            last_id: 0,
            records: None,
            dirty: false,
            replaced: Vec::new(),
        }
    }

    /// A Snowflake-like id (milliseconds << 12, then a sequence), unique and increasing here.
    fn next_id(&mut self) -> String {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        self.last_id = (millis << 12).max(self.last_id + 1);
        self.last_id.to_string()
    }

    /// The records, read from `.files_metadata.json` the first time.
    fn records(&mut self) -> Result<&mut Records> {
        let records = match self.records.take() {
            Some(records) => records,
            None => {
                let all = match fsx::read_json(&self.dir.join(METADATA_FILE))? {
                    Some(Json::Object(mut doc)) => match doc.remove("files") {
                        Some(Json::Array(files)) => files,
                        _ => Vec::new(),
                    },
                    _ => Vec::new(),
                };
                let live = all
                    .iter()
                    .enumerate()
                    .filter_map(|(index, record)| live_key(record).map(|key| (key, index)))
                    .collect();
                Records { all, live }
            }
        };
        Ok(self.records.insert(records))
    }

    /// Forgets the records read, so the next use reads the file again (a reader's view of what
    /// a writer recorded since). Records not yet written are kept.
    pub fn forget(&mut self) {
        if !self.dirty {
            self.records = None;
        }
    }

    /// Writes `.files_metadata.json` if records changed since it was last written: once per
    /// flush, not once per save.
    pub fn seal(&mut self) -> Result<()> {
        let Some(records) = self.records.as_ref().filter(|_| self.dirty) else {
            return Ok(());
        };
        let mut doc = Map::new();
        doc.insert("files".into(), Json::Array(records.all.clone()));
        let lost = format!("the records of {} files", records.all.len());
        fsx::write_atomic(
            &self.root,
            &self.dir.join(METADATA_FILE),
            crate::storage::jsonl::python_json(&Json::Object(doc)).as_bytes(),
            &lost,
        )?;
        self.dirty = false;
        for old_dir in self.replaced.drain(..) {
            // A leftover directory is harmless (no record names it); one reached through a link
            // is left alone.
            if fsx::check_within(&self.root, &old_dir).is_ok() {
                let _ = std::fs::remove_dir_all(old_dir);
            }
        }
        Ok(())
    }

    /// Stores `bytes` as `to` under `prefix` and records it; returns the record. `prefix` (may be
    /// empty) and `to` must be relative names; a directory in `to` joins the prefix, as the SDK's
    /// `save`: `files("a").save(…, to="b/c.json")` is path `/a/b`, name `c.json`.
    pub fn save(
        &mut self,
        experiment_id: &str,
        prefix: &str,
        to: &str,
        bytes: &[u8],
        metadata: Option<Json>,
    ) -> Result<Json> {
        let (prefix, filename) = target(prefix, to)?;
        let id = self.next_id();
        let file_dir = if prefix.is_empty() {
            self.dir.join(&id)
        } else {
            self.dir.join(&prefix).join(&id)
        };
        let path = file_dir.join(filename);
        let lost = format!("file {filename:?}");
        fsx::write_atomic(&self.root, &path, bytes, &lost)?;
        let now = time::utc_now_iso();
        let sdk_path = format!("/{prefix}");
        let record = json!({
            "id": id,
            "experimentId": experiment_id,
            "path": sdk_path,
            "filename": filename,
            "description": null,
            "tags": [],
            "bindrs": [],
            "contentType": content_type(filename),
            "sizeBytes": bytes.len(),
            "checksum": sha256_hex(bytes),
            "metadata": metadata,
            "uploadedAt": now,
            "updatedAt": now,
            "deletedAt": null,
        });
        let key = (sdk_path, filename.to_string());
        let records = self.records()?;
        let replaced = match records.live.get(&key).copied() {
            Some(index) => records
                .all
                .get_mut(index)
                .map(|slot| std::mem::replace(slot, record.clone())),
            None => {
                records.live.insert(key, records.all.len());
                records.all.push(record.clone());
                None
            }
        };
        self.dirty = true;
        // The old file stays until the records on disk stop naming it (a crash before then must
        // find what they name).
        if let Some(old_dir) = replaced.as_ref().and_then(|old| self.stored_dir(old)) {
            self.replaced.push(old_dir);
        }
        Ok(record)
    }

    /// The directory a record's file is stored in; `None` unless the record's `id` and `path`
    /// are as safe as names a user passes (a record read from disk may have been crafted).
    fn stored_dir(&self, record: &Json) -> Option<PathBuf> {
        let id = record.get("id")?.as_str()?;
        let prefix = record.get("path")?.as_str()?.trim_start_matches('/');
        if id.is_empty()
            || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            || (!prefix.is_empty() && paths::file_prefix(prefix).is_err())
        {
            return None;
        }
        Some(if prefix.is_empty() {
            self.dir.join(id)
        } else {
            self.dir.join(prefix).join(id)
        })
    }

    /// Every live record (not deleted).
    pub fn list(&mut self) -> Result<Vec<Json>> {
        Ok(self
            .records()?
            .all
            .iter()
            .filter(|f| f.get("deletedAt").is_none_or(Json::is_null))
            .cloned()
            .collect())
    }

    /// The bytes of the live file saved as `to` under `prefix` (as `save` names it).
    pub fn read(&mut self, prefix: &str, to: &str) -> Result<Vec<u8>> {
        let (prefix, filename) = target(prefix, to)?;
        let sdk_path = format!("/{prefix}");
        let name = format!("{}/{filename}", sdk_path.trim_end_matches('/'));
        let records = self.records()?;
        let record = (records.live.get(&(sdk_path, filename.to_string())))
            .and_then(|index| records.all.get(*index))
            .cloned()
            .ok_or(IngestError::NotFound { what: "file", name })?;
        let path = self
            .stored_dir(&record)
            .map(|dir| dir.join(filename))
            .ok_or_else(|| IngestError::corrupt(self.dir.join(METADATA_FILE), "a record with an unsafe path"))?;
        fsx::read_within(&self.root, &path)
    }
    /// The bytes of the file recorded under `id` (for an upload, which names files by record).
    pub fn read_by_id(&mut self, id: &str) -> Result<Vec<u8>> {
        let records = self.records()?;
        let record = (records.all.iter())
            .find(|r| r.get("id").and_then(Json::as_str) == Some(id))
            .cloned()
            .ok_or_else(|| IngestError::NotFound {
                what: "file",
                name: format!("with id {id}"),
            })?;
        let path = (record.get("filename").and_then(Json::as_str))
            .filter(|name| paths::check_relative("file name", name).is_ok() && !name.contains('/'))
            .and_then(|name| self.stored_dir(&record).map(|dir| dir.join(name)))
            .ok_or_else(|| IngestError::corrupt(self.dir.join(METADATA_FILE), "a record with an unsafe path"))?;
        fsx::read_within(&self.root, &path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(channels: u8) -> Image {
        let (width, height) = (8u32, 4u32);
        let pixels = (0..width * height * u32::from(channels))
            .map(|i| (i * 7 % 256) as u8)
            .collect();
        Image {
            pixels,
            pixel_type: PixelType::U8,
            width,
            height,
            channels,
        }
    }

    #[test]
    fn encodes_and_validates_images() {
        for channels in [1, 3, 4] {
            assert!(image(channels)
                .encode(ImageFormat::Png)
                .unwrap()
                .starts_with(b"\x89PNG"));
            assert!(image(channels)
                .encode(ImageFormat::Jpeg { quality: 85 })
                .unwrap()
                .starts_with(&[0xff, 0xd8]));
        }
        let mut short = image(3);
        short.pixels.pop();
        assert_eq!(
            short.encode(ImageFormat::Png).unwrap_err().code(),
            "ERR_DASH_INVALID_IMAGE"
        );
        let mut two = image(3);
        two.channels = 2;
        assert!(two.encode(ImageFormat::Png).is_err());
        assert_eq!(
            ImageFormat::for_name("a.JPEG", 90),
            Some(ImageFormat::Jpeg { quality: 90 })
        );
        assert_eq!(ImageFormat::for_name("a.gif", 90), None);
    }

    #[test]
    fn saves_records_replaces_and_reads_files() {
        let dir = std::env::temp_dir().join(format!("dash-files-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut files = Files::new(&dir);
        let first = files.save("p/p/x", "robot/frames", "a.txt", b"one", None).unwrap();
        files.save("p/p/x", "robot/frames", "a.txt", b"two", None).unwrap();
        files.save("p/p/x", "", "b.bin", b"\x00\x01", None).unwrap();
        assert_eq!(files.list().unwrap().len(), 2);
        assert_eq!(
            Files::new(&dir).list().unwrap().len(),
            0,
            "records are written when sealed"
        );
        files.seal().unwrap();
        assert_eq!(Files::new(&dir).list().unwrap().len(), 2);
        assert_eq!(files.read("robot/frames", "a.txt").unwrap(), b"two");
        assert_eq!(
            first["checksum"],
            "7692c3ad3540bb803c020b3aee66cd8887123234ea0c6e7143c0add73ff431ed"
        );
        assert_eq!(first["path"], "/robot/frames");
        // As the SDK: the root is `/`, and a directory in the name joins the prefix.
        let root = files.save("p/p/x", "", "c.json", b"{}", None).unwrap();
        assert_eq!(
            (root["path"].as_str(), root["filename"].as_str()),
            (Some("/"), Some("c.json"))
        );
        let nested = files.save("p/p/x", "robot", "frames/d.txt", b"d", None).unwrap();
        assert_eq!(
            (nested["path"].as_str(), nested["filename"].as_str()),
            (Some("/robot/frames"), Some("d.txt"))
        );
        assert_eq!(files.read("", "robot/frames/d.txt").unwrap(), b"d");
        let id = nested["id"].as_str().unwrap();
        assert!(dir.join("files/robot/frames").join(id).join("d.txt").is_file());
        assert!(files.save("p/p/x", "../x", "a", b"", None).is_err());
        assert!(files.save("p/p/x", "ok", "../../a", b"", None).is_err());
        assert_eq!(files.read("nope", "a").unwrap_err().code(), "ERR_DASH_NOT_FOUND");
        std::fs::remove_dir_all(dir).ok();
    }
}
