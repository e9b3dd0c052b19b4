//! `kastell serve`: runs the HTTPS API on a deployment.

use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use super::CliError;
use super::deployment::DeploymentArgs;
use kastell_core::ca::CaFiles;
use kastell_core::config::{
    DEFAULT_APPROVAL_TTL_SECS, DEFAULT_BODY_LIMIT, DEFAULT_CHALLENGES_PER_CLIENT, DEFAULT_LISTEN,
    DEFAULT_MAX_CHALLENGES, DEFAULT_REFUSAL_SUMMARY_SECS,
};
use kastell_core::metrics::Metrics;
use kastell_server::{self as server, AppState};

/// Options of `kastell serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (overrides `server.listen`; port 0 picks a free port, printed
    /// on the first line of output).
    #[arg(long)]
    pub listen: Option<String>,
    #[command(flatten)]
    pub deployment: DeploymentArgs,
}

/// How often keys whose deletion window ended are destroyed, and keys due for automatic
/// rotation rotated, while serving.
const SWEEP_EVERY: Duration = Duration::from_secs(3600);
/// How often the trail's head is signed when records arrived since the last checkpoint
/// (besides every `audit.checkpoint_every` records and at shutdown).
const CHECKPOINT_EVERY: Duration = Duration::from_secs(60);

/// Loads every stored policy into the sandbox before serving. Key operations may run on
/// the async workers ([`server::operation`]) and must not compile a component there (a
/// cached artifact loads in milliseconds, a compilation takes up to seconds). A policy
/// that no longer loads is logged and left out: using it denies, as it would anyway.
/// Policies uploaded through the API are loaded as they are added; one added to the data
/// directory by another process while this one serves is loaded on its first use.
fn load_policies(service: &kastell_core::keys::KeyService) {
    let measurements = match service.policies().list() {
        Ok(list) => list,
        Err(err) => {
            tracing::warn!(error = %err, "cannot list the stored policies to load them");
            return;
        }
    };
    let mut loaded = 0usize;
    for measurement in &measurements {
        match service.load_policy(measurement) {
            Ok(_) => loaded += 1,
            Err(err) => {
                tracing::warn!(policy = %measurement, error = %err, "stored policy does not load");
            }
        }
    }
    tracing::info!(loaded, stored = measurements.len(), "policies loaded");
}

/// Runs the server until SIGINT or SIGTERM.
pub(super) fn run(args: ServeArgs) -> Result<(), CliError> {
    // Before the token is opened and any key is in memory. Fatal when it fails: a process
    // that will hold unwrapped keys must not be able to write them into a core file.
    if let Err(why) = server::process::disable_core_dumps() {
        tracing::error!(error = %why, "cannot turn core dumps off");
        return Err(CliError::internal(format!(
            "cannot turn core dumps off: {why}; kastell serve holds keys in memory and does \
             not run where a crash could write them to disk"
        )));
    }
    tracing::info!("core dumps disabled (RLIMIT_CORE 0, not dumpable)");
    let config = args.deployment.config()?;
    let listen = args
        .listen
        .or(config.server.listen.clone())
        .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
    let names = config.server.names.clone().unwrap_or_else(|| {
        vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
        ]
    });
    let data_dir = args.deployment.data_dir()?;
    let metrics = Arc::new(Metrics::new());
    // Key records and aliases are held in memory: this host's changes drop them as they
    // commit, other hosts' through the change counter and notices below.
    let service = args
        .deployment
        .open()?
        .with_metrics(Arc::clone(&metrics))
        .with_record_cache(
            config
                .keys
                .record_cache_entries
                .and_then(|n| usize::try_from(n).ok())
                .unwrap_or(kastell_core::keys::RECORD_CACHE_ENTRIES),
        );
    check_audit(&service)?;
    record_duties(&service, config.aws.duties())?;
    let files = CaFiles::new(&data_dir);
    let backup_dir = config
        .backup
        .dir
        .clone()
        .unwrap_or_else(|| data_dir.join("backups"));
    let schedule = super::backup::schedule(&config.backup, &backup_dir)?;
    let store = service.store();
    // One host (SQLite): release challenges in memory, no write transaction each.
    let single_host = store.backend() == "sqlite";
    let lifetime = config
        .server
        .certificate_days
        .map_or(server::tls::SERVER_CERT_LIFETIME, |days| {
            Duration::from_secs(u64::from(days) * 86_400)
        });
    let certificate = Arc::new(
        server::tls::ServerCertificate::issue(service.token(), &files, &names, lifetime)
            .map_err(CliError::usage)?,
    );
    let tls =
        server::tls::server_config(Arc::clone(&certificate), &files).map_err(CliError::usage)?;
    let release = release_trust(&config.release, &files)?;
    let release_ttl = release.challenge_ttl;
    let limits = connection_limits(&config.server);
    let attester = match server::workloads::Attester::load(service.token(), files.clone()) {
        Ok(attester) => Some(attester),
        Err(why) => {
            tracing::warn!(%why, "no attestation CA: workloads cannot attest");
            None
        }
    };
    let workloads = kastell_core::registry::WorkloadRegistry::open(
        service.store(),
        &data_dir.join(kastell_core::deployment::WORKLOADS_DIR),
    )
    .map_err(|e| CliError::internal(e.to_string()))?;
    let workload_slots = Arc::new(tokio::sync::Semaphore::new(
        usize::try_from(service.sandbox().limits().max_concurrent / 2)
            .unwrap_or(1)
            .max(1),
    ));
    let operations_inline = service.token().operates_in_memory();
    // The quorum appends audit records of its own: each is offered to the key service's
    // checkpoint trigger, like the service's records.
    let state = Arc::new_cyclic(|weak: &std::sync::Weak<AppState>| {
        let weak = weak.clone();
        let quorum = kastell_core::quorum::Quorum::new(store).with_audit_observer(move |record| {
            if let Some(state) = weak.upgrade() {
                state.service.checkpoint_if_due(record.seq);
            }
        });
        AppState {
            data_dir: data_dir.clone(),
            backup_dir: backup_dir.clone(),
            service,
            metrics,
            files,
            quorum,
            approval_ttl: Duration::from_secs(
                config
                    .server
                    .approval_ttl_secs
                    .unwrap_or(DEFAULT_APPROVAL_TTL_SECS),
            ),
            openapi: server::openapi_json(),
            revoked: std::sync::RwLock::default(),
            workloads,
            attester,
            release,
            challenges: server::release::Challenges::new(
                release_ttl,
                to_usize(
                    config
                        .release
                        .challenges_per_client
                        .unwrap_or(DEFAULT_CHALLENGES_PER_CLIENT),
                ),
                to_usize(
                    config
                        .release
                        .max_challenges
                        .unwrap_or(DEFAULT_MAX_CHALLENGES),
                ),
            )
            .held_in_memory_if(single_host),
            refusals: server::refusals::RepeatedRefusals::new(
                Duration::from_secs(
                    config
                        .server
                        .refusal_summary_secs
                        .unwrap_or(DEFAULT_REFUSAL_SUMMARY_SECS),
                ),
                server::refusals::DEFAULT_CAPACITY,
            ),
            workload_slots,
            operations_inline,
            duties: config.aws.duties(),
            aws_account_id: config.aws.account_id().to_owned(),
            changes: server::changes::ChangeWatch::default(),
        }
    });
    // Other hosts' changes: notices as they commit (PostgreSQL), and the change counter
    // read every `[store] change_check_ms` (started after the listener, so that no change
    // falls between the two).
    let listener = state
        .service
        .store()
        .listen(Arc::new({
            let weak = Arc::downgrade(&state);
            move |event: kastell_core::store::ChangeEvent| {
                if let Some(state) = weak.upgrade() {
                    state.apply_change(&event);
                }
            }
        }))
        .map_err(|e| CliError::internal(format!("cannot listen for other hosts' changes: {e}")))?;
    let counter =
        state.service.store().change_seq().map_err(|e| {
            CliError::internal(format!("cannot read the store's change counter: {e}"))
        })?;
    state.changes.start_at(counter, listener.is_some());
    let change_check = Duration::from_millis(
        config
            .store
            .change_check_ms
            .unwrap_or(kastell_core::config::DEFAULT_CHANGE_CHECK_MS),
    );
    state
        .reload_revocations()
        .map_err(|e| CliError::internal(format!("cannot read client revocations: {e}")))?;
    let app = server::app(
        Arc::clone(&state),
        config.server.body_limit.unwrap_or(DEFAULT_BODY_LIMIT),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("kastell-server")
        .build()
        .map_err(|e| CliError::internal(format!("cannot start the async runtime: {e}")))?;
    let serving = Arc::clone(&state);
    runtime.block_on(async move {
        let state = serving;
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .map_err(|e| CliError::usage(format!("cannot listen on {listen}: {e}")))?;
        let local = listener
            .local_addr()
            .map_err(|e| CliError::internal(e.to_string()))?;
        // Whoever started the server may close its output after reading this line: a
        // closed standard output must not stop the server, so write errors are ignored.
        say(&format!("kastell listening on https://{local}"));
        say(&format!("data directory {}", data_dir.display()));
        let aws = match &config.aws.listen {
            Some(address) => {
                let aws_listener = tokio::net::TcpListener::bind(address).await.map_err(|e| {
                    CliError::usage(format!("cannot listen on {address} (aws.listen): {e}"))
                })?;
                let aws_local = aws_listener
                    .local_addr()
                    .map_err(|e| CliError::internal(e.to_string()))?;
                let endpoint = Arc::new(
                    server::aws::AwsEndpoint::new(config.aws.region(), config.aws.account_id())
                        .with_duties(config.aws.duties()),
                );
                let aws_tls = server::tls::aws_server_config(Arc::clone(&certificate))
                    .map_err(CliError::usage)?;
                let aws_app = server::aws::app(
                    Arc::clone(&state),
                    endpoint,
                    config.server.body_limit.unwrap_or(DEFAULT_BODY_LIMIT),
                );
                say(&format!(
                    "kastell AWS endpoint listening on https://{aws_local}"
                ));
                tracing::info!(
                    local = %aws_local,
                    region = config.aws.region(),
                    account_id = config.aws.account_id(),
                    "AWS endpoint listening"
                );
                Some(tokio::spawn(server::serve_signed(
                    aws_listener,
                    Arc::new(aws_tls),
                    aws_app,
                    limits,
                    Arc::clone(&state.metrics),
                    shutdown_signal(),
                )))
            }
            None => None,
        };
        tracing::info!(%local, "listening");
        // Before the first connection is served (this thread is not an async worker).
        load_policies(&state.service);
        let sweeper = tokio::spawn(sweep(Arc::clone(&state)));
        let purger = tokio::spawn(purge_key_cache(Arc::clone(&state)));
        let signer = tokio::spawn(sign_checkpoints(Arc::clone(&state)));
        let watcher = tokio::spawn(check_changes(Arc::clone(&state), change_check));
        let renewer = tokio::spawn(renew_certificate(certificate));
        let summarizer = tokio::spawn(summarize_refusals(Arc::clone(&state)));
        let scheduled = schedule
            .map(|schedule| tokio::spawn(super::backup::scheduled(Arc::clone(&state), schedule)));
        let served = server::serve(
            listener,
            Arc::new(tls),
            app,
            limits,
            Arc::clone(&state.metrics),
            shutdown_signal(),
        )
        .await;
        if let Some(aws) = aws
            && let Ok(Err(err)) = aws.await
        {
            tracing::error!(error = %err, "the AWS endpoint's listener failed");
        }
        summarizer.abort();
        if let Some(scheduled) = scheduled {
            scheduled.abort();
        }
        sweeper.abort();
        purger.abort();
        signer.abort();
        watcher.abort();
        renewer.abort();
        served.map_err(|e| CliError::internal(format!("the listener failed: {e}")))
    })?;
    drop(listener);
    // Refusals counted since the last summary, then a signature over every record written
    // while serving, before exiting.
    write_refusal_summaries(&state);
    if let Err(err) = state.service.checkpoint() {
        tracing::error!(error = %err, "cannot sign the final audit checkpoint");
    }
    say("kastell stopped");
    Ok(())
}

/// Refuses to serve a deployment whose audit trail or checkpoint chain was cut, rolled back
/// (against the anchor file) or rewritten after a checkpoint
/// ([`kastell_core::keys::KeyService::check_audit`]), naming what broke.
fn check_audit(service: &kastell_core::keys::KeyService) -> Result<(), CliError> {
    let code = kastell_proto::ErrorCode::TamperDetected;
    match service
        .check_audit()
        .map_err(|err| CliError::new(err.code(), format!("{err}; refusing to start")))?
    {
        Ok(()) => Ok(()),
        Err(broken) => {
            let message = format!(
                "{code}: {}; refusing to start (see `kastell audit verify`)",
                kastell_core::keys::describe(&broken)
            );
            tracing::error!(kind = broken.kind.as_str(), seq = broken.seq, "{message}");
            Err(CliError::new(code, message))
        }
    }
}

/// Logs whether a principal keeps one role (`[aws] separation_of_duties`) and records the
/// value in the audit trail when it differs from the last recorded one.
fn record_duties(
    service: &kastell_core::keys::KeyService,
    duties: kastell_core::clients::Duties,
) -> Result<(), CliError> {
    const NAME: &str = "aws.separation_of_duties";
    let value = if duties.setting() { "true" } else { "false" };
    let before = service
        .record_setting(NAME, value, "true")
        .map_err(|e| CliError::new(e.code(), format!("cannot record {NAME}: {e}")))?;
    let changed = before.map(|was| format!(" (was {was}; recorded in the audit trail)"));
    if duties.setting() {
        tracing::info!(
            "separation of duties: on, a principal keeps one role{}",
            changed.unwrap_or_default()
        );
    } else {
        tracing::warn!(
            "separation of duties: OFF ([aws] separation_of_duties = false), an access key \
             may hold crypto-officer and crypto-user at once{}",
            changed.unwrap_or_default()
        );
    }
    Ok(())
}

fn to_usize(value: u64) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}

/// The connection limits of `[server]`, defaults where unset.
fn connection_limits(config: &kastell_core::config::ServerConfig) -> server::ConnectionLimits {
    use kastell_core::config::{
        DEFAULT_HANDSHAKE_TIMEOUT_SECS, DEFAULT_HEADER_READ_TIMEOUT_SECS, DEFAULT_MAX_CONNECTIONS,
        DEFAULT_MAX_UNAUTHENTICATED,
    };
    server::ConnectionLimits::default()
        .max_connections(to_usize(
            config.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS),
        ))
        .max_unauthenticated(to_usize(
            config
                .max_unauthenticated
                .unwrap_or(DEFAULT_MAX_UNAUTHENTICATED),
        ))
        .handshake_timeout(Duration::from_secs(
            config
                .handshake_timeout_secs
                .unwrap_or(DEFAULT_HANDSHAKE_TIMEOUT_SECS),
        ))
        .header_read_timeout(Duration::from_secs(
            config
                .header_read_timeout_secs
                .unwrap_or(DEFAULT_HEADER_READ_TIMEOUT_SECS),
        ))
}

/// Appends one audit record per kind of repeated refusal counted since its last record.
fn write_refusal_summaries(state: &AppState) {
    for entry in state.refusals.summaries() {
        if let Err(err) = state.service.record_entry(entry) {
            tracing::error!(error = %err, "cannot audit a summary of repeated refusals");
        }
    }
}

/// Sums up repeated refusals in the audit trail every `server.refusal_summary_secs`.
async fn summarize_refusals(state: Arc<AppState>) {
    let mut every = tokio::time::interval(state.refusals.interval());
    every.tick().await;
    loop {
        every.tick().await;
        let state = Arc::clone(&state);
        if let Err(err) = tokio::task::spawn_blocking(move || write_refusal_summaries(&state)).await
        {
            tracing::error!(error = %err, "summing up repeated refusals failed");
        }
    }
}

/// The roots and limits of attested release: this deployment's root (unless
/// `trust_own_root = false`) and every certificate in the `trusted_roots` files.
fn release_trust(
    config: &kastell_core::config::ReleaseConfig,
    files: &CaFiles,
) -> Result<server::release::ReleaseTrust, CliError> {
    let mut anchors = Vec::new();
    if config.trust_own_root.unwrap_or(true) {
        match files.certificate("root.pem", "kastell init") {
            Ok(root) => anchors.push(root),
            Err(err) => tracing::warn!(error = %err, "no own root to trust for releases"),
        }
    }
    for path in config.trusted_roots.iter().flatten() {
        let bytes = std::fs::read(path).map_err(|e| {
            CliError::usage(format!("release.trusted_roots: {}: {e}", path.display()))
        })?;
        let roots = kastell_attest::x509::parse_certificates(&bytes).map_err(|e| {
            CliError::usage(format!("release.trusted_roots: {}: {e}", path.display()))
        })?;
        anchors.extend(roots);
    }
    Ok(server::release::ReleaseTrust {
        anchors,
        challenge_ttl: Duration::from_secs(
            config
                .challenge_ttl_secs
                .unwrap_or(kastell_core::config::DEFAULT_CHALLENGE_TTL_SECS),
        ),
        max_age: Duration::from_secs(
            config
                .max_attestation_age_secs
                .unwrap_or(kastell_core::config::DEFAULT_MAX_ATTESTATION_AGE_SECS),
        ),
        max_clock_skew: Duration::from_secs(
            config
                .max_clock_skew_secs
                .unwrap_or(kastell_core::config::DEFAULT_MAX_CLOCK_SKEW_SECS),
        ),
        checker: std::sync::Arc::default(),
        issuers: server::release::Issuers::default(),
    })
}

/// Writes a line to standard output, ignoring a closed pipe.
fn say(line: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Rotates keys whose automatic rotation is due, at start and every [`SWEEP_EVERY`], and
/// destroys keys whose deletion window has ended every [`SWEEP_EVERY`] (opening the
/// deployment destroyed those due at start).
async fn sweep(state: Arc<AppState>) {
    let mut every = tokio::time::interval(SWEEP_EVERY);
    let mut first = true;
    loop {
        every.tick().await;
        let destroy = !first;
        first = false;
        let state = Arc::clone(&state);
        let swept = tokio::task::spawn_blocking(move || {
            let now = kastell_core::keys::unix_now();
            let destroyed = if destroy {
                state.service.destroy_due(now)
            } else {
                Ok(Vec::new())
            };
            let expired = state.service.expire_imported_due(now);
            (destroyed, state.service.rotate_due(now), expired)
        })
        .await;
        let Ok((destroyed, rotated, expired)) = swept else {
            continue;
        };
        match expired {
            Ok(ids) if !ids.is_empty() => {
                tracing::info!(count = ids.len(), "imported key material expired");
            }
            Err(err) => tracing::error!(error = %err, "imported material expiry sweep failed"),
            _ => {}
        }
        match destroyed {
            Ok(ids) if !ids.is_empty() => tracing::info!(count = ids.len(), "keys destroyed"),
            Err(err) => tracing::error!(error = %err, "deletion sweep failed"),
            _ => {}
        }
        match rotated {
            Ok(ids) if !ids.is_empty() => tracing::info!(count = ids.len(), "keys rotated"),
            Err(err) => tracing::error!(error = %err, "rotation sweep failed"),
            _ => {}
        }
    }
}

/// Drops expired entries of the key cache every tenth of its TTL (at least every second),
/// so that unwrapped material of keys no longer used is cleared soon after it expires.
async fn purge_key_cache(state: Arc<AppState>) {
    let ttl = state.service.key_cache().limits().ttl;
    let mut every = tokio::time::interval((ttl / 10).max(Duration::from_secs(1)));
    loop {
        every.tick().await;
        state.service.key_cache().purge_expired();
    }
}

/// Every [`CHECKPOINT_EVERY`]: marks pending operations past their expiry expired, purges
/// expired release challenges, and signs a checkpoint of the trail's head when it moved.
async fn sign_checkpoints(state: Arc<AppState>) {
    let mut every = tokio::time::interval(CHECKPOINT_EVERY);
    every.tick().await;
    loop {
        every.tick().await;
        let state = Arc::clone(&state);
        let signed = tokio::task::spawn_blocking(move || {
            if let Err(err) = state.quorum.expire_due(kastell_core::keys::unix_now_ms()) {
                tracing::error!(error = %err, "cannot expire pending operations");
            }
            if let Err(err) = state
                .service
                .store()
                .purge_challenges(kastell_core::keys::unix_now_ms())
            {
                tracing::error!(error = %err, "cannot purge expired release challenges");
            }
            state.service.checkpoint()
        })
        .await;
        if let Ok(Err(err)) = signed {
            tracing::error!(error = %err, "cannot sign an audit checkpoint");
        }
    }
}

/// Reads the store's change counter every `every` ([`AppState::check_changes`]): the bound
/// on how long this host may hold what another host changed when notices are lost.
async fn check_changes(state: Arc<AppState>, every: Duration) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let state = Arc::clone(&state);
        let checked = tokio::task::spawn_blocking(move || state.check_changes()).await;
        if let Ok(Err(err)) = checked {
            tracing::warn!(error = %err, "cannot read the store's change counter");
        }
    }
}

/// Renews the server's certificate when due, checking every hour.
async fn renew_certificate(certificate: Arc<server::tls::ServerCertificate>) {
    let mut every = tokio::time::interval(Duration::from_secs(3600));
    every.tick().await;
    loop {
        every.tick().await;
        let certificate = Arc::clone(&certificate);
        let renewed = tokio::task::spawn_blocking(move || {
            certificate
                .renew_if_due(time::OffsetDateTime::now_utc())
                .map(|renewed| (renewed, certificate.not_after()))
        })
        .await;
        match renewed {
            Ok(Ok((true, not_after))) => {
                tracing::info!(%not_after, "server certificate renewed");
            }
            Ok(Err(err)) => tracing::error!(error = %err, "cannot renew the server certificate"),
            _ => {}
        }
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
