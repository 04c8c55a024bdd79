//! MIME handling: normalising a Content-Type, the size limit per media type, file extensions.
//!
//! Per-type limits are WhatsApp's, as published by Meta for the Cloud API
//! (<https://developers.facebook.com/docs/whatsapp/cloud-api/reference/media#supported-media-types>:
//! audio 16 MB, document 100 MB, image 5 MB, sticker 100 KB static / 500 KB animated, video 16 MB)
//! and by Twilio (<https://www.twilio.com/docs/whatsapp/guidance-whatsapp-media-messages>: images
//! 5 MB, 16 MB per message). Stickers cannot be told apart from WebP images by MIME type alone, so
//! WebP gets the image limit. "MB" is taken as 1024 * 1024 bytes (the generous reading).

/// The MIME type recorded when neither the response nor the announcement gives a usable one.
pub const DEFAULT_MIME: &str = "application/octet-stream";

const MIB: u64 = 1024 * 1024;

/// Size limits in bytes, per media kind, plus an overall cap that bounds every kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SizeLimits {
    /// `image/*` (WhatsApp: 5 MB).
    pub image: u64,
    /// `audio/*` (WhatsApp: 16 MB).
    pub audio: u64,
    /// `video/*` (WhatsApp: 16 MB).
    pub video: u64,
    /// Everything else: documents, vCards, unknown (WhatsApp: 100 MB).
    pub document: u64,
    /// Overall cap applied on top of the per-kind limit (configurable; default 100 MB).
    pub overall_cap: u64,
}

impl Default for SizeLimits {
    fn default() -> Self {
        Self {
            image: 5 * MIB,
            audio: 16 * MIB,
            video: 16 * MIB,
            document: 100 * MIB,
            overall_cap: 100 * MIB,
        }
    }
}

impl SizeLimits {
    /// The limit for a (normalised) MIME type: the per-kind limit, bounded by the overall cap.
    pub fn for_mime(&self, mime: &str) -> u64 {
        let kind = match mime.split('/').next().unwrap_or_default() {
            "image" => self.image,
            "audio" => self.audio,
            "video" => self.video,
            _ => self.document,
        };
        kind.min(self.overall_cap)
    }

    /// The largest limit any MIME type can get (used before the type is known).
    pub fn largest(&self) -> u64 {
        self.image
            .max(self.audio)
            .max(self.video)
            .max(self.document)
            .min(self.overall_cap)
    }
}

/// Normalise a Content-Type value to `type/subtype` in lower case, dropping parameters.
///
/// Returns `None` for values that are not a plausible MIME type (empty, no slash, odd characters),
/// so that the caller falls back to the next source.
pub fn normalize_mime(raw: &str) -> Option<String> {
    let essence = raw
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let (top, sub) = essence.split_once('/')?;
    let token_ok = |s: &str| {
        !s.is_empty()
            && s.len() <= 127
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
    };
    (token_ok(top) && token_ok(sub)).then_some(essence)
}

/// A file extension for a normalised MIME type, when there is a common one.
pub fn extension_for(mime: &str) -> Option<&'static str> {
    Some(match mime {
        "image/jpeg" | "image/jpg" => "jpg",
        "image/png" => "png",
        "image/webp" => "webp",
        "image/gif" => "gif",
        "image/heic" => "heic",
        "audio/ogg" | "audio/opus" => "ogg",
        "audio/mpeg" | "audio/mp3" => "mp3",
        "audio/mp4" | "audio/m4a" | "audio/x-m4a" => "m4a",
        "audio/aac" => "aac",
        "audio/amr" => "amr",
        "audio/3gpp" | "video/3gpp" => "3gp",
        "audio/wav" | "audio/x-wav" => "wav",
        "video/mp4" => "mp4",
        "video/quicktime" => "mov",
        "video/webm" => "webm",
        "application/pdf" => "pdf",
        "application/msword" => "doc",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => "docx",
        "application/vnd.ms-excel" => "xls",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => "xlsx",
        "application/vnd.ms-powerpoint" => "ppt",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation" => "pptx",
        "text/plain" => "txt",
        "text/csv" => "csv",
        "text/vcard" | "text/x-vcard" => "vcf",
        "application/zip" => "zip",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_content_type() {
        assert_eq!(
            normalize_mime("Image/JPEG; charset=binary").as_deref(),
            Some("image/jpeg")
        );
        assert_eq!(normalize_mime(" audio/ogg ").as_deref(), Some("audio/ogg"));
        assert_eq!(normalize_mime("").as_deref(), None);
        assert_eq!(normalize_mime("jpeg").as_deref(), None);
        assert_eq!(normalize_mime("image/").as_deref(), None);
        assert_eq!(normalize_mime("image/../x").as_deref(), None);
    }

    #[test]
    fn limit_follows_kind_and_cap() {
        let l = SizeLimits::default();
        assert_eq!(l.for_mime("image/png"), 5 * MIB);
        assert_eq!(l.for_mime("audio/ogg"), 16 * MIB);
        assert_eq!(l.for_mime("video/mp4"), 16 * MIB);
        assert_eq!(l.for_mime("application/pdf"), 100 * MIB);
        let capped = SizeLimits {
            overall_cap: MIB,
            ..SizeLimits::default()
        };
        assert_eq!(capped.for_mime("video/mp4"), MIB);
        assert_eq!(capped.largest(), MIB);
    }

    #[test]
    fn extensions() {
        assert_eq!(extension_for("image/jpeg"), Some("jpg"));
        assert_eq!(extension_for("application/x-unknown"), None);
    }
}
