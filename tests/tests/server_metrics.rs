//! Metric labels come from the API's routes and the standard methods only: requests with
//! made-up methods or paths, sent without a client certificate, cannot add series.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use kastell_tests::server::TestServer;
use reqwest::Method;

#[test]
fn made_up_methods_and_paths_add_no_metric_series() {
    let server = TestServer::start_soft().expect("server");
    let anonymous = server.anonymous().expect("anonymous client");
    for i in 0..20 {
        let method = Method::from_bytes(format!("PROBE{i}").as_bytes()).expect("method");
        let response = anonymous
            .send(anonymous.request(method, "/healthz"))
            .expect("answered");
        assert_eq!(response.status, 405, "{}", response.text());
        let response = anonymous
            .send(anonymous.request(Method::GET, &format!("/no/such/path/{i}")))
            .expect("answered");
        assert_eq!(response.status, 404);
    }
    let officer = server.raw(&server.officer()).expect("officer");
    let metrics = officer
        .send(officer.request(Method::GET, "/metrics"))
        .expect("metrics")
        .text();
    assert!(
        !metrics.contains("PROBE"),
        "a client-chosen method became a label"
    );
    assert!(
        !metrics.contains("/no/such/path"),
        "a client-chosen path became a label"
    );
    assert!(
        metrics.contains("operation=\"OTHER /healthz\""),
        "other methods share one series: {metrics}"
    );
    assert!(metrics.contains("operation=\"unmatched\""), "{metrics}");
}
