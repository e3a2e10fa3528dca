using Dynamo.Contracts.Engine;
using Dynamo.Contracts.KvEvents;

namespace Dynamo.Engine.Mocker.Tests;

internal static class TestSupport
{
    public static readonly TimeSpan WaitLimit = TimeSpan.FromSeconds(20);

    public static MockerOptions Options(Action<MockerOptions>? configure = null)
    {
        var options = new MockerOptions
        {
            ModelName = "test-model",
            VocabSize = 1000,
            EosTokenIds = [0],
            MaxContextLength = 512,
            TotalKvBlocks = 256,
            ZeroDelay = true,
        };
        configure?.Invoke(options);
        return options;
    }

    public static int[] Prompt(int count, int start = 1) => Enumerable.Range(start, count).Select(i => i % 900 + 1).ToArray();

    public static EngineRequest Request(int[] prompt, int maxTokens, SamplingOptions? sampling = null, string id = "r") => new()
    {
        RequestId = id,
        PromptTokens = prompt,
        MaxTokens = maxTokens,
        Sampling = sampling ?? new SamplingOptions { Temperature = 0 },
    };

    public static async Task<List<EngineOutput>> CollectAsync(IEngine engine, EngineRequest request, CancellationToken cancellationToken = default)
    {
        var outputs = new List<EngineOutput>();
        await foreach (EngineOutput output in engine.GenerateAsync(request, cancellationToken).WithCancellation(cancellationToken))
        {
            outputs.Add(output);
        }

        return outputs;
    }

    public static async Task<T> Within<T>(Task<T> task, string what)
    {
        try
        {
            return await task.WaitAsync(WaitLimit);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"Timed out after {WaitLimit} waiting for {what}.");
        }
    }

    public static async Task Within(Task task, string what)
    {
        try
        {
            await task.WaitAsync(WaitLimit);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"Timed out after {WaitLimit} waiting for {what}.");
        }
    }

    /// <summary>Completes once <paramref name="condition"/> holds after some pass of the engine's loop.</summary>
    public static async Task WaitUntilAsync(MockerEngine engine, Func<bool> condition, string what)
    {
        var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void Check()
        {
            if (condition())
            {
                reached.TrySetResult();
            }
        }

        engine.LoopIteration += Check;
        try
        {
            Check();
            await Within(reached.Task, what);
        }
        finally
        {
            engine.LoopIteration -= Check;
        }
    }

    internal sealed class RecordingSink : IKvEventSink
    {
        private readonly List<KvEvent> _events = [];

        public IReadOnlyList<KvEvent> Events
        {
            get
            {
                lock (_events)
                {
                    return [.. _events];
                }
            }
        }

        public void Publish(KvEvent kvEvent)
        {
            lock (_events)
            {
                _events.Add(kvEvent);
            }
        }
    }
}
