using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Dynamo.Runtime.Tests.Infrastructure;

/// <summary>
/// Keeps warnings and errors (with their exceptions), so a test can assert on what was logged (and how often) and a
/// failing assertion can show it. Linked into Dynamo.Worker.Tests as well.
/// </summary>
internal sealed class CapturingLoggerProvider : ILoggerProvider
{
    private readonly ConcurrentQueue<string> _entries = new();

    public IReadOnlyCollection<string> Entries => _entries;

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public override string ToString() => string.Join(Environment.NewLine, _entries);

    public void Dispose()
    {
    }

    private sealed class Logger(CapturingLoggerProvider owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                owner._entries.Enqueue(exception is null
                    ? $"{logLevel} {category}: {formatter(state, exception)}"
                    : $"{logLevel} {category}: {formatter(state, exception)} {exception}");
            }
        }
    }
}
