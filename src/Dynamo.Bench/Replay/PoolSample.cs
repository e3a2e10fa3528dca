using Dynamo.Contracts;

namespace Dynamo.Bench.Replay;

/// <summary>Workers of one pool at one simulated instant, by state.</summary>
public readonly record struct PoolSample(double TimeS, WorkerRole Role, int Ready, int Starting, int Draining);
