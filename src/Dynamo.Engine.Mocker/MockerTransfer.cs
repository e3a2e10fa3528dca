namespace Dynamo.Engine.Mocker;

/// <summary>A decode request's modeled KV transfer, reported to tests and tools as it starts.</summary>
/// <param name="RequestId">The decode request.</param>
/// <param name="CachedTokens">Prompt tokens the decode engine's prefix cache already held: they do not move.</param>
/// <param name="MovedTokens">Prompt tokens whose KV moves.</param>
/// <param name="Bytes">MovedTokens × KvBytesPerToken.</param>
/// <param name="Delay">Simulated transfer time, after the speed-up factor (zero under ZeroDelay).</param>
internal readonly record struct MockerTransfer(string RequestId, int CachedTokens, int MovedTokens, long Bytes, TimeSpan Delay);
