//! A reasoning model's `<think>…</think>` block, split from its answer (what llama-server and
//! LM Studio send as `reasoning_content`). A reply is reasoning from an opening `<think>` at its
//! start, or from its first token when the prompt already opened the block, up to `</think>`.

const OPEN: &str = "<think>";
const CLOSE: &str = "</think>";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing but whitespace yet: an opening tag may still come.
    Start,
    Thinking,
    Answering,
}

/// Splits streamed text into (reasoning, answer) as it arrives, holding back a tag's prefix.
#[derive(Debug, Clone)]
pub struct ThinkSplitter {
    state: State,
    held: String,
    /// Just past a tag: the newlines that follow it belong to neither part.
    after_tag: bool,
}

impl ThinkSplitter {
    /// `thinking`: the prompt opened the block, so the reply starts inside it.
    pub fn new(thinking: bool) -> Self {
        ThinkSplitter {
            state: if thinking { State::Thinking } else { State::Start },
            held: String::new(),
            after_tag: thinking,
        }
    }

    /// The reasoning and the answer text in `text` (either may be empty).
    pub fn push(&mut self, text: &str) -> (String, String) {
        self.held.push_str(text);
        let (mut reasoning, mut answer) = (String::new(), String::new());
        loop {
            if self.after_tag && self.state != State::Start {
                let rest = self.held.trim_start_matches('\n');
                if rest.is_empty() {
                    self.held.clear();
                    return (reasoning, answer);
                }
                self.held = rest.to_owned();
                self.after_tag = false;
            }
            match self.state {
                State::Start => {
                    let t = self.held.trim_start();
                    if let Some(rest) = t.strip_prefix(OPEN) {
                        self.held = rest.to_owned();
                        self.state = State::Thinking;
                        self.after_tag = true;
                    } else if t.is_empty() || OPEN.starts_with(t) {
                        return (reasoning, answer);
                    } else {
                        self.state = State::Answering;
                    }
                }
                State::Thinking => match self.held.find(CLOSE) {
                    Some(at) => {
                        reasoning.push_str(&self.held[..at]);
                        self.held = self.held[at + CLOSE.len()..].to_owned();
                        self.state = State::Answering;
                        self.after_tag = true;
                    }
                    None => {
                        let keep = tag_prefix_len(&self.held, CLOSE);
                        let cut = self.held.len() - keep;
                        reasoning.push_str(&self.held[..cut]);
                        self.held.drain(..cut);
                        return (reasoning, answer);
                    }
                },
                State::Answering => {
                    answer.push_str(&self.held);
                    self.held.clear();
                    return (reasoning, answer);
                }
            }
        }
    }

    /// The last text, and what is still held, at the end.
    pub fn finish(&mut self, last: &str) -> (String, String) {
        let (mut reasoning, mut answer) = self.push(last);
        let held = std::mem::take(&mut self.held);
        match self.state {
            State::Thinking => reasoning.push_str(&held),
            _ => answer.push_str(&held),
        }
        (reasoning, answer)
    }

    /// A whole reply split at once.
    pub fn split(text: &str, thinking: bool) -> (String, String) {
        ThinkSplitter::new(thinking).finish(text)
    }
}

/// The length of the longest suffix of `text` that begins `tag`.
fn tag_prefix_len(text: &str, tag: &str) -> usize {
    (1..tag.len()).rev().find(|&n| text.ends_with(&tag[..n])).unwrap_or(0)
}

/// Whether a rendered prompt leaves the assistant's reply inside an opened `<think>` block.
pub fn prompt_opens_thinking(prompt_tail: &str) -> bool {
    let t = prompt_tail.trim_end();
    t.ends_with(OPEN) && !t.ends_with(&format!("{OPEN}{CLOSE}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_think_block_splits_from_the_answer_however_it_is_streamed() {
        let reply = "<think>\nThe user wants colours.\n</think>\n\nRed, green, blue.";
        let whole = ThinkSplitter::split(reply, false);
        assert_eq!(
            whole,
            ("The user wants colours.\n".to_owned(), "Red, green, blue.".to_owned())
        );
        for step in 1..6 {
            let mut s = ThinkSplitter::new(false);
            let (mut r, mut a) = (String::new(), String::new());
            let chars: Vec<char> = reply.chars().collect();
            for chunk in chars.chunks(step) {
                let (x, y) = s.push(&chunk.iter().collect::<String>());
                r.push_str(&x);
                a.push_str(&y);
            }
            let (x, y) = s.finish("");
            r.push_str(&x);
            a.push_str(&y);
            assert_eq!((r, a), whole, "chunks of {step}");
        }
    }

    #[test]
    fn a_prompt_that_opened_the_block_starts_inside_and_plain_replies_stay_answers() {
        assert_eq!(
            ThinkSplitter::split("Hmm.</think>Four.", true),
            ("Hmm.".into(), "Four.".into())
        );
        assert_eq!(ThinkSplitter::split("Four.", false), (String::new(), "Four.".into()));
        assert_eq!(ThinkSplitter::split("<thin", false), (String::new(), "<thin".into()));
        assert!(prompt_opens_thinking("<|im_start|>assistant\n<think>\n"));
        assert!(!prompt_opens_thinking("<|im_start|>assistant\n<think>\n\n</think>\n\n"));
        assert!(!prompt_opens_thinking("<|im_start|>assistant\n"));
    }
}
