//! What a server publishes about itself, read when it does: llama-server's Prometheus
//! `/metrics` (with `--metrics`) and `/slots`. Each figure carries where it came from; a server
//! that publishes nothing gives an empty list, never an error. Memory is not among them: no
//! OpenAI-compatible server reports it, so Parallax shows "remote: not measured".

use serde::Serialize;
use serde_json::Value;

/// One figure as the server reported it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Published {
    pub name: String,
    pub value: f64,
    /// e.g. "llama-server /metrics".
    pub source: String,
}

/// Most figures kept from one `/metrics` page.
const MAX_METRICS: usize = 12;

/// llama-server's gauges and counters (`llamacpp:` names) from a Prometheus text page.
pub fn from_metrics(text: &str) -> Vec<Published> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (name, value) = l.split_once(char::is_whitespace)?;
            let name = name.strip_prefix("llamacpp:")?;
            Some(Published {
                name: name.to_owned(),
                value: value.trim().parse().ok()?,
                source: "llama-server /metrics".into(),
            })
        })
        .take(MAX_METRICS)
        .collect()
}

/// llama-server's `/slots`: how many, how many busy, and the context each holds.
pub fn from_slots(v: &Value) -> Vec<Published> {
    let Some(slots) = v.as_array() else {
        return vec![];
    };
    let figure = |name: &str, value: f64| Published {
        name: name.into(),
        value,
        source: "llama-server /slots".into(),
    };
    let busy = slots
        .iter()
        .filter(|s| s["is_processing"].as_bool() == Some(true))
        .count();
    let mut out = vec![
        figure("slots", slots.len() as f64),
        figure("slots_processing", busy as f64),
    ];
    if let Some(n_ctx) = slots.first().and_then(|s| s["n_ctx"].as_f64()) {
        out.push(figure("slot_context", n_ctx));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llama_server_figures_are_read_with_their_source_and_anything_else_is_skipped() {
        let page = "# HELP llamacpp:prompt_tokens_seconds Average prompt throughput\n\
                    # TYPE llamacpp:prompt_tokens_seconds gauge\n\
                    llamacpp:prompt_tokens_seconds 180.4\n\
                    llamacpp:requests_processing 1\n\
                    parallax_model_loaded{model=\"x\"} 1\n\
                    llamacpp:broken nan-ish\n";
        let got = from_metrics(page);
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].name.as_str(), got[0].value), ("prompt_tokens_seconds", 180.4));
        assert_eq!(got[1].source, "llama-server /metrics");
        let slots = serde_json::json!([{"id": 0, "n_ctx": 4096, "is_processing": true}, {"id": 1, "n_ctx": 4096, "is_processing": false}]);
        let got = from_slots(&slots);
        let values: Vec<(&str, f64)> = got.iter().map(|p| (p.name.as_str(), p.value)).collect();
        assert_eq!(
            values,
            [("slots", 2.0), ("slots_processing", 1.0), ("slot_context", 4096.0)]
        );
        assert!(from_slots(&serde_json::json!({"error": "no"})).is_empty());
    }
}
