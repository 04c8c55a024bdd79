#![allow(clippy::unwrap_used, clippy::expect_used)]
//! E2E `Message` content: field numbers (checked against an independent writer) and round trips.

mod wire;

use prost::Message as _;
use wa_protos::wa::{
    AudioMessage, ContactMessage, ContextInfo, DeviceListMetadata, DeviceSentMessage,
    DocumentMessage, ExtendedTextMessage, FutureProofMessage, ImageMessage, LocationMessage,
    Message, MessageContextInfo, MessageKey, ProtocolMessage, ReactionMessage,
    SenderKeyDistributionMessage, StickerMessage, VideoMessage, protocol_message,
};
use wire::{field_bytes, field_fixed64, field_varint, msg};

#[test]
fn conversation_is_field_1() {
    let m = Message {
        conversation: Some("hi".into()),
        ..Default::default()
    };
    assert_eq!(m.encode_to_vec(), [0x0a, 0x02, b'h', b'i']);
}

#[test]
fn reply_text_decodes_quote_context() {
    let quoted = msg(|q| field_bytes(q, 1, b"original"));
    let context = msg(|c| {
        field_bytes(c, 1, b"3EB0ABCDEF");
        field_bytes(c, 2, b"15550001111@s.whatsapp.net");
        field_bytes(c, 3, &quoted);
        field_bytes(c, 4, b"120363000000000000@g.us");
    });
    let ext = msg(|e| {
        field_bytes(e, 1, b"a reply");
        field_bytes(e, 17, &context);
    });
    let secret = [0x5a; 32];
    let bytes = msg(|m| {
        field_bytes(m, 6, &ext);
        field_bytes(m, 35, &msg(|i| field_bytes(i, 3, &secret)));
    });

    let m = Message::decode(bytes.as_slice()).unwrap();
    let ext = m.extended_text_message.as_ref().unwrap();
    assert_eq!(ext.text(), "a reply");
    let ctx = ext.context_info.as_ref().unwrap();
    assert_eq!(ctx.stanza_id(), "3EB0ABCDEF");
    assert_eq!(ctx.participant(), "15550001111@s.whatsapp.net");
    assert_eq!(ctx.remote_jid(), "120363000000000000@g.us");
    assert_eq!(
        ctx.quoted_message.as_ref().unwrap().conversation(),
        "original"
    );
    assert_eq!(
        m.message_context_info.as_ref().unwrap().message_secret(),
        secret
    );
    assert_eq!(m.encode_to_vec(), bytes);
}

#[test]
fn image_message_media_fields() {
    let bytes = msg(|i| {
        field_bytes(i, 1, b"https://mmg.whatsapp.net/x");
        field_bytes(i, 2, b"image/jpeg");
        field_bytes(i, 3, b"look");
        field_bytes(i, 4, &[1; 32]);
        field_varint(i, 5, 123_456);
        field_varint(i, 6, 480);
        field_varint(i, 7, 640);
        field_bytes(i, 8, &[2; 32]);
        field_bytes(i, 9, &[3; 32]);
        field_bytes(i, 11, b"/v/t62/abc");
        field_varint(i, 12, 1_700_000_000);
        field_bytes(i, 16, &[0xff, 0xd8]);
    });
    let img = ImageMessage::decode(bytes.as_slice()).unwrap();
    assert_eq!(img.url(), "https://mmg.whatsapp.net/x");
    assert_eq!(img.mimetype(), "image/jpeg");
    assert_eq!(img.caption(), "look");
    assert_eq!(img.file_sha256(), [1; 32]);
    assert_eq!(img.file_length, Some(123_456));
    assert_eq!((img.height, img.width), (Some(480), Some(640)));
    assert_eq!(img.media_key(), [2; 32]);
    assert_eq!(img.file_enc_sha256(), [3; 32]);
    assert_eq!(img.direct_path(), "/v/t62/abc");
    assert_eq!(img.media_key_timestamp, Some(1_700_000_000));
    assert_eq!(img.jpeg_thumbnail(), [0xff, 0xd8]);
    assert_eq!(img.encode_to_vec(), bytes);
    let wrapped = Message::decode(msg(|m| field_bytes(m, 3, &bytes)).as_slice()).unwrap();
    assert_eq!(wrapped.image_message.as_deref(), Some(&img));
}

#[test]
fn document_audio_video_sticker_field_numbers() {
    let doc = DocumentMessage::decode(
        msg(|d| {
            field_bytes(d, 2, b"application/pdf");
            field_bytes(d, 4, &[4; 32]);
            field_varint(d, 5, 99);
            field_bytes(d, 7, &[5; 32]);
            field_bytes(d, 8, b"report.pdf");
            field_bytes(d, 9, &[6; 32]);
            field_bytes(d, 10, b"/d");
            field_varint(d, 11, 7);
            field_bytes(d, 20, b"cap");
        })
        .as_slice(),
    )
    .unwrap();
    assert_eq!(doc.mimetype(), "application/pdf");
    assert_eq!(doc.file_sha256(), [4; 32]);
    assert_eq!(doc.file_length, Some(99));
    assert_eq!(doc.media_key(), [5; 32]);
    assert_eq!(doc.file_name(), "report.pdf");
    assert_eq!(doc.file_enc_sha256(), [6; 32]);
    assert_eq!(doc.direct_path(), "/d");
    assert_eq!(doc.media_key_timestamp, Some(7));
    assert_eq!(doc.caption(), "cap");

    let audio = AudioMessage::decode(
        msg(|a| {
            field_bytes(a, 2, b"audio/ogg; codecs=opus");
            field_bytes(a, 3, &[7; 32]);
            field_varint(a, 4, 5_000);
            field_varint(a, 5, 12);
            field_varint(a, 6, 1);
            field_bytes(a, 7, &[8; 32]);
            field_bytes(a, 8, &[9; 32]);
            field_bytes(a, 9, b"/a");
            field_varint(a, 10, 11);
        })
        .as_slice(),
    )
    .unwrap();
    assert_eq!(audio.mimetype(), "audio/ogg; codecs=opus");
    assert_eq!(audio.file_sha256(), [7; 32]);
    assert_eq!(audio.file_length, Some(5_000));
    assert_eq!(audio.seconds, Some(12));
    assert_eq!(audio.ptt, Some(true));
    assert_eq!(audio.media_key(), [8; 32]);
    assert_eq!(audio.file_enc_sha256(), [9; 32]);
    assert_eq!(audio.direct_path(), "/a");
    assert_eq!(audio.media_key_timestamp, Some(11));

    let video = VideoMessage::decode(
        msg(|v| {
            field_bytes(v, 3, &[10; 32]);
            field_varint(v, 4, 77);
            field_varint(v, 5, 30);
            field_bytes(v, 6, &[11; 32]);
            field_bytes(v, 7, b"clip");
            field_varint(v, 8, 1);
            field_varint(v, 9, 720);
            field_varint(v, 10, 1280);
            field_bytes(v, 11, &[12; 32]);
            field_bytes(v, 13, b"/v");
            field_varint(v, 14, 13);
        })
        .as_slice(),
    )
    .unwrap();
    assert_eq!(video.file_sha256(), [10; 32]);
    assert_eq!(video.file_length, Some(77));
    assert_eq!(video.seconds, Some(30));
    assert_eq!(video.media_key(), [11; 32]);
    assert_eq!(video.caption(), "clip");
    assert_eq!(video.gif_playback, Some(true));
    assert_eq!((video.height, video.width), (Some(720), Some(1280)));
    assert_eq!(video.file_enc_sha256(), [12; 32]);
    assert_eq!(video.direct_path(), "/v");
    assert_eq!(video.media_key_timestamp, Some(13));

    let sticker = StickerMessage::decode(
        msg(|s| {
            field_bytes(s, 2, &[14; 32]);
            field_bytes(s, 3, &[15; 32]);
            field_bytes(s, 4, &[16; 32]);
            field_bytes(s, 5, b"image/webp");
            field_bytes(s, 8, b"/s");
            field_varint(s, 9, 2_048);
            field_varint(s, 13, 1);
        })
        .as_slice(),
    )
    .unwrap();
    assert_eq!(sticker.file_sha256(), [14; 32]);
    assert_eq!(sticker.file_enc_sha256(), [15; 32]);
    assert_eq!(sticker.media_key(), [16; 32]);
    assert_eq!(sticker.mimetype(), "image/webp");
    assert_eq!(sticker.direct_path(), "/s");
    assert_eq!(sticker.file_length, Some(2_048));
    assert_eq!(sticker.is_animated, Some(true));
}

#[test]
fn location_and_contact_field_numbers() {
    let loc = LocationMessage::decode(
        msg(|l| {
            field_fixed64(l, 1, 52.5_f64.to_bits());
            field_fixed64(l, 2, 13.25_f64.to_bits());
            field_bytes(l, 3, b"Office");
            field_bytes(l, 4, b"Main St 1");
        })
        .as_slice(),
    )
    .unwrap();
    assert_eq!(loc.degrees_latitude, Some(52.5));
    assert_eq!(loc.degrees_longitude, Some(13.25));
    assert_eq!(loc.name(), "Office");
    assert_eq!(loc.address(), "Main St 1");

    let contact = ContactMessage::decode(
        msg(|c| {
            field_bytes(c, 1, b"Ann");
            field_bytes(c, 16, b"BEGIN:VCARD\nEND:VCARD");
        })
        .as_slice(),
    )
    .unwrap();
    assert_eq!(contact.display_name(), "Ann");
    assert_eq!(contact.vcard(), "BEGIN:VCARD\nEND:VCARD");
}

#[test]
fn device_sent_message_wraps_original_for_own_devices() {
    let inner = msg(|m| field_bytes(m, 1, b"hello"));
    let dsm = msg(|d| {
        field_bytes(d, 1, b"15550002222@s.whatsapp.net");
        field_bytes(d, 2, &inner);
        field_bytes(d, 3, b"2:abc");
    });
    let dlm = msg(|l| {
        field_bytes(l, 1, &[1; 10]);
        field_varint(l, 2, 1_700_000_000);
        field_bytes(l, 3, &[0, 1]); // packed senderKeyIndexes
        field_bytes(l, 8, &[2; 10]);
        field_varint(l, 9, 1_700_000_001);
    });
    let bytes = msg(|m| {
        field_bytes(m, 31, &dsm);
        field_bytes(
            m,
            35,
            &msg(|i| {
                field_bytes(i, 1, &dlm);
                field_varint(i, 2, 2);
            }),
        );
    });
    // deviceSentMessage = 31 => tag 0xfa 0x01.
    assert_eq!(bytes[..2], [0xfa, 0x01]);
    let m = Message::decode(bytes.as_slice()).unwrap();
    let d = m.device_sent_message.as_ref().unwrap();
    assert_eq!(d.destination_jid(), "15550002222@s.whatsapp.net");
    assert_eq!(d.message.as_ref().unwrap().conversation(), "hello");
    assert_eq!(d.phash(), "2:abc");
    let info = m.message_context_info.as_ref().unwrap();
    assert_eq!(info.device_list_metadata_version, Some(2));
    let meta = info.device_list_metadata.as_ref().unwrap();
    assert_eq!(meta.sender_key_hash(), [1; 10]);
    assert_eq!(meta.sender_timestamp, Some(1_700_000_000));
    assert_eq!(meta.sender_key_indexes, vec![0, 1]);
    assert_eq!(meta.recipient_key_hash(), [2; 10]);
    assert_eq!(meta.recipient_timestamp, Some(1_700_000_001));
    assert_eq!(m.encode_to_vec(), bytes);
}

#[test]
fn reaction_and_revoke_reference_a_message_key() {
    let key = msg(|k| {
        field_bytes(k, 1, b"15550003333@s.whatsapp.net");
        field_varint(k, 2, 1);
        field_bytes(k, 3, b"3EB0KEY");
        field_bytes(k, 4, b"15550004444@s.whatsapp.net");
    });
    let reaction = msg(|m| {
        field_bytes(
            m,
            46,
            &msg(|r| {
                field_bytes(r, 1, &key);
                field_bytes(r, 2, "👍".as_bytes());
                field_varint(r, 4, 1_700_000_000_123);
            }),
        )
    });
    let m = Message::decode(reaction.as_slice()).unwrap();
    let r = m.reaction_message.as_ref().unwrap();
    assert_eq!(r.text(), "👍");
    assert_eq!(r.sender_timestamp_ms, Some(1_700_000_000_123));
    let k = r.key.as_ref().unwrap();
    assert_eq!(k.remote_jid(), "15550003333@s.whatsapp.net");
    assert_eq!(k.from_me, Some(true));
    assert_eq!(k.id(), "3EB0KEY");
    assert_eq!(k.participant(), "15550004444@s.whatsapp.net");

    let revoke = msg(|m| {
        field_bytes(
            m,
            12,
            &msg(|p| {
                field_bytes(p, 1, &key);
                field_varint(p, 2, 0);
            }),
        )
    });
    let m = Message::decode(revoke.as_slice()).unwrap();
    let p = m.protocol_message.as_ref().unwrap();
    assert_eq!(p.r#type, Some(0));
    assert_eq!(p.r#type(), protocol_message::Type::Revoke);
    assert_eq!(p.key.as_ref().unwrap().id(), "3EB0KEY");
    assert_eq!(protocol_message::Type::MessageEdit as i32, 14);
}

#[test]
fn sender_key_distribution_and_wrappers() {
    let bytes = msg(|m| {
        field_bytes(
            m,
            2,
            &msg(|s| {
                field_bytes(s, 1, b"120363000000000000@g.us");
                field_bytes(s, 2, &[0x33, 0x08, 0x01]);
            }),
        );
        field_bytes(
            m,
            37,
            &msg(|f| field_bytes(f, 1, &msg(|i| field_bytes(i, 1, b"once")))),
        );
    });
    let m = Message::decode(bytes.as_slice()).unwrap();
    let skdm = m.sender_key_distribution_message.as_ref().unwrap();
    assert_eq!(skdm.group_id(), "120363000000000000@g.us");
    assert_eq!(
        skdm.axolotl_sender_key_distribution_message(),
        [0x33, 0x08, 0x01]
    );
    let once = m
        .view_once_message
        .as_ref()
        .unwrap()
        .message
        .as_ref()
        .unwrap();
    assert_eq!(once.conversation(), "once");
}

#[test]
fn full_message_round_trip() {
    let key = MessageKey {
        remote_jid: Some("1@s.whatsapp.net".into()),
        from_me: Some(false),
        id: Some("ID1".into()),
        participant: None,
    };
    let ctx = ContextInfo {
        stanza_id: Some("ID0".into()),
        participant: Some("2@s.whatsapp.net".into()),
        quoted_message: Some(Box::new(Message {
            conversation: Some("q".into()),
            ..Default::default()
        })),
        remote_jid: Some("1@s.whatsapp.net".into()),
        mentioned_jid: vec!["3@s.whatsapp.net".into()],
        ..Default::default()
    };
    let m = Message {
        conversation: Some("c".into()),
        sender_key_distribution_message: Some(SenderKeyDistributionMessage {
            group_id: Some("g@g.us".into()),
            axolotl_sender_key_distribution_message: Some(vec![0x33]),
        }),
        image_message: Some(Box::new(ImageMessage {
            caption: Some("i".into()),
            context_info: Some(Box::new(ctx.clone())),
            ..Default::default()
        })),
        contact_message: Some(Box::new(ContactMessage {
            display_name: Some("n".into()),
            ..Default::default()
        })),
        location_message: Some(Box::new(LocationMessage {
            degrees_latitude: Some(-1.5),
            ..Default::default()
        })),
        extended_text_message: Some(Box::new(ExtendedTextMessage {
            text: Some("t".into()),
            context_info: Some(Box::new(ctx)),
            ..Default::default()
        })),
        document_message: Some(Box::new(DocumentMessage {
            file_name: Some("f".into()),
            ..Default::default()
        })),
        audio_message: Some(Box::new(AudioMessage {
            ptt: Some(false),
            ..Default::default()
        })),
        video_message: Some(Box::new(VideoMessage {
            seconds: Some(3),
            ..Default::default()
        })),
        protocol_message: Some(Box::new(ProtocolMessage {
            key: Some(key.clone()),
            r#type: Some(protocol_message::Type::MessageEdit as i32),
            edited_message: Some(Box::new(Message {
                conversation: Some("edited".into()),
                ..Default::default()
            })),
            ..Default::default()
        })),
        sticker_message: Some(Box::new(StickerMessage {
            is_animated: Some(false),
            ..Default::default()
        })),
        device_sent_message: Some(Box::new(DeviceSentMessage {
            destination_jid: Some("1@s.whatsapp.net".into()),
            message: Some(Box::new(Message {
                conversation: Some("inner".into()),
                ..Default::default()
            })),
            phash: None,
        })),
        message_context_info: Some(MessageContextInfo {
            device_list_metadata: Some(DeviceListMetadata {
                sender_key_indexes: vec![1, 2],
                ..Default::default()
            }),
            device_list_metadata_version: Some(2),
            message_secret: Some(vec![9; 32]),
            ..Default::default()
        }),
        reaction_message: Some(ReactionMessage {
            key: Some(key),
            text: Some("x".into()),
            ..Default::default()
        }),
        ephemeral_message: Some(Box::new(FutureProofMessage {
            message: Some(Box::new(Message {
                conversation: Some("e".into()),
                ..Default::default()
            })),
        })),
        ..Default::default()
    };
    let back = Message::decode(m.encode_to_vec().as_slice()).unwrap();
    assert_eq!(back, m);
}

#[test]
fn hostile_input_errors_instead_of_panicking() {
    // Length prefix longer than the buffer.
    assert!(Message::decode([0x0a, 0x05, b'h'].as_slice()).is_err());
    // Wrong wire type for conversation (varint instead of length-delimited).
    assert!(Message::decode([0x08, 0x01].as_slice()).is_err());
    // Invalid UTF-8 in a string field.
    assert!(Message::decode([0x0a, 0x02, 0xff, 0xfe].as_slice()).is_err());
    // Deeply nested quotes beyond prost's recursion limit are rejected, not a stack overflow.
    let mut nested = msg(|m| field_bytes(m, 1, b"x"));
    for _ in 0..200 {
        nested = msg(|m| field_bytes(m, 37, &msg(|f| field_bytes(f, 1, &nested))));
    }
    assert!(Message::decode(nested.as_slice()).is_err());
}
