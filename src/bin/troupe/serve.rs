//! `troupe serve`: the HTTP API (crate `troupe-service`) over an embedded runtime — the kinds
//! and capacity of `troupe run` — and a store, staying up until SIGTERM or Ctrl-C. At start it
//! resumes the store's interrupted runs (those `troupe resume --all` would).
//!
//! Tokens: `--jwt-secret-file` (HS256) and/or `--jwt-ed25519-public-key` (EdDSA, the 32 raw
//! bytes of the key). With neither, the API listens on loopback only and a freshly generated
//! admin token (valid 30 days, for this process only) is printed at start: it never serves
//! anonymously.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use troupe_service::audit::AuditLog;
use troupe_service::auth::{expiry_in, random_secret, sign_hs256};
use troupe_service::{Auth, Claims, Replayer, Service, ServiceConfig};

use crate::runs::StoreArgs;

/// Arguments of `troupe serve`.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Where the API listens (port 0: any free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    listen: SocketAddr,
    /// A file holding the HS256 secret tokens are signed with.
    #[arg(long, env = "TROUPE_JWT_SECRET_FILE", value_name = "FILE")]
    jwt_secret_file: Option<PathBuf>,
    /// A file holding the Ed25519 public key (32 raw bytes) EdDSA tokens are verified with.
    #[arg(long, env = "TROUPE_JWT_ED25519_PUBLIC_KEY", value_name = "FILE")]
    jwt_ed25519_public_key: Option<PathBuf>,
    /// The audit log of mutating calls, JSON Lines [default: audit.jsonl beside the store's
    /// file; none for other stores, whose calls are kept in memory only].
    #[arg(long, value_name = "FILE")]
    audit_log: Option<PathBuf>,
    /// Serve the API over TLS with this certificate chain (PEM; needs --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// How often schedules are checked for due ticks (e.g. 1s).
    #[arg(long, default_value = "1s", value_name = "DURATION", value_parser = crate::prune::age)]
    schedule_check: Duration,
    /// Also write the generated admin token to this file (when no auth is configured).
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    capacity: crate::run::CapacityArgs,
    #[command(flatten)]
    admission: crate::admission::AdmissionArgs,
}

fn read(path: &PathBuf, what: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{what} {}: {e}", path.display()))
}

/// The keys tokens are verified with, and the admin token printed when none are configured.
fn auth(args: &ServeArgs) -> Result<(Auth, Option<String>), String> {
    auth_from(
        args.jwt_secret_file.as_ref(),
        args.jwt_ed25519_public_key.as_ref(),
        args.listen,
    )
}

/// [`auth`] from its flags (also `troupe node --api`'s): the keys of the given files, else a
/// freshly generated admin token, only for an API listening on loopback.
pub fn auth_from(
    jwt_secret_file: Option<&PathBuf>,
    jwt_ed25519_public_key: Option<&PathBuf>,
    listen: SocketAddr,
) -> Result<(Auth, Option<String>), String> {
    let hs = match jwt_secret_file {
        Some(p) => Some(read(p, "--jwt-secret-file")?),
        None => None,
    };
    let ed = match jwt_ed25519_public_key {
        Some(p) => Some(read(p, "--jwt-ed25519-public-key")?),
        None => None,
    };
    match (hs, ed) {
        (Some(secret), ed) => {
            let auth = Auth::hs256(trim(&secret));
            Ok((ed.map_or(auth.clone(), |k| auth.with_ed25519(&k)), None))
        }
        (None, Some(key)) => Ok((Auth::ed25519(&key), None)),
        (None, None) => {
            if !listen.ip().is_loopback() {
                return Err(format!(
                    "no auth configured (--jwt-secret-file or --jwt-ed25519-public-key): \
                     refusing to listen on {listen}, which is not loopback"
                ));
            }
            let secret = random_secret()?;
            let claims = Claims {
                sub: "admin".into(),
                scope: "admin".into(),
                tenant: None,
                exp: expiry_in(Duration::from_secs(30 * 24 * 3600)),
            };
            let token = sign_hs256(&claims, &secret)?;
            Ok((Auth::hs256(&secret), Some(token)))
        }
    }
}

/// A secret file's content without a trailing newline.
fn trim(secret: &[u8]) -> &[u8] {
    secret.strip_suffix(b"\n").unwrap_or(secret)
}

/// Serves until SIGTERM or Ctrl-C.
pub async fn serve(args: ServeArgs) -> ExitCode {
    match serve_inner(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

async fn serve_inner(args: ServeArgs) -> Result<(), String> {
    let (auth, admin_token) = auth(&args)?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(troupe_service::tls::server_config(cert, key)?),
        _ => None,
    };
    let store = args.store.open().await?;
    let audit = match (&args.audit_log, &args.store.store) {
        (Some(path), _) => AuditLog::file(path)?,
        (None, _) => match sqlite_dir(&args.store) {
            Some(dir) => AuditLog::file(&dir.join("audit.jsonl"))?,
            None => AuditLog::memory(),
        },
    };
    // `GET /metrics` beside the API: the runtime's figures and its store's commits.
    let metrics = troupe::runtime::metrics::Metrics::new("serve");
    metrics.observe_store(store.clone());
    let rt =
        crate::run::local_runtime_with(&args.capacity, Some(store.clone()), Some(metrics.clone()))
            .await
            .ok_or("cannot start the runtime")?;
    rt.set_dead_letter_store(store.clone());
    let replay: Replayer = {
        let (rt, store) = (rt.clone(), store.clone());
        Arc::new(move |letter| {
            let (rt, store) = (rt.clone(), store.clone());
            Box::pin(async move { crate::dlq::replay_letter(&rt, store.as_ref(), &letter).await })
        })
    };
    let durability = args.store.durability(store.clone());
    let svc = Service::new(ServiceConfig {
        runtime: rt.clone(),
        durability: durability.clone(),
        auth,
        audit,
        replay: Some(replay),
    });
    svc.set_admission(args.admission.limits());
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    // Interrupted runs are driven here again (and controllable over the API).
    for id in crate::runs::resumable_runs(&store).await? {
        match rt.resume_durable(id.clone(), durability.clone()).await {
            Ok(handle) => {
                eprintln!("resuming {id}");
                svc.adopt(handle);
            }
            Err(e) => eprintln!("warning: cannot resume {id}: {e}"),
        }
    }
    // Webhook deliveries still pending are attempted when due; schedules are checked.
    let pending = svc.resume_webhooks().await.map_err(|e| e.to_string())?;
    if pending > 0 {
        eprintln!("{pending} webhook deliveries pending");
    }
    let owner = format!("{}/{}", crate::runs::hostname(), std::process::id());
    tokio::spawn(svc.clone().run_scheduler(owner, args.schedule_check));
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!(
        "troupe serve: listening on {scheme}://{addr} (store {})",
        store.location()
    );
    if let Some(token) = &admin_token {
        println!("admin token (this process only, valid 30 days): {token}");
        if let Some(path) = &args.token_file {
            std::fs::write(path, token)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
    }
    let extra = troupe::runtime::metrics::http::metrics_router(metrics);
    let served = match tls {
        Some(tls) => svc.serve_tls(listener, tls, extra, shutdown()).await,
        None => svc.serve(listener, extra, shutdown()).await,
    }
    .map_err(|e| format!("serving on {addr}: {e}"));
    rt.shutdown().await;
    served
}

/// The directory of the store's SQLite file, if it is one.
fn sqlite_dir(store: &StoreArgs) -> Option<PathBuf> {
    let spec = match &store.store {
        Some(text) => troupe::runtime::store::StoreSpec::parse(text).ok()?,
        None => troupe::runtime::store::StoreSpec::Sqlite(crate::runs::default_path()),
    };
    match spec {
        troupe::runtime::store::StoreSpec::Sqlite(path) => {
            Some(path.parent().map(PathBuf::from).unwrap_or_default())
        }
        _ => None,
    }
}

/// Completes on SIGTERM or Ctrl-C.
async fn shutdown() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}
