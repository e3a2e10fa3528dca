using System.Text.Json.Serialization;

namespace Dynamo.Planner.Connectors;

/// <summary>
/// The planner's targets as published on <c>planner_targets</c> (JSON, signed with the cluster secret like every
/// event-plane message): <c>{"sequence":17,"targets":{"prefill":2,"decode":3},"reason":"...","issued_at":"..."}</c>.
/// The outside system applies the newest sequence it has seen and ignores older ones.
/// </summary>
public sealed record PlannerTargetsMessage(
    [property: JsonPropertyName("sequence")] long Sequence,
    [property: JsonPropertyName("targets")] IReadOnlyDictionary<string, int> Targets,
    [property: JsonPropertyName("reason")] string Reason,
    [property: JsonPropertyName("issued_at")] DateTimeOffset IssuedAt);

/// <summary>
/// The outside system's status on <c>planner_status</c>, after applying targets and periodically:
/// <c>{"acknowledged":17,"pools":[{"pool":"prefill","desired":2,"actual":2,"ready":1}],"at":"..."}</c>.
/// <c>acknowledged</c> is the newest target sequence applied (0: none yet).
/// </summary>
public sealed record PlannerStatusMessage(
    [property: JsonPropertyName("acknowledged")] long Acknowledged,
    [property: JsonPropertyName("pools")] IReadOnlyList<PoolStatusMessage> Pools,
    [property: JsonPropertyName("at")] DateTimeOffset At);

/// <summary>One pool in a <see cref="PlannerStatusMessage"/>.</summary>
public sealed record PoolStatusMessage(
    [property: JsonPropertyName("pool")] string Pool,
    [property: JsonPropertyName("desired")] int Desired,
    [property: JsonPropertyName("actual")] int Actual,
    [property: JsonPropertyName("ready")] int Ready);
