//! Encode/decode throughput on the sample stanzas: `cargo bench -p wa-binary`.
//! Criterion reports time per iteration and throughput in bytes/s (elements = 1 node).

use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};
use wa_binary::{decode, encode, samples::sample_nodes};

fn codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("wa-binary");
    for (name, node) in sample_nodes() {
        let bytes = encode(&node);
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(format!("encode/{name}"), |b| {
            b.iter(|| encode(black_box(&node)))
        });
        group.bench_function(format!("decode/{name}"), |b| {
            b.iter(|| decode(black_box(&bytes)).map(|n| n.attrs.len()))
        });
    }
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
