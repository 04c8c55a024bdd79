//! The `wa::Message` protobuf: building a text, wrapping it for our own devices, and reading
//! what an incoming one holds (fact sheet 6.5).

use wa_protos::wa;

/// What kind of content an incoming message carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentKind {
    /// `conversation` or `extendedTextMessage`.
    Text,
    /// Image, video, audio, document or sticker.
    Media,
    /// Anything else (reactions, protocol messages, locations, contacts, ...).
    Other,
}

/// Metadata of a media attachment, enough to download and decrypt it later (fact sheet 7).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MediaInfo {
    /// `image`, `video`, `audio`, `document` or `sticker`.
    pub media_type: &'static str,
    /// MIME type as the sender declared it.
    pub mimetype: Option<String>,
    /// Plaintext size in bytes.
    pub file_length: Option<u64>,
    /// Full download URL, when given.
    pub url: Option<String>,
    /// CDN direct path.
    pub direct_path: Option<String>,
    /// 32-byte media key (HKDF input for the media cipher).
    pub media_key: Option<Vec<u8>>,
    /// SHA-256 of the plaintext file.
    pub file_sha256: Option<Vec<u8>>,
    /// SHA-256 of the encrypted file.
    pub file_enc_sha256: Option<Vec<u8>>,
    /// Caption (image, video, document).
    pub caption: Option<String>,
    /// File name (documents).
    pub file_name: Option<String>,
}

/// The message Baileys sends for plain text: `extendedTextMessage{text}` (fact sheet 6.5,
/// `src/Utils/messages.ts`), with `messageContextInfo.messageSecret` (32 random bytes).
pub(crate) fn text_message(text: &str, secret: [u8; 32]) -> wa::Message {
    wa::Message {
        extended_text_message: Some(Box::new(wa::ExtendedTextMessage {
            text: Some(text.to_owned()),
            ..Default::default()
        })),
        message_context_info: Some(wa::MessageContextInfo {
            message_secret: Some(secret.to_vec()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// What our other devices receive instead: `deviceSentMessage{destinationJID, message}` plus
/// the original's `messageContextInfo` (whatsmeow `marshalMessage`, Baileys `meMsg`).
pub(crate) fn device_sent(destination: &str, original: &wa::Message) -> wa::Message {
    wa::Message {
        device_sent_message: Some(Box::new(wa::DeviceSentMessage {
            destination_jid: Some(destination.to_owned()),
            message: Some(Box::new(original.clone())),
            phash: None,
        })),
        message_context_info: original.message_context_info.clone(),
        ..Default::default()
    }
}

/// Unwraps the containers that only carry another message (ephemeral, view-once, document
/// with caption, edited, device-sent), at most a few levels deep.
pub(crate) fn innermost(message: &wa::Message) -> &wa::Message {
    let mut current = message;
    for _ in 0..4 {
        let next = current
            .device_sent_message
            .as_ref()
            .and_then(|d| d.message.as_deref())
            .or_else(|| {
                [
                    &current.ephemeral_message,
                    &current.view_once_message,
                    &current.view_once_message_v2,
                    &current.document_with_caption_message,
                    &current.edited_message,
                ]
                .into_iter()
                .find_map(|w| w.as_ref().and_then(|f| f.message.as_deref()))
            });
        match next {
            Some(inner) => current = inner,
            None => break,
        }
    }
    current
}

/// Kind, text and media metadata of a (possibly wrapped) message.
pub(crate) fn describe(message: &wa::Message) -> (ContentKind, Option<String>, Option<MediaInfo>) {
    let m = innermost(message);
    if let Some(text) = &m.conversation {
        return (ContentKind::Text, Some(text.clone()), None);
    }
    if let Some(ext) = &m.extended_text_message {
        return (ContentKind::Text, ext.text.clone(), None);
    }
    if let Some(i) = &m.image_message {
        let info = MediaInfo {
            media_type: "image",
            mimetype: i.mimetype.clone(),
            file_length: i.file_length,
            url: i.url.clone(),
            direct_path: i.direct_path.clone(),
            media_key: i.media_key.clone(),
            file_sha256: i.file_sha256.clone(),
            file_enc_sha256: i.file_enc_sha256.clone(),
            caption: i.caption.clone(),
            file_name: None,
        };
        return (ContentKind::Media, i.caption.clone(), Some(info));
    }
    if let Some(v) = m.video_message.as_ref().or(m.ptv_message.as_ref()) {
        let info = MediaInfo {
            media_type: "video",
            mimetype: v.mimetype.clone(),
            file_length: v.file_length,
            url: v.url.clone(),
            direct_path: v.direct_path.clone(),
            media_key: v.media_key.clone(),
            file_sha256: v.file_sha256.clone(),
            file_enc_sha256: v.file_enc_sha256.clone(),
            caption: v.caption.clone(),
            file_name: None,
        };
        return (ContentKind::Media, v.caption.clone(), Some(info));
    }
    if let Some(a) = &m.audio_message {
        let info = MediaInfo {
            media_type: "audio",
            mimetype: a.mimetype.clone(),
            file_length: a.file_length,
            url: a.url.clone(),
            direct_path: a.direct_path.clone(),
            media_key: a.media_key.clone(),
            file_sha256: a.file_sha256.clone(),
            file_enc_sha256: a.file_enc_sha256.clone(),
            caption: None,
            file_name: None,
        };
        return (ContentKind::Media, None, Some(info));
    }
    if let Some(d) = &m.document_message {
        let info = MediaInfo {
            media_type: "document",
            mimetype: d.mimetype.clone(),
            file_length: d.file_length,
            url: d.url.clone(),
            direct_path: d.direct_path.clone(),
            media_key: d.media_key.clone(),
            file_sha256: d.file_sha256.clone(),
            file_enc_sha256: d.file_enc_sha256.clone(),
            caption: d.caption.clone(),
            file_name: d.file_name.clone(),
        };
        return (ContentKind::Media, d.caption.clone(), Some(info));
    }
    if let Some(s) = &m.sticker_message {
        let info = MediaInfo {
            media_type: "sticker",
            mimetype: s.mimetype.clone(),
            file_length: s.file_length,
            url: s.url.clone(),
            direct_path: s.direct_path.clone(),
            media_key: s.media_key.clone(),
            file_sha256: s.file_sha256.clone(),
            file_enc_sha256: s.file_enc_sha256.clone(),
            caption: None,
            file_name: None,
        };
        return (ContentKind::Media, None, Some(info));
    }
    (ContentKind::Other, None, None)
}

/// True when the message carries nothing but a sender-key distribution (and context info):
/// a protocol message that produces no user-visible [`super::Incoming`].
pub(crate) fn only_key_distribution(message: &wa::Message) -> bool {
    let stripped = wa::Message {
        sender_key_distribution_message: None,
        fast_ratchet_key_sender_key_distribution_message: None,
        message_context_info: None,
        ..message.clone()
    };
    stripped == wa::Message::default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapped_texts_and_media_are_described() {
        let text = text_message("hi", [1; 32]);
        assert_eq!(
            describe(&device_sent("x@s.whatsapp.net", &text)),
            (ContentKind::Text, Some("hi".into()), None)
        );
        let image = wa::Message {
            ephemeral_message: Some(Box::new(wa::FutureProofMessage {
                message: Some(Box::new(wa::Message {
                    image_message: Some(Box::new(wa::ImageMessage {
                        mimetype: Some("image/jpeg".into()),
                        file_length: Some(1234),
                        direct_path: Some("/v/t62/x".into()),
                        media_key: Some(vec![3; 32]),
                        caption: Some("look".into()),
                        ..Default::default()
                    })),
                    ..Default::default()
                })),
            })),
            ..Default::default()
        };
        let (kind, caption, media) = describe(&image);
        assert_eq!(kind, ContentKind::Media);
        assert_eq!(caption.as_deref(), Some("look"));
        let media = media.unwrap();
        assert_eq!((media.media_type, media.file_length), ("image", Some(1234)));
        assert_eq!(
            describe(&wa::Message::default()),
            (ContentKind::Other, None, None)
        );
    }

    #[test]
    fn a_bare_key_distribution_is_not_user_content() {
        let skdm = wa::Message {
            sender_key_distribution_message: Some(wa::SenderKeyDistributionMessage {
                group_id: Some("1-2@g.us".into()),
                axolotl_sender_key_distribution_message: Some(vec![0x33]),
            }),
            ..Default::default()
        };
        assert!(only_key_distribution(&skdm));
        let mut with_text = skdm;
        with_text.conversation = Some("x".into());
        assert!(!only_key_distribution(&with_text));
    }
}
