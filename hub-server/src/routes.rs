//! The HTTP routes: JSON in and out, errors as `{"errors": [...]}` with a status that says
//! what kind (400 invalid, 404 unknown, 409 busy, 500 failed).

use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, middleware};
use futures::Stream;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;

use crate::ServerConfig;
use crate::auth::{Token, require_token};
use crate::manager::{Refusal, Server};
use crate::view::{DownDone, ErrorBody, ExecRequest, ExecResult, LabSummary, LabView};

/// The API's routes, with the body limit, the request counter and (for TCP) the token check.
pub(crate) fn router(
    server: Arc<Server>,
    config: &ServerConfig,
    token: Option<Arc<Token>>,
) -> Router {
    let mut app = Router::new()
        .route("/labs", get(list_labs))
        .route("/labs/{lab}", get(get_lab).put(put_lab).delete(delete_lab))
        .route("/labs/{lab}/workloads/{workload}/restart", post(restart))
        .route("/labs/{lab}/workloads/{workload}/exec", post(exec))
        .route("/labs/{lab}/vpn/{peer}", get(vpn_config))
        .route("/events", get(events))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .layer(DefaultBodyLimit::max(config.max_body))
        .route_layer(middleware::from_fn_with_state(
            server.clone(),
            crate::metrics::count_requests,
        ))
        .with_state(server);
    if let Some(token) = token {
        app = app.layer(middleware::from_fn_with_state(token, require_token));
    }
    app
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let (status, errors) = match self {
            Refusal::Invalid(e) => (StatusCode::BAD_REQUEST, e),
            Refusal::NotFound(m) => (StatusCode::NOT_FOUND, vec![crate::ApiError::plain(m)]),
            Refusal::Busy(m) => (StatusCode::CONFLICT, vec![crate::ApiError::plain(m)]),
            Refusal::Failed(e) => (StatusCode::INTERNAL_SERVER_ERROR, e),
        };
        (status, Json(ErrorBody { errors })).into_response()
    }
}

/// Every lab of this host, with the server's phase for those it manages.
#[utoipa::path(get, path = "/labs", responses((status = 200, body = [LabSummary])))]
pub(crate) async fn list_labs(
    State(s): State<Arc<Server>>,
) -> Result<Json<Vec<LabSummary>>, Refusal> {
    s.list().await.map(Json)
}

/// A lab: the server's phase and errors, and every workload as it runs.
#[utoipa::path(get, path = "/labs/{lab}", params(("lab" = String, Path, description = "the lab")),
    responses((status = 200, body = LabView), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_lab(
    State(s): State<Arc<Server>>,
    Path(lab): Path<String>,
) -> Result<Json<LabView>, Refusal> {
    s.view(&lab).await.map(Json)
}

/// Creates or converges a lab from a spec (YAML or JSON): validated first (400 with every
/// mistake), then brought up in the background (202; poll `GET /labs/{lab}`).
#[utoipa::path(put, path = "/labs/{lab}", params(("lab" = String, Path, description = "the lab")),
    request_body(content = String, description = "the lab spec, YAML or JSON", content_type = "application/yaml"),
    responses((status = 202, body = LabView), (status = 400, body = ErrorBody), (status = 413, description = "the body is too large")))]
pub(crate) async fn put_lab(
    State(s): State<Arc<Server>>,
    Path(lab): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<LabView>), Refusal> {
    let text = std::str::from_utf8(&body).map_err(|e| {
        Refusal::Invalid(vec![crate::ApiError::plain(format!(
            "the spec is not UTF-8: {e}"
        ))])
    })?;
    let view = s.put(&lab, text).await?;
    Ok((StatusCode::ACCEPTED, Json(view)))
}

/// Whether a request waits for the operation to finish.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
pub(crate) struct WaitQuery {
    /// Wait for the `down` to finish and answer 200 with what it removed.
    #[serde(default)]
    wait: bool,
}

/// Removes a lab, found by its marks: 202 at once (poll `GET /labs/{lab}` until 404), or with
/// `?wait=true` 200 when it is gone.
#[utoipa::path(delete, path = "/labs/{lab}", params(("lab" = String, Path, description = "the lab"), WaitQuery),
    responses((status = 202, body = LabView), (status = 200, body = DownDone)))]
pub(crate) async fn delete_lab(
    State(s): State<Arc<Server>>,
    Path(lab): Path<String>,
    Query(q): Query<WaitQuery>,
) -> Result<Response, Refusal> {
    Ok(match s.delete(&lab, q.wait).await? {
        Ok(view) => (StatusCode::ACCEPTED, Json(view)).into_response(),
        Err(done) => (StatusCode::OK, Json(done)).into_response(),
    })
}

/// Restarts a workload and waits until it is ready again.
#[utoipa::path(post, path = "/labs/{lab}/workloads/{workload}/restart",
    params(("lab" = String, Path, description = "the lab"), ("workload" = String, Path, description = "the workload")),
    responses((status = 200, body = LabView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) async fn restart(
    State(s): State<Arc<Server>>,
    Path((lab, workload)): Path<(String, String)>,
) -> Result<Json<LabView>, Refusal> {
    s.restart(&lab, &workload).await.map(Json)
}

/// Runs a command in a workload (in a container, or over SSH in a VM).
#[utoipa::path(post, path = "/labs/{lab}/workloads/{workload}/exec",
    params(("lab" = String, Path, description = "the lab"), ("workload" = String, Path, description = "the workload")),
    request_body = ExecRequest,
    responses((status = 200, body = ExecResult), (status = 404, body = ErrorBody)))]
pub(crate) async fn exec(
    State(s): State<Arc<Server>>,
    Path((lab, workload)): Path<(String, String)>,
    Json(req): Json<ExecRequest>,
) -> Result<Json<ExecResult>, Refusal> {
    s.exec(&lab, &workload, &req.cmd).await.map(Json)
}

/// A VPN peer's WireGuard client config (`wg-quick` format; it holds the peer's key).
#[utoipa::path(get, path = "/labs/{lab}/vpn/{peer}",
    params(("lab" = String, Path, description = "the lab"), ("peer" = String, Path, description = "the peer")),
    responses((status = 200, body = String, content_type = "text/plain"), (status = 404, body = ErrorBody)))]
pub(crate) async fn vpn_config(
    State(s): State<Arc<Server>>,
    Path((lab, peer)): Path<(String, String)>,
) -> Result<Response, Refusal> {
    let text = s.vpn_config(&lab, &peer).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        text,
    )
        .into_response())
}

/// State changes as server-sent events: the event's `event:` is its kind, its `data:` the
/// JSON of [`crate::Event`]. The stream opens with the comment `: subscribed`, sent once the
/// subscription is in place, so a client knows from when on it misses nothing.
#[utoipa::path(get, path = "/events", responses((status = 200, description = "text/event-stream of Event", body = crate::Event)))]
pub(crate) async fn events(
    State(s): State<Arc<Server>>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let stream = BroadcastStream::new(s.subscribe()).filter_map(|e| {
        let e = e.ok()?;
        let kind = serde_json::to_value(e.kind).ok()?.as_str()?.to_string();
        SseEvent::default()
            .id(e.seq.to_string())
            .event(kind)
            .json_data(&e)
            .ok()
            .map(Ok)
    });
    let subscribed = tokio_stream::once(Ok(SseEvent::default().comment("subscribed")));
    let stopping = s.stopping.clone().cancelled_owned();
    Sse::new(futures::StreamExt::take_until(
        subscribed.chain(stream),
        stopping,
    ))
    .keep_alive(KeepAlive::default())
}

/// Prometheus metrics (text format).
#[utoipa::path(get, path = "/metrics", responses((status = 200, body = String, content_type = "text/plain")))]
pub(crate) async fn metrics(State(s): State<Arc<Server>>) -> Response {
    let census = s.census().await;
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.render(
            &census.phases,
            &census.workloads,
            &census.leases,
            census.netd,
        ),
    )
        .into_response()
}

/// This API's OpenAPI document.
#[utoipa::path(get, path = "/openapi.json", responses((status = 200, description = "the OpenAPI 3.1 document")))]
pub(crate) async fn openapi() -> Response {
    Json(crate::openapi::document()).into_response()
}
