using System.ClientModel;
using System.Text;
using Dynamo.Gateway.Tests.Infrastructure;
using OpenAI;
using OpenAI.Chat;

namespace Dynamo.Gateway.Tests;

/// <summary>The gateway checked by the official OpenAI .NET client, which no one here wrote.</summary>
public sealed class OpenAiClientTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    private readonly TestCluster _cluster = fixture.Cluster;

    private OpenAIClient Client => new(new ApiKeyCredential("unused"), new OpenAIClientOptions
    {
        Endpoint = new Uri(_cluster.Address, "v1"),
        NetworkTimeout = TimeSpan.FromSeconds(30),
    });

    private static ChatMessage[] Conversation => [new SystemChatMessage("You are terse."), new UserChatMessage("Name three colours.")];

    [Fact]
    public async Task Chat_ReturnsAssistantMessageWithUsage()
    {
        var chat = Client.GetChatClient(_cluster.Model);

        ChatCompletion completion = await chat.CompleteChatAsync(Conversation, new ChatCompletionOptions { MaxOutputTokenCount = 12, Temperature = 0 });

        Assert.Equal(ChatMessageRole.Assistant, completion.Role);
        Assert.False(string.IsNullOrEmpty(completion.Content[0].Text));
        Assert.Equal(ChatFinishReason.Length, completion.FinishReason);
        Assert.Equal(12, completion.Usage.OutputTokenCount);
        Assert.True(completion.Usage.InputTokenCount > 5);
        Assert.Equal(completion.Usage.InputTokenCount + 12, completion.Usage.TotalTokenCount);
        Assert.StartsWith("chatcmpl-", completion.Id);
    }

    [Fact]
    public async Task StreamingChat_GreedyText_EqualsNonStreamedText()
    {
        var chat = Client.GetChatClient(_cluster.Model);
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 16, Temperature = 0 };
        ChatCompletion whole = await chat.CompleteChatAsync(Conversation, options);

        var streamed = new StringBuilder();
        ChatFinishReason? finish = null;
        ChatTokenUsage? usage = null;
        var updates = 0;
        await foreach (var update in chat.CompleteChatStreamingAsync(Conversation, options))
        {
            updates++;
            foreach (var part in update.ContentUpdate)
            {
                streamed.Append(part.Text);
            }

            finish ??= update.FinishReason;
            usage ??= update.Usage;
        }

        Assert.Equal(whole.Content[0].Text, streamed.ToString());
        Assert.Equal(ChatFinishReason.Length, finish);
        Assert.True(updates > 2, $"expected a stream of chunks, got {updates}");
        Assert.NotNull(usage);
        Assert.Equal(16, usage.OutputTokenCount);
    }

    [Fact]
    public async Task Logprobs_WholeAndStreamed_ReadByTheClient_AgreeTokenByToken()
    {
        var chat = Client.GetChatClient(_cluster.Model);
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 8, Temperature = 0, IncludeLogProbabilities = true, TopLogProbabilityCount = 3 };

        ChatCompletion whole = await chat.CompleteChatAsync(Conversation, options);

        var tokens = whole.ContentTokenLogProbabilities;
        Assert.Equal(8, tokens.Count);
        Assert.Equal(whole.Content[0].Text, string.Concat(tokens.Select(t => t.Token)));
        foreach (var token in tokens)
        {
            Assert.True(token.LogProbability <= 0);
            Assert.Equal(3, token.TopLogProbabilities.Count);
            // Greedy: the chosen token is the most likely one, and the alternatives come in descending order.
            Assert.Equal(token.TopLogProbabilities[0].LogProbability, token.LogProbability, 4);
            Assert.True(token.TopLogProbabilities[0].LogProbability >= token.TopLogProbabilities[1].LogProbability);
            Assert.True(token.TopLogProbabilities[1].LogProbability >= token.TopLogProbabilities[2].LogProbability);
        }

        var streamed = new List<ChatTokenLogProbabilityDetails>();
        await foreach (var update in chat.CompleteChatStreamingAsync(Conversation, options))
        {
            streamed.AddRange(update.ContentTokenLogProbabilities);
        }

        Assert.Equal(tokens.Select(t => t.Token), streamed.Select(t => t.Token));
        Assert.Equal(tokens.Select(t => Math.Round(t.LogProbability, 4)), streamed.Select(t => Math.Round(t.LogProbability, 4)));
    }

    [Fact]
    public async Task SeededSampling_IsReproducible()
    {
        var chat = Client.GetChatClient(_cluster.Model);
#pragma warning disable OPENAI001 // Seed is marked experimental in the SDK.
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 10, Temperature = 0.9f, Seed = 1234 };
#pragma warning restore OPENAI001

        ChatCompletion first = await chat.CompleteChatAsync(Conversation, options);
        ChatCompletion second = await chat.CompleteChatAsync(Conversation, options);

        Assert.Equal(first.Content[0].Text, second.Content[0].Text);
    }

    [Fact]
    public async Task Models_ListsTheServedModel()
    {
        var models = await Client.GetOpenAIModelClient().GetModelsAsync();

        Assert.Contains(models.Value, m => m.Id == _cluster.Model);
    }

    [Fact]
    public async Task UnknownModel_Is404InOpenAiShape()
    {
        var chat = Client.GetChatClient("no-such-model");

        var error = await Assert.ThrowsAsync<ClientResultException>(() => chat.CompleteChatAsync(Conversation));

        Assert.Equal(404, error.Status);
        Assert.Contains("no-such-model", error.Message);
    }
}
