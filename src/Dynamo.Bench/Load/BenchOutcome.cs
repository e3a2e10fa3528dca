using System.Text.Json.Nodes;
using Dynamo.Bench.Metrics;

namespace Dynamo.Bench.Load;

/// <summary>What a bench or replay run produced: the summary (and its JSON with extra fields), every request, and the files written.</summary>
public sealed record BenchOutcome(BenchSummary Summary, JsonObject Json, IReadOnlyList<RequestResult> Results, IReadOnlyList<string> Files);
