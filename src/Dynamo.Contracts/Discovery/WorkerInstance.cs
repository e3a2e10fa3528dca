namespace Dynamo.Contracts.Discovery;

/// <summary>
/// One registered worker, as discovery knows it: the address of its HTTP contract and what it serves.
/// Names follow the design's <c>namespace / component / endpoint</c> scheme.
/// </summary>
public sealed record WorkerInstance
{
    /// <summary>Unique for the life of the process; also the worker id in KV events.</summary>
    public required string InstanceId { get; init; }

    /// <summary>The model name clients use in <c>"model"</c>.</summary>
    public required string Model { get; init; }

    public required WorkerRole Role { get; init; }

    /// <summary>Base address of the worker's OpenAI-compatible HTTP server, e.g. <c>http://127.0.0.1:41234/</c>.</summary>
    public required Uri Address { get; init; }

    public string Namespace { get; init; } = "dynamo";

    public string Component { get; init; } = "backend";

    /// <summary>Tokens per KV block of this worker's engine.</summary>
    public int BlockSize { get; init; } = 16;

    /// <summary>Total KV blocks in the worker's pool.</summary>
    public int TotalKvBlocks { get; init; }

    /// <summary>Longest prompt + completion the worker's model accepts.</summary>
    public int MaxContextLength { get; init; }
}
