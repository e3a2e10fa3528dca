namespace Dynamo.Engine.Mocker;

/// <summary>Shape and simulated duration of one batch step; reported to tests and tools as the step starts.</summary>
/// <param name="PrefillSequences">Sequences with a prefill chunk in the step.</param>
/// <param name="PrefillTokens">Prompt tokens computed in the step.</param>
/// <param name="PrefillAttention">Sum over chunks of new tokens × context tokens at the chunk's end.</param>
/// <param name="DecodeSequences">Sequences decoding one token.</param>
/// <param name="DecodeContextTokens">Context tokens those sequences attend to, in all.</param>
/// <param name="Duration">Simulated time, after the speed-up factor (zero under ZeroDelay).</param>
public readonly record struct MockerStep(
    int PrefillSequences,
    int PrefillTokens,
    long PrefillAttention,
    int DecodeSequences,
    long DecodeContextTokens,
    TimeSpan Duration);
