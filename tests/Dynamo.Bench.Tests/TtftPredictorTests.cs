using Dynamo.Bench.Replay;
using Dynamo.Contracts.Engine;
using Dynamo.Engine.Mocker;
using Dynamo.Engine.Mocker.Profiles;
using Dynamo.Router.Kv;
using Dynamo.Router.Load;

namespace Dynamo.Bench.Tests;

/// <summary>
/// The KV router's predicted TTFT (<see cref="TtftPredictor"/>) against the mocker's scheduler and step-time model on
/// synthetic queues: what the router would predict from its own accounting, and what the simulated worker then does.
/// </summary>
public sealed class TtftPredictorTests
{
    private static readonly PerformanceProfile Profile = PerformanceProfiles.Get("h100-8b");

    public static TheoryData<string, int[], int, int, int, int> Queues => new()
    {
        // name, prompts queued ahead, decodes running (each of decodeContext tokens), decode context, own prompt, cached prefix of own
        { "idle worker, 4K prompt", [], 0, 0, 4096, 0 },
        { "idle worker, 32K prompt", [], 0, 0, 32768, 0 },
        { "three long prompts queued", [8000, 12000, 6000], 0, 0, 2000, 0 },
        { "32 decodes running", [], 32, 1024, 4096, 0 },
        { "decodes and a queue", [16000], 64, 2048, 3000, 0 },
        { "half the prompt cached", [], 0, 0, 8192, 4096 },
        { "cached prefix behind a queue", [20000, 20000], 16, 512, 12000, 8192 },
    };

    [Theory]
    [MemberData(nameof(Queues))]
    public void PredictedTtft_MatchesTheSimulatedWorker_Within15Percent(string name, int[] queued, int decodes, int decodeContext, int prompt, int cachedPrefix)
    {
        var options = Profile.ToMockerOptions("w");
        options.OutputBufferSize = int.MaxValue;
        var stepper = new MockerStepper(options);
        var outputs = new List<StepOutput>();
        var random = new Random(1);
        int[] shared = Tokens(random, cachedPrefix);

        // The cached prefix: a request that had the same leading tokens ran to completion before.
        if (cachedPrefix > 0)
        {
            stepper.Submit(Request("earlier", [.. shared, .. Tokens(random, 16)], maxTokens: 1));
            RunUntilFirstToken(stepper, outputs, "earlier");
            RunIdle(stepper, outputs);
        }

        // Running decodes: started and past their first token before the request arrives.
        for (var d = 0; d < decodes; d++)
        {
            stepper.Submit(Request($"d{d}", Tokens(random, decodeContext), maxTokens: 100_000));
        }

        for (var d = 0; d < decodes; d++)
        {
            RunUntilFirstToken(stepper, outputs, $"d{d}");
        }

        // The queue ahead and the request itself arrive together, in this order.
        for (var q = 0; q < queued.Length; q++)
        {
            stepper.Submit(Request($"q{q}", Tokens(random, queued[q]), maxTokens: 1));
        }

        stepper.Submit(Request("own", [.. shared, .. Tokens(random, prompt - cachedPrefix)], maxTokens: 1));
        var simulated = RunUntilFirstToken(stepper, outputs, "own");

        var blockSize = Profile.BlockSize;
        var load = new ActiveLoad(
            Requests: decodes + queued.Length,
            PrefillTokens: queued.Sum(),
            Blocks: (decodes * ((decodeContext + blockSize - 1) / blockSize)) + queued.Sum(q => (q + blockSize - 1) / blockSize))
        {
            Prefilling = queued.Length,
        };
        var predictor = new TtftPredictor(SimRouterSetup.TimingOf(Profile), decodeImpactWeight: 0, expectedOutputTokens: 0);
        var predicted = predictor.Ttft(cachedPrefix / blockSize, load, prompt, blockSize);

        Assert.True(
            Math.Abs(predicted - simulated) <= 0.15 * simulated,
            $"{name}: predicted {predicted:F1} ms, the simulated worker took {simulated:F1} ms");
    }

    [Fact]
    public void Cost_AddsTheWeightedDecodeTerm_StallPlusBatchSlowdownBothWays()
    {
        var timing = SimRouterSetup.TimingOf(Profile);
        var idle = new ActiveLoad(0, 0, 0);
        // 40 requests decoding, 64 blocks (1,024 tokens) of context each.
        var busy = new ActiveLoad(40, 0, 40 * 64) { Prefilling = 0 };

        var alone = new TtftPredictor(timing, 0, 100);
        var weighted = new TtftPredictor(timing, 0.5, 100);

        // Alone on a worker a request slows no one, and no one slows it.
        Assert.Equal(alone.Ttft(0, idle, 4096, 16), weighted.Cost(0, idle, 4096, 16), 9);
        Assert.Equal(0, weighted.DecodeImpact(0, idle, 4096, 16), 9);

        // Beside 40 decodes: its prefill stalls each of them for its per-token time; its 100 decode steps add a sequence
        // and 4,096 context tokens to each of theirs; theirs add 40 sequences and 40,960 context tokens to each of its own.
        var stall = 40 * timing.PrefillPerTokenMs * 4096;
        var slowsOthers = 100 * 40 * (timing.DecodePerSequenceMs + (timing.DecodePerKvTokenMs * 4096));
        var slowedByOthers = 100 * ((timing.DecodePerSequenceMs * 40) + (timing.DecodePerKvTokenMs * 40 * 1024));
        Assert.Equal(stall + slowsOthers + slowedByOthers, weighted.DecodeImpact(0, busy, 4096, 16), 6);
        Assert.Equal(alone.Ttft(0, busy, 4096, 16) + (0.5 * (stall + slowsOthers + slowedByOthers)), weighted.Cost(0, busy, 4096, 16), 6);
    }

    [Fact]
    public void HolderOfAPrefix_LosesToAnIdleWorker_OnceItsQueueOutweighsTheSavedPrefill()
    {
        var predictor = new TtftPredictor(SimRouterSetup.TimingOf(Profile), 0, 0);
        const int prompt = 8192;
        const int held = 256; // 4,096 tokens of the prompt cached on the holder
        var idle = predictor.Ttft(0, new ActiveLoad(0, 0, 0), prompt, 16);

        // One short prompt queued on the holder: its cache still wins.
        var lightQueue = new ActiveLoad(1, 1000, 63) { Prefilling = 1 };
        Assert.True(predictor.Ttft(held, lightQueue, prompt, 16) < idle);

        // A queue longer than what the cache saves: the idle worker wins, so the prefix is copied there.
        var heavyQueue = new ActiveLoad(3, 12000, 750) { Prefilling = 3 };
        Assert.True(predictor.Ttft(held, heavyQueue, prompt, 16) > idle);
    }

    private static EngineRequest Request(string id, int[] prompt, int maxTokens) =>
        new() { RequestId = id, PromptTokens = prompt, MaxTokens = maxTokens, IgnoreEos = true };

    private static int[] Tokens(Random random, int count)
    {
        var tokens = new int[count];
        for (var i = 0; i < count; i++)
        {
            tokens[i] = 100 + random.Next(30_000);
        }

        return tokens;
    }

    /// <summary>Steps the worker until <paramref name="requestId"/> has its first token; returns the simulated ms that took.</summary>
    private static double RunUntilFirstToken(MockerStepper stepper, List<StepOutput> outputs, string requestId)
    {
        double elapsed = 0;
        while (true)
        {
            Assert.True(stepper.TryBeginStep(out var step), $"the worker stalled before {requestId}'s first token");
            elapsed += step.Duration.TotalMilliseconds;
            outputs.Clear();
            stepper.CompleteStep(outputs);
            if (outputs.Any(o => o.RequestId == requestId))
            {
                return elapsed;
            }
        }
    }

    private static void RunIdle(MockerStepper stepper, List<StepOutput> outputs)
    {
        while (stepper.ActiveSequences > 0 && stepper.TryBeginStep(out _))
        {
            outputs.Clear();
            stepper.CompleteStep(outputs);
        }
    }
}
