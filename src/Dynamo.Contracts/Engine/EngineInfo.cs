namespace Dynamo.Contracts.Engine;

/// <summary>What an engine serves and how big its KV cache is.</summary>
public sealed record EngineInfo
{
    public required string ModelName { get; init; }

    /// <summary>Kind of engine, for logs and <c>/v1/models</c>: "mocker", "dotnet".</summary>
    public required string EngineKind { get; init; }

    public int BlockSize { get; init; } = 16;

    public int TotalKvBlocks { get; init; }

    public int MaxContextLength { get; init; }

    public int VocabSize { get; init; }

    public IReadOnlyList<int> EosTokenIds { get; init; } = [];
}
