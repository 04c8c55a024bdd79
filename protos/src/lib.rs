//! WhatsApp protobuf schemas compiled with prost (no system protoc).
