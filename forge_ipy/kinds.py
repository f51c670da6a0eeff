"""What kind of model an id names, when neither its provider nor the catalog's facts say.

Two small tables, documented in docs/reference.md ("Model kinds"): the families of the
catalog of model facts that are not chat models, and rules on ids. Both err towards showing
a model: an id no rule matches is a chat model. Standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# models.dev `family` values that name a model which does not answer chat requests.
FAMILY_KINDS: dict[str, str] = {
    **dict.fromkeys(("text-embedding", "gemini-embedding", "cohere-embed", "mistral-embed",
                     "codestral-embed", "titan-embed", "voyage", "bge", "nemoretriever"),
                    "embedding"),
    **dict.fromkeys(("whisper", "parakeet", "elevenlabs", "melotts", "canopylabs", "lyria",
                     "smart-turn"), "audio"),
    **dict.fromkeys(("gpt-image", "dall-e", "flux", "imagen", "recraft", "stable-diffusion",
                     "ideogram", "dreamshaper", "nano-banana"), "image"),
    **dict.fromkeys(("sora", "veo", "runway", "dream-machine", "ray", "resnet", "bart",
                     "distilbert", "m2m", "indictrans"), "other"),
}


def _word(pattern: str) -> str:
    """`pattern` as a whole word of an id: not inside a longer run of letters."""
    return rf"(?<![a-z])(?:{pattern})(?![a-z])"


# (pattern, kind, real ids it is for). Matched against the whole id in lower case, first
# rule wins: order matters where two could match (video before image, tts before speech).
ID_RULES: tuple[tuple[str, str, str], ...] = (
    (r"embed", "embedding",
     "text-embedding-3-small, mistral-embed, nomic-embed-text, gemini-embedding-001"),
    (_word("bge|minilm"), "embedding", "bge-m3, all-minilm (Ollama)"),
    (r"rerank", "other", "qwen3-reranker-8b, mxbai-rerank-large-v2"),
    (r"moderation|shieldgemma|" + _word("guard"), "moderation",
     "omni-moderation-latest, mistral-moderation-latest, llama-guard-4-12b, llama-prompt-guard-2"),
    (_word("tts|speech|orpheus") + "|whisper|transcribe", "audio",
     "tts-1, gpt-4o-mini-tts, playai-tts, whisper-1, gpt-4o-transcribe, distil-whisper"),
    (r"realtime|native-audio|lyria|" + _word("live"), "audio",
     "gpt-4o-realtime-preview, gemini-2.5-flash-native-audio, gemini-live-2.5-flash, lyria"),
    (_word("video|veo|sora"), "other", "veo-3.0-generate-preview, sora-2, grok-imagine-video"),
    (r"dall-e|imagen|stable-diffusion|sdxl|" + _word("image|flux"), "image",
     "dall-e-3, gpt-image-1, imagen-4.0-generate-001, grok-2-image-1212, flux-1-dev-fp8, "
     "gemini-2.5-flash-image"),
    (_word("ocr|aqa"), "other", "mistral-ocr-latest, aqa (Gemini attributed answers)"),
    # Search models answer only with web search on, and refuse the usual parameters.
    (_word("search"), "other", "gpt-4o-search-preview, gpt-4o-mini-search-preview"),
    (r"^(?:babbage|davinci)-\d+$|^gpt-3\.5-turbo-instruct|^(?:text|code)-(?:ada|babbage|curie"
     r"|davinci)", "completion", "babbage-002, davinci-002, gpt-3.5-turbo-instruct"),
)
_RULES = tuple((re.compile(pattern), kind) for pattern, kind, _ in ID_RULES)
_ANY_RULE = re.compile("|".join(f"(?:{pattern})" for pattern, _, _ in ID_RULES))


def kind_from_id(model_id: str) -> str | None:
    """The kind the id rules give `model_id`, or None (then it is a chat model)."""
    lowered = model_id.lower()
    if not _ANY_RULE.search(lowered):  # most ids: one search instead of one per rule
        return None
    return next((kind for rule, kind in _RULES if rule.search(lowered)), None)


def kind_from_facts(family: object, output_modalities: Sequence[str]) -> str | None:
    """The kind the catalog's facts give a model: what it outputs, then its family.

    None when they describe a chat-looking model, which the id rules may still overrule
    (the catalog lists embedding models as text out, some under a chat family).
    """
    if output_modalities and "text" not in output_modalities:
        if "image" in output_modalities:
            return "image"
        return "audio" if "audio" in output_modalities else "other"
    return FAMILY_KINDS.get(family) if isinstance(family, str) else None
