namespace Dynamo.Contracts.Engine;

/// <summary>
/// One worker's load as it publishes it on the event plane (subject <c>load_metrics</c>), every
/// <c>Dynamo:Worker:LoadReportInterval</c>, for routers and the planner.
/// </summary>
/// <param name="WorkerId">The instance id in discovery.</param>
/// <param name="Model">The served model name.</param>
/// <param name="Role">What the worker does with requests.</param>
/// <param name="Timestamp">When the snapshot was taken (the worker's clock).</param>
/// <param name="Load">Running and waiting requests, KV blocks used and total, prefix-cache hit rate.</param>
public sealed record WorkerLoadReport(string WorkerId, string Model, WorkerRole Role, DateTimeOffset Timestamp, EngineLoad Load);
