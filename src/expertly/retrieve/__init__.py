"""Retrieval: dense, sparse and hybrid search over a store."""

from expertly.retrieve.hybrid import Mode, Retriever, SearchResult, fuse, keyword_query

__all__ = ["Mode", "Retriever", "SearchResult", "fuse", "keyword_query"]
