//! Tests of configuration parsing.
use super::*;

fn raw() -> RawConfig {
    RawConfig::default()
}

#[test]
fn starts_with_no_environment() {
    let c = Config::from_raw(raw()).unwrap();
    assert_eq!(c.provider, ProviderMode::Auto);
    assert!(c.twilio.is_none());
    assert!(c.baileys_webhook_secret.is_none());
    assert_eq!(c.bind, DEFAULT_BIND.parse().unwrap());
    assert_eq!(c.database_url.expose(), "sqlite:./data/gateway.db");
    assert_eq!(c.media_store, "./data/media");
    assert_eq!(c.max_body_bytes, 1024 * 1024);
    assert_eq!(c.health_check_interval, Duration::from_secs(30));
    assert_eq!(c.twilio_api_base.as_str(), "https://api.twilio.com/");
}

#[test]
fn twilio_group_all_or_nothing() {
    let mut r = raw();
    r.public_base_url = Some("https://gw.example.com/".into());
    assert_eq!(
        Config::from_raw(r.clone()).unwrap_err().var,
        "TWILIO_AUTH_TOKEN"
    );
    r.twilio_auth_token = Some("tok".into());
    let c = Config::from_raw(r).unwrap();
    assert_eq!(c.twilio.unwrap().public_base_url, "https://gw.example.com");

    let mut r = raw();
    r.twilio_auth_token = Some("tok".into());
    assert_eq!(Config::from_raw(r).unwrap_err().var, "PUBLIC_BASE_URL");

    let mut r = raw();
    r.twilio_account_sid = Some(format!("AC{}", "a".repeat(32)));
    assert_eq!(Config::from_raw(r).unwrap_err().var, "TWILIO_AUTH_TOKEN");
}

#[test]
fn empty_values_count_as_unset() {
    let mut r = raw();
    r.public_base_url = Some(String::new());
    r.twilio_auth_token = Some("  ".into());
    r.gateway_bind = Some(String::new());
    assert!(Config::from_raw(r).unwrap().twilio.is_none());
}

#[test]
fn malformed_values_name_the_variable() {
    type Case = (fn(&mut RawConfig), &'static str);
    let cases: Vec<Case> = vec![
        (
            |r| r.whatsapp_provider = Some("sms".into()),
            "WHATSAPP_PROVIDER",
        ),
        (
            |r| r.gateway_bind = Some("localhost".into()),
            "GATEWAY_BIND",
        ),
        (
            |r| r.health_check_interval = Some("0".into()),
            "HEALTH_CHECK_INTERVAL",
        ),
        (
            |r| r.twilio_failover_content_sid = Some("HX123".into()),
            "TWILIO_FAILOVER_CONTENT_SID",
        ),
        (
            |r| r.twilio_api_base = Some("ftp://x".into()),
            "TWILIO_API_BASE",
        ),
        (
            |r| r.database_url = Some("mysql://x".into()),
            "DATABASE_URL",
        ),
        (
            |r| r.gateway_max_body_bytes = Some("lots".into()),
            "GATEWAY_MAX_BODY_BYTES",
        ),
        (
            |r| r.baileys_outbound_url = Some("not a url".into()),
            "BAILEYS_OUTBOUND_URL",
        ),
        (
            |r| r.gateway_api_token = Some("short".into()),
            "GATEWAY_API_TOKEN",
        ),
        (
            |r| r.whatsapp_provider = Some("baileys".into()),
            "BAILEYS_OUTBOUND_URL",
        ),
    ];
    for (set, var) in cases {
        let mut r = raw();
        set(&mut r);
        let e = Config::from_raw(r).unwrap_err();
        assert_eq!(e.var, var, "{e}");
        assert!(e.to_string().starts_with(var));
    }
}

#[test]
fn failover_sid_accepts_hx_and_32_hex() {
    let mut r = raw();
    r.twilio_failover_content_sid = Some(format!("HX{}", "0123456789abcdef".repeat(2)));
    assert!(Config::from_raw(r).unwrap().failover_content_sid.is_some());
}

#[test]
fn health_url_derived_from_send_url() {
    let mut r = raw();
    r.baileys_outbound_url = Some("https://side.example/wa/send".into());
    let c = Config::from_raw(r.clone()).unwrap();
    assert_eq!(
        c.baileys_health_url.unwrap().as_str(),
        "https://side.example/wa/health"
    );
    r.baileys_health_url = Some("http://127.0.0.1:9/h".into());
    let c = Config::from_raw(r).unwrap();
    assert_eq!(
        c.baileys_health_url.unwrap().as_str(),
        "http://127.0.0.1:9/h"
    );
}

#[test]
fn secrets_do_not_leak_through_debug() {
    let mut r = raw();
    r.public_base_url = Some("https://gw.example.com".into());
    r.twilio_auth_token = Some("very-secret-token".into());
    r.baileys_webhook_secret = Some("side-secret".into());
    r.gateway_api_token = Some("api-token-0123456789".into());
    let text = format!("{:?}", Config::from_raw(r).unwrap());
    assert!(!text.contains("very-secret-token"));
    assert!(!text.contains("side-secret"));
    assert!(!text.contains("api-token-0123456789"));
}

#[test]
fn help_lists_every_variable() {
    use clap::CommandFactory;
    let help = RawConfig::command().render_long_help().to_string();
    for var in [
        "PUBLIC_BASE_URL",
        "WHATSAPP_PROVIDER",
        "TWILIO_ACCOUNT_SID",
        "TWILIO_AUTH_TOKEN",
        "TWILIO_WA_FROM",
        "BAILEYS_OUTBOUND_URL",
        "BAILEYS_HEALTH_URL",
        "BAILEYS_WEBHOOK_SECRET",
        "DATABASE_URL",
        "MEDIA_STORE",
        "GATEWAY_BIND",
        "GATEWAY_API_TOKEN",
        "TWILIO_API_BASE",
        "HEALTH_CHECK_INTERVAL",
        "TWILIO_FAILOVER_CONTENT_SID",
        "GATEWAY_DATA_DIR",
        "GATEWAY_MAX_BODY_BYTES",
    ] {
        assert!(help.contains(var), "{var} missing from --help");
    }
    assert!(help.contains("127.0.0.1:8080"));
}
