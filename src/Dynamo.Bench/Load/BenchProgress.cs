namespace Dynamo.Bench.Load;

/// <summary>A snapshot for the progress bar: requests done (and failed) of those expected, if known.</summary>
public readonly record struct BenchProgress(int Completed, int Failed, int? Expected, double ElapsedS);
