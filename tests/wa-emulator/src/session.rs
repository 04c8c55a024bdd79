//! The per-connection protocol state machine of the emulated server, after the Noise handshake.
//! Sans-IO: it is fed the client's intent (from the ClientPayload), decoded nodes, scan requests
//! and `now`, and answers with [`Output`]s that the driver carries out.

use rand_core::CryptoRngCore;
use wa_binary::Node;

use crate::adv::{self, AdvError, IssuedIdentity};
use crate::iq::handle_logged_in_iq;
use crate::qr::QrData;
use crate::registry::{Device, DeviceSlot, DeviceView, Registration, Registry};
use crate::routing;
use crate::stanzas::{self, StreamError, attr, id_of, iq_error, iq_result};

mod link_code;

/// Number of refs in `pair-device` (whatsmeow `qrchan.go` assumes 6). The default of
/// [`crate::EmulatorConfig::pair_refs`].
pub const PAIR_REFS: usize = 6;

/// What a client wants, read from its ClientPayload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientIntent {
    /// A fresh companion (the payload has `devicePairingData`).
    Register(Registration),
    /// A paired companion logging in.
    Login {
        /// Phone number.
        username: u64,
        /// Device number.
        device: u32,
    },
}

/// What the driver must do.
#[derive(Debug)]
pub enum Output {
    /// Encode and send this node.
    Send(Node),
    /// Close the connection after everything before it was sent.
    Close(String),
    /// A scan finished: the companion signed (or refused) the device identity.
    Paired(Result<DeviceView, PairError>),
    /// The companion asked for a pairing code for this phone number (`companion_hello`): the
    /// phone's user may now enter it ([`Session::enter_code`]).
    LinkCodeRequested {
        /// Phone number, digits.
        phone: String,
    },
    /// Deliver `node` to the device with phone-number JID `to` (queued while it is offline).
    Route {
        /// `<phone>:<device>@s.whatsapp.net`.
        to: String,
        /// The stanza for that device.
        node: Node,
    },
}

/// The phone's scan could not start on this connection (the admin client's request is wrong).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScanError {
    /// The connection is not an unpaired companion.
    #[error("connection is not waiting for a scan")]
    NotUnpaired,
    /// A scan is already waiting for this companion's signature.
    #[error("a scan is already in progress for this companion")]
    InProgress,
    /// The QR's keys are not the ones this companion registered with.
    #[error("QR keys do not match the companion's registration")]
    KeyMismatch,
    /// The QR's ref was not issued to this connection.
    #[error("QR ref was not issued to this connection")]
    UnknownRef,
    /// The phone number is not all digits.
    #[error("phone must be digits only")]
    BadPhone,
    /// The code is not 8 characters of the pairing-code alphabet (the phone's keyboard would
    /// not accept it).
    #[error("a pairing code is 8 characters of 123456789ABCDEFGHJKLMNPQRSTVWXYZ")]
    BadCode,
    /// This companion did not ask for a pairing code for that phone number.
    #[error("no pairing code was requested for this phone on this connection")]
    NoCodeRequested,
}

/// Pairing failed after pair-success was sent (the companion's fault, or it went away).
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum PairError {
    /// The companion answered pair-success with an error IQ.
    #[error("companion rejected pair-success: {0}")]
    Rejected(String),
    /// The companion's device signature did not verify.
    #[error("companion's device-identity refused: {0}")]
    Adv(#[from] AdvError),
    /// The answer had no `device-identity` bytes.
    #[error("pair-device-sign without device-identity")]
    MissingIdentity,
    /// The connection closed before the companion answered.
    #[error("connection closed before the companion answered")]
    Disconnected,
    /// The code entered at the phone is not the companion's: its key bundle does not decrypt.
    #[error("wrong pairing code: the companion's key bundle does not decrypt")]
    WrongCode,
    /// The companion's `companion_finish` is malformed or does not match its registration.
    #[error("bad companion_finish: {0}")]
    BadFinish(&'static str),
}

/// Everything a step of the state machine may use besides the connection's own state.
pub struct Ctx<'a, R> {
    /// Server memory.
    pub registry: &'a mut Registry,
    /// Unix seconds.
    pub now: u64,
    /// Fault: answer logins with `<failure reason="401"/>`.
    pub refuse_logins: bool,
    /// Fault: answer a companion's logout (`remove-companion-device`) with an error.
    pub refuse_logouts: bool,
    /// How many refs `pair-device` carries (at least 1).
    pub pair_refs: usize,
    /// Randomness.
    pub rng: R,
}

struct PendingPair {
    iq_id: String,
    slot: DeviceSlot,
    issued: IssuedIdentity,
}

enum Phase {
    Unpaired {
        registration: Registration,
        refs: Vec<String>,
        pairing: Option<Box<PendingPair>>,
        link_code: Option<Box<link_code::LinkCode>>,
    },
    LoggedIn {
        jid: String,
    },
    Closed,
}

/// One connection's state.
pub struct Session {
    phase: Phase,
    next_iq: u32,
}

impl Session {
    /// Starts a session for a client that finished the handshake with `intent`, and returns the
    /// first stanzas: `pair-device` for a registration, `<success>` or `<failure>` for a login.
    pub fn open<R: CryptoRngCore>(
        intent: ClientIntent,
        noise_public: &[u8; 32],
        ctx: &mut Ctx<'_, R>,
    ) -> (Self, Vec<Output>) {
        let mut session = Session {
            phase: Phase::Closed,
            next_iq: 1,
        };
        let out = match intent {
            ClientIntent::Register(registration) => {
                let refs: Vec<String> = (0..ctx.pair_refs.max(1))
                    .map(|_| new_ref(&mut ctx.rng))
                    .collect();
                let id = session.iq_id();
                let node = stanzas::pair_device(&id, &refs);
                session.phase = Phase::Unpaired {
                    registration,
                    refs,
                    pairing: None,
                    link_code: None,
                };
                vec![Output::Send(node)]
            }
            ClientIntent::Login { username, device } => {
                if ctx.refuse_logins {
                    tracing::info!(username, device, "login refused by fault injection");
                    refuse("logins refused (fault)")
                } else {
                    match ctx.registry.check_login(username, device, noise_public) {
                        Ok(found) => {
                            let node = stanzas::success(ctx.now, &found.lid_jid(), found.paired_at);
                            tracing::info!(jid = %found.jid(), "login accepted");
                            session.phase = Phase::LoggedIn { jid: found.jid() };
                            vec![Output::Send(node)]
                        }
                        Err(why) => {
                            tracing::info!(%why, "login refused");
                            refuse(&why.to_string())
                        }
                    }
                }
            }
        };
        (session, out)
    }

    /// The device JID once logged in.
    pub fn logged_in_jid(&self) -> Option<&str> {
        match &self.phase {
            Phase::LoggedIn { jid } => Some(jid),
            _ => None,
        }
    }

    /// True while the connection is a companion waiting for a scan.
    pub fn is_unpaired(&self) -> bool {
        matches!(self.phase, Phase::Unpaired { .. })
    }

    /// The phone scans this companion's QR code: issue the signed device identity for `phone`
    /// and send pair-success. The outcome arrives later as [`Output::Paired`].
    pub fn scan<R: CryptoRngCore>(
        &mut self,
        qr: &QrData,
        phone: &str,
        ctx: &mut Ctx<'_, R>,
    ) -> Result<Vec<Output>, ScanError> {
        if phone.is_empty() || !phone.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ScanError::BadPhone);
        }
        let iq_id = self.iq_id();
        let Phase::Unpaired {
            registration,
            refs,
            pairing,
            ..
        } = &mut self.phase
        else {
            return Err(ScanError::NotUnpaired);
        };
        if pairing.is_some() {
            return Err(ScanError::InProgress);
        }
        if !refs.contains(&qr.reference) {
            return Err(ScanError::UnknownRef);
        }
        if !wa_crypto::ct_eq(&qr.noise_public, &registration.noise_public)
            || !wa_crypto::ct_eq(&qr.identity_public, &registration.identity_public)
        {
            return Err(ScanError::KeyMismatch);
        }
        let (node, pending) = issue_pair_success(registration, phone, &qr.adv_secret, iq_id, ctx)?;
        tracing::info!(phone, "phone scanned the QR; pair-success sent");
        *pairing = Some(Box::new(pending));
        Ok(vec![Output::Send(node)])
    }

    /// Handles one node from the client.
    pub fn on_node<R: CryptoRngCore>(&mut self, node: &Node, ctx: &mut Ctx<'_, R>) -> Vec<Output> {
        match &mut self.phase {
            Phase::Closed => Vec::new(),
            Phase::LoggedIn { jid } => {
                let registry = &*ctx.registry;
                match (node.tag.as_str(), registry.device(jid)) {
                    (_, None) => {
                        tracing::info!(%jid, "device was removed; ignoring its stanza");
                        return Vec::new();
                    }
                    ("message", Some(me)) => {
                        return routing::relay_message(node, me, ctx.now, registry);
                    }
                    ("receipt", Some(me)) => {
                        return routing::relay_receipt(node, me, ctx.now, registry);
                    }
                    ("iq", _) if attr(node, "xmlns") == "usync" => {
                        return vec![Output::Send(routing::usync(node, registry))];
                    }
                    ("iq", _) => {}
                    (tag, _) => {
                        tracing::debug!(%jid, %tag, "stanza needs no answer");
                        return Vec::new();
                    }
                }
                if ctx.refuse_logouts && node.child("remove-companion-device").is_some() {
                    tracing::info!(%jid, "logout refused by fault injection");
                    let id = id_of(node);
                    return vec![Output::Send(iq_error(&id, 500, "internal-server-error"))];
                }
                let outcome = handle_logged_in_iq(node, jid, ctx.registry);
                let mut out: Vec<Output> = outcome.reply.into_iter().map(Output::Send).collect();
                out.extend(outcome.then.into_iter().map(Output::Send));
                out.extend(
                    outcome
                        .routes
                        .into_iter()
                        .map(|(to, node)| Output::Route { to, node }),
                );
                out.extend(outcome.close.map(Output::Close));
                out
            }
            Phase::Unpaired { .. } => self.on_unpaired_node(node, ctx),
        }
    }

    /// Tells the session the connection is going away; a pending scan fails.
    pub fn on_close(&mut self) -> Vec<Output> {
        let phase = std::mem::replace(&mut self.phase, Phase::Closed);
        match phase {
            Phase::Unpaired {
                pairing: Some(_), ..
            } => vec![Output::Paired(Err(PairError::Disconnected))],
            Phase::Unpaired {
                link_code: Some(lc),
                ..
            } if lc.code_entered() => vec![Output::Paired(Err(PairError::Disconnected))],
            _ => Vec::new(),
        }
    }

    fn on_unpaired_node<R: CryptoRngCore>(
        &mut self,
        node: &Node,
        ctx: &mut Ctx<'_, R>,
    ) -> Vec<Output> {
        if node.tag != "iq" {
            tracing::debug!(tag = %node.tag, "unpaired companion sent a non-iq stanza");
            return Vec::new();
        }
        let id = id_of(node);
        let kind = attr(node, "type");
        let Phase::Unpaired {
            registration,
            pairing,
            ..
        } = &mut self.phase
        else {
            return Vec::new();
        };
        let answers_pairing = pairing.as_ref().is_some_and(|p| p.iq_id == id);
        match kind.as_str() {
            "result" if answers_pairing => {
                let Some(pending) = pairing.take() else {
                    return Vec::new();
                };
                let registration = registration.clone();
                self.phase = Phase::Closed;
                finish_pairing(node, *pending, registration, ctx)
            }
            "error" if answers_pairing => {
                self.phase = Phase::Closed;
                let why = node
                    .child("error")
                    .map(|e| format!("{} {}", attr(e, "code"), attr(e, "text")))
                    .unwrap_or_default();
                vec![
                    Output::Paired(Err(PairError::Rejected(why))),
                    Output::Close("companion rejected pairing".into()),
                ]
            }
            // Acks of our pair-device and similar.
            "result" | "error" => Vec::new(),
            "set" if node.child("link_code_companion_reg").is_some() => {
                self.on_link_code_iq(node, ctx)
            }
            "get" if attr(node, "xmlns") == "w:p" => vec![Output::Send(iq_result(&id, vec![]))],
            _ => {
                tracing::warn!(xmlns = %attr(node, "xmlns"), %kind, "unknown iq before pairing");
                vec![Output::Send(iq_error(&id, 501, "feature-not-implemented"))]
            }
        }
    }

    fn iq_id(&mut self) -> String {
        let id = format!("emu.{}", self.next_iq);
        self.next_iq += 1;
        id
    }
}

fn refuse(reason: &str) -> Vec<Output> {
    vec![
        Output::Send(stanzas::failure(401)),
        Output::Close(reason.to_owned()),
    ]
}

/// A `pair-device` ref: `2@` + base64 of random bytes (never contains a comma).
fn new_ref(rng: &mut impl CryptoRngCore) -> String {
    use base64::Engine as _;
    let mut raw = [0u8; 24];
    rng.fill_bytes(&mut raw);
    format!(
        "2@{}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// The phone issues the signed device identity for the companion of `registration` on
/// `phone`'s account, with `adv_secret` as the HMAC key (from the QR code, or derived at the
/// end of a pairing-code exchange): allocates the device and builds pair-success.
fn issue_pair_success<R: CryptoRngCore>(
    registration: &Registration,
    phone: &str,
    adv_secret: &[u8; 32],
    iq_id: String,
    ctx: &mut Ctx<'_, R>,
) -> Result<(Node, PendingPair), ScanError> {
    let slot = ctx.registry.allocate_device(phone, &mut ctx.rng);
    let Some(account) = ctx.registry.account_key(phone) else {
        // allocate_device just created the account.
        return Err(ScanError::NotUnpaired);
    };
    let issued = adv::issue_identity(
        account,
        &registration.identity_public,
        adv_secret,
        slot.key_index,
        ctx.now,
        &mut ctx.rng,
    );
    let node = stanzas::pair_success(
        &iq_id,
        ctx.now,
        issued.hmac_container.clone(),
        &crate::registry::device_jid(&slot.phone, slot.device),
        &format!("{}:{}@lid", slot.lid, slot.device),
        "android",
    );
    tracing::info!(phone, device = slot.device, "pair-success sent");
    Ok((
        node,
        PendingPair {
            iq_id,
            slot,
            issued,
        },
    ))
}

fn finish_pairing<R: CryptoRngCore>(
    node: &Node,
    pending: PendingPair,
    registration: Registration,
    ctx: &mut Ctx<'_, R>,
) -> Vec<Output> {
    let returned = node
        .child("pair-device-sign")
        .and_then(|s| s.child("device-identity"))
        .and_then(Node::content_bytes);
    let verified = match returned {
        None => Err(PairError::MissingIdentity),
        Some(bytes) => {
            adv::verify_device_signature(bytes, &pending.issued, &registration.identity_public)
                .map(|()| bytes.to_vec())
                .map_err(PairError::from)
        }
    };
    match verified {
        Ok(signed_identity) => {
            let device = Device {
                phone: pending.slot.phone,
                device: pending.slot.device,
                lid: pending.slot.lid,
                key_index: pending.slot.key_index,
                registration,
                signed_identity,
                prekeys: Default::default(),
                paired_at: ctx.now,
            };
            let view = DeviceView::from(&device);
            tracing::info!(jid = %view.jid, "device paired; asking the companion to restart");
            ctx.registry.register(device);
            vec![
                Output::Paired(Ok(view)),
                Output::Send(StreamError::Code(515).node()),
                Output::Close("pairing complete (515)".into()),
            ]
        }
        Err(why) => {
            tracing::warn!(%why, "pairing failed");
            vec![
                Output::Paired(Err(why)),
                Output::Close("pairing failed".into()),
            ]
        }
    }
}
