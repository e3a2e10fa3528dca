namespace Dynamo.Gateway.Tests.Infrastructure;

/// <summary>Test classes that must not share the CPU with others (xUnit runs this collection on its own).</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class CpuHeavyCollection
{
    public const string Name = "CPU-heavy";
}
