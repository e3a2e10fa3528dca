using Dynamo.Contracts;

namespace Dynamo.Bench.Replay;

/// <summary>
/// A change of the workers asked for per pool (the first entry is the size at the start): <c>scaling</c> in the JSON.
/// The counts are the pools' desired sizes from that moment; added workers join routing after the start-up delay.
/// </summary>
/// <param name="TimeS">Virtual seconds from the start.</param>
/// <param name="Workers">Desired workers per pool.</param>
/// <param name="Reason">The decision's reason code (<c>initial</c> for the first entry).</param>
public sealed record ScalingChange(double TimeS, IReadOnlyDictionary<WorkerRole, int> Workers, string Reason);
