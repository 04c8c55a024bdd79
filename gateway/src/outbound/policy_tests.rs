//! The routing table: every rule of ARCHITECTURE.md "Outbound routing" and their combinations.

use super::*;
use ProviderMode::{Auto, Baileys as ModeB, Twilio as ModeT};

const NOW: Millis = 1_767_225_600_000;
const H: Millis = 3600 * 1000;
const B: Provider = Provider::Baileys;
const T: Provider = Provider::Twilio;

fn st(sidecar: Option<Millis>, twilio: Option<Millis>) -> ConversationState {
    ConversationState {
        sidecar_last_inbound: sidecar.map(|ago| NOW - ago),
        twilio_last_inbound: twilio.map(|ago| NOW - ago),
        twilio_63016_at: None,
        twilio_addressable: true,
        sidecar_addressable: true,
    }
}

fn health(sidecar_up: bool, twilio_ready: bool, failover_template: bool) -> Health {
    Health {
        sidecar_up,
        twilio_ready,
        failover_template,
    }
}

fn msg(content: Content, forced: Option<Provider>) -> MessageSpec {
    MessageSpec { content, forced }
}

/// Expected outcome in short form.
#[derive(Debug, PartialEq)]
enum E {
    Send(Provider, SendAs),
    Wait,
    Refuse(&'static str),
}

fn short(d: &Decision) -> E {
    match d {
        Decision::Send {
            provider, send_as, ..
        } => E::Send(*provider, *send_as),
        Decision::Wait { .. } => E::Wait,
        Decision::Refuse { reason } => E::Refuse(reason),
    }
}

const ASIS: SendAs = SendAs::AsIs;
const TPL: SendAs = SendAs::FailoverTemplate;

#[test]
fn routing_table() {
    let up = health(true, true, true);
    let up_no_tpl = health(true, true, false);
    let down = health(false, true, true);
    let down_no_tpl = health(false, true, false);
    let no_twilio = health(true, false, false);
    let text = msg(Content::Text, None);
    let media = msg(Content::Media, None);
    let tpl = msg(Content::Template, None);
    let fresh = Some(H); // an hour ago
    let stale = Some(30 * H);
    let edge = Some(24 * H - 5 * 60 * 1000); // 23h55m ago: inside 24 h but past the margin
    let in_margin = Some(23 * H + 49 * 60 * 1000); // 23h49m ago: still open

    #[rustfmt::skip]
    let table: Vec<(&str, ProviderMode, ConversationState, MessageSpec, Health, E)> = vec![
        // Reply via source.
        ("sidecar thread, sidecar up", Auto, st(fresh, None), text, up, E::Send(B, ASIS)),
        ("twilio thread", Auto, st(None, fresh), text, up, E::Send(T, ASIS)),
        ("both threads, twilio newer", Auto, st(Some(2 * H), fresh), text, up, E::Send(T, ASIS)),
        ("both threads, sidecar newer", Auto, st(fresh, Some(2 * H)), text, up, E::Send(B, ASIS)),
        ("media on sidecar thread", Auto, st(fresh, None), media, up, E::Send(B, ASIS)),
        // 24-hour window (with margin).
        ("sidecar thread stale, template configured", Auto, st(stale, None), text, up, E::Send(T, TPL)),
        ("sidecar thread stale, no template", Auto, st(stale, None), text, up_no_tpl, E::Refuse("outside the 24-hour window and no template")),
        ("past the safety margin counts as closed", Auto, st(edge, None), text, up_no_tpl, E::Refuse("outside the 24-hour window and no template")),
        ("just inside the margin is open", Auto, st(in_margin, None), text, up_no_tpl, E::Send(B, ASIS)),
        ("twilio thread stale -> template", Auto, st(None, stale), text, up, E::Send(T, TPL)),
        ("caller's template outside the window", Auto, st(stale, stale), tpl, up_no_tpl, E::Send(T, ASIS)),
        ("template inside a sidecar window still goes via Twilio", Auto, st(fresh, None), tpl, up, E::Send(T, ASIS)),
        // Availability: sidecar down -> Twilio.
        ("sidecar down, twilio window open", Auto, st(fresh, Some(3 * H)), text, down, E::Send(T, ASIS)),
        ("sidecar down, no twilio window -> failover template", Auto, st(fresh, None), text, down, E::Send(T, TPL)),
        ("sidecar down, no twilio window, no template", Auto, st(fresh, None), text, down_no_tpl, E::Refuse("outside the 24-hour window and no template")),
        ("sidecar down, twilio window stale -> template", Auto, st(fresh, stale), media, down, E::Send(T, TPL)),
        // Default (no thread).
        ("no thread, template configured", Auto, st(None, None), text, up, E::Send(T, TPL)),
        ("no thread, no template", Auto, st(None, None), text, up_no_tpl, E::Refuse("outside the 24-hour window and no template")),
        ("no thread, caller's template", Auto, st(None, None), tpl, up_no_tpl, E::Send(T, ASIS)),
        ("no thread, twilio not configured", Auto, st(None, None), text, no_twilio, E::Refuse("Twilio is not configured for sending")),
        // Twilio not configured.
        ("sidecar thread, twilio not configured", Auto, st(fresh, None), text, no_twilio, E::Send(B, ASIS)),
        ("template, twilio not configured", Auto, st(fresh, None), tpl, no_twilio, E::Refuse("Twilio is not configured for sending")),
        // WHATSAPP_PROVIDER=twilio.
        ("mode twilio, twilio window open", ModeT, st(fresh, fresh), text, up, E::Send(T, ASIS)),
        ("mode twilio, sidecar thread only -> template", ModeT, st(fresh, None), text, up, E::Send(T, TPL)),
        ("mode twilio, no template", ModeT, st(fresh, None), text, up_no_tpl, E::Refuse("outside the 24-hour window and no template")),
        // WHATSAPP_PROVIDER=baileys.
        ("mode baileys, open", ModeB, st(fresh, None), text, up, E::Send(B, ASIS)),
        ("mode baileys, sidecar down -> waits", ModeB, st(fresh, None), text, down, E::Wait),
        ("mode baileys, stale", ModeB, st(stale, fresh), text, up, E::Refuse("outside the 24-hour window on the sidecar number; only a Twilio template may be sent")),
        ("mode baileys, template", ModeB, st(fresh, None), tpl, up, E::Refuse("templates can only be sent via Twilio")),
        // Forced provider overrides the mode and the source, not the window.
        ("forced twilio on a sidecar thread", Auto, st(fresh, None), msg(Content::Text, Some(T)), up, E::Send(T, TPL)),
        ("forced twilio, window open", ModeB, st(None, fresh), msg(Content::Text, Some(T)), up, E::Send(T, ASIS)),
        ("forced sidecar on a twilio thread", Auto, st(Some(2 * H), fresh), msg(Content::Text, Some(B)), up, E::Send(B, ASIS)),
        ("forced sidecar, sidecar down -> waits", Auto, st(fresh, None), msg(Content::Text, Some(B)), down, E::Wait),
        ("forced sidecar, template", Auto, st(fresh, None), msg(Content::Template, Some(B)), up, E::Refuse("templates can only be sent via Twilio")),
    ];
    for (name, mode, state, m, h, want) in table {
        let got = decide(mode, &state, &m, &h, NOW);
        assert_eq!(short(&got), want, "{name}: {got:?}");
    }
}

#[test]
fn twilio_63016_is_authoritative() {
    // The clock says the Twilio window is open, Twilio said 63016 after the last inbound.
    let mut s = st(None, Some(H));
    s.twilio_63016_at = Some(NOW - 60_000);
    let text = msg(Content::Text, None);
    let d = decide(Auto, &s, &text, &health(true, true, true), NOW);
    assert_eq!(short(&d), E::Send(T, TPL));
    let d = decide(Auto, &s, &text, &health(true, true, false), NOW);
    assert!(matches!(d, Decision::Refuse { reason } if reason.contains("63016")));
    // A customer message after the 63016 reopens the window.
    s.twilio_63016_at = Some(NOW - 2 * H);
    let d = decide(Auto, &s, &text, &health(true, true, false), NOW);
    assert_eq!(short(&d), E::Send(T, ASIS));
    // 63016 on Twilio with a sidecar window open: the sidecar answers.
    let mut s = st(Some(2 * H), Some(H));
    s.twilio_63016_at = Some(NOW - 60_000);
    let d = decide(Auto, &s, &text, &health(true, true, false), NOW);
    assert_eq!(short(&d), E::Send(B, ASIS));
}

#[test]
fn unaddressable_contacts() {
    // A LID-only contact: no phone number for Twilio.
    let mut s = st(Some(H), None);
    s.twilio_addressable = false;
    let text = msg(Content::Text, None);
    let d = decide(Auto, &s, &text, &health(false, true, true), NOW);
    assert!(matches!(d, Decision::Refuse { reason } if reason.contains("no phone number")));
    let d = decide(Auto, &s, &text, &health(true, true, true), NOW);
    assert_eq!(short(&d), E::Send(B, ASIS));
}

#[test]
fn every_decision_has_a_reason() {
    for mode in [Auto, ModeT, ModeB] {
        for content in [Content::Text, Content::Media, Content::Template] {
            for forced in [None, Some(B), Some(T)] {
                for sidecar in [None, Some(H), Some(30 * H)] {
                    for twilio in [None, Some(H), Some(30 * H)] {
                        for bits in 0..8u8 {
                            let h = health(bits & 1 != 0, bits & 2 != 0, bits & 4 != 0);
                            let d =
                                decide(mode, &st(sidecar, twilio), &msg(content, forced), &h, NOW);
                            let reason = match &d {
                                Decision::Send {
                                    reason, provider, ..
                                } => {
                                    if *provider == B {
                                        assert!(h.sidecar_up, "{d:?}");
                                        assert_ne!(content, Content::Template);
                                    } else {
                                        assert!(h.twilio_ready, "{d:?}");
                                    }
                                    reason
                                }
                                Decision::Wait { reason, .. } | Decision::Refuse { reason } => {
                                    reason
                                }
                            };
                            assert!(!reason.is_empty(), "{mode:?} {content:?} {forced:?}: {d:?}");
                        }
                    }
                }
            }
        }
    }
}
