//! Serving the application's AsyncAPI document and its HTML page over plain HTTP.

use bytes::Bytes;

use crate::app::{App, http_response};

/// The default path of the AsyncAPI document.
pub const ASYNCAPI_JSON_PATH: &str = "/asyncapi.json";
/// The default path of the AsyncAPI HTML page.
pub const ASYNCAPI_HTML_PATH: &str = "/asyncapi.html";

impl<C: Default + Send + Sync + 'static> App<C> {
    /// Serves `api` as JSON at [`ASYNCAPI_JSON_PATH`] and as an HTML page at
    /// [`ASYNCAPI_HTML_PATH`]. Both are rendered once, here.
    #[must_use]
    pub fn asyncapi(self, api: &asyncapi::Api) -> Self {
        self.asyncapi_at(api, ASYNCAPI_JSON_PATH, ASYNCAPI_HTML_PATH)
    }

    /// Serves `api` as JSON at `json_path` and as an HTML page at `html_path`.
    #[must_use]
    pub fn asyncapi_at(self, api: &asyncapi::Api, json_path: &str, html_path: &str) -> Self {
        let json = Bytes::from(api.to_json() + "\n");
        let html = Bytes::from(api.to_html());
        self.get(json_path, move |_| {
            let json = json.clone();
            async move { http_response(http::StatusCode::OK, "application/json", json) }
        })
        .get(html_path, move |_| {
            let html = html.clone();
            async move { http_response(http::StatusCode::OK, "text/html; charset=utf-8", html) }
        })
    }
}
