//! The pre-tokenizers llama.cpp knows, by GGUF `tokenizer.ggml.pre`: each one's regex list
//! (applied in order, every match and every gap a piece, like llama.cpp's `unicode_regex_split`)
//! and its BPE flags. The regexes are llama.cpp's (`llama-vocab.cpp`), in the onig syntax the
//! `tokenizers` crate uses. An unknown name is an error that names it: never a silent guess.

/// GPT-2's pattern, the base of many lists.
const GPT2: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";
const LLAMA3: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const QWEN2: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const QWEN35: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// CJK ranges as llama.cpp writes them for DeepSeek (一-龥, ࠀ-一, 가-퟿).
const DEEPSEEK_CJK: &str = r"[\x{4E00}-\x{9FA5}\x{0800}-\x{4E00}\x{AC00}-\x{D7FF}]+";
const DEEPSEEK_LLM_LETTERS: &str = r"\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+";
const DEEPSEEK_LLM_PUNCT: &str = r"\s?[!-/:-~！-／：-～‘-‟　-。]+";

/// How a byte-level BPE vocabulary splits text before merging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreTokenizer {
    /// The llama.cpp pre-type this name maps to (several names share one).
    pub kind: &'static str,
    pub regexes: &'static [&'static str],
    /// A piece that is itself a vocabulary token is emitted whole (Llama 3).
    pub ignore_merges: bool,
    /// llama.cpp adds BOS for this pre-type unless the file says otherwise (Llama 3).
    pub add_bos: bool,
}

const fn pre(kind: &'static str, regexes: &'static [&'static str], ignore_merges: bool) -> PreTokenizer {
    PreTokenizer {
        kind,
        regexes,
        ignore_merges,
        add_bos: ignore_merges,
    }
}

/// `tokenizer.ggml.pre` → pre-tokenizer, as llama.cpp's `llama_vocab::impl::load` maps them.
pub fn for_name(name: &str) -> Result<PreTokenizer, String> {
    Ok(match name {
        "default" | "" => pre(
            "default",
            &[r"[\p{P}\$\+<=>\^~\|]+", GPT2, r"\p{N}+", "[0-9][0-9][0-9]"],
            false,
        ),
        "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "falcon-h1" | "pixtral" | "midm-2.0" | "lfm2" => {
            pre("llama3", &[LLAMA3], true)
        }
        "dbrx" | "smaug-bpe" => pre("llama3", &[LLAMA3], false),
        "gpt-2" | "phi-2" | "jina-es" | "jina-de" | "gigachat" | "jina-v2-es" | "jina-v2-de" | "a.x-4.0" | "mellum"
        | "modern-bert" | "jina-v1-en" | "jina-v2-code" | "roberta-bpe" | "exaone4" | "mpt" | "olmo" | "jais" => {
            pre("gpt2", &[GPT2], false)
        }
        "qwen2" | "deepseek-r1-qwen" | "kormo" | "stablelm2" | "hunyuan" => pre("qwen2", &[QWEN2], false),
        "qwen35" => pre("qwen35", &[QWEN35], false),
        "deepseek-llm" => pre(
            "deepseek-llm",
            &[
                "[\r\n]",
                DEEPSEEK_LLM_LETTERS,
                DEEPSEEK_LLM_PUNCT,
                r"\s+$",
                DEEPSEEK_CJK,
                r"\p{N}+",
            ],
            false,
        ),
        "deepseek-coder" => pre(
            "deepseek-coder",
            &["[\r\n]", r"\s?\p{L}+", r"\s?\p{P}+", DEEPSEEK_CJK, r"\p{N}"],
            false,
        ),
        "falcon" => pre("falcon", &[r"[\p{P}\$\+<=>\^~\|`]+", GPT2, "[0-9][0-9][0-9]"], false),
        "starcoder" | "refact" | "command-r" | "smollm" | "codeshell" | "exaone" | "minerva-7b" => {
            pre("starcoder", &[r"\p{N}", GPT2], false)
        }
        other => {
            return Err(format!(
                "pre-tokenizer `{other}` (tokenizer.ggml.pre) is not supported; supported: default, llama-bpe, \
                 gpt-2, qwen2, qwen35, deepseek-llm, deepseek-coder, falcon, starcoder, refact, command-r, smollm, \
                 mpt, olmo, dbrx, stablelm2 and their aliases"
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_share_a_kind_and_unknown_names_are_refused_by_name() {
        assert_eq!(for_name("llama-bpe").map(|p| p.kind), Ok("llama3"));
        assert!(for_name("llama-bpe").map(|p| p.ignore_merges).unwrap_or(false));
        assert_eq!(for_name("smollm").map(|p| p.kind), Ok("starcoder"));
        let err = for_name("klingon-bpe").unwrap_err();
        assert!(err.contains("klingon-bpe"), "{err}");
    }

    #[test]
    fn every_regex_compiles_in_onig() {
        for name in [
            "default",
            "llama-bpe",
            "gpt-2",
            "qwen2",
            "qwen35",
            "deepseek-llm",
            "deepseek-coder",
            "falcon",
            "starcoder",
        ] {
            for re in for_name(name).map(|p| p.regexes).unwrap_or_default() {
                assert!(onig_ok(re), "{name}: {re}");
            }
        }
    }

    fn onig_ok(re: &str) -> bool {
        tokenizers::pre_tokenizers::split::Split::new(
            tokenizers::pre_tokenizers::split::SplitPattern::Regex(re.to_owned()),
            tokenizers::SplitDelimiterBehavior::Isolated,
            false,
        )
        .is_ok()
    }
}
