using Dynamo.Runtime.Tests.Infrastructure;

namespace Dynamo.Runtime.Tests.Contract;

public sealed class NatsRuntimeContractTests(NatsServerFixture nats) : RuntimeContractTests, IClassFixture<NatsServerFixture>
{
    protected override Task<IRuntimeBackend> CreateBackendAsync() => Task.FromResult<IRuntimeBackend>(new NatsBackend(nats.Server.Url));
}
