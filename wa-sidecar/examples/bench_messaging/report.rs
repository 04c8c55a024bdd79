//! The printed table.

use std::time::Duration;

use crate::feed::percentile;
use crate::{Args, Figures};

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn row(what: &str, sidecar: f64, baileys: f64, unit: &str) {
    let ratio = if baileys > 0.0 {
        sidecar / baileys
    } else {
        f64::NAN
    };
    println!("| {what} | {sidecar:.1} {unit} | {baileys:.1} {unit} | {ratio:.2} |");
}

pub(crate) fn report(args: &Args, sc: &Figures, bl: &Figures) {
    println!();
    println!(
        "outbound: {} texts per batch to one peer device, closed loop; inbound: {} texts at \
         {}/s, open loop",
        args.messages, args.inbound, args.rate
    );
    println!();
    println!("| figure | wa-sidecar | Baileys | wa-sidecar ÷ Baileys |");
    println!("|---|---|---|---|");
    for ((k, s), (_, b)) in sc.batches.iter().zip(&bl.batches) {
        row(
            &format!(
                "outbound, {k} in flight (ok {}/{}, {}/{})",
                s.ok,
                s.ok + s.failed,
                b.ok,
                b.ok + b.failed
            ),
            s.per_sec(),
            b.per_sec(),
            "msg/s",
        );
        row(
            &format!("CPU per outbound message, {k} in flight"),
            s.cpu_us_per_msg(),
            b.cpu_us_per_msg(),
            "µs",
        );
    }
    for (from, sc_l, bl_l) in [
        ("peer's send", &sc.inbound, &bl.inbound),
        (
            "server's ack to the peer",
            &sc.inbound_from_ack,
            &bl.inbound_from_ack,
        ),
    ] {
        for p in [50.0, 99.0, 100.0] {
            let name = if p < 100.0 {
                format!("p{p}")
            } else {
                "max".into()
            };
            row(
                &format!("inbound latency {name}, from the {from}"),
                ms(percentile(sc_l, p)),
                ms(percentile(bl_l, p)),
                "ms",
            );
        }
    }
    row(
        "CPU per inbound message",
        sc.inbound_cpu.as_secs_f64() * 1e6 / sc.inbound.len().max(1) as f64,
        bl.inbound_cpu.as_secs_f64() * 1e6 / bl.inbound.len().max(1) as f64,
        "µs",
    );
    row(
        "RSS idle (connected)",
        mib(sc.idle_rss),
        mib(bl.idle_rss),
        "MiB",
    );
    row("peak RSS (VmHWM)", mib(sc.peak), mib(bl.peak), "MiB");
    row(
        "RSS after the load",
        mib(sc.after_rss),
        mib(bl.after_rss),
        "MiB",
    );
    println!();
    println!("goals: outbound ratio ≥ 5, memory ratio ≤ 0.25");
}
