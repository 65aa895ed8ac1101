//! A model as the host is asked for it: a catalog id and, for chat models, an engine. The
//! `"<model>@<engine>"` string is only its wire form (API model ids, the app's picker).

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModelRef {
    pub model: String,
    /// `None`: the host's default engine (chat models), or none (embedding models).
    pub engine: Option<String>,
}

impl ModelRef {
    pub fn new(model: impl Into<String>, engine: Option<&str>) -> Self {
        ModelRef {
            model: model.into(),
            engine: engine.map(str::to_owned),
        }
    }

    /// From the wire form: `<model>@<engine>` or `<model>` (the last `@` splits).
    pub fn parse(wire: &str) -> Self {
        match wire.rsplit_once('@') {
            Some((model, engine)) => ModelRef::new(model, Some(engine)),
            None => ModelRef::new(wire, None),
        }
    }
}

impl fmt::Display for ModelRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.engine {
            Some(e) => write!(f, "{}@{e}", self.model),
            None => f.write_str(&self.model),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_form_round_trips() {
        for wire in ["smollm2@gguf", "gemma-3@mlx", "all-minilm"] {
            assert_eq!(ModelRef::parse(wire).to_string(), wire);
        }
        let r = ModelRef::parse("org/name@v2@mlx");
        assert_eq!((r.model.as_str(), r.engine.as_deref()), ("org/name@v2", Some("mlx")));
        assert_eq!(ModelRef::parse("x").engine, None);
    }
}
