using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace Dynamo.Runtime.Tests.Infrastructure;

/// <summary>Logs to the test's output, so a failing test shows what the runtime did.</summary>
internal sealed class TestOutputLoggerProvider(ITestOutputHelper output, LogLevel minimum = LogLevel.Information) : ILoggerProvider
{
    public static ILoggerFactory Factory(ITestOutputHelper output, LogLevel minimum = LogLevel.Information) =>
        LoggerFactory.Create(b => b
            .AddProvider(new TestOutputLoggerProvider(output, minimum))
            .SetMinimumLevel(minimum)
            .AddFilter("Microsoft.AspNetCore", LogLevel.Warning)
            .AddFilter("NATS", LogLevel.Warning)
            .AddFilter("Yarp", LogLevel.Warning));

    public ILogger CreateLogger(string categoryName) => new Logger(output, categoryName[(categoryName.LastIndexOf('.') + 1)..], minimum);

    public void Dispose()
    {
    }

    private sealed class Logger(ITestOutputHelper output, string category, LogLevel minimum) : ILogger
    {
        /// <summary>An error's whole stack trace (a test that failed on a 500 needs it); anything milder, its message.</summary>
        private static string Describe(LogLevel level, Exception? exception) => exception switch
        {
            null => "",
            _ when level >= LogLevel.Error => " | " + exception,
            _ => " | " + exception.GetType().Name + ": " + exception.Message,
        };

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= minimum;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
            {
                return;
            }

            try
            {
                output.WriteLine($"{DateTime.Now:HH:mm:ss.fff} {logLevel.ToString()[..4]} {category}: {formatter(state, exception)}{Describe(logLevel, exception)}");
            }
            catch (InvalidOperationException)
            {
                // The test has finished; its output is closed.
            }
        }
    }
}
