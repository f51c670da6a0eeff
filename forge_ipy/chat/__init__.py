"""Using the chosen model: `chat`, `achat`, `client`, one module per chat wire shape.

`forge_ipy.chat` is both this package and the function users call, since Python binds a
subpackage's name on its parent once it is imported: so the module itself is callable and
`forge_ipy.chat("...")` is `forge_ipy.chat.chat("...")` whichever was touched first.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from .reply import Reply, Usage
from .sdk import client
from .service import AsyncReplyStream, ReplyStream, achat, chat

__all__ = ["AsyncReplyStream", "Reply", "ReplyStream", "Usage", "achat", "chat", "client"]


class _CallableModule(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return chat(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
__signature__ = __import__("inspect").signature(chat)
