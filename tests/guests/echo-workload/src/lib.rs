//! A workload component (`run`), offered where a policy is expected.

#[allow(unsafe_code, missing_docs, reason = "generated bindings")]
mod bindings {
    wit_bindgen::generate!({ world: "workload", path: "../../../wit" });

    struct Echo;

    impl Guest for Echo {
        fn run(input: Vec<u8>) -> Result<Vec<u8>, String> {
            Ok(input)
        }
    }

    export!(Echo);
}
