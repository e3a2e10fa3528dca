using Dynamo.Contracts;

namespace Dynamo.Planner;

/// <summary>The names pools go by in logs, metric labels, event-plane messages and configuration.</summary>
public static class PoolNames
{
    public const string Prefill = "prefill";
    public const string Decode = "decode";
    public const string Aggregated = "aggregated";

    public static string Of(WorkerRole role) => role switch
    {
        WorkerRole.Prefill => Prefill,
        WorkerRole.Decode => Decode,
        WorkerRole.Aggregated => Aggregated,
        _ => role.ToString().ToLowerInvariant(),
    };

    /// <summary>Parses a pool name (also <c>agg</c> for the aggregated pool); false for anything else.</summary>
    public static bool TryParse(string? name, out WorkerRole role)
    {
        switch (name?.Trim().ToLowerInvariant())
        {
            case Prefill:
                role = WorkerRole.Prefill;
                return true;
            case Decode:
                role = WorkerRole.Decode;
                return true;
            case Aggregated or "agg":
                role = WorkerRole.Aggregated;
                return true;
            default:
                role = default;
                return false;
        }
    }

    /// <summary>The reason code as exported in the <c>reason</c> label: snake_case (<c>no_data</c>, <c>throughput</c>).</summary>
    public static string Of(DecisionReason reason) => reason switch
    {
        DecisionReason.NoData => "no_data",
        DecisionReason.ReadyTimeout => "ready_timeout",
        _ => reason.ToString().ToLowerInvariant(),
    };

    /// <summary><c>prefill 2→3, decode 4</c>: each pool's count, with the change where there is one.</summary>
    public static string Describe(IReadOnlyList<PoolState> pools, IReadOnlyDictionary<WorkerRole, int>? targets = null) =>
        string.Join(", ", pools.Select(p =>
            targets is not null && targets.TryGetValue(p.Role, out var n) && n != p.Desired
                ? $"{Of(p.Role)} {p.Desired}→{n}"
                : $"{Of(p.Role)} {p.Desired}"));
}
