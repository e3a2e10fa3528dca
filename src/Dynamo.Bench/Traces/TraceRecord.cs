namespace Dynamo.Bench.Traces;

/// <summary>One request of a trace: arrival (ms from the trace's start), lengths, and prefix block ids when the trace has them.</summary>
public sealed record TraceRecord(double TimestampMs, int InputLength, int OutputLength, long[] HashIds);
