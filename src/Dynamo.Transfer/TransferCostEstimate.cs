namespace Dynamo.Transfer;

/// <summary>
/// How long a transfer should take (NIXL's <c>estimateXferCost</c>): per-descriptor latency plus bytes over bandwidth
/// for the backend that would run it. <see cref="Measured"/> says whether the figures come from this agent's own
/// completed transfers or from the backend's defaults.
/// </summary>
public sealed record TransferCostEstimate(TimeSpan Duration, TimeSpan ErrorMargin, TransferBackendKind Backend, bool Measured);
