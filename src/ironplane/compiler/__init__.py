"""The compiler: pure, deterministic functions from specs to Kubernetes objects.

``compile_spec(spec, ctx)`` is the one entry point for one spec; ``compile_documents`` builds the
contexts for a set of loaded documents and returns one canonical bundle. Nothing here does I/O.
"""

from ironplane.compiler.context import Catalog, ClusterProfile, CompileContext
from ironplane.compiler.core import CompileResult, compile_spec
from ironplane.compiler.documents import compile_documents

__all__ = [
    "Catalog",
    "ClusterProfile",
    "CompileContext",
    "CompileResult",
    "compile_documents",
    "compile_spec",
]
