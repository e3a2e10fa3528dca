using System.Net;
using System.Net.Sockets;

namespace Dynamo.Cli.Tests;

/// <summary>
/// Start-up failures a person can act on: one line naming the cause and the fix, a documented exit code, no stack
/// trace, and before any slow work (the port check runs before a model loads).
/// </summary>
public sealed class StartupErrorTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(90);

    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("dynamo-startup-");

    public void Dispose() => _dir.Delete(recursive: true);

    [Theory]
    [InlineData("serve")]
    [InlineData("frontend")]
    public async Task PortHeldByAnotherProcess_Exits2InOneLine_BeforeLoadingAModel(string verb)
    {
        using var holder = new TcpListener(IPAddress.Loopback, 0);
        holder.Start();
        var port = ((IPEndPoint)holder.LocalEndpoint).Port;
        var secret = Path.Combine(_dir.FullName, "cluster.secret");
        File.WriteAllText(secret, Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)));
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(secret, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        string[] args = verb == "serve"
            ? ["serve", "--engine", "mocker", "--port", $"{port}"]
            : ["frontend", "--nats", "nats://127.0.0.1:1", "--cluster-secret-file", secret, "--port", $"{port}"];

        var result = await CliRun.RunAsync(args, Timeout, _dir.FullName);

        CliRun.AssertUsageError(result, 2);
        Assert.Equal(
            $"dynamo {verb}: 127.0.0.1:{port} (the OpenAI endpoint) is already in use by another process; stop it or choose another port (--port or Dynamo:Gateway:Port).",
            FirstLine(result.Stderr));
        Assert.DoesNotContain("Worker", result.Stdout, StringComparison.Ordinal); // no worker was started first
    }

    [Fact]
    public async Task Serve_ModelFolderWithoutConfigJson_Exits1InOneLine()
    {
        var result = await CliRun.RunAsync(["serve", "--engine", "mocker", "--port", "0", "--model", _dir.FullName], Timeout, _dir.FullName);

        CliRun.AssertUsageError(result, 1);
        Assert.Equal(
            $"dynamo serve: cannot load the model: {Path.Combine(_dir.FullName, "config.json")}: file not found (a model folder holds config.json, model.safetensors and the tokenizer files; `dynamo model init --out DIR` writes one, or use a preset: --model tiny|small|100m).",
            FirstLine(result.Stderr));
    }

    [Fact]
    public async Task Serve_ModelThatIsNeitherAFolderNorAPreset_Exits1NamingTheKey()
    {
        var missing = Path.Combine(_dir.FullName, "no-such-model");

        var result = await CliRun.RunAsync(["serve", "--engine", "mocker", "--port", "0", "--model", missing], Timeout, _dir.FullName);

        CliRun.AssertUsageError(result, 1);
        Assert.Equal("dynamo serve: invalid configuration:", FirstLine(result.Stderr));
        Assert.Contains($"Dynamo:Serve:Model = '{missing}': not a folder and not a preset (tiny, small, 100m).", result.Stderr, StringComparison.Ordinal);
    }

    private static string FirstLine(string text) => text.Split('\n')[0].TrimEnd('\r');
}
