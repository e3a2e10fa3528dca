using Dynamo.Contracts.Engine;
using Dynamo.Engine.Mocker;
using Dynamo.Engine.Mocker.Profiles;
using Dynamo.Planner.Profiles;

namespace Dynamo.Cli.Profiling;

/// <summary>
/// <c>dynamo profile --profile NAME</c>: runs the simulator's scheduler and step-time model
/// (<see cref="MockerStepper"/>, the code <c>dynamo replay</c> and <c>serve --engine mocker</c> use) over the grid,
/// in simulated time:
/// <list type="bullet">
/// <item>prefill TTFT: one prompt of each ISL alone on a fresh worker, until its first token;</item>
/// <item>prefill throughput: enough distinct prompts of that ISL at once to fill four full batches, prompt
/// tokens ÷ the time to finish them all;</item>
/// <item>decode ITL: N sequences of the context length, their prompts taken as transferred from a prefill worker,
/// decoding <see cref="DecodeSteps"/> tokens each; ITL = elapsed ÷ steps. The worker's KV pool is made large enough
/// for the point (step time does not depend on the pool's size); the profile's <c>kv</c> section records the
/// preset's real capacity, which the planner applies separately.</item>
/// </list>
/// </summary>
internal static class SimulatedProfiler
{
    public const int DecodeSteps = 8;

    public static ProfileGrid DefaultGrid(PerformanceProfile preset)
    {
        ArgumentNullException.ThrowIfNull(preset);
        int[] lengths = [128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768];
        int[] isl = [.. lengths.Where(n => n < preset.MaxContextLength - 1)];
        int[] concurrency = [.. new[] { 1, 2, 4, 8, 16, 32, 64, 128, 256, 512 }.Where(c => c <= preset.MaxNumSeqs)];
        int[] context = [.. lengths.Where(n => n + DecodeSteps < preset.MaxContextLength).Skip(2).Take(6)];
        return new ProfileGrid(isl, concurrency, context);
    }

    /// <summary>The grid points this preset cannot run, phrased for the user; null when all can.</summary>
    public static string? Check(PerformanceProfile preset, ProfileGrid grid)
    {
        if (grid.Isl[^1] >= preset.MaxContextLength)
        {
            return $"--isl {grid.Isl[^1]} does not fit the profile's context of {preset.MaxContextLength} tokens; use smaller prompt lengths.";
        }

        if (grid.Context[^1] + DecodeSteps >= preset.MaxContextLength)
        {
            return $"--context {grid.Context[^1]} leaves no room to decode in the profile's context of {preset.MaxContextLength} tokens; use values below {preset.MaxContextLength - DecodeSteps}.";
        }

        if (grid.Concurrency[^1] > preset.MaxNumSeqs)
        {
            return $"--concurrency {grid.Concurrency[^1]} is more than the {preset.MaxNumSeqs} sequences a worker of this profile batches; use values up to {preset.MaxNumSeqs}.";
        }

        return null;
    }

    public static DeploymentProfile Run(PerformanceProfile preset, ProfileGrid grid, string? hardwareLabel, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(preset);
        ArgumentNullException.ThrowIfNull(grid);
        int gpus = preset.GpusPerWorker;
        var ttft = new double[grid.Isl.Length];
        var prefillThroughput = new double[grid.Isl.Length];
        for (int i = 0; i < grid.Isl.Length; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int isl = grid.Isl[i];
            ttft[i] = RunToCompletion(preset, 1, isl, maxTokens: 1, remote: false, blocksNeeded: 0);
            int requests = Math.Clamp((int)Math.Ceiling(4.0 * preset.MaxNumBatchedTokens / isl), 4, 512);
            double seconds = RunToCompletion(preset, requests, isl, maxTokens: 1, remote: false, blocksNeeded: 0) / 1000;
            prefillThroughput[i] = requests * (double)isl / seconds / gpus;
        }

        var itl = new double[grid.Concurrency.Length][];
        var decodeThroughput = new double[grid.Concurrency.Length][];
        for (int c = 0; c < grid.Concurrency.Length; c++)
        {
            itl[c] = new double[grid.Context.Length];
            decodeThroughput[c] = new double[grid.Context.Length];
            for (int k = 0; k < grid.Context.Length; k++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                int n = grid.Concurrency[c], context = grid.Context[k];
                long blocks = (long)n * ((context + DecodeSteps + preset.BlockSize) / preset.BlockSize + 1);
                double ms = RunToCompletion(preset, n, context, maxTokens: DecodeSteps + 1, remote: true, blocksNeeded: blocks);
                itl[c][k] = ms / DecodeSteps;
                decodeThroughput[c][k] = n * 1000.0 / itl[c][k] / gpus;
            }
        }

        (string hardware, string model) = Labels(preset);
        return new DeploymentProfile
        {
            Model = model,
            Hardware = hardwareLabel ?? hardware,
            Source = ProfileSource.Simulated,
            Description = $"dynamo profile --profile {preset.Name}: the mocker's scheduler and step-time model in simulated time ({preset.Description}); batch {preset.MaxNumSeqs} sequences, {preset.MaxNumBatchedTokens} tokens per step",
            Prefill = new PrefillProfile(gpus, [.. grid.Isl.Select(x => (double)x)], ttft, prefillThroughput),
            Decode = new DecodeProfile(gpus, [.. grid.Concurrency.Select(x => (double)x)], [.. grid.Context.Select(x => (double)x)], itl, decodeThroughput),
            Kv = new KvCapacity(preset.BlockSize, preset.TotalKvBlocks),
        };
    }

    /// <summary>
    /// Milliseconds of simulated time until <paramref name="requests"/> requests of <paramref name="promptTokens"/>
    /// distinct tokens each have produced <paramref name="maxTokens"/> tokens, all submitted at time 0.
    /// </summary>
    internal static double RunToCompletion(PerformanceProfile preset, int requests, int promptTokens, int maxTokens, bool remote, long blocksNeeded)
    {
        MockerOptions options = preset.ToMockerOptions("profile");
        options.TotalKvBlocks = (int)Math.Min(int.MaxValue, Math.Max(options.TotalKvBlocks, blocksNeeded * 2));
        options.MaxNumSeqs = Math.Max(options.MaxNumSeqs, requests);
        options.OutputBufferSize = int.MaxValue;
        var stepper = new MockerStepper(options);
        for (int r = 0; r < requests; r++)
        {
            var prompt = new int[promptTokens];
            var random = new Random(r);
            for (int t = 0; t < prompt.Length; t++)
            {
                prompt[t] = 100 + random.Next(options.VocabSize - 100); // distinct prompts: no prefix-cache hits
            }

            stepper.Submit(new EngineRequest { RequestId = $"p{r}", PromptTokens = prompt, MaxTokens = maxTokens, IgnoreEos = true }, prefilledRemotely: remote);
        }

        double elapsed = 0;
        int finished = 0;
        var outputs = new List<StepOutput>();
        while (finished < requests)
        {
            if (!stepper.TryBeginStep(out MockerStep step))
            {
                throw new InvalidOperationException($"The simulated worker stalled with {requests - finished} of {requests} requests unfinished ({promptTokens}-token prompts).");
            }

            elapsed += step.Duration.TotalMilliseconds;
            outputs.Clear();
            stepper.CompleteStep(outputs);
            finished += outputs.Count(o => o.Output.Finish is not null);
        }

        return elapsed;
    }

    private static (string Hardware, string Model) Labels(PerformanceProfile preset)
    {
        string[] parts = preset.Name.Split('-', 2);
        return parts.Length == 2 && parts[0] is "h100" or "h200"
            ? ($"{preset.GpusPerWorker}x {parts[0].ToUpperInvariant()}", $"llama-3.1-{parts[1]}")
            : ("simulated", preset.Name);
    }
}
