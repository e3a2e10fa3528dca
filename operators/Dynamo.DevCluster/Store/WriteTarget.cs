namespace Dynamo.DevCluster.Store;

/// <summary>Which part of an object a write may change.</summary>
public enum WriteTarget
{
    /// <summary>The object itself; <c>.status</c> is kept where the kind has a status subresource.</summary>
    Main,
    /// <summary>The <c>/status</c> subresource: only <c>.status</c> changes.</summary>
    Status,
}

/// <summary>How a delete treats the objects the deleted one owns.</summary>
public enum PropagationPolicy
{
    /// <summary>The owner goes now; its dependents are deleted after it.</summary>
    Background,
    /// <summary>The owner stays (deletionTimestamp set) until its dependents are gone.</summary>
    Foreground,
    /// <summary>The dependents lose their owner reference and stay.</summary>
    Orphan,
}

/// <summary>The options of one delete (the DeleteOptions body and query).</summary>
public sealed record DeleteRequest
{
    public PropagationPolicy Propagation { get; init; } = PropagationPolicy.Background;
    public string? PreconditionUid { get; init; }
    public string? PreconditionResourceVersion { get; init; }
    /// <summary>Null: the kind's default. Only Pods use it (graceful deletion, when enabled).</summary>
    public long? GracePeriodSeconds { get; init; }
    public bool DryRun { get; init; }
}
