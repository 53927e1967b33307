//! The Dual walk: health; a small batch of test objects created and read back; a
//! webhook registered to a receiver the smoke starts, a test delivery received
//! and its signature verified, the webhook deleted again; the batch's checkpoint.
//! Plain HTTP, paced like the Boson walk; the first failure ends the walk.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use gauntlet_mock::SecretString;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use serde_json::{Value, json};

use super::config::Settings;
use super::record::Steps;
use crate::boson::{Rpc, StepError};

/// Test objects the walk creates.
pub const OBJECTS: usize = 3;

/// The Dual side of a smoke run.
#[derive(Debug)]
pub struct DualTarget {
    pub base: String,
    pub key: SecretString,
    /// The signing secret the walk registers its webhook with.
    pub secret: SecretString,
    /// The URL the platform can reach the receiver at (a tunnel to it, for a
    /// deployment off this machine); else the receiver's own loopback URL.
    pub receiver_url: Option<String>,
}

struct Http<'a> {
    t: &'a DualTarget,
    pace: Rpc,
    http: reqwest::Client,
}

impl Http<'_> {
    /// One paced call: the status and the JSON body.
    async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, StepError> {
        self.pace.slot().await;
        let url = format!("{}{path}", self.t.base);
        let mut req = match method {
            "POST" => self.http.post(&url),
            "DELETE" => self.http.delete(&url),
            _ => self.http.get(&url),
        }
        .header("x-api-key", self.t.key.expose());
        if let Some(tp) = self.pace.traceparent() {
            req = req.header("traceparent", tp);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req
            .send()
            .await
            .map_err(|e| StepError::Rpc(format!("{method} {path}: {e}")))?;
        let status = r.status();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let why = v["error"]["message"].as_str().unwrap_or("no message");
            return Err(StepError::Refused(format!(
                "{method} {path}: HTTP {status}: {why}"
            )));
        }
        Ok(v)
    }
}

/// Run the walk, appending its steps.
pub async fn run(
    t: &DualTarget,
    s: &Settings,
    trace: Arc<crate::boson::rpc::Trace>,
    steps: &mut Steps<'_>,
) {
    let h = Http {
        t,
        pace: Rpc::new(&t.base, s.rate, Duration::from_secs(30)).with_trace(trace),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_default(),
    };
    let r = h
        .call("GET", "/health", None)
        .await
        .map(|v| format!("status {}", v["status"].as_str().unwrap_or("?")));
    if !steps.check("dual: health", r) {
        return;
    }
    let stamp = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let ids: Vec<String> = (0..OBJECTS).map(|i| format!("smoke-{stamp}-{i}")).collect();
    let batch = create(&h, &ids).await;
    let batch_id = batch.as_ref().ok().cloned();
    if !steps.check(
        "dual: create a test batch",
        batch.map(|b| format!("batch {b}: {OBJECTS} objects")),
    ) {
        return;
    }
    let r = read_back(&h, &ids).await;
    if !steps.check("dual: read the objects back", r) {
        return;
    }
    let r = webhook(&h, s.step_deadline).await;
    if !steps.check("dual: webhook test delivery", r) {
        return;
    }
    let r = checkpoint(&h, batch_id.as_deref().unwrap_or_default()).await;
    steps.check("dual: the batch's checkpoint", r);
}

async fn create(h: &Http<'_>, ids: &[String]) -> Result<String, StepError> {
    let actions: Vec<Value> = ids
        .iter()
        .map(|id| json!({"action_type": "Emit", "object_id": id, "payload": {"smoke": true}}))
        .collect();
    let v = h
        .call(
            "POST",
            "/ebus/actions/batch",
            Some(json!({ "actions": actions })),
        )
        .await?;
    if v["failed"].as_u64() != Some(0) {
        return Err(StepError::Refused(format!(
            "the batch was not applied whole: {v}"
        )));
    }
    Ok(v["batch_id"].as_str().unwrap_or("?").to_string())
}

async fn read_back(h: &Http<'_>, ids: &[String]) -> Result<String, StepError> {
    for id in ids {
        let v = h.call("GET", &format!("/objects/{id}"), None).await?;
        if v["id"].as_str() != Some(id.as_str()) {
            return Err(StepError::Refused(format!(
                "GET /objects/{id} answered {v}"
            )));
        }
    }
    Ok(format!("{} objects read back", ids.len()))
}

async fn checkpoint(h: &Http<'_>, batch: &str) -> Result<String, StepError> {
    let v = h.call("GET", "/batches?limit=100", None).await?;
    let found = v["batches"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|b| b["id"].as_str() == Some(batch))
        .cloned()
        .ok_or_else(|| StepError::Refused(format!("batch {batch} is not among the last 100")))?;
    let cp = found["checkpoint_id"]
        .as_str()
        .unwrap_or("none")
        .to_string();
    let v = h.call("GET", "/checkpoints", None).await?;
    let status = v["checkpoints"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["id"].as_str() == Some(cp.as_str()))
        .and_then(|c| c["status"].as_str().map(str::to_string))
        .unwrap_or_else(|| "unknown".into());
    Ok(format!("batch {batch} in checkpoint {cp} ({status})"))
}

/// What the receiver got: (event type, signature verified).
type Got = Arc<Mutex<Vec<(String, bool)>>>;

/// Register a webhook to a receiver started here, ask for a test delivery, wait
/// for it (bounded), verify it, delete the webhook.
async fn webhook(h: &Http<'_>, deadline: Duration) -> Result<String, StepError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| StepError::Refused(format!("cannot start the receiver: {e}")))?;
    let local = format!(
        "http://{}/smoke",
        listener
            .local_addr()
            .map_err(|e| StepError::Rpc(e.to_string()))?
    );
    let got: Got = Arc::default();
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(receive(
        listener,
        h.t.secret.clone(),
        got.clone(),
        stop.clone(),
    ));
    let url = h.t.receiver_url.clone().unwrap_or(local);
    let body = json!({"url": url, "events": ["object.created"], "secret": h.t.secret.expose()});
    let created = h.call("POST", "/webhooks", Some(body)).await;
    let id = match created {
        Ok(v) => v["id"].as_str().unwrap_or_default().to_string(),
        Err(e) => {
            stop.cancel();
            return Err(e);
        }
    };
    let result = async {
        h.call("POST", &format!("/webhooks/{id}/test"), None).await?;
        let started = Instant::now();
        loop {
            let seen = got.lock().map(|g| g.clone()).unwrap_or_default();
            let tests: Vec<bool> = seen
                .iter()
                .filter(|(t, _)| t == "webhook.test")
                .map(|(_, ok)| *ok)
                .collect();
            if tests.contains(&true) {
                return Ok(format!(
                    "webhook {id}: test delivery received, signature verified"
                ));
            }
            if started.elapsed() > deadline {
                return Err(StepError::Refused(if tests.is_empty() {
                    format!("webhook {id}: no test delivery at {url} within {deadline:?}")
                } else {
                    format!(
                        "webhook {id}: {} test deliveries, none whose signature verifies with GAUNTLET_WEBHOOK_SECRET",
                        tests.len()
                    )
                }));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    .await;
    // Leave nothing behind, whatever happened.
    let _ = h.call("DELETE", &format!("/webhooks/{id}"), None).await;
    stop.cancel();
    result
}

/// The receiver: records each delivery's type and whether its signature verified.
async fn receive(
    listener: tokio::net::TcpListener,
    secret: SecretString,
    got: Got,
    stop: tokio_util::sync::CancellationToken,
) {
    crate::handler::serve(
        listener,
        stop,
        move |req: Request<hyper::body::Incoming>| {
            let (secret, got) = (secret.clone(), got.clone());
            async move {
                let d = crate::handler::read_signed(req, "x-dual").await;
                let ok = d.as_ref().is_some_and(|d| {
                    crate::handler::verify(
                        secret.expose().as_bytes(),
                        d.ts.as_deref(),
                        d.sig.as_deref(),
                        &d.body,
                    )
                });
                let kind = d
                    .and_then(|d| serde_json::from_slice::<Value>(&d.body).ok())
                    .and_then(|v| v["event_type"].as_str().map(str::to_string))
                    .unwrap_or_default();
                if let Ok(mut g) = got.lock() {
                    g.push((kind, ok));
                }
                let status = if ok {
                    StatusCode::OK
                } else {
                    StatusCode::UNAUTHORIZED
                };
                Ok::<_, std::convert::Infallible>(
                    Response::builder()
                        .status(status)
                        .body(Full::new(Bytes::new()))
                        .unwrap_or_default(),
                )
            }
        },
    )
    .await;
}
