"""渝问 yuwen: retrieval-augmented Q&A with exact citations over Chinese news articles.

    from rag import build_index, Engine
    build_index("corpus", "index")
    answer = Engine.open("index", "corpus").ask("重庆工业经济“十五五”期间要迈上多大的规模台阶？")
"""

from importlib import import_module

# Public name -> module. Imported on first use so that `rag --help` and light modules start fast.
_EXPORTS = {
    "Answer": "answer",
    "Citation": "answer",
    "ChunkSettings": "chunking",
    "chunk_article": "chunking",
    "Article": "documents",
    "Chunk": "documents",
    "Embedder": "embedders",
    "EmbedderError": "embedders",
    "load_embedder": "embedders",
    "Engine": "engine",
    "QuestionError": "engine",
    "CorpusEmptyError": "indexing",
    "build_index": "indexing",
    "IngestError": "ingest",
    "load_corpus": "ingest",
    "read_text": "ingest",
    "Hit": "retrieve",
    "retrieve": "retrieve",
    "IndexIncompatibleError": "store",
    "IndexMissingError": "store",
    "evaluate": "evaluate",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'rag' has no attribute '{name}'")
