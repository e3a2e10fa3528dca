using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Dynamo.Gateway.Tests.Infrastructure;

/// <summary>Every log entry, with its level, category and exception, for tests about what the cluster logs.</summary>
internal sealed class LogCapture : ILoggerProvider
{
    private readonly ConcurrentQueue<Entry> _entries = new();

    public IReadOnlyCollection<Entry> Entries => _entries;

    /// <summary>A factory with the CLI's filters (Information and up; ASP.NET Core and YARP from Warning) plus Debug for Dynamo.</summary>
    public ILoggerFactory CreateFactory() => LoggerFactory.Create(builder => builder
        .AddProvider(this)
        .SetMinimumLevel(LogLevel.Information)
        .AddFilter("Dynamo", LogLevel.Debug)
        .AddFilter("Microsoft.AspNetCore", LogLevel.Warning)
        .AddFilter("Microsoft.Hosting", LogLevel.Warning)
        .AddFilter("Yarp", LogLevel.Warning));

    public override string ToString() => string.Join(Environment.NewLine, _entries);

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    public sealed record Entry(LogLevel Level, string Category, string Message, Exception? Exception)
    {
        public override string ToString() => $"{Level} {Category}: {Message}{(Exception is null ? "" : Environment.NewLine + Exception)}";
    }

    private sealed class Logger(LogCapture owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner._entries.Enqueue(new Entry(logLevel, category, formatter(state, exception), exception));
    }
}
