//! Random edits of TOML text for the malformed-scenario property tests
//! (shared by `sim-core`'s tests and the end-to-end tests of the program).

use rand::Rng;
use rand_chacha::ChaCha8Rng;

const NUMBERS: &[&str] = &[
    "-1",
    "0",
    "1e400",
    "\"x\"",
    "true",
    "99999999999999999999",
    "-0.5",
    "nan",
    "3.5",
];
const STRINGS: &[&str] = &[
    "\"\"",
    "\"3\"",
    "\"-1s\"",
    "\"zz\"",
    "\"1xs\"",
    "\"0s\"",
    "[]",
    "5",
    "\"Tokyo\"",
];

/// One random edit of a TOML text.
pub fn mutate(text: &str, rng: &mut ChaCha8Rng) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let i = (rng.next_u32() as usize) % lines.len();
    let mut out: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
    match rng.next_u32() % 6 {
        0 => {
            out.remove(i);
        }
        1 => out.insert(i, lines[i].to_string()),
        2 => {
            // Replace the value of a `key = value` line.
            if let Some((k, _)) = lines[i].split_once('=') {
                let pool = if rng.next_u32().is_multiple_of(2) {
                    NUMBERS
                } else {
                    STRINGS
                };
                out[i] = format!("{k}= {}", pool[(rng.next_u32() as usize) % pool.len()]);
            }
        }
        3 => {
            // Swap two letters of a key.
            if let Some((k, v)) = lines[i].split_once('=') {
                let mut chars: Vec<char> = k.trim().chars().collect();
                if chars.len() > 2 {
                    let a = (rng.next_u32() as usize) % (chars.len() - 1);
                    chars.swap(a, a + 1);
                }
                out[i] = format!("{} ={v}", chars.into_iter().collect::<String>());
            }
        }
        4 => {
            let line = &mut out[i];
            let pos = (rng.next_u32() as usize) % (line.len() + 1);
            let junk = ['[', ']', '"', '=', ',', '{', '#', 'x', '9'][(rng.next_u32() as usize) % 9];
            if line.is_char_boundary(pos) {
                line.insert(pos, junk);
            }
        }
        _ => {
            // Negate or zero a number somewhere on the line.
            out[i] = lines[i].replacen(|c: char| c.is_ascii_digit(), "-", 1);
        }
    }
    out.join("\n")
}
