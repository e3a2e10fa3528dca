using System.Net;
using System.Net.Http.Headers;
using Dynamo.Gateway.Tests.Infrastructure;

namespace Dynamo.Gateway.Tests;

/// <summary><c>Dynamo:Gateway:Auth:KeysFile</c>: one key a line, beside the configured keys; a missing file stops start-up.</summary>
public sealed class AuthKeysFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dynamo-keys-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task KeysFile_EveryKeyLineIsAccepted_CommentsAndBlankLinesAreNotKeys()
    {
        var file = Path.Combine(_dir, "keys.txt");
        await File.WriteAllTextAsync(file, "# team keys\n\n  file-key-1  \nfile-key-2\n#disabled-key\n");
        await using var cluster = await TestCluster.StartAsync(new Dictionary<string, string?>
        {
            ["Dynamo:Gateway:Auth:KeysFile"] = file,
            ["Dynamo:Gateway:Auth:Keys:0:Key"] = "config-key",
        });

        foreach (var key in new[] { "file-key-1", "file-key-2", "config-key" })
        {
            Assert.Equal(HttpStatusCode.OK, await StatusWithKeyAsync(cluster, key));
        }

        foreach (var key in new[] { "#disabled-key", "disabled-key", "# team keys", "file-key", null })
        {
            Assert.Equal(HttpStatusCode.Unauthorized, await StatusWithKeyAsync(cluster, key));
        }
    }

    [Fact]
    public async Task KeysFile_Missing_StartFailsNamingTheKeyAndThePath()
    {
        var missing = Path.Combine(_dir, "no-such-keys.txt");

        var error = await Assert.ThrowsAnyAsync<Exception>(() => TestCluster.StartAsync(new Dictionary<string, string?> { ["Dynamo:Gateway:Auth:KeysFile"] = missing }));

        Assert.Contains("Dynamo:Gateway:Auth:KeysFile", error.Message);
        Assert.Contains(missing, error.Message);
    }

    private static async Task<HttpStatusCode> StatusWithKeyAsync(TestCluster cluster, string? key)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/completions") { Content = Json.Body(new { model = cluster.Model, prompt = "hi", max_tokens = 1 }) };
        if (key is not null)
        {
            request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + key);
        }

        using var response = await cluster.Client.SendAsync(request);
        if (response.StatusCode == HttpStatusCode.Unauthorized)
        {
            Json.AssertOpenAiError(await Json.ReadAsync(response));
        }

        return response.StatusCode;
    }
}
