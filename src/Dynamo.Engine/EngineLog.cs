using Microsoft.Extensions.Logging;

namespace Dynamo.Engine;

/// <summary>The engine's log messages.</summary>
internal static partial class EngineLog
{
    [LoggerMessage(EventId = 6001, Level = LogLevel.Information, Message = "Compute backend: OpenBLAS sgemm with {Threads} threads ({Configuration})")]
    public static partial void OpenBlasLoaded(ILogger logger, int threads, string configuration);

    [LoggerMessage(EventId = 6002, Level = LogLevel.Warning, Message = "{Library} not found: using the managed matrix multiply with {Threads} threads, several times slower. Install OpenBLAS for full speed: apt-get install -y libopenblas0-pthread")]
    public static partial void OpenBlasMissing(ILogger logger, string library, int threads);

    [LoggerMessage(EventId = 6003, Level = LogLevel.Information, Message = "Compute backend: managed matrix multiply with {Threads} threads (chosen by configuration)")]
    public static partial void ManagedBackendChosen(ILogger logger, int threads);

    [LoggerMessage(EventId = 6004, Level = LogLevel.Information, Message = "Loaded {Model} from {Directory}: {Layers} layers, hidden {Hidden}, {Parameters:N0} parameters, {DType} in {ElapsedMs} ms")]
    public static partial void ModelLoaded(ILogger logger, string model, string directory, int layers, int hidden, long parameters, string dtype, long elapsedMs);

    [LoggerMessage(EventId = 6005, Level = LogLevel.Information, Message = "KV cache: {Blocks} blocks of {BlockSize} tokens, {BytesPerToken} bytes per token, {PoolMiB} MiB at 0x{Address:X}")]
    public static partial void KvCacheAllocated(ILogger logger, int blocks, int blockSize, long bytesPerToken, long poolMiB, long address);

    [LoggerMessage(EventId = 6006, Level = LogLevel.Information, Message = "Engine options: block_size {BlockSize}, max_num_seqs {MaxNumSeqs}, max_num_batched_tokens {MaxBatchedTokens}, threads {Threads}, backend {Backend}")]
    public static partial void EngineOptions(ILogger logger, int blockSize, int maxNumSeqs, int maxBatchedTokens, int threads, string backend);

    [LoggerMessage(EventId = 6007, Level = LogLevel.Debug, Message = "Preempted {RequestId} ({Tokens} tokens) to free KV blocks; it will be recomputed")]
    public static partial void Preempted(ILogger logger, string requestId, int tokens);

    [LoggerMessage(EventId = 6008, Level = LogLevel.Error, Message = "Engine step failed; failing the {Count} running requests")]
    public static partial void StepFailed(ILogger logger, Exception exception, int count);

    [LoggerMessage(EventId = 6009, Level = LogLevel.Information, Message = "KV transfer: pool registered with agent {Agent} as region {Region} ({PoolMiB} MiB, {BlockBytes} bytes per block)")]
    public static partial void KvTransferAttached(ILogger logger, string agent, int region, long poolMiB, long blockBytes);

    [LoggerMessage(EventId = 6010, Level = LogLevel.Warning, Message = "KV transfer for {RequestId} from {Agent} failed ({Error}): {Reason}; computing the prompt locally")]
    public static partial void RemotePrefillFallback(ILogger logger, string requestId, string agent, string error, string? reason);

    [LoggerMessage(EventId = 6011, Level = LogLevel.Warning, Message = "KV blocks pinned for {TransferId} ({Blocks} blocks) were not read within {Timeout}; released")]
    public static partial void PinExpired(ILogger logger, string transferId, int blocks, TimeSpan timeout);

    [LoggerMessage(EventId = 6012, Level = LogLevel.Debug, Message = "KV transfer for {RequestId}: read {Blocks} blocks ({Bytes} bytes, {Cached} tokens cached locally) from {Agent} in {ElapsedMs:F2} ms")]
    public static partial void RemotePrefillRead(ILogger logger, string requestId, int blocks, long bytes, int cached, string agent, double elapsedMs);
}
