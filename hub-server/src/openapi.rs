//! The API's OpenAPI document (utoipa), served at `/openapi.json`.

use utoipa::OpenApi;

use crate::routes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Virtual Hub",
        description = "Labs of containers, VMs and a WireGuard gateway, managed by `hub serve`."
    ),
    paths(
        routes::list_labs,
        routes::get_lab,
        routes::put_lab,
        routes::delete_lab,
        routes::restart,
        routes::exec,
        routes::vpn_config,
        routes::events,
        routes::metrics,
        routes::openapi,
    ),
    components(schemas(
        crate::view::LabPhase,
        crate::view::ApiError,
        crate::view::ErrorBody,
        crate::view::LabSummary,
        crate::view::WorkloadView,
        crate::view::LabView,
        crate::view::ExecRequest,
        crate::view::ExecResult,
        crate::view::DownDone,
        crate::events::Event,
        crate::events::EventKind,
    ))
)]
struct ApiDoc;

/// The document.
pub(crate) fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
