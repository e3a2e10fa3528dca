using Dynamo.Cli.Configuration;
using Dynamo.Contracts.Engine;
using Dynamo.Contracts.KvEvents;
using Dynamo.Engine;
using Dynamo.Engine.Mocker;
using Dynamo.KvCache;
using Dynamo.Llm;
using Microsoft.Extensions.Logging;

namespace Dynamo.Cli.Hosting;

/// <summary>Builds one worker's engine from the <c>Dynamo:Mocker</c> or <c>Dynamo:Engine</c> section.</summary>
internal static class EngineFactory
{
    public static IEngine Create(ClusterSettings settings, string workerId, string modelDir, ModelCard card, ILoggerFactory loggerFactory, IKvEventSink? kvEvents = null)
    {
        switch (settings.Serve.Engine)
        {
            case "mocker":
                // The model card decides what the mocker pretends to be; the Dynamo:Mocker section tunes the rest.
                var options = settings.Configuration?.Bind<MockerOptions>("Dynamo:Mocker") ?? new MockerOptions();
                options.ModelName = card.Name;
                options.WorkerId = workerId;
                options.VocabSize = card.VocabSize;
                options.EosTokenIds = [.. card.EosTokenIds];
                options.MaxContextLength = card.MaxContextLength;
                if (options.FirstError() is { } error)
                {
                    throw new ConfigurationException(error);
                }

                return new MockerEngine(options, TimeProvider.System, kvEvents, loggerFactory.CreateLogger<MockerEngine>());
            case "dotnet":
                var engineOptions = settings.Configuration?.Bind<DotnetEngineOptions>("Dynamo:Engine") ?? new DotnetEngineOptions();
                engineOptions.ServedModelName = card.Name;
                engineOptions.WorkerId = workerId;
                try
                {
                    engineOptions.Validate();
                }
                catch (ArgumentException ex)
                {
                    throw new ConfigurationException(ex.Message);
                }

                return new DotnetEngine(modelDir, engineOptions, kvEvents, TimeProvider.System, loggerFactory.CreateLogger<DotnetEngine>());
            default:
                throw new ConfigurationException($"Dynamo:Serve:Engine = '{settings.Serve.Engine}': expected dotnet or mocker.");
        }
    }

    /// <summary>The engine's replay buffer and dump, which the worker serves to routers; null when it has none.</summary>
    public static IKvEventSource? EventSourceOf(IEngine engine) => engine switch
    {
        IKvEventSource source => source,
        DotnetEngine dotnet => dotnet.BlockPool,
        _ => null,
    };
}
