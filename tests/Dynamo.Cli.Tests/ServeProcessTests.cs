using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Dynamo.Cli.Tests;

/// <summary>The user's path: <c>dynamo serve</c> as a process, a request, Ctrl-C while it streams.</summary>
public sealed partial class ServeProcessTests : IDisposable
{
    private readonly string _cache = Directory.CreateTempSubdirectory("dynamo-serve-").FullName;

    public void Dispose() => Directory.Delete(_cache, recursive: true);

    [Fact]
    public async Task Serve_CtrlC_LetsTheInFlightStreamFinishThenExits0()
    {
        var start = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "dynamo.dll"), "serve", "--engine", "mocker", "--port", "0"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["DYNAMO_CACHE_DIR"] = _cache;
        start.Environment["DYNAMO__MOCKER__ZERODELAY"] = "false";
        using var serve = Process.Start(start)!;
        var stderr = serve.StandardError.ReadToEndAsync();
        try
        {
            var url = await ReadServingUrlAsync(serve).WaitAsync(TimeSpan.FromSeconds(60));
            using var client = new HttpClient { BaseAddress = new Uri(url.TrimEnd('/') + "/") };
            using var request = new HttpRequestMessage(HttpMethod.Post, "completions")
            {
                Content = new StringContent("""{"model":"tiny","prompt":"a story","max_tokens":150,"ignore_eos":true,"stream":true}""", System.Text.Encoding.UTF8, "application/json"),
            };
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            Assert.StartsWith("data: ", await reader.ReadLineAsync());

            using (var kill = Process.Start("kill", ["-INT", serve.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                await kill.WaitForExitAsync();
            }

            var rest = await reader.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(30));
            Assert.EndsWith("data: [DONE]", rest.TrimEnd());
            await serve.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
            Assert.True(serve.ExitCode == 0, $"exit code {serve.ExitCode}: {await stderr}");
        }
        finally
        {
            if (!serve.HasExited)
            {
                serve.Kill(entireProcessTree: true);
            }
        }
    }

    [Fact]
    public async Task Serve_BadFlag_ExitsWithMessageNamingKeyAndValue()
    {
        var start = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "dynamo.dll"), "serve", "--port", "eighty"])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        };
        using var serve = Process.Start(start)!;
        var error = await serve.StandardError.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(60));
        await serve.WaitForExitAsync();

        Assert.Equal(1, serve.ExitCode);
        Assert.Contains("Dynamo:Gateway:Port", error);
        Assert.Contains("eighty", error);
    }

    private static async Task<string> ReadServingUrlAsync(Process serve)
    {
        while (await serve.StandardOutput.ReadLineAsync() is { } line)
        {
            if (ServingLine().Match(line) is { Success: true } match)
            {
                return match.Groups[1].Value;
            }
        }

        throw new InvalidOperationException("dynamo serve exited before it printed its address");
    }

    [GeneratedRegex(@"at (http://\S+/v1)")]
    private static partial Regex ServingLine();
}
