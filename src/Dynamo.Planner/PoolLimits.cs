namespace Dynamo.Planner;

/// <summary>A pool's bounds.</summary>
public sealed class PoolLimits
{
    /// <summary>Fewest workers. Default 1.</summary>
    public int Min { get; set; } = 1;

    /// <summary>Most workers. Default 64.</summary>
    public int Max { get; set; } = 64;
}
