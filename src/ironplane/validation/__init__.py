"""Offline validation of Kubernetes manifests: built-in kinds and custom resources (CRDs).

``kube`` owns the built-in kinds (the strict schemas of ``kubernetes-validate``) and the
translation of schema errors into diagnostics, ``crds`` owns custom resources and their
CustomResourceDefinitions, ``objects`` owns reading manifest files and dispatching each object.
"""

from ironplane.validation.crds import (
    OBJECT_META_SCHEMA,
    CrdRegistry,
    CrdVersion,
    crd_json_schema,
    load_crds,
    validate_custom,
)
from ironplane.validation.kube import (
    SUPPORTED_KUBE_VERSIONS,
    NoSchemaError,
    builtin_api_versions,
    builtin_validator,
    check_kube_version,
    object_subject,
    schema_diagnostics,
    validate_builtin,
)
from ironplane.validation.objects import (
    ManifestDocument,
    load_manifest_files,
    validate_manifest_files,
    validate_objects,
)

__all__ = [
    "OBJECT_META_SCHEMA",
    "SUPPORTED_KUBE_VERSIONS",
    "CrdRegistry",
    "CrdVersion",
    "ManifestDocument",
    "NoSchemaError",
    "builtin_api_versions",
    "builtin_validator",
    "check_kube_version",
    "crd_json_schema",
    "load_crds",
    "load_manifest_files",
    "object_subject",
    "schema_diagnostics",
    "validate_builtin",
    "validate_custom",
    "validate_manifest_files",
    "validate_objects",
]
