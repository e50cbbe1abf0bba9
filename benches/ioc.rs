//! `[ioc]` at scale: load a list of one million SHA-256 digests, then
//! time lookups that hit and that miss (`cargo bench --bench ioc`).
//! Memory is the resident-set growth over the load (the file's text is
//! freed by then). Results go in docs/benchmarks.md.

use std::hint::black_box;
use std::io::Write;
use std::time::Instant;

use rand_guard::config::Ioc;
use rand_guard::detect::ioc::Feeds;
use sha2::{Digest, Sha256};

const N: usize = 1_000_000;

fn hex(i: usize) -> String {
    Sha256::digest(i.to_le_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

fn main() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    let mut text = String::with_capacity(N * 65);
    for i in 0..N {
        text.push_str(&hex(i));
        text.push('\n');
    }
    file.write_all(text.as_bytes()).unwrap();
    drop(text);
    let cfg = Ioc {
        sha256_files: vec![file.path().to_path_buf()],
        ..Default::default()
    };
    let before = rss_bytes();
    let t = Instant::now();
    let feeds = Feeds::load(&cfg).unwrap();
    let load = t.elapsed();
    let grown = rss_bytes().saturating_sub(before);
    assert_eq!(feeds.len(), N);
    let hits: Vec<String> = (0..N).step_by(10).map(hex).collect();
    let misses: Vec<String> = (N..N + N / 10).map(hex).collect();
    for (what, keys, want) in [("hit", &hits, true), ("miss", &misses, false)] {
        let t = Instant::now();
        for k in keys {
            assert_eq!(black_box(feeds.hash(black_box(k))).is_some(), want);
        }
        let ns = t.elapsed().as_nanos() as f64 / keys.len() as f64;
        println!("ioc lookup ({what}): {ns:.0} ns");
    }
    println!(
        "ioc 1M sha256: load {:.2} s, resident growth {:.1} MiB ({:.0} bytes/entry)",
        load.as_secs_f64(),
        grown as f64 / (1 << 20) as f64,
        grown as f64 / N as f64
    );
}
