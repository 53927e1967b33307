// Reads heaptrack's interpreted trace on stdin; prints the tables and, per
// allocation site, live count at T2 minus live count at T1 (ms).
use std::io::{BufRead, Write};
fn hex(s: &str) -> u64 { u64::from_str_radix(s.trim(), 16).unwrap_or(0) }
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let (t1, t2): (u64, u64) = (a[1].parse().unwrap(), a[2].parse().unwrap());
    let stdin = std::io::stdin();
    let mut out = std::io::BufWriter::new(std::io::stdout());
    let mut live: Vec<i64> = Vec::new();
    let mut allocs: Vec<(u64, u64)> = Vec::new();
    let (mut s1, mut s2): (Option<Vec<i64>>, Option<Vec<i64>>) = (None, None);
    let mut line = String::new();
    let mut r = stdin.lock();
    loop {
        line.clear();
        if r.read_line(&mut line).unwrap_or(0) == 0 { break; }
        let l = line.trim_end_matches('\n');
        if l.is_empty() { continue; }
        let (c, rest) = l.split_at(1);
        let rest = rest.trim_start();
        match c {
            "+" => { let i = hex(rest) as usize; live[i] += 1; }
            "-" => { let i = hex(rest) as usize; live[i] -= 1; }
            "a" => { let mut it = rest.split(' '); let sz = hex(it.next().unwrap()); let tr = hex(it.next().unwrap()); allocs.push((sz, tr)); live.push(0); }
            "c" => { let now = hex(rest); if s1.is_none() && now >= t1 { s1 = Some(live.clone()); } if s2.is_none() && now >= t2 { s2 = Some(live.clone()); } }
            "s" | "i" | "t" => { writeln!(out, "{}", l).unwrap(); }
            _ => {}
        }
    }
    let s2 = s2.unwrap_or(live);
    let s1 = s1.unwrap_or_default();
    for (i, (sz, tr)) in allocs.iter().enumerate().take(s2.len()) {
        let d = s2[i] - s1.get(i).copied().unwrap_or(0);
        if d != 0 { writeln!(out, "D {} {} {}", sz, tr, d).unwrap(); }
    }
}
