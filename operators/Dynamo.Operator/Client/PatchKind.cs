namespace Dynamo.Operator.Client;

/// <summary>The patch formats the operator sends.</summary>
public enum PatchKind
{
    /// <summary><c>application/merge-patch+json</c> (RFC 7386).</summary>
    Merge,

    /// <summary><c>application/json-patch+json</c> (RFC 6902), for list items by index with a <c>test</c> guard.</summary>
    Json,
}
