//! The event-encoding hot path against plain postcard, JSON, CBOR and a
//! memcpy of the same bytes, on the schema's sample events.
//!
//! Run: `cargo bench -p palisade-wire --bench hot_path -- --quick`
//!
//! Criterion prints one line per case. After that the harness measures the
//! 64-event mixed batch once more in interleaved rounds, prints a table of
//! bytes per event and, as its last line, one JSON object: the median
//! per-round time ratios `framed_vs_postcard`, `cobs_vs_postcard` and
//! `decode_vs_postcard`, and `bytes_vs_json`, the size of the framed batch
//! over the summed JSON encodings of its events.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use palisade_schema::{Event, samples};
use palisade_wire::{
    FrameDecoder, FrameEncoder, Framing, MAX_MTU, MTU_FOR_ANY_EVENT, Protection, cobs,
};

/// Largest JSON or CBOR encoding of one sample event, with room to spare.
const TEXT_BUFFER: usize = 4096;

fn batch() -> Vec<Event<'static>> {
    samples::mixed_batch().collect()
}

fn single() -> Event<'static> {
    // The process start: the most frequent kind in the mixed batch.
    samples::mixed_batch()
        .next()
        .expect("the mixed batch is not empty")
}

fn postcard_batch(events: &[Event<'_>], buffer: &mut [u8]) -> usize {
    let mut at = 0;
    for event in events {
        let written = postcard::to_slice(event, &mut buffer[at..]).expect("buffer fits the batch");
        at += written.len();
    }
    at
}

fn framed_batch(events: &[Event<'_>], buffer: &mut [u8], framing: Framing) -> usize {
    let mtu = if events.len() == 1 {
        MTU_FOR_ANY_EVENT
    } else {
        MAX_MTU
    };
    let mut encoder = FrameEncoder::new(buffer, mtu, Protection::Checksummed, framing)
        .expect("buffer fits the MTU");
    for event in events {
        if encoder.push(event).is_err() {
            panic!("the mixed batch fits one frame at the largest MTU");
        }
    }
    encoder
        .finish_checksummed(1)
        .expect("frame has events")
        .len()
}

fn json_len(event: &Event<'_>, buffer: &mut [u8]) -> usize {
    let mut cursor = &mut buffer[..];
    let before = cursor.len();
    serde_json::to_writer(&mut cursor, event).expect("JSON fits the buffer");
    before - cursor.len()
}

fn cbor_len(event: &Event<'_>, buffer: &mut [u8]) -> usize {
    let mut cursor = &mut buffer[..];
    let before = cursor.len();
    ciborium::into_writer(event, &mut cursor).expect("CBOR fits the buffer");
    before - cursor.len()
}

fn decode_postcard(bytes: &[u8]) -> usize {
    let mut rest = bytes;
    let mut count = 0;
    while !rest.is_empty() {
        let (event, tail) = postcard::take_from_bytes::<Event<'_>>(rest).expect("valid postcard");
        black_box(&event);
        rest = tail;
        count += 1;
    }
    count
}

fn decode_strict(bytes: &[u8]) -> usize {
    let mut rest = bytes;
    let mut count = 0;
    while !rest.is_empty() {
        let (event, tail) =
            palisade_schema::take_from_bytes::<Event<'_>>(rest).expect("valid postcard");
        black_box(&event);
        rest = tail;
        count += 1;
    }
    count
}

fn decode_frame(bytes: &[u8]) -> usize {
    let frame = FrameDecoder::new().decode(bytes).expect("valid frame");
    frame
        .for_each_event(|event| {
            black_box(event);
        })
        .expect("valid events")
}

fn decode_frame_iterator(bytes: &[u8]) -> usize {
    let frame = FrameDecoder::new().decode(bytes).expect("valid frame");
    let mut count = 0;
    for event in frame.events() {
        black_box(&event.expect("valid event"));
        count += 1;
    }
    count
}

fn bench_one_event(c: &mut Criterion) {
    let event = single();
    let mut buffer = vec![0u8; TEXT_BUFFER];
    let mut group = c.benchmark_group("one_event");
    group.throughput(Throughput::Elements(1));
    let encoded_len = postcard::to_slice(&event, &mut buffer).expect("fits").len();
    let source = buffer[..encoded_len].to_vec();
    group.bench_function("memcpy", |b| {
        b.iter(|| buffer[..encoded_len].copy_from_slice(black_box(&source)))
    });
    group.bench_function("postcard", |b| {
        b.iter(|| postcard::to_slice(black_box(&event), &mut buffer).map(|bytes| bytes.len()))
    });
    group.bench_function("framed_crc", |b| {
        b.iter(|| {
            framed_batch(
                core::slice::from_ref(black_box(&event)),
                &mut buffer,
                Framing::Plain,
            )
        })
    });
    group.bench_function("framed_cobs", |b| {
        b.iter(|| {
            framed_batch(
                core::slice::from_ref(black_box(&event)),
                &mut buffer,
                Framing::Cobs,
            )
        })
    });
    group.bench_function("postcard_to_slice_cobs", |b| {
        b.iter(|| postcard::to_slice_cobs(black_box(&event), &mut buffer).map(|bytes| bytes.len()))
    });
    group.bench_function("json", |b| {
        b.iter(|| json_len(black_box(&event), &mut buffer))
    });
    group.bench_function("cbor", |b| {
        b.iter(|| cbor_len(black_box(&event), &mut buffer))
    });
    group.finish();
}

fn bench_batch(c: &mut Criterion) {
    let events = batch();
    let mut buffer = vec![0u8; cobs::max_encoded_len(MAX_MTU)];
    let mut group = c.benchmark_group("mixed_batch_64");
    group.throughput(Throughput::Elements(events.len() as u64));
    let postcard_len = postcard_batch(&events, &mut buffer);
    let source = buffer[..postcard_len].to_vec();
    group.bench_function("memcpy", |b| {
        b.iter(|| buffer[..postcard_len].copy_from_slice(black_box(&source)))
    });
    group.bench_function("postcard", |b| {
        b.iter(|| postcard_batch(black_box(&events), &mut buffer))
    });
    group.bench_function("framed_crc", |b| {
        b.iter(|| framed_batch(black_box(&events), &mut buffer, Framing::Plain))
    });
    group.bench_function("framed_cobs", |b| {
        b.iter(|| framed_batch(black_box(&events), &mut buffer, Framing::Cobs))
    });
    group.bench_function("json", |b| {
        b.iter(|| {
            events
                .iter()
                .map(|event| json_len(black_box(event), &mut buffer))
                .sum::<usize>()
        })
    });
    group.bench_function("cbor", |b| {
        b.iter(|| {
            events
                .iter()
                .map(|event| cbor_len(black_box(event), &mut buffer))
                .sum::<usize>()
        })
    });
    group.finish();
}

fn bench_decode(c: &mut Criterion) {
    let events = batch();
    let mut postcard_bytes = vec![0u8; MAX_MTU];
    let postcard_len = postcard_batch(&events, &mut postcard_bytes);
    postcard_bytes.truncate(postcard_len);
    let mut frame = vec![0u8; MAX_MTU];
    let frame_len = framed_batch(&events, &mut frame, Framing::Plain);
    frame.truncate(frame_len);
    let mut group = c.benchmark_group("decode_mixed_batch_64");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function(BenchmarkId::new("postcard", "take_from_bytes"), |b| {
        b.iter(|| decode_postcard(black_box(&postcard_bytes)))
    });
    group.bench_function(BenchmarkId::new("schema", "take_from_bytes"), |b| {
        b.iter(|| decode_strict(black_box(&postcard_bytes)))
    });
    group.bench_function(BenchmarkId::new("frame", "for_each_event"), |b| {
        b.iter(|| decode_frame(black_box(&frame)))
    });
    group.bench_function(BenchmarkId::new("frame", "events_iterator"), |b| {
        b.iter(|| decode_frame_iterator(black_box(&frame)))
    });
    group.finish();
}

/// Median of `values`.
fn median(values: &mut [f64]) -> f64 {
    values.sort_unstable_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Mean time in seconds of one call of `work`, over `iterations` calls.
fn time_calls(iterations: u32, mut work: impl FnMut() -> usize) -> f64 {
    let start = Instant::now();
    for _ in 0..iterations {
        black_box(work());
    }
    start.elapsed().as_secs_f64() / f64::from(iterations)
}

/// Measures the batch cases in many short interleaved rounds, prints the
/// size table and the JSON summary line.
///
/// Each round times the baseline and the case back to back, and the ratio
/// is taken per round, so that load from other processes on a shared
/// machine hits both sides of a ratio alike; the reported ratio is the
/// median over rounds.
fn summary() {
    const ROUNDS: usize = 400;
    const ITERATIONS: u32 = 20;

    let events = batch();
    let mut buffer = vec![0u8; cobs::max_encoded_len(MAX_MTU)];
    let mut postcard_bytes = vec![0u8; MAX_MTU];
    let postcard_len = postcard_batch(&events, &mut postcard_bytes);
    postcard_bytes.truncate(postcard_len);
    let mut frame = vec![0u8; MAX_MTU];
    let frame_len = framed_batch(&events, &mut frame, Framing::Plain);
    frame.truncate(frame_len);
    let cobs_len = framed_batch(&events, &mut buffer, Framing::Cobs);

    let one = [single()];
    let mut times: [Vec<f64>; 11] = Default::default();
    let mut framed_ratios = Vec::with_capacity(ROUNDS);
    let mut cobs_ratios = Vec::with_capacity(ROUNDS);
    let mut decode_ratios = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let postcard = time_calls(ITERATIONS, || {
            postcard_batch(black_box(&events), &mut buffer)
        });
        let framed = time_calls(ITERATIONS, || {
            framed_batch(black_box(&events), &mut buffer, Framing::Plain)
        });
        let cobs_framed = time_calls(ITERATIONS, || {
            framed_batch(black_box(&events), &mut buffer, Framing::Cobs)
        });
        let postcard_decode =
            time_calls(ITERATIONS, || decode_postcard(black_box(&postcard_bytes)));
        let frame_decode = time_calls(ITERATIONS, || decode_frame(black_box(&frame)));
        let frame_iterate = time_calls(ITERATIONS, || decode_frame_iterator(black_box(&frame)));
        let strict_decode = time_calls(ITERATIONS, || decode_strict(black_box(&postcard_bytes)));
        let crc = time_calls(ITERATIONS, || crc32fast::hash(black_box(&frame)) as usize);
        let one_postcard = time_calls(ITERATIONS * 16, || {
            postcard_batch(black_box(&one), &mut buffer)
        });
        let one_framed = time_calls(ITERATIONS * 16, || {
            framed_batch(black_box(&one), &mut buffer, Framing::Plain)
        });
        let one_cobs = time_calls(ITERATIONS * 16, || {
            framed_batch(black_box(&one), &mut buffer, Framing::Cobs)
        });
        framed_ratios.push(framed / postcard);
        cobs_ratios.push(cobs_framed / postcard);
        decode_ratios.push(frame_decode / postcard_decode);
        let round = [
            postcard,
            framed,
            cobs_framed,
            postcard_decode,
            frame_decode,
            strict_decode,
            crc,
            one_postcard,
            one_framed,
            one_cobs,
            frame_iterate,
        ];
        for (series, value) in times.iter_mut().zip(round) {
            series.push(value);
        }
    }
    let [
        postcard,
        framed,
        cobs_framed,
        postcard_decode,
        frame_decode,
        strict_decode,
        crc,
        one_postcard,
        one_framed,
        one_cobs,
        frame_iterate,
    ] = times.map(|mut series| median(&mut series) * 1e9);

    let mut text = vec![0u8; TEXT_BUFFER];
    let json_total: usize = events.iter().map(|event| json_len(event, &mut text)).sum();
    let cbor_total: usize = events.iter().map(|event| cbor_len(event, &mut text)).sum();
    let count = events.len() as f64;
    let per_event = |bytes: usize| bytes as f64 / count;

    println!();
    println!(
        "mixed batch of {} events; medians of {ROUNDS} interleaved rounds of {ITERATIONS} calls",
        events.len()
    );
    println!("| case | bytes (batch) | bytes per event | median time per batch |");
    println!("|---|---|---|---|");
    println!(
        "| postcard::to_slice (raw) | {postcard_len} | {:.1} | {postcard:.0} ns |",
        per_event(postcard_len)
    );
    println!(
        "| frame + CRC-32 | {frame_len} | {:.1} | {framed:.0} ns |",
        per_event(frame_len)
    );
    println!(
        "| frame + CRC-32 + COBS | {cobs_len} | {:.1} | {cobs_framed:.0} ns |",
        per_event(cobs_len)
    );
    println!(
        "| serde_json | {json_total} | {:.1} | criterion above |",
        per_event(json_total)
    );
    println!(
        "| CBOR (ciborium) | {cbor_total} | {:.1} | criterion above |",
        per_event(cbor_total)
    );
    println!("| decode: postcard::take_from_bytes | {postcard_len} | | {postcard_decode:.0} ns |");
    println!(
        "| decode: palisade_schema::take_from_bytes | {postcard_len} | | {strict_decode:.0} ns |"
    );
    println!(
        "| decode: frame check + strict decode, Frame::for_each_event | {frame_len} | | {frame_decode:.0} ns |"
    );
    println!(
        "| decode: frame check + strict decode, Frame::events | {frame_len} | | {frame_iterate:.0} ns |"
    );
    println!("| CRC-32 of the frame alone | {frame_len} | | {crc:.0} ns |");
    println!("| one process event: postcard::to_slice | | | {one_postcard:.0} ns |");
    println!("| one process event: frame + CRC-32 | | | {one_framed:.0} ns |");
    println!("| one process event: frame + CRC-32 + COBS | | | {one_cobs:.0} ns |");
    println!(
        "{{\"framed_vs_postcard\": {:.3}, \"cobs_vs_postcard\": {:.3}, \"decode_vs_postcard\": {:.3}, \"bytes_vs_json\": {:.3}}}",
        median(&mut framed_ratios),
        median(&mut cobs_ratios),
        median(&mut decode_ratios),
        frame_len as f64 / json_total as f64,
    );
}

fn main() {
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_millis(100))
        .measurement_time(Duration::from_millis(300))
        .sample_size(10)
        // Fewer bootstrap resamples than the default 100 000 keep the
        // analysis from dominating a `--quick` run.
        .nresamples(5_000)
        .configure_from_args();
    bench_one_event(&mut criterion);
    bench_batch(&mut criterion);
    bench_decode(&mut criterion);
    criterion.final_summary();
    summary();
}
