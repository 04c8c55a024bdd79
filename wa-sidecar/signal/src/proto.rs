//! The four wire protobufs of the Signal layer, from `wa-protos` (`protos/proto/signal.proto`;
//! field numbers as in R `waproto/src/whatsapp.proto` and npm `libsignal@6.0.0`
//! `src/WhisperTextProtocol.js`). Renamed here so the code reads as "the protobuf part".

pub(crate) use wa_protos::wa::{
    PreKeySignalMessage as PreKeySignalMessageProto, SenderKeyMessage as SenderKeyMessageProto,
    SignalMessage as SignalMessageProto,
    SignalSenderKeyDistributionMessage as SenderKeyDistributionMessageProto,
};
