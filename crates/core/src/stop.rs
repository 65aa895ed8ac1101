//! Stop strings over streamed text: text that might be the start of a stop string is held back
//! until it is known not to be, and the output is cut where a stop string begins. Cuts fall on
//! character boundaries because the input arrives as whole characters.

/// Thread-safety: plain data, one per generation.
#[derive(Default)]
pub struct StopMatcher {
    stops: Vec<String>,
    text: String,
    emitted: usize,
    stopped: bool,
    /// The stop string that ended the text.
    matched: Option<String>,
}

impl StopMatcher {
    pub fn new(stops: &[String]) -> Self {
        StopMatcher {
            stops: stops.iter().filter(|s| !s.is_empty()).cloned().collect(),
            text: String::new(),
            emitted: 0,
            stopped: false,
            matched: None,
        }
    }

    /// Adds a piece of text; returns what may be shown now, and whether a stop string was hit.
    pub fn push(&mut self, piece: &str) -> (String, bool) {
        if self.stopped {
            return (String::new(), true);
        }
        let search_from = self.emitted;
        self.text.push_str(piece);
        let hit = self
            .stops
            .iter()
            .filter_map(|s| self.text[search_from..].find(s.as_str()).map(|i| (search_from + i, s)))
            .min_by_key(|(i, _)| *i);
        if let Some((pos, stop)) = hit {
            self.matched = Some(stop.clone());
            self.text.truncate(pos);
            self.stopped = true;
        }
        let end = if self.stopped {
            self.text.len()
        } else {
            self.text.len() - self.held_back()
        };
        let out = self.text[self.emitted..end].to_owned();
        self.emitted = end;
        (out, self.stopped)
    }

    /// Length of the longest tail of the unshown text that could still grow into a stop string.
    fn held_back(&self) -> usize {
        let pending = &self.text[self.emitted..];
        self.stops
            .iter()
            .flat_map(|stop| {
                stop.char_indices()
                    .map(|(i, _)| i)
                    .filter(|&k| k > 0 && pending.ends_with(&stop[..k]))
                    .max()
            })
            .max()
            .unwrap_or(0)
    }

    /// The stop string that ended the text, if one did.
    pub fn matched(&self) -> Option<&str> {
        self.matched.as_deref()
    }

    /// The whole text, cut at the first stop string.
    pub fn finish(self) -> String {
        self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stops: &[&str], pieces: &[&str]) -> (Vec<String>, bool, String) {
        let stops: Vec<String> = stops.iter().map(|s| s.to_string()).collect();
        let mut m = StopMatcher::new(&stops);
        let mut shown = vec![];
        let mut hit = false;
        for p in pieces {
            let (out, h) = m.push(p);
            shown.push(out);
            hit |= h;
            if h {
                break;
            }
        }
        (shown, hit, m.finish())
    }

    #[test]
    fn a_stop_string_split_over_pieces_is_found_and_never_shown() {
        let (shown, hit, text) = run(&["STOP"], &["hello S", "TO", "P world"]);
        assert!(hit);
        assert_eq!(text, "hello ");
        assert_eq!(shown.concat(), "hello ");
    }

    #[test]
    fn a_false_start_is_released_once_it_cannot_match() {
        let (shown, hit, text) = run(&["STOP"], &["a S", "TX"]);
        assert!(!hit);
        assert_eq!(shown, vec!["a ", "STX"]);
        assert_eq!(text, "a STX");
    }

    #[test]
    fn a_multibyte_stop_string_is_cut_on_a_character_boundary() {
        let (shown, hit, text) = run(&["é!"], &["caf", "é", "!", "x"]);
        assert!(hit);
        assert_eq!(text, "caf");
        assert_eq!(shown.concat(), "caf");
        assert!(std::str::from_utf8(text.as_bytes()).is_ok());
    }

    #[test]
    fn the_earliest_of_several_stop_strings_wins() {
        let (_, hit, text) = run(&["world", "lo"], &["hello world"]);
        assert!(hit);
        assert_eq!(text, "hel");
    }

    #[test]
    fn without_stop_strings_everything_is_shown_at_once() {
        let (shown, hit, _) = run(&[], &["ab", "cd"]);
        assert!(!hit);
        assert_eq!(shown, vec!["ab", "cd"]);
    }
}
