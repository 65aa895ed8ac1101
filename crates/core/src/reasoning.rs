//! A reasoning model's `<think>…</think>` block, split from its answer (what llama-server and
//! LM Studio send as `reasoning_content`). A reply is reasoning from an opening `<think>` at its
//! start, or from its first token when the prompt already opened the block, up to `</think>`.
//! GPT-OSS's Harmony format marks it by channels instead: `<|channel|>analysis<|message|>…<|end|>`
//! is reasoning, and the `final` channel's header before the answer is dropped.

const OPEN: &str = "<think>";
const CLOSE: &str = "</think>";
const HARMONY_OPEN: &str = "<|channel|>analysis<|message|>";
const HARMONY_CLOSE: &str = "<|end|>";
const HARMONY_ANSWER: [&str; 2] = [
    "<|start|>assistant<|channel|>final<|message|>",
    "<|channel|>final<|message|>",
];

/// How a reply may start: inside a think block the prompt opened, and in which markup.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Opening {
    /// The prompt opened a `<think>` block.
    pub thinking: bool,
    /// The model speaks Harmony (GPT-OSS): reasoning is the `analysis` channel.
    pub harmony: bool,
}

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
    harmony: bool,
}

impl ThinkSplitter {
    pub fn new(opening: Opening) -> Self {
        let thinking = opening.thinking && !opening.harmony;
        ThinkSplitter {
            state: if thinking { State::Thinking } else { State::Start },
            held: String::new(),
            after_tag: thinking,
            harmony: opening.harmony,
        }
    }

    fn open(&self) -> &'static str {
        if self.harmony {
            HARMONY_OPEN
        } else {
            OPEN
        }
    }

    fn close(&self) -> &'static str {
        if self.harmony {
            HARMONY_CLOSE
        } else {
            CLOSE
        }
    }

    /// Headers that come before the answer (Harmony's `final` channel), dropped.
    fn answer_headers(&self) -> &'static [&'static str] {
        if self.harmony {
            &HARMONY_ANSWER
        } else {
            &[]
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
                    let header = self.answer_headers().iter().find(|h| t.starts_with(**h));
                    if let Some(rest) = t.strip_prefix(self.open()) {
                        self.held = rest.to_owned();
                        self.state = State::Thinking;
                        self.after_tag = true;
                    } else if let Some(h) = header {
                        self.held = t[h.len()..].to_owned();
                        self.state = State::Answering;
                    } else if t.is_empty()
                        || self.open().starts_with(t)
                        || self.answer_headers().iter().any(|h| h.starts_with(t))
                    {
                        return (reasoning, answer);
                    } else {
                        self.state = State::Answering;
                    }
                }
                State::Thinking => match self.held.find(self.close()) {
                    Some(at) => {
                        reasoning.push_str(&self.held[..at]);
                        self.held = self.held[at + self.close().len()..].to_owned();
                        // Harmony may open another channel: its header decides.
                        self.state = if self.harmony { State::Start } else { State::Answering };
                        self.after_tag = true;
                    }
                    None => {
                        let keep = tag_prefix_len(&self.held, self.close());
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
    pub fn split(text: &str, opening: Opening) -> (String, String) {
        ThinkSplitter::new(opening).finish(text)
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
        let whole = ThinkSplitter::split(reply, Opening::default());
        assert_eq!(
            whole,
            ("The user wants colours.\n".to_owned(), "Red, green, blue.".to_owned())
        );
        for step in 1..6 {
            assert_eq!(streamed(reply, Opening::default(), step), whole, "chunks of {step}");
        }
    }

    /// `reply` pushed `step` characters at a time, then finished.
    fn streamed(reply: &str, opening: Opening, step: usize) -> (String, String) {
        let mut s = ThinkSplitter::new(opening);
        let (mut r, mut a) = (String::new(), String::new());
        let chars: Vec<char> = reply.chars().collect();
        for chunk in chars.chunks(step) {
            let (x, y) = s.push(&chunk.iter().collect::<String>());
            r.push_str(&x);
            a.push_str(&y);
        }
        let (x, y) = s.finish("");
        (r + &x, a + &y)
    }

    const THINKING: Opening = Opening {
        thinking: true,
        harmony: false,
    };
    const HARMONY: Opening = Opening {
        thinking: false,
        harmony: true,
    };

    #[test]
    fn harmony_analysis_is_reasoning_and_the_final_channel_is_the_answer() {
        let reply = "<|channel|>analysis<|message|>User wants colours.<|end|><|start|>assistant<|channel|>final<|message|>Red, green, blue.";
        let whole = ThinkSplitter::split(reply, HARMONY);
        assert_eq!(whole, ("User wants colours.".into(), "Red, green, blue.".into()));
        for step in 1..8 {
            assert_eq!(streamed(reply, HARMONY, step), whole, "chunks of {step}");
        }
        // Straight to the final channel; a plain reply stays the answer; <think> means nothing.
        assert_eq!(
            ThinkSplitter::split("<|channel|>final<|message|>Hi.", HARMONY),
            (String::new(), "Hi.".into())
        );
        assert_eq!(ThinkSplitter::split("Hi.", HARMONY), (String::new(), "Hi.".into()));
        assert_eq!(ThinkSplitter::split("<think>x</think>y", HARMONY).0, "");
    }

    #[test]
    fn a_prompt_that_opened_the_block_starts_inside_and_plain_replies_stay_answers() {
        assert_eq!(
            ThinkSplitter::split("Hmm.</think>Four.", THINKING),
            ("Hmm.".into(), "Four.".into())
        );
        assert_eq!(
            ThinkSplitter::split("Four.", Opening::default()),
            (String::new(), "Four.".into())
        );
        assert_eq!(
            ThinkSplitter::split("<thin", Opening::default()),
            (String::new(), "<thin".into())
        );
        assert!(prompt_opens_thinking("<|im_start|>assistant\n<think>\n"));
        assert!(!prompt_opens_thinking("<|im_start|>assistant\n<think>\n\n</think>\n\n"));
        assert!(!prompt_opens_thinking("<|im_start|>assistant\n"));
    }
}
