//! The HTML page: the document's content for people, in one file with no scripts and no
//! external resources.

use std::fmt::Write;

use serde_json::Value;

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}\
h1{margin-bottom:.2rem}h2{border-bottom:1px solid #ccc;padding-bottom:.2rem;margin-top:2rem}\
pre{background:#f5f5f5;padding:.6rem;overflow-x:auto;font-size:.85rem}\
code{background:#f0f0f0;padding:0 .2rem}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2rem .5rem;text-align:left}\
.op{border-left:4px solid #4a7;padding-left:.8rem;margin:1.2rem 0}.send{border-color:#47a}";

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

fn text(value: &Value) -> String {
    escape(value.as_str().unwrap_or_default())
}

fn pretty(value: &Value) -> String {
    escape(&serde_json::to_string_pretty(value).unwrap_or_default())
}

/// Follows a local `$ref` (`#/a/b`) inside the document.
fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix('#'))
    {
        Some(pointer) => doc.pointer(pointer).unwrap_or(value),
        None => value,
    }
}

/// A message payload as the frame it describes, on one line: constants as JSON, `$ref`s as
/// links to their schema, other members by type, optional ones marked with `?`, e.g.
/// `{"id": string, "type": "request", "endpoint": "move", "data": Move}`. The full JSON
/// Schema follows it, folded.
fn frame(payload: &Value) -> String {
    let Some(properties) = payload["properties"].as_object() else {
        return format!("<pre>{}</pre>", pretty(payload));
    };
    let required: Vec<&str> = payload["required"]
        .as_array()
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    // Required members in their documented order, then the optional ones.
    let mut names: Vec<&str> = required
        .iter()
        .copied()
        .filter(|name| properties.contains_key(*name))
        .collect();
    names.extend(
        properties
            .keys()
            .map(String::as_str)
            .filter(|name| !required.contains(name)),
    );
    let members: Vec<String> = names
        .iter()
        .map(|&name| {
            let schema = &properties[name];
            let value = if let Some(constant) = schema.get("const") {
                escape(&constant.to_string())
            } else if let Some(reference) = schema["$ref"].as_str() {
                let target = escape(reference.rsplit('/').next().unwrap_or(reference));
                format!("<a href=\"#{target}\">{target}</a>")
            } else if let Some(kind) = schema["type"].as_str() {
                format!("<i>{}</i>", escape(kind))
            } else {
                "<i>any JSON</i>".to_owned()
            };
            let optional = if required.contains(&name) { "" } else { "?" };
            let name = escape(&Value::from(name).to_string());
            format!("{name}{optional}: {value}")
        })
        .collect();
    format!(
        "<pre>{{{}}}</pre><details><summary>JSON Schema</summary><pre>{}</pre></details>",
        members.join(", "),
        pretty(payload)
    )
}

fn message_payload<'a>(doc: &'a Value, reference: &'a Value) -> &'a Value {
    let channel_message = resolve(doc, reference);
    let message = resolve(doc, channel_message);
    message.get("payload").unwrap_or(&Value::Null)
}

pub(crate) fn render(doc: &Value) -> String {
    let mut page = String::new();
    let title = text(&doc["info"]["title"]);
    let _ = write!(
        page,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title><style>{STYLE}</style></head><body>"
    );
    let _ = write!(
        page,
        "<h1>{title}</h1><p>Version {} · AsyncAPI {}</p><p>{}</p>",
        text(&doc["info"]["version"]),
        text(&doc["asyncapi"]),
        text(&doc["info"]["description"])
    );
    if let Some(servers) = doc["servers"].as_object() {
        page.push_str("<h2>Server</h2><ul>");
        for server in servers.values() {
            let _ = write!(
                page,
                "<li><code>{}://{}{}</code> — {}</li>",
                text(&server["protocol"]),
                text(&server["host"]),
                text(&server["pathname"]),
                text(&server["description"])
            );
        }
        page.push_str("</ul>");
    }
    let on_connect = &doc["channels"]["quartet"]["x-quartet-on-connect"];
    if let Some(kinds) = on_connect.as_array().filter(|k| !k.is_empty()) {
        let kinds: Vec<String> = kinds
            .iter()
            .map(|k| format!("<code>{}</code>", text(k)))
            .collect();
        let _ = write!(page, "<p>Once connected, expect: {}.</p>", kinds.join(", "));
    }

    let operations = doc["operations"].as_object().cloned().unwrap_or_default();
    page.push_str("<h2>Requests</h2><p>The client sends a <code>request</code>; the server answers with a <code>response</code> or a <code>response.error</code> carrying the same <code>id</code>.</p>");
    for (name, op) in operations
        .iter()
        .filter(|(_, op)| op["action"] == "receive")
    {
        let _ = write!(
            page,
            "<div class=\"op\"><h3>{}</h3><p>{}</p>",
            escape(name),
            text(&op["summary"])
        );
        if let Some(request) = op["messages"].get(0) {
            let _ = write!(
                page,
                "<h4>Request</h4>{}",
                frame(message_payload(doc, request))
            );
        }
        if let Some(reply) = op["reply"]["messages"].get(0) {
            let _ = write!(
                page,
                "<h4>Response</h4>{}",
                frame(message_payload(doc, reply))
            );
        }
        if let Some(events) = op["x-quartet-events"].as_array() {
            let kinds: Vec<String> = events
                .iter()
                .map(|k| format!("<code>{}</code>", text(k)))
                .collect();
            let _ = write!(
                page,
                "<p>After this request, expect: {}.</p>",
                kinds.join(", ")
            );
        }
        if let Some(errors) = op["x-quartet-errors"].as_array() {
            page.push_str("<p>Errors of its own:</p><ul>");
            for error in errors {
                let _ = write!(
                    page,
                    "<li><code>{}</code>: {}</li>",
                    text(&error["code"]),
                    text(&error["reason"])
                );
            }
            page.push_str("</ul>");
        }
        page.push_str("</div>");
    }

    page.push_str("<h2>Events</h2>");
    for (name, op) in operations.iter().filter(|(_, op)| op["action"] == "send") {
        let _ = write!(
            page,
            "<div class=\"op send\"><h3>{}</h3><p>{}</p>",
            escape(name),
            text(&op["summary"])
        );
        if let Some(message) = op["messages"].get(0) {
            page.push_str(&frame(message_payload(doc, message)));
        }
        page.push_str("</div>");
    }

    page.push_str("<h2>Error codes</h2><table><tr><th>code</th><th>reason</th></tr>");
    if let Some(codes) =
        doc["components"]["messages"]["response.error"]["x-quartet-error-codes"].as_array()
    {
        for code in codes {
            let _ = write!(
                page,
                "<tr><td><code>{}</code></td><td>{}</td></tr>",
                text(&code["code"]),
                text(&code["reason"])
            );
        }
    }
    page.push_str("</table>");

    if let Some(schemas) = doc["components"]["schemas"].as_object() {
        page.push_str("<h2>Schemas</h2>");
        for (name, schema) in schemas {
            let _ = write!(
                page,
                "<h3 id=\"{0}\">{0}</h3><pre>{1}</pre>",
                escape(name),
                pretty(schema)
            );
        }
    }
    page.push_str("</body></html>\n");
    page
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::frame;

    #[test]
    fn a_payload_reads_as_its_frame() {
        let payload = json!({
            "type": "object",
            "properties": {
                "data": { "$ref": "#/components/schemas/Move" },
                "endpoint": { "const": "move" },
                "id": { "type": "string", "maxLength": 48 },
                "note": { "description": "anything" },
                "type": { "const": "request" }
            },
            "required": ["id", "type", "endpoint", "data"]
        });
        let html = frame(&payload);
        let line = html.split("</pre>").next().unwrap();
        assert_eq!(
            line,
            "<pre>{&quot;id&quot;: <i>string</i>, &quot;type&quot;: &quot;request&quot;, \
             &quot;endpoint&quot;: &quot;move&quot;, &quot;data&quot;: <a href=\"#Move\">Move</a>, \
             &quot;note&quot;?: <i>any JSON</i>}"
        );
        assert!(html.contains("<details><summary>JSON Schema</summary>"));
        assert!(html.contains("maxLength"), "the full schema follows");
    }
}
