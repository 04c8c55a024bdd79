#![allow(clippy::unwrap_used, clippy::expect_used)]
//! ClientPayload and DeviceProps: field numbers and round trips.

mod wire;

use prost::Message;
use wa_protos::wa::{
    ClientPayload, DeviceProps,
    client_payload::{
        ConnectReason, ConnectType, DevicePairingRegistrationData, Product, UserAgent, WebInfo,
        user_agent::{AppVersion, Platform, ReleaseChannel},
        web_info::WebSubPlatform,
    },
    device_props::{self, HistorySyncConfig, PlatformType},
};
use wire::{field_bytes, field_varint, msg};

#[test]
fn login_payload_decodes_from_independent_encoding() {
    let user_agent = msg(|m| {
        field_varint(m, 1, 14); // platform WEB
        field_bytes(
            m,
            2,
            &msg(|v| {
                field_varint(v, 1, 2);
                field_varint(v, 2, 3000);
                field_varint(v, 3, 1_035_194_821);
            }),
        );
        field_bytes(m, 3, b"000");
        field_bytes(m, 4, b"000");
        field_bytes(m, 5, b"0.1");
        field_bytes(m, 7, b"Desktop");
        field_varint(m, 10, 0); // RELEASE
        field_bytes(m, 11, b"en");
        field_bytes(m, 12, b"US");
    });
    let bytes = msg(|m| {
        field_varint(m, 1, 15_551_234_567);
        field_varint(m, 3, 1);
        field_bytes(m, 5, &user_agent);
        field_bytes(m, 6, &msg(|w| field_varint(w, 4, 0)));
        field_varint(m, 12, 1);
        field_varint(m, 13, 1);
        field_varint(m, 18, 7);
        field_varint(m, 24, 3);
        field_varint(m, 33, 1);
        field_varint(m, 41, 0);
    });
    let p = ClientPayload::decode(bytes.as_slice()).unwrap();
    assert_eq!(p.username, Some(15_551_234_567));
    assert_eq!(p.passive, Some(true));
    assert_eq!(p.connect_type(), ConnectType::WifiUnknown);
    assert_eq!(p.connect_reason(), ConnectReason::UserActivated);
    assert_eq!(p.device, Some(7));
    assert_eq!(p.lc, Some(3));
    assert_eq!(p.pull, Some(true));
    assert_eq!(p.lid_db_migrated, Some(false));
    let ua = p.user_agent.as_ref().unwrap();
    assert_eq!(ua.platform(), Platform::Web);
    assert_eq!(ua.release_channel(), ReleaseChannel::Release);
    let v = ua.app_version.as_ref().unwrap();
    assert_eq!(
        (v.primary, v.secondary, v.tertiary),
        (Some(2), Some(3000), Some(1_035_194_821))
    );
    assert_eq!(ua.mcc(), "000");
    assert_eq!(ua.device(), "Desktop");
    assert_eq!(ua.locale_language_iso6391(), "en");
    assert_eq!(ua.locale_country_iso31661_alpha2(), "US");
    let web = p.web_info.as_ref().unwrap();
    assert_eq!(
        web.web_sub_platform,
        Some(WebSubPlatform::WebBrowser as i32)
    );
    assert!(p.device_pairing_data.is_none());
    // Encoding back yields the same bytes (fields were written in ascending order).
    assert_eq!(p.encode_to_vec(), bytes);
}

#[test]
fn registration_payload_round_trip_with_device_props() {
    let props = DeviceProps {
        os: Some("Mac OS".into()),
        version: Some(device_props::AppVersion {
            primary: Some(10),
            secondary: Some(15),
            tertiary: Some(7),
            ..Default::default()
        }),
        platform_type: Some(PlatformType::Chrome as i32),
        require_full_sync: Some(false),
        history_sync_config: Some(HistorySyncConfig {
            storage_quota_mb: Some(10_240),
            inline_initial_payload_in_e2_ee_msg: Some(true),
            ..Default::default()
        }),
    };
    let props_bytes = props.encode_to_vec();
    let expected_props = msg(|m| {
        field_bytes(m, 1, b"Mac OS");
        field_bytes(
            m,
            2,
            &msg(|v| {
                field_varint(v, 1, 10);
                field_varint(v, 2, 15);
                field_varint(v, 3, 7);
            }),
        );
        field_varint(m, 3, 1);
        field_varint(m, 4, 0);
        field_bytes(
            m,
            5,
            &msg(|h| {
                field_varint(h, 3, 10_240);
                field_varint(h, 4, 1);
            }),
        );
    });
    assert_eq!(props_bytes, expected_props);

    let pairing = DevicePairingRegistrationData {
        e_regid: Some(vec![0, 0, 0x30, 0x39]),
        e_keytype: Some(vec![5]),
        e_ident: Some(vec![0x11; 32]),
        e_skey_id: Some(vec![0, 0, 1]),
        e_skey_val: Some(vec![0x22; 32]),
        e_skey_sig: Some(vec![0x33; 64]),
        build_hash: Some(vec![0x44; 16]),
        device_props: Some(props_bytes.clone()),
    };
    let payload = ClientPayload {
        passive: Some(false),
        user_agent: Some(UserAgent {
            platform: Some(Platform::Web as i32),
            app_version: Some(AppVersion {
                primary: Some(2),
                secondary: Some(3000),
                tertiary: Some(1),
                ..Default::default()
            }),
            ..Default::default()
        }),
        web_info: Some(WebInfo {
            web_sub_platform: Some(WebSubPlatform::Darwin as i32),
            ..Default::default()
        }),
        push_name: Some("Gateway".into()),
        connect_type: Some(ConnectType::WifiUnknown as i32),
        connect_reason: Some(ConnectReason::UserActivated as i32),
        device_pairing_data: Some(pairing.clone()),
        product: Some(Product::Whatsapp as i32),
        pull: Some(false),
        ..Default::default()
    };
    let bytes = payload.encode_to_vec();
    let decoded = ClientPayload::decode(bytes.as_slice()).unwrap();
    assert_eq!(decoded, payload);
    // devicePairingData is field 19, length-delimited: tag varint 0x9a 0x01.
    let pairing_bytes = pairing.encode_to_vec();
    let mut tagged = vec![0x9a, 0x01];
    wire::varint(&mut tagged, pairing_bytes.len() as u64);
    tagged.extend_from_slice(&pairing_bytes);
    assert!(bytes.windows(tagged.len()).any(|w| w == tagged.as_slice()));
    // eRegid..deviceProps are fields 1..8 in order.
    let expected_pairing = msg(|m| {
        field_bytes(m, 1, &[0, 0, 0x30, 0x39]);
        field_bytes(m, 2, &[5]);
        field_bytes(m, 3, &[0x11; 32]);
        field_bytes(m, 4, &[0, 0, 1]);
        field_bytes(m, 5, &[0x22; 32]);
        field_bytes(m, 6, &[0x33; 64]);
        field_bytes(m, 7, &[0x44; 16]);
        field_bytes(m, 8, &props_bytes);
    });
    assert_eq!(pairing_bytes, expected_pairing);
    let back = DeviceProps::decode(decoded.device_pairing_data.unwrap().device_props()).unwrap();
    assert_eq!(back, props);
}

#[test]
fn enum_values_match_upstream() {
    assert_eq!(Platform::Web as i32, 14);
    assert_eq!(Platform::Macos as i32, 24);
    assert_eq!(Platform::Windows as i32, 13);
    assert_eq!(WebSubPlatform::Win32 as i32, 4);
    assert_eq!(ConnectType::CellularLte as i32, 111);
    assert_eq!(ConnectReason::ErrorReconnect as i32, 3);
    assert_eq!(PlatformType::Desktop as i32, 7);
    assert_eq!(PlatformType::AndroidPhone as i32, 16);
    assert_eq!(PlatformType::Uwp as i32, 21);
}

#[test]
fn unknown_enum_value_is_kept_as_raw_number() {
    // connectType = 999 is not in the schema; decoding must not fail and the getter falls back.
    let bytes = msg(|m| field_varint(m, 12, 999));
    let p = ClientPayload::decode(bytes.as_slice()).unwrap();
    assert_eq!(p.connect_type, Some(999));
    assert_eq!(p.connect_type(), ConnectType::CellularUnknown);
}
