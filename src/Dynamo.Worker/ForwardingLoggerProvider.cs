using Microsoft.Extensions.Logging;

namespace Dynamo.Worker;

/// <summary>
/// Sends the web host's logs to the caller's <see cref="ILoggerFactory"/> while keeping the host's own filters
/// (which silence ASP.NET Core's per-request lines). The caller owns the factory; disposing this does not dispose it.
/// </summary>
internal sealed class ForwardingLoggerProvider(ILoggerFactory target) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => target.CreateLogger(categoryName);

    public void Dispose()
    {
    }
}
