//! A workload (`kastell:runtime/workload`) that misbehaves as its input says:
//! `spin` loops forever, `grow` allocates 64 MiB, `panic` panics, `big` returns 2 MiB,
//! `handles <key>` opens the key 100 times and keeps every handle, `random` asks for
//! 4096 random bytes, `error` returns an error of 2 KiB. Anything else is echoed.

#[allow(unsafe_code, missing_docs, reason = "generated bindings")]
mod bindings {
    wit_bindgen::generate!({ world: "workload", path: "../../../wit" });

    use kastell::runtime::keys::{KeyHandle, random};

    struct Hostile;

    impl Guest for Hostile {
        fn run(input: Vec<u8>) -> Result<Vec<u8>, String> {
            let text = String::from_utf8_lossy(&input).into_owned();
            let mut words = text.split_whitespace();
            match words.next() {
                Some("spin") => {
                    let mut n: u64 = 0;
                    loop {
                        n = std::hint::black_box(n.wrapping_add(1));
                    }
                }
                Some("grow") => {
                    let hoard: Vec<Vec<u8>> = (0..64).map(|i| vec![i; 1 << 20]).collect();
                    let total: usize = hoard.iter().map(|c| usize::from(c[4095])).sum();
                    Ok(total.to_string().into_bytes())
                }
                Some("panic") => panic!("hostile workload panics"),
                Some("big") => Ok(vec![0x42; 2 << 20]),
                Some("handles") => {
                    let key = words.next().unwrap_or_default();
                    let mut open = Vec::new();
                    for i in 0..100 {
                        match KeyHandle::open(key) {
                            Ok(handle) => open.push(handle),
                            Err(err) => return Err(format!("open #{i}: {err:?}")),
                        }
                    }
                    Ok(format!("{} handles", open.len()).into_bytes())
                }
                Some("random") => random(4096).map_err(|err| format!("random: {err:?}")),
                Some("error") => Err("e".repeat(2048)),
                _ => Ok(input),
            }
        }
    }

    export!(Hostile);
}
