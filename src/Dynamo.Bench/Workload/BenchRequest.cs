namespace Dynamo.Bench.Workload;

/// <summary>
/// One request of a workload: when it arrives (offset from the start; ignored under fixed concurrency), its
/// prompt and output lengths, and the prefix blocks it is made of. Prompt tokens are made on demand by
/// <see cref="PromptSynthesizer"/>, so a trace of thousands of long prompts costs memory only while it runs.
/// </summary>
/// <param name="Index">Position in the workload, from 0.</param>
/// <param name="Arrival">Offset from the start of the run.</param>
/// <param name="InputLength">Prompt tokens.</param>
/// <param name="OutputLength">Tokens to generate (sent as max_tokens with ignore_eos).</param>
/// <param name="HashIds">Prefix block ids, one per <see cref="PromptSynthesizer.TraceBlockTokens"/> tokens (Mooncake); equal ids make equal blocks.</param>
public sealed record BenchRequest(int Index, TimeSpan Arrival, int InputLength, int OutputLength, IReadOnlyList<long> HashIds);
