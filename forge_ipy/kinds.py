"""What kind of model an id names, when neither its provider nor the catalog's facts say.

Two small tables, documented in docs/reference.md ("Model facts"): the families of the
catalog of model facts that are not chat models, and rules on ids. Both err towards showing
a model: an id no rule matches is a chat model. Standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

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


class IdRule(NamedTuple):
    """Ids that contain one of `parts`, one of `words` as a whole word (not inside a longer
    run of letters), or start with one of `prefixes`, are of `kind`."""

    kind: str
    parts: tuple[str, ...] = ()
    words: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()
    examples: str = ""


# Matched against the id in lower case, first rule wins: order matters where two could
# match (video before image). Documented in docs/reference.md ("Model facts").
ID_RULES: tuple[IdRule, ...] = (
    IdRule("embedding", ("embed",), ("bge", "minilm"), examples=(
        "text-embedding-3-small, mistral-embed, nomic-embed-text, gemini-embedding-001, "
        "bge-m3, all-minilm")),
    IdRule("other", ("rerank",), examples="qwen3-reranker-8b, mxbai-rerank-large-v2"),
    IdRule("moderation", ("moderation", "shieldgemma"), ("guard",), examples=(
        "omni-moderation-latest, mistral-moderation-latest, llama-guard-4-12b, "
        "llama-prompt-guard-2-86m")),
    IdRule("audio", ("whisper", "transcribe"), ("tts", "speech", "orpheus"), examples=(
        "tts-1, gpt-4o-mini-tts, playai-tts, whisper-1, gpt-4o-transcribe, distil-whisper")),
    IdRule("audio", ("realtime", "native-audio", "lyria"), ("live",), examples=(
        "gpt-4o-realtime-preview, gemini-2.5-flash-native-audio, gemini-live-2.5-flash, "
        "lyria-realtime-exp")),
    IdRule("other", (), ("video", "veo", "sora"),
           examples="veo-3.0-generate-preview, sora-2, grok-imagine-video"),
    IdRule("image", ("dall-e", "imagen", "stable-diffusion", "sdxl"), ("image", "flux"),
           examples="dall-e-3, gpt-image-1, imagen-4.0-generate-001, grok-2-image-1212, "
                    "flux-1-dev-fp8, gemini-2.5-flash-image"),
    IdRule("other", (), ("ocr", "aqa"), examples="mistral-ocr-latest, aqa"),
    # Search models answer only with web search on, and refuse the usual parameters.
    IdRule("other", (), ("search",), examples="gpt-4o-search-preview"),
    IdRule("completion", prefixes=("babbage-", "davinci-", "gpt-3.5-turbo-instruct",
                                   "text-ada", "text-babbage", "text-curie", "text-davinci",
                                   "code-davinci", "code-cushman"),
           examples="babbage-002, davinci-002, gpt-3.5-turbo-instruct"),
)


def _pattern(rule: IdRule) -> str:
    alternatives = [re.escape(part) for part in rule.parts]
    alternatives += [rf"(?<![a-z]){re.escape(word)}(?![a-z])" for word in rule.words]
    alternatives += [rf"^{re.escape(prefix)}" for prefix in rule.prefixes]
    return "|".join(alternatives)


_RULES = tuple((re.compile(_pattern(rule)), rule.kind) for rule in ID_RULES)
# Every literal of every rule in one plain alternation: most ids match none, and a search
# for plain words is several times faster than the rules' own patterns.
_ANY_LITERAL = re.compile("|".join(
    re.escape(text) for rule in ID_RULES for text in (*rule.parts, *rule.words, *rule.prefixes)))


def kind_from_id(model_id: str) -> str | None:
    """The kind the id rules give `model_id`, or None (then it is a chat model)."""
    lowered = model_id.lower()
    if not _ANY_LITERAL.search(lowered):
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
