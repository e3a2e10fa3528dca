using System.Threading.Channels;
using Dynamo.Contracts.Engine;
using Microsoft.Extensions.Time.Testing;
using static Dynamo.Engine.Mocker.Tests.TestSupport;

namespace Dynamo.Engine.Mocker.Tests;

/// <summary>Step shapes and simulated time, on a fake clock advanced by hand.</summary>
public sealed class SchedulingTests
{
    private readonly FakeTimeProvider _time = new();
    private readonly Channel<MockerStep> _steps = Channel.CreateUnbounded<MockerStep>();

    [Fact]
    public async Task TwoRequestsInFlight_ShareDecodeSteps_AndEachStepTakesTheModelsTime()
    {
        await using MockerEngine engine = TimedEngine();
        PerformanceModel model = new();
        DateTimeOffset start = _time.GetUtcNow();
        await using IAsyncEnumerator<EngineOutput> a = engine.GenerateAsync(Request(Prompt(32), 3, id: "a")).GetAsyncEnumerator();
        ValueTask<bool> aFirst = a.MoveNextAsync();

        MockerStep s1 = await NextStep("prefill of a");
        Assert.Equal(new MockerStep(1, 32, 32 * 32, 0, 0, Ms(model.PrefillMs(32, 32))), s1);
        Task<List<EngineOutput>> b = CollectAsync(engine, Request(Prompt(32, start: 300), 3, id: "b"));

        // No token before the simulated step time has passed. FakeTimeProvider keeps timers to whole milliseconds
        // (a 5.7 ms delay fires at 5 ms), so "just before" is a tick before the last whole millisecond; advancing to a
        // tick before the exact duration raced the engine's loop against this assert.
        var justBefore = TimeSpan.FromMilliseconds(Math.Floor(s1.Duration.TotalMilliseconds)) - TimeSpan.FromTicks(1);
        _time.Advance(justBefore);
        await Task.Delay(20);
        Assert.False(aFirst.IsCompleted);
        _time.Advance(s1.Duration - justBefore);
        Assert.True(await Within(aFirst.AsTask(), "a's first token"));

        // b's prefill rides along with a's first decode (a: 32 prompt + 1 token of KV).
        MockerStep s2 = await NextStep("mixed step");
        Assert.Equal(new MockerStep(1, 32, 32 * 32, 1, 33, Ms(model.StepMs(32, 32 * 32, 1, 33))), s2);
        _time.Advance(s2.Duration);

        MockerStep s3 = await NextStep("batched decode");
        Assert.Equal(new MockerStep(0, 0, 0, 2, 34 + 33, Ms(model.DecodeMs(2, 67))), s3);
        _time.Advance(s3.Duration);

        MockerStep s4 = await NextStep("b's last decode");
        Assert.Equal(new MockerStep(0, 0, 0, 1, 34, Ms(model.DecodeMs(1, 34))), s4);
        _time.Advance(s4.Duration);

        Assert.Equal(3, (await Within(b, "b")).Count);
        var aTokens = new List<EngineOutput> { a.Current };
        while (await Within(a.MoveNextAsync().AsTask(), "a's tokens"))
        {
            aTokens.Add(a.Current);
        }

        Assert.Equal(3, aTokens.Count);
        Assert.Equal(s1.Duration + s2.Duration + s3.Duration + s4.Duration, _time.GetUtcNow() - start);
        Assert.False(_steps.Reader.TryRead(out _));
    }

    [Fact]
    public async Task LongPrompt_IsPrefilledInChunksUnderTheTokenBudget()
    {
        await using MockerEngine engine = TimedEngine(o => o.MaxNumBatchedTokens = 64);
        await using IAsyncEnumerator<EngineOutput> tokens = engine.GenerateAsync(Request(Prompt(150), 1)).GetAsyncEnumerator();
        ValueTask<bool> first = tokens.MoveNextAsync();

        MockerStep c1 = await NextStep("chunk 1");
        _time.Advance(c1.Duration);
        MockerStep c2 = await NextStep("chunk 2");
        Assert.False(first.IsCompleted);
        _time.Advance(c2.Duration);
        MockerStep c3 = await NextStep("chunk 3");
        _time.Advance(c3.Duration);

        Assert.True(await Within(first.AsTask(), "the first token"));
        Assert.Equal(FinishReason.Length, tokens.Current.Finish);
        Assert.Equal((64, 64L * 64), (c1.PrefillTokens, c1.PrefillAttention));
        Assert.Equal((64, 64L * 128), (c2.PrefillTokens, c2.PrefillAttention));
        Assert.Equal((22, 22L * 150), (c3.PrefillTokens, c3.PrefillAttention));
    }

    [Fact]
    public async Task SpeedupFactor_DividesSimulatedTime()
    {
        await using MockerEngine engine = TimedEngine(o => o.SpeedupFactor = 4);
        Task<List<EngineOutput>> run = CollectAsync(engine, Request(Prompt(100), 1));

        MockerStep step = await NextStep("prefill");
        _time.Advance(step.Duration);

        await Within(run, "the request");
        Assert.Equal(Ms(new PerformanceModel().PrefillMs(100, 100) / 4), step.Duration);
    }

    [Fact]
    public async Task ZeroDelay_NeverWaitsOnTheClock()
    {
        await using var engine = new MockerEngine(Options(o => o.ZeroDelay = true), _time);

        List<EngineOutput> outputs = await Within(CollectAsync(engine, Request(Prompt(100), 50)), "a request that needs no clock");

        Assert.Equal(50, outputs.Count);
    }

    [Fact]
    public async Task CachedPrefix_IsNotPrefilledAgain()
    {
        await using var engine = new MockerEngine(Options());
        engine.StepStarted += s => _steps.Writer.TryWrite(s);
        int[] prompt = Prompt(64);
        await Within(CollectAsync(engine, Request(prompt, 1)), "first");
        Assert.Equal(64, (await NextStep("first prefill")).PrefillTokens);

        await Within(CollectAsync(engine, Request(prompt, 1)), "second");

        MockerStep second = await NextStep("second prefill");
        Assert.Equal(16, second.PrefillTokens);
        Assert.Equal(16L * 64, second.PrefillAttention);
    }

    [Fact]
    public async Task MaxNumSeqs_BoundsTheBatch()
    {
        await using var engine = new MockerEngine(Options(o => o.MaxNumSeqs = 2));
        int widest = 0;
        engine.StepStarted += s => widest = Math.Max(widest, s.PrefillSequences + s.DecodeSequences);

        await Within(Task.WhenAll(Enumerable.Range(0, 5).Select(i => CollectAsync(engine, Request(Prompt(20, start: 50 * i), 10)))), "five requests");

        Assert.Equal(2, widest);
    }

    [Fact]
    public void DefaultPerformanceModel_LooksLikeAn8BModelOnOneH100()
    {
        var model = new PerformanceModel();

        Assert.InRange(model.PrefillMs(1024, 1024), 30, 60);
        Assert.InRange(model.DecodeMs(1, 1024), 10, 15);
        Assert.InRange(model.DecodeMs(8, 8 * 1024), 10, 15);
        Assert.True(model.PrefillMs(8192, 8192) > 8 * model.PrefillMs(1024, 1024), "attention should make long prompts superlinear");
    }

    private static TimeSpan Ms(double milliseconds) => TimeSpan.FromMilliseconds(milliseconds);

    private MockerEngine TimedEngine(Action<MockerOptions>? configure = null)
    {
        var engine = new MockerEngine(Options(o =>
        {
            o.ZeroDelay = false;
            configure?.Invoke(o);
        }), _time);
        engine.StepStarted += s => _steps.Writer.TryWrite(s);
        return engine;
    }

    private Task<MockerStep> NextStep(string what) => Within(_steps.Reader.ReadAsync().AsTask(), what);
}
