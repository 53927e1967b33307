//! A Dual webhook delivery at both ends, without the network:
//!
//! - `sign`: the twin's HMAC-SHA256 over `"<timestamp>.<body>"` (`event::sign`);
//! - `verify`: the reference handler's constant-time check of that signature
//!   (`gauntlet::handler::verify`), which every delivery it takes pays;
//! - `build`: the twin building one delivery as its delivery loop does
//!   (`engine::webhooks::deliver`): the timestamp, the body (`Event::body`), its
//!   signature and the three `x-dual-*` headers.
//!
//! The event is an `object.transferred` as Dual's submit path raises it (the one
//! that demands an effect, so the handler acts on it).
//!
//! Run: `cargo bench --bench webhooks`.

use std::hint::black_box;
use std::time::{SystemTime, UNIX_EPOCH};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gauntlet::handler::verify;
use gauntlet_mock::config::SANDBOX_ORG;
use gauntlet_mock::dual::webhooks::HEADERS;
use gauntlet_mock::dual::webhooks::event::{Event, effect_key, sign};
use gauntlet_mock::engine::clock::rfc3339;
use gauntlet_mock::engine::secret::random_secret;
use serde_json::json;

/// An `object.transferred` event, with the fields Dual's submit path gives it.
fn event(unix: f64) -> Event {
    Event {
        id: "evt_123456".into(),
        event_type: "object.transferred".into(),
        org: SANDBOX_ORG.into(),
        object_id: Some("o_0000000000001234".into()),
        timestamp: rfc3339(unix),
        payload: json!({ "version": 7, "owner": "bob", "action_id": "act_0000000000abcdef" }),
        effect_key: effect_key("object.transferred", "o_0000000000001234", 7),
    }
}

fn webhooks(c: &mut Criterion) {
    let unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64();
    let event = event(unix);
    // A secret as the registry generates one.
    let secret = random_secret("whsec_");
    let key = secret.as_bytes();
    let ts = format!("{}", unix as u64);
    let body = event.body(false);
    let signature = sign(key, &ts, &body);
    assert!(
        verify(key, Some(&ts), Some(&signature), &body),
        "the handler accepts the twin's signature"
    );

    let mut group = c.benchmark_group("webhooks");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("sign", |b| {
        b.iter(|| black_box(sign(black_box(key), black_box(&ts), black_box(&body))))
    });
    group.bench_function("verify", |b| {
        b.iter(|| {
            let ok = verify(
                black_box(key),
                black_box(Some(ts.as_str())),
                black_box(Some(signature.as_str())),
                black_box(&body),
            );
            black_box(ok)
        })
    });
    group.throughput(Throughput::Elements(1));
    let attempt = 0u32;
    group.bench_function("build", |b| {
        b.iter(|| {
            // As `deliver::attempt` does once it has decided the delivery's faults
            // (none here): stamp, serialize, sign, name the headers.
            let ts = format!("{}", black_box(unix) as u64);
            let body = black_box(&event).body(false);
            let signature = sign(key, &ts, &body);
            let headers = [
                (HEADERS.timestamp, ts),
                (HEADERS.signature, signature),
                (HEADERS.attempt, format!("{}", black_box(attempt))),
            ];
            black_box((headers, body))
        })
    });
    group.finish();
}

criterion_group!(benches, webhooks);
criterion_main!(benches);
