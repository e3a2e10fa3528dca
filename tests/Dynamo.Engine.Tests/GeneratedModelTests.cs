using Dynamo.Engine.Model;
using Dynamo.Engine.Safetensors;

namespace Dynamo.Engine.Tests;

/// <summary>
/// The generated models must be able to show an error: their greedy output has to depend on the prompt, not only
/// repeat its last token with a logit far above the rest, or every greedy comparison (disaggregated against
/// aggregated, paged against the reference) would pass on a broken forward pass. The tied-head case is the 100m
/// preset's layout at the small preset's size (the 100m one is too big to write in every test run).
/// </summary>
public sealed class GeneratedModelTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task GreedyOutput_DependsOnThePrompt_AndTheLogitsAreNotDegenerate(bool tiedHead)
    {
        var config = ModelPresets.Get(ModelPreset.Small) with { TieWordEmbeddings = tiedHead, VocabSize = 2000 };
        var folder = TestModels.NewTempFolder(tiedHead ? "small-tied" : "small-untied");
        await ModelWriter.WriteAsync(folder, config, seed: 3, SafetensorsDType.F32);
        var reference = new ReferenceLlama(folder);
        var prompts = Enumerable.Range(0, 4).Select(p => Enumerable.Range(0, 12).Select(i => 1 + (((i * 7919) + (p * 104729)) % 1999)).ToArray()).ToList();

        var outputs = new List<string>();
        var gaps = new List<double>();
        foreach (var prompt in prompts)
        {
            var generated = reference.Greedy(prompt, 8);
            Assert.False(generated.All(t => t == prompt[^1]), $"greedy output only repeats the prompt's last token {prompt[^1]}: {string.Join(' ', generated)}");
            outputs.Add(string.Join(' ', generated));
            var logits = reference.LastLogits(prompt).Order().ToArray();
            gaps.Add(logits[^1] - logits[^2]);
        }

        Assert.True(outputs.Distinct().Count() >= 3, $"four prompts gave {outputs.Distinct().Count()} distinct continuations: {string.Join(" | ", outputs)}");
        Assert.True(gaps.Max() < 10, $"top-1 minus top-2 logit up to {gaps.Max():F1}: one token dominates whatever the context (gaps {string.Join(", ", gaps.Select(g => g.ToString("F2")))})");
    }
}
