namespace Dynamo.Operator.Reconcile;

/// <summary>How a reconcile ended.</summary>
public enum ReconcileOutcome
{
    /// <summary>The graph no longer exists; its objects are the garbage collector's.</summary>
    Gone,

    /// <summary>The graph is being deleted; the finalizer was released.</summary>
    Deleted,

    /// <summary>The spec has semantic errors: status and an Event say which; nothing was applied.</summary>
    Invalid,

    /// <summary>The objects match the spec and the status is written.</summary>
    Applied,
}
