namespace Dynamo.Operator.Controller;

/// <summary>Settings of one operator replica.</summary>
public sealed class OperatorHostOptions
{
    /// <summary>The namespace whose graphs are reconciled; null (default) for all namespaces.</summary>
    public string? Namespace { get; init; }

    /// <summary>Reconciles running at once, each on a different graph (default 2).</summary>
    public int Workers { get; init; } = 2;

    public LeaderElectionOptions LeaderElection { get; init; } = new();
}
