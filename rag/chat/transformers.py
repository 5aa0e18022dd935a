"""A local causal language model through Hugging Face transformers: a model folder, a ``.gguf``
file (with the ``gguf`` and ``accelerate`` packages), or a hub name found in the local cache (or
on the hub when it answers). The model's own chat template builds the prompt; tokens stream from
``generate`` on a worker thread through ``TextIteratorStreamer``.

Settings: ``YUWEN_LLM_DEVICE`` (``cpu``, ``cuda``; default cuda when there is one),
``YUWEN_LLM_CONTEXT`` (tokens; default the model's own limit, at most 8192),
``YUWEN_LLM_TOKEN_TIMEOUT`` (s to wait for the next token, default 120).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from pathlib import Path
from typing import Iterator, Sequence

from .base import ChatError, Message

log = logging.getLogger(__name__)

MAX_CONTEXT = 8192  # tokens; a CPU spends minutes on longer prompts
# For a model without a chat template (a base model): the turns as plain text, then the cue it continues.
PLAIN_TEMPLATE = "{content}\n\n"
PLAIN_CUE = "回答："


class TransformersChat:
    """A loaded tokenizer and causal LM; one generation at a time (the cores are shared)."""

    def __init__(self, model, tokenizer, name: str, context_tokens: int | None = None, token_timeout: float = 120.0):
        self.model = model
        self.tokenizer = tokenizer
        self.name = f"transformers:{name}"
        limit = getattr(model.config, "max_position_embeddings", None) or MAX_CONTEXT
        self.context_tokens = int(context_tokens or min(int(limit), MAX_CONTEXT))
        self.token_timeout = token_timeout
        self._lock = threading.Lock()

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def prompt(self, messages: Sequence[Message]) -> str:
        """The messages as the model was trained to read them (its chat template), ready for the reply."""
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)
        return "".join(PLAIN_TEMPLATE.format(content=m["content"]) for m in messages) + PLAIN_CUE

    def stream(self, messages: Sequence[Message], max_tokens: int = 512, temperature: float = 0.0) -> Iterator[str]:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        encoded = self.tokenizer(self.prompt(messages), return_tensors="pt", add_special_tokens=False)
        n_prompt = int(encoded["input_ids"].shape[1])
        room = self.context_tokens - n_prompt
        if room <= 0:
            raise ChatError(f"The prompt takes {n_prompt} tokens, more than the model's {self.context_tokens}.")
        device = self.model.device
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True,
                                        timeout=self.token_timeout)
        stop = threading.Event()

        class Stop(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs):
                return stop.is_set()

        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        kwargs = dict(
            input_ids=encoded["input_ids"].to(device), attention_mask=encoded["attention_mask"].to(device),
            max_new_tokens=max(1, min(int(max_tokens), room)), streamer=streamer, pad_token_id=pad,
            stopping_criteria=StoppingCriteriaList([Stop()]),
            do_sample=temperature > 0, **({"temperature": temperature} if temperature > 0 else {}),
        )
        errors: list[BaseException] = []

        def generate() -> None:
            try:
                with torch.inference_mode():
                    self.model.generate(**kwargs)
            except BaseException as exc:  # reported to the reader of the stream below
                errors.append(exc)
                streamer.end()

        with self._lock:
            worker = threading.Thread(target=generate, name="yuwen-generate", daemon=True)
            worker.start()
            try:
                for piece in streamer:
                    if errors:
                        break
                    if piece:
                        yield piece
            except queue.Empty:
                raise ChatError(f"The model produced no token for {self.token_timeout:g} s (YUWEN_LLM_TOKEN_TIMEOUT).") from None
            finally:
                stop.set()  # a reader that stops early ends the generation too
                worker.join()
        if errors:
            raise ChatError(f"The model failed while generating ({type(errors[0]).__name__}: {errors[0]}).")


def _hub_reachable() -> bool:
    from ..embedders import _hub_reachable as reachable  # the embedder's rule: decided in seconds

    return reachable()


def _resolve(name: str) -> tuple[str, str | None]:
    """``(folder or hub name, gguf file name or None)`` for a folder, a .gguf file, or a hub name."""
    path = Path(name).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return str(path.parent), path.name
    if path.is_dir():
        ggufs = sorted(path.glob("*.gguf"))
        if ggufs and not (path / "config.json").exists():
            return str(path), ggufs[0].name
        return str(path), None
    if path.exists() or name.startswith((".", "/", "~")):
        raise ChatError(f"'{name}' is not a model folder or a .gguf file.")
    from huggingface_hub import snapshot_download

    try:
        return snapshot_download(name, local_files_only=True), None
    except Exception:  # not in the local cache: the hub, if it answers
        pass
    if not _hub_reachable():
        raise ChatError(
            f"Language model '{name}' is not a local folder, is not in the local Hugging Face cache, and the hub "
            f"cannot be reached. Download it where there is a network (e.g. `huggingface-cli download {name} "
            f"--local-dir ./models/{name.split('/')[-1]}`) and pass that folder: --llm transformers:./models/"
            f"{name.split('/')[-1]}.")
    return name, None


def load_transformers_chat(name: str) -> TransformersChat:
    """Load the tokenizer and causal LM named by ``name`` (folder, .gguf file, or hub name)."""
    if not name:
        raise ChatError("Name the model: --llm transformers:PATH_TO_MODEL_FOLDER (or a hub name in the local cache).")
    where, gguf = _resolve(name)
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise ChatError(f"The transformers backend needs torch and transformers ({exc}).") from None
    device = os.environ.get("YUWEN_LLM_DEVICE", "").strip() or ("cuda" if torch.cuda.is_available() else "cpu")
    extra = {"gguf_file": gguf} if gguf else {}
    try:
        tokenizer = AutoTokenizer.from_pretrained(where, **extra)
        model = AutoModelForCausalLM.from_pretrained(where, dtype=torch.float32 if device == "cpu" else "auto", **extra)
    except ImportError as exc:
        raise ChatError(f"Loading '{name}' needs another package ({exc}); for a .gguf file: pip install gguf accelerate.") from None
    except Exception as exc:
        raise ChatError(f"Language model '{name}' could not be loaded ({type(exc).__name__}: {str(exc)[:300]}).") from None
    model.to(device).eval()
    context = os.environ.get("YUWEN_LLM_CONTEXT", "").strip()
    timeout = os.environ.get("YUWEN_LLM_TOKEN_TIMEOUT", "").strip()
    log.info("loaded language model %s on %s", name, device)
    return TransformersChat(model, tokenizer, name, context_tokens=int(context) if context.isdigit() else None,
                            token_timeout=float(timeout) if timeout else 120.0)
