"""Amazon Bedrock `GET /foundation-models` (ListFoundationModels), signed with SigV4.

One page: `modelSummaries`, each with `modelId`, `modelName`, `providerName`, the input and
output modalities (`TEXT`, `IMAGE`, `EMBEDDING`, ...) and `modelLifecycle.status` (`ACTIVE`
or `LEGACY`). The output modalities say what a model is; `LEGACY` means deprecated.
"""

from __future__ import annotations

from typing import Any

from ..domain import Model
from .wire import Page, PageRequest, as_dict, as_strings, expect_list, to_models, with_facts

AUTH = "sigv4:bedrock"
HEADERS: dict[str, str] = {}
# Output modality -> kind, the first present wins: an embedding model "outputs" EMBEDDING.
_KINDS = (("embedding", "embedding"), ("text", "chat"), ("image", "image"),
          ("speech", "audio"), ("audio", "audio"), ("video", "other"))


def first_page() -> PageRequest:
    return PageRequest("/foundation-models")


def to_model(provider_id: str, item: dict[str, Any]) -> Model:
    outputs = as_strings(item.get("outputModalities"))
    lifecycle = as_dict(item, "modelLifecycle").get("status")
    return Model(**with_facts(
        "provider", provider_id=provider_id, id=item["modelId"],
        name=str(item.get("modelName") or item["modelId"]),
        input_modalities=as_strings(item.get("inputModalities")),
        output_modalities=outputs,
        kind=next((kind for modality, kind in _KINDS if modality in outputs), None),
        status="deprecated" if lifecycle == "LEGACY" else None,
    ))


def parse_page(provider_id: str, payload: Any, request: PageRequest) -> Page:
    items = expect_list(payload, "modelSummaries", id_field="modelId")
    return Page(to_models(provider_id, items, to_model))
