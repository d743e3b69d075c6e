//! OpenAPI schema pieces that derive macros cannot express, shaped exactly as upstream's
//! controller-gen output, and the post-processing that makes a derived CRD match it.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps,
};
use schemars::{Schema, SchemaGenerator, json_schema};

/// Schema of a `[]metav1.Condition` field marked `+listType=map +listMapKey=type`, with the
/// validations the Kubernetes API types declare for each condition field.
pub fn conditions(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "description": "Conditions contains the different condition statuses for this cluster.",
        "type": "array",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["type"],
        "items": {
            "description": "Condition contains details for one aspect of the current state of this API Resource.",
            "type": "object",
            "required": ["lastTransitionTime", "message", "reason", "status", "type"],
            "properties": {
                "lastTransitionTime": {
                    "description": "lastTransitionTime is the last time the condition transitioned from one status to another.",
                    "type": "string",
                    "format": "date-time"
                },
                "message": {
                    "description": "message is a human readable message indicating details about the transition.",
                    "type": "string",
                    "maxLength": 32768
                },
                "observedGeneration": {
                    "description": "observedGeneration represents the .metadata.generation that the condition was set based upon.",
                    "type": "integer",
                    "format": "int64",
                    "minimum": 0
                },
                "reason": {
                    "description": "reason contains a programmatic identifier indicating the reason for the condition's last transition, in CamelCase.",
                    "type": "string",
                    "maxLength": 1024,
                    "minLength": 1,
                    "pattern": "^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"
                },
                "status": {
                    "description": "status of the condition, one of True, False, Unknown.",
                    "type": "string",
                    "enum": ["True", "False", "Unknown"]
                },
                "type": {
                    "description": "type of condition in CamelCase or in foo.example.com/CamelCase.",
                    "type": "string",
                    "maxLength": 316,
                    "pattern": "^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
                }
            }
        }
    })
}

/// Schema of a `runtime.RawExtension`: any JSON object, kept as is.
pub fn raw_extension(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true
    })
}

/// Brings a derived CRD to the shape controller-gen gives upstream's: no `nullable` (kube's
/// derive adds it to every `Option`; upstream schemas, like this crate's serialization, never
/// allow null), no `title`, and the `apiVersion`, `kind` and `metadata` properties declared.
pub fn normalize(crd: &mut CustomResourceDefinition) {
    for version in &mut crd.spec.versions {
        if let Some(schema) = version
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
        {
            strip_nullable_props(schema);
            schema.title = None;
            let properties = schema.properties.get_or_insert_with(Default::default);
            for (name, type_, description) in OBJECT_PROPERTIES {
                properties
                    .entry(name.to_owned())
                    .or_insert_with(|| JSONSchemaProps {
                        type_: Some(type_.to_owned()),
                        description: (!description.is_empty()).then(|| description.to_owned()),
                        ..JSONSchemaProps::default()
                    });
            }
        }
    }
}

/// The properties every Kubernetes object schema declares.
const OBJECT_PROPERTIES: [(&str, &str, &str); 3] = [
    (
        "apiVersion",
        "string",
        "APIVersion defines the versioned schema of this representation of an object.",
    ),
    (
        "kind",
        "string",
        "Kind is a string value representing the REST resource this object represents.",
    ),
    ("metadata", "object", ""),
];

fn strip_nullable_props(props: &mut JSONSchemaProps) {
    props.nullable = None;
    for child in props.properties.iter_mut().flat_map(|p| p.values_mut()) {
        strip_nullable_props(child);
    }
    if let Some(k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaPropsOrArray::Schema(items)) =
        props.items.as_mut()
    {
        strip_nullable_props(items);
    }
    if let Some(k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaPropsOrBool::Schema(extra)) =
        props.additional_properties.as_mut()
    {
        strip_nullable_props(extra);
    }
}

/// Schema of a `[]byte` field: a base64 string.
pub fn byte_string(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "format": "byte"
    })
}
