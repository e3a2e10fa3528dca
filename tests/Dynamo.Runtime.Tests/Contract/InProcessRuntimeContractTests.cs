namespace Dynamo.Runtime.Tests.Contract;

public sealed class InProcessRuntimeContractTests : RuntimeContractTests
{
    protected override Task<IRuntimeBackend> CreateBackendAsync() => Task.FromResult<IRuntimeBackend>(new InProcessBackend());
}
