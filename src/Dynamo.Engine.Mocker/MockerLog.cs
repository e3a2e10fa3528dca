using Microsoft.Extensions.Logging;

namespace Dynamo.Engine.Mocker;

internal static partial class MockerLog
{
    [LoggerMessage(1, LogLevel.Information, "Mocker engine for {Model}: {Blocks} KV blocks of {BlockSize} tokens, {MaxSeqs} batch slots, {BatchTokens} tokens per step, speed-up {Speedup}, zero delay {ZeroDelay}")]
    public static partial void Started(ILogger logger, string model, int blocks, int blockSize, int maxSeqs, int batchTokens, double speedup, bool zeroDelay);

    [LoggerMessage(2, LogLevel.Debug, "Preempted request {RequestId} at {Tokens} tokens: KV pool exhausted")]
    public static partial void Preempted(ILogger logger, string requestId, int tokens);

    [LoggerMessage(3, LogLevel.Error, "Mocker scheduler loop failed; failing every request in flight")]
    public static partial void LoopFailed(ILogger logger, Exception exception);

    [LoggerMessage(4, LogLevel.Warning, "KV transfer for {RequestId} from {Agent} failed ({Error}): {Reason}; computing the prompt locally")]
    public static partial void RemotePrefillFallback(ILogger logger, string requestId, string agent, string error, string reason);

    [LoggerMessage(5, LogLevel.Warning, "KV blocks pinned for {TransferId} ({Blocks} blocks) were not read within {Timeout}; released")]
    public static partial void PinExpired(ILogger logger, string transferId, int blocks, TimeSpan timeout);

    [LoggerMessage(6, LogLevel.Debug, "KV transfer for {RequestId}: {Tokens} prompt tokens ({Bytes} bytes, {Cached} tokens cached locally) from {Agent}, modeled as {DelayMs:F2} ms")]
    public static partial void RemotePrefillModeled(ILogger logger, string requestId, int tokens, long bytes, int cached, string agent, double delayMs);
}
