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
}
