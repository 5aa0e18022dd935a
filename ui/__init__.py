"""The 渝问 web app (Gradio): ``build_app`` for the Blocks, ``serve`` to run it."""

from __future__ import annotations

__all__ = ["build_app", "serve"]


def __getattr__(name: str):
    # Imported on first use so that `import ui` stays cheap (gradio takes a while to import).
    if name in __all__:
        from . import app

        return getattr(app, name)
    raise AttributeError(name)
