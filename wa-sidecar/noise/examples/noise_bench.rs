//! Rough throughput figures: `cargo run --release -p wa-noise --example noise_bench`.
//! Prints the cost of a full XX handshake (both roles, chain verification included) and of
//! transport encryption/decryption of 1 KiB frames.

use std::time::Instant;

use rand_core::OsRng;
use wa_crypto::KeyPair;
use wa_noise::{
    CertPolicy, CertSerials, ClientHandshake, ServerHandshake, Validity, build_cert_chain,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut rng = OsRng;
    let root = KeyPair::generate(&mut rng);
    let intermediate = KeyPair::generate(&mut rng);
    let server_static = KeyPair::generate(&mut rng);
    let client_static = KeyPair::generate(&mut rng);
    let now = 1_800_000_000;
    let chain = build_cert_chain(
        &root,
        &intermediate,
        &server_static.public,
        CertSerials {
            intermediate: 1,
            leaf: 2,
        },
        Validity {
            not_before: now - 10,
            not_after: now + 10,
        },
        &mut rng,
    );
    let policy = CertPolicy::danger_trust_root(root.public);

    let rounds = 500u32;
    let start = Instant::now();
    let mut transports = None;
    for _ in 0..rounds {
        let (client, hello) = ClientHandshake::start(&mut rng);
        let (server, server_hello) =
            ServerHandshake::read_client_hello(&hello, &server_static, &chain, &mut rng)?;
        let (finish, client_tx, _) =
            client.read_server_hello(&server_hello, &client_static, b"payload", now, &policy)?;
        let (_, server_tx) = server.read_client_finish(&finish)?;
        transports = Some((client_tx, server_tx));
    }
    let per = start.elapsed() / rounds;
    println!("full XX handshake (client + server, chain verified): {per:?} each");

    let (mut client_tx, mut server_tx) = transports.ok_or("no handshake ran")?;
    let frame = vec![0u8; 1024];
    let frames = 100_000u32;
    let start = Instant::now();
    for _ in 0..frames {
        let ct = client_tx.encrypt(&frame)?;
        server_tx.decrypt(&ct)?;
    }
    let elapsed = start.elapsed();
    let mib = f64::from(frames) * 1024.0 / (1024.0 * 1024.0);
    println!(
        "transport 1 KiB frames, encrypt+decrypt: {:?} per frame, {:.0} MiB/s",
        elapsed / frames,
        mib / elapsed.as_secs_f64()
    );
    Ok(())
}
