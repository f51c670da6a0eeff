"""The id rules that tell a chat model from the rest, on the ids real providers list."""

from __future__ import annotations

from pathlib import Path

import pytest

from forge_ipy.domain import MODEL_KINDS
from forge_ipy.kinds import FAMILY_KINDS, ID_RULES, kind_from_facts, kind_from_id


def _ids(text: str) -> list[str]:
    return text.split()


# OpenAI's /v1/models as an organisation sees it (2025), every odd snapshot included.
OPENAI = _ids("""gpt-4-0613 gpt-4 gpt-3.5-turbo o4-mini-deep-research-2025-06-26 codex-mini-latest
gpt-4o-realtime-preview-2025-06-03 gpt-4o-audio-preview-2025-06-03 o4-mini-deep-research
davinci-002 babbage-002 gpt-3.5-turbo-instruct gpt-3.5-turbo-instruct-0914 dall-e-3 dall-e-2
gpt-4-1106-preview gpt-3.5-turbo-1106 tts-1-hd tts-1-1106 tts-1-hd-1106 text-embedding-3-small
text-embedding-3-large gpt-4-0125-preview gpt-4-turbo-preview gpt-3.5-turbo-0125 gpt-4-turbo
gpt-4-turbo-2024-04-09 gpt-4o gpt-4o-2024-05-13 gpt-4o-mini-2024-07-18 gpt-4o-mini
gpt-4o-2024-08-06 chatgpt-4o-latest gpt-4o-realtime-preview-2024-12-17
gpt-4o-audio-preview-2024-12-17 gpt-4o-mini-realtime-preview-2024-12-17
gpt-4o-mini-audio-preview-2024-12-17 o1-2024-12-17 o1 gpt-4o-mini-realtime-preview
gpt-4o-mini-audio-preview o3-mini o3-mini-2025-01-31 gpt-4o-2024-11-20
gpt-4o-search-preview-2025-03-11 gpt-4o-search-preview gpt-4o-mini-search-preview-2025-03-11
gpt-4o-mini-search-preview gpt-4o-transcribe gpt-4o-mini-transcribe o1-pro-2025-03-19 o1-pro
gpt-4o-mini-tts o3-2025-04-16 o4-mini-2025-04-16 o3 o4-mini gpt-4.1-2025-04-14 gpt-4.1
gpt-4.1-mini-2025-04-14 gpt-4.1-mini gpt-4.1-nano-2025-04-14 gpt-4.1-nano gpt-image-1
gpt-4o-realtime-preview gpt-4o-audio-preview tts-1 whisper-1 text-embedding-ada-002
omni-moderation-latest omni-moderation-2024-09-26""")
OPENAI_NOT_CHAT = {
    "davinci-002": "completion", "babbage-002": "completion",
    "gpt-3.5-turbo-instruct": "completion", "gpt-3.5-turbo-instruct-0914": "completion",
    "dall-e-3": "image", "dall-e-2": "image", "gpt-image-1": "image",
    "tts-1": "audio", "tts-1-hd": "audio", "tts-1-1106": "audio", "tts-1-hd-1106": "audio",
    "gpt-4o-mini-tts": "audio", "whisper-1": "audio", "gpt-4o-transcribe": "audio",
    "gpt-4o-mini-transcribe": "audio", "gpt-4o-realtime-preview": "audio",
    "gpt-4o-realtime-preview-2025-06-03": "audio", "gpt-4o-realtime-preview-2024-12-17": "audio",
    "gpt-4o-mini-realtime-preview": "audio", "gpt-4o-mini-realtime-preview-2024-12-17": "audio",
    "text-embedding-3-small": "embedding", "text-embedding-3-large": "embedding",
    "text-embedding-ada-002": "embedding",
    "omni-moderation-latest": "moderation", "omni-moderation-2024-09-26": "moderation",
    "gpt-4o-search-preview": "other", "gpt-4o-search-preview-2025-03-11": "other",
    "gpt-4o-mini-search-preview": "other", "gpt-4o-mini-search-preview-2025-03-11": "other",
}
GROQ = _ids("""allam-2-7b compound-beta compound-beta-mini deepseek-r1-distill-llama-70b
distil-whisper-large-v3-en gemma2-9b-it llama-3.1-8b-instant llama-3.3-70b-versatile
llama3-70b-8192 meta-llama/llama-4-maverick-17b-128e-instruct
meta-llama/llama-4-scout-17b-16e-instruct meta-llama/llama-guard-4-12b
meta-llama/llama-prompt-guard-2-22m meta-llama/llama-prompt-guard-2-86m mistral-saba-24b
moonshotai/kimi-k2-instruct openai/gpt-oss-120b openai/gpt-oss-20b openai/gpt-oss-safeguard-20b
playai-tts playai-tts-arabic qwen/qwen3-32b whisper-large-v3 whisper-large-v3-turbo
canopylabs/orpheus-v1-english""")
GROQ_NOT_CHAT = {
    "distil-whisper-large-v3-en": "audio", "whisper-large-v3": "audio",
    "whisper-large-v3-turbo": "audio", "playai-tts": "audio", "playai-tts-arabic": "audio",
    "canopylabs/orpheus-v1-english": "audio", "meta-llama/llama-guard-4-12b": "moderation",
    "meta-llama/llama-prompt-guard-2-22m": "moderation",
    "meta-llama/llama-prompt-guard-2-86m": "moderation",
}
GEMINI = _ids("""embedding-gecko-001 gemini-1.5-pro-latest gemini-2.0-flash gemini-2.0-flash-001
gemini-2.0-flash-exp-image-generation gemini-2.0-flash-lite
gemini-2.0-flash-preview-image-generation gemini-2.0-flash-thinking-exp-01-21 gemini-2.5-flash
gemini-2.5-flash-image-preview gemini-2.5-flash-lite gemini-2.5-flash-preview-tts gemini-2.5-pro
gemini-2.5-pro-preview-tts gemini-2.5-flash-native-audio-preview-09-2025
gemini-live-2.5-flash-preview gemini-embedding-001 gemini-exp-1206 gemma-3-27b-it gemma-3n-e4b-it
learnlm-2.0-flash-experimental imagen-3.0-generate-002 imagen-4.0-generate-preview-06-06
veo-2.0-generate-001 veo-3.0-generate-preview aqa text-embedding-004 embedding-001
lyria-realtime-exp gemini-2.5-computer-use-preview-10-2025 gemini-robotics-er-1.5-preview""")
GEMINI_NOT_CHAT = {
    "embedding-gecko-001": "embedding", "gemini-embedding-001": "embedding",
    "text-embedding-004": "embedding", "embedding-001": "embedding",
    "gemini-2.0-flash-exp-image-generation": "image",
    "gemini-2.0-flash-preview-image-generation": "image",
    "gemini-2.5-flash-image-preview": "image", "imagen-3.0-generate-002": "image",
    "imagen-4.0-generate-preview-06-06": "image", "gemini-2.5-flash-preview-tts": "audio",
    "gemini-2.5-pro-preview-tts": "audio", "gemini-2.5-flash-native-audio-preview-09-2025": "audio",
    "gemini-live-2.5-flash-preview": "audio", "lyria-realtime-exp": "audio",
    "veo-2.0-generate-001": "other", "veo-3.0-generate-preview": "other", "aqa": "other",
}
MISTRAL = _ids("""ministral-3b-2410 ministral-8b-latest mistral-large-latest mistral-medium-2505
mistral-small-latest magistral-medium-latest pixtral-large-latest codestral-latest
devstral-small-2507 open-mistral-nemo mistral-saba-latest voxtral-mini-latest voxtral-small-2507
voxtral-mini-transcribe-2507 mistral-embed codestral-embed mistral-moderation-latest
mistral-ocr-latest mistral-ocr-2505""")
MISTRAL_NOT_CHAT = {
    "voxtral-mini-transcribe-2507": "audio", "mistral-embed": "embedding",
    "codestral-embed": "embedding", "mistral-moderation-latest": "moderation",
    "mistral-ocr-latest": "other", "mistral-ocr-2505": "other",
}
XAI = _ids("""grok-2-1212 grok-2-vision-1212 grok-2-image-1212 grok-3 grok-3-mini grok-3-fast
grok-4-0709 grok-code-fast-1 grok-4-fast-reasoning grok-imagine-image grok-imagine-video""")
XAI_NOT_CHAT = {"grok-2-image-1212": "image", "grok-imagine-image": "image",
                "grok-imagine-video": "other"}
OLLAMA_FIREWORKS = _ids("""llama3.2:latest qwen2.5-coder:7b nomic-embed-text:latest
mxbai-embed-large:latest all-minilm:latest bge-m3:latest llama-guard3:8b deepseek-r1:8b
gemma3:12b snowflake-arctic-embed2:latest accounts/fireworks/models/llama-v3p1-70b-instruct
accounts/fireworks/models/flux-1-dev-fp8 accounts/fireworks/models/stable-diffusion-xl-1024-v1-0
accounts/fireworks/models/nomic-embed-text-v1.5 accounts/fireworks/models/whisper-v3
accounts/fireworks/models/qwen3-reranker-8b
accounts/fireworks/models/qwen2p5-vl-32b-instruct""")
OLLAMA_FIREWORKS_NOT_CHAT = {
    "nomic-embed-text:latest": "embedding", "mxbai-embed-large:latest": "embedding",
    "all-minilm:latest": "embedding", "bge-m3:latest": "embedding",
    "snowflake-arctic-embed2:latest": "embedding", "llama-guard3:8b": "moderation",
    "accounts/fireworks/models/flux-1-dev-fp8": "image",
    "accounts/fireworks/models/stable-diffusion-xl-1024-v1-0": "image",
    "accounts/fireworks/models/nomic-embed-text-v1.5": "embedding",
    "accounts/fireworks/models/whisper-v3": "audio",
    "accounts/fireworks/models/qwen3-reranker-8b": "other",
}


@pytest.mark.parametrize("ids, not_chat", [
    (OPENAI, OPENAI_NOT_CHAT), (GROQ, GROQ_NOT_CHAT), (GEMINI, GEMINI_NOT_CHAT),
    (MISTRAL, MISTRAL_NOT_CHAT), (XAI, XAI_NOT_CHAT),
    (OLLAMA_FIREWORKS, OLLAMA_FIREWORKS_NOT_CHAT),
], ids=["openai", "groq", "gemini", "mistral", "xai", "ollama+fireworks"])
def test_id_rules_on_real_lists(ids, not_chat):
    assert set(not_chat) <= set(ids)  # the table above names ids of the list
    found = {model_id: kind_from_id(model_id) for model_id in ids}
    assert {k: v for k, v in found.items() if v is not None} == not_chat


def test_openai_list_keeps_its_chat_models():
    chat = [model_id for model_id in OPENAI if kind_from_id(model_id) is None]
    assert len(OPENAI) - len(chat) == len(OPENAI_NOT_CHAT)
    for kept in ("codex-mini-latest", "o1", "o3-mini", "chatgpt-4o-latest", "gpt-4o-audio-preview",
                 "o4-mini-deep-research", "o1-pro", "gpt-4.1-nano"):
        assert kept in chat


def test_every_rule_and_family_names_a_known_kind_and_its_examples():
    for rule in ID_RULES:
        assert rule.kind in MODEL_KINDS and rule.kind != "chat", rule
        assert rule.examples and (rule.parts or rule.words or rule.prefixes)
        for example in rule.examples.split(", "):
            assert kind_from_id(example) == rule.kind, example
    assert set(FAMILY_KINDS.values()) <= set(MODEL_KINDS) - {"chat"}


@pytest.mark.parametrize("family, output, kind", [
    ("gpt", ("text",), None),
    ("gemini-flash", ("audio",), "audio"),  # a TTS model in a chat family
    ("gpt-image", ("text", "image"), "image"),
    (None, ("image",), "image"),
    (None, ("video",), "other"),
    ("text-embedding", ("text",), "embedding"),  # models.dev lists embeddings as text out
    ("whisper", ("text",), "audio"),
    (["not", "a", "family"], (), None),
])
def test_kind_from_catalog_facts(family, output, kind):
    assert kind_from_facts(family, output) == kind


def test_the_rules_are_documented():
    reference = (Path(__file__).resolve().parent.parent / "docs" / "reference.md").read_text()
    for rule in ID_RULES:
        first = rule.examples.split(", ")[0]
        assert first in reference, f"docs/reference.md lacks the {rule.kind} rule for {first}"
        for text in (*rule.parts, *rule.words, *rule.prefixes):
            assert f"`{text}" in reference, f"docs/reference.md lacks {text!r}"
