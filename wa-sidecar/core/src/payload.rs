//! The ClientPayload sent (encrypted) in ClientFinish: registration for a fresh device, login
//! for a paired one (fact sheet section 2).
//!
//! Values follow Baileys `generateRegistrationNode` / `generateLoginNode` / `getClientPayload`
//! (`src/Utils/validate-connection.ts`) and whatsmeow `getRegistrationPayload` /
//! `getLoginPayload` (`store/clientpayload.go`).

use md5::{Digest as _, Md5};
use prost::Message as _;
use wa_protos::wa::client_payload::{
    ConnectReason, ConnectType, DevicePairingRegistrationData, UserAgent, WebInfo, user_agent,
    web_info,
};
use wa_protos::wa::device_props::{self, HistorySyncConfig, PlatformType};
use wa_protos::wa::{ClientPayload, DeviceProps};

use crate::device::DeviceState;

/// WhatsApp Web version we announce: Baileys' default `[2, 3000, 1035194821]`
/// (`src/Defaults/baileys-version.json`).
pub const WA_VERSION: [u32; 3] = [2, 3000, 1_035_194_821];

/// Name the phone shows in its "Linked devices" list (DeviceProps.os).
pub const DEVICE_OS: &str = "wa-sidecar";

/// The companion platform we register as: Chrome, Baileys' default browser
/// (`DEFAULT_CONNECTION_CONFIG.browser` = Mac OS / Chrome). It must agree with [`QR_CLIENT_TYPE`].
pub const PLATFORM_TYPE: PlatformType = PlatformType::Chrome;

/// QR field 5: companion platform character, "1" = Chrome (fact sheet 4.1).
pub const QR_CLIENT_TYPE: &str = "1";

/// `"2.3000.1035194821"`.
pub fn version_string() -> String {
    let [a, b, c] = WA_VERSION;
    format!("{a}.{b}.{c}")
}

/// The part shared by registration and login: user agent, web info, connect type and reason.
fn base_payload() -> ClientPayload {
    let [primary, secondary, tertiary] = WA_VERSION;
    ClientPayload {
        user_agent: Some(UserAgent {
            platform: Some(user_agent::Platform::Web as i32),
            app_version: Some(user_agent::AppVersion {
                primary: Some(primary),
                secondary: Some(secondary),
                tertiary: Some(tertiary),
                ..Default::default()
            }),
            mcc: Some("000".into()),
            mnc: Some("000".into()),
            os_version: Some("0.1".into()),
            device: Some("Desktop".into()),
            os_build_number: Some("0.1".into()),
            release_channel: Some(user_agent::ReleaseChannel::Release as i32),
            locale_language_iso6391: Some("en".into()),
            locale_country_iso31661_alpha2: Some("US".into()),
            ..Default::default()
        }),
        web_info: Some(WebInfo {
            web_sub_platform: Some(web_info::WebSubPlatform::WebBrowser as i32),
            ..Default::default()
        }),
        connect_type: Some(ConnectType::WifiUnknown as i32),
        connect_reason: Some(ConnectReason::UserActivated as i32),
        ..Default::default()
    }
}

/// The DeviceProps a fresh companion registers with (Baileys: history sync config with a
/// 10 240 MB quota and inline initial payload; no full sync).
pub fn device_props() -> DeviceProps {
    DeviceProps {
        os: Some(DEVICE_OS.into()),
        version: Some(device_props::AppVersion {
            primary: Some(0),
            secondary: Some(1),
            tertiary: Some(0),
            ..Default::default()
        }),
        platform_type: Some(PLATFORM_TYPE as i32),
        require_full_sync: Some(false),
        history_sync_config: Some(HistorySyncConfig {
            storage_quota_mb: Some(10_240),
            inline_initial_payload_in_e2_ee_msg: Some(true),
            ..Default::default()
        }),
    }
}

/// Registration payload for an unpaired device: `passive = false`, `pull = false`, and
/// `devicePairingData` with eRegid (4 B BE), eKeytype 0x05, eIdent, eSkeyID (3 B BE),
/// eSkeyVal, eSkeySig, buildHash = MD5(version string), deviceProps.
pub fn registration_payload(device: &DeviceState) -> ClientPayload {
    let spk = &device.signed_prekey;
    let build_hash = Md5::digest(version_string().as_bytes()).to_vec();
    ClientPayload {
        passive: Some(false),
        pull: Some(false),
        push_name: device.push_name.clone().filter(|n| !n.is_empty()),
        device_pairing_data: Some(DevicePairingRegistrationData {
            e_regid: Some(device.registration_id.to_be_bytes().to_vec()),
            e_keytype: Some(vec![wa_crypto::DJB_TYPE]),
            e_ident: Some(device.identity_key.public.to_vec()),
            e_skey_id: Some(be3(spk.id).to_vec()),
            e_skey_val: Some(spk.key_pair.public.to_vec()),
            e_skey_sig: Some(spk.signature.to_vec()),
            build_hash: Some(build_hash),
            device_props: Some(device_props().encode_to_vec()),
        }),
        ..base_payload()
    }
}

/// Login payload for a paired device: `username` (phone number), `device`, `passive = true`
/// (the server holds offline traffic until `<active/>`), `pull = true`, `lidDbMigrated = false`
/// (Baileys `generateLoginNode`). `None` when the stored JID is missing or not numeric.
pub fn login_payload(device: &DeviceState) -> Option<ClientPayload> {
    let jid = device.own_jid()?;
    let username: u64 = jid.user.parse().ok()?;
    Some(ClientPayload {
        username: Some(username),
        device: Some(u32::from(jid.device)),
        passive: Some(true),
        pull: Some(true),
        lid_db_migrated: Some(false),
        ..base_payload()
    })
}

/// The low three bytes of `n`, big-endian (prekey ids on the wire).
pub(crate) fn be3(n: u32) -> [u8; 3] {
    let b = n.to_be_bytes();
    [b[1], b[2], b[3]]
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn registration_carries_the_keys_in_wire_layout() {
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        let mut d = DeviceState::generate(&mut rng);
        d.registration_id = 0x1234;
        let p = registration_payload(&d);
        let reg = p.device_pairing_data.unwrap();
        assert_eq!(reg.e_regid(), [0, 0, 0x12, 0x34]);
        assert_eq!(reg.e_keytype(), [5]);
        assert_eq!(reg.e_skey_id(), [0, 0, 1]);
        assert_eq!(reg.e_ident(), d.identity_key.public);
        assert_eq!(reg.e_skey_sig().len(), 64);
        // MD5("2.3000.1035194821") computed independently with coreutils md5sum.
        assert_eq!(
            hex::encode(reg.build_hash()),
            "a2c9471eff910a9e1ae659890a28872d"
        );
        assert_eq!(p.passive, Some(false));
        assert!(p.username.is_none());
    }

    #[test]
    fn login_needs_a_numeric_jid() {
        let mut rng = ChaCha20Rng::seed_from_u64(6);
        let mut d = DeviceState::generate(&mut rng);
        assert!(login_payload(&d).is_none());
        d.jid = Some("972500000001:7@s.whatsapp.net".into());
        let p = login_payload(&d).unwrap();
        assert_eq!((p.username, p.device), (Some(972_500_000_001), Some(7)));
        assert_eq!((p.passive, p.pull), (Some(true), Some(true)));
        assert!(p.device_pairing_data.is_none());
        d.jid = Some("abc:7@s.whatsapp.net".into());
        assert!(login_payload(&d).is_none());
    }
}
