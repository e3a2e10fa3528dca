using Dynamo.Engine.Compute;
using Dynamo.Engine.Model;

namespace Dynamo.Engine.Tests;

public sealed class ForwardTests
{
    public static TheoryData<string, int, int> Cases() => new()
    {
        { "openblas", 5, 1 },
        { "openblas", 33, 3 },
        { "managed", 16, 8 },
        { "managed", 47, 4 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task PagedForward_Greedy_MatchesNaiveReference(string backendName, int promptLength, int chunk)
    {
        var folder = await TestModels.Tiny();
        using var backend = CreateBackend(backendName);
        var model = LlamaModel.Load(folder, backend);
        var reference = new ReferenceLlama(folder);
        var prompt = Enumerable.Range(0, promptLength).Select(i => (i * 7919 + 13) % 50000).ToArray();

        var generated = GreedyPaged(model, prompt, maxTokens: 12, prefillChunk: chunk, blockSize: 16);

        Assert.Equal(reference.Greedy(prompt, 12), generated);
    }

    [Fact]
    public async Task PagedForward_Qwen2WithBiasesAndTiedEmbeddings_MatchesReference()
    {
        var folder = await TestModels.Qwen2();
        using var backend = new ManagedComputeBackend(2);
        var model = LlamaModel.Load(folder, backend);
        var prompt = Enumerable.Range(0, 21).Select(i => (i * 31 + 5) % 1000).ToArray();

        var generated = GreedyPaged(model, prompt, maxTokens: 10, prefillChunk: 21, blockSize: 4);

        Assert.Equal(new ReferenceLlama(folder).Greedy(prompt, 10), generated);
    }

    [Fact]
    public async Task PagedForward_Logits_CloseToReference()
    {
        var folder = await TestModels.Tiny();
        using var backend = CreateBackend("openblas");
        var model = LlamaModel.Load(folder, backend);
        var prompt = Enumerable.Range(0, 40).Select(i => (i * 101) % 50257).ToArray();
        using var cache = new PagedKvCache(8, 16, model.Config.NumHiddenLayers, model.Config.NumKeyValueHeads, model.Config.HeadDim);
        var batch = new ForwardBatch();
        batch.Add(prompt, 0, [5, 2, 7], wantLogits: true);
        var logits = new float[model.Config.VocabSize];

        model.Forward(batch, cache, logits);

        var expected = new ReferenceLlama(folder).LastLogits(prompt);
        var worst = expected.Select((e, i) => Math.Abs(e - logits[i])).Max();
        Assert.True(worst < 1e-3, $"largest logit difference {worst}");
    }

    internal static IComputeBackend CreateBackend(string name) =>
        name == "managed" || !OpenBlasComputeBackend.TryCreate(2, out var openBlas) ? new ManagedComputeBackend(2) : openBlas!;

    /// <summary>Greedy decoding through the paged cache with a scattered block table and chunked prefill.</summary>
    internal static int[] GreedyPaged(LlamaModel model, int[] prompt, int maxTokens, int prefillChunk, int blockSize)
    {
        var c = model.Config;
        var blocksNeeded = ((prompt.Length + maxTokens) / blockSize) + 1;
        using var cache = new PagedKvCache((blocksNeeded * 2) + 1, blockSize, c.NumHiddenLayers, c.NumKeyValueHeads, c.HeadDim);

        // Odd, descending block ids: nothing may assume a sequence's blocks are adjacent.
        var table = Enumerable.Range(0, blocksNeeded).Select(i => (blocksNeeded * 2) - (2 * i)).ToArray();
        var tokens = prompt.ToList();
        var logits = new float[c.VocabSize];
        var batch = new ForwardBatch();
        var computed = 0;
        var output = new List<int>();
        while (output.Count < maxTokens)
        {
            var count = Math.Min(prefillChunk, tokens.Count - computed);
            batch.Clear();
            var last = computed + count == tokens.Count;
            batch.Add(tokens.Skip(computed).Take(count).ToArray(), computed, table, wantLogits: last);
            model.Forward(batch, cache, logits);
            computed += count;
            if (last)
            {
                var next = System.Numerics.Tensors.TensorPrimitives.IndexOfMax(logits);
                output.Add(next);
                tokens.Add(next);
            }
        }

        return output.ToArray();
    }
}
