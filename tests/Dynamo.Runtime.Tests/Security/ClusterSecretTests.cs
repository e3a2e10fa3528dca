using System.Text;
using Dynamo.Runtime.Nats;
using Dynamo.Runtime.Observability;
using Dynamo.Runtime.Security;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Dynamo.Runtime.Tests.Security;

/// <summary>The cluster secret: what is accepted, what each refusal says, and the credentials made from it.</summary>
public sealed class ClusterSecretTests
{
    private const string Good = "q7Vd2mXk9sL0pR4tY8wZ1aB3cE5gH6jN7uM=";

    [Fact]
    public void ShortSecret_IsRefused_NamingTheKeyAndHowToMakeOne()
    {
        var error = Assert.Throws<OptionsValidationException>(() => ClusterSecret.Load(new ClusterOptions { Secret = "hunter2hunter2" }));

        Assert.Contains("Dynamo:Cluster:Secret", error.Message, StringComparison.Ordinal);
        Assert.Contains("too short (14 characters; at least 32", error.Message, StringComparison.Ordinal);
        Assert.Contains("openssl rand -base64 32", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void LongSecretOfFewCharacters_IsRefused()
    {
        var error = Assert.Throws<OptionsValidationException>(() => ClusterSecret.FromText(string.Concat(Enumerable.Repeat("ab", 40)), "Dynamo:Cluster:Secret"));

        Assert.Contains("too little variety", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void BothSecretAndFile_AreRefused()
    {
        var error = Assert.Throws<OptionsValidationException>(() => ClusterSecret.Load(new ClusterOptions { Secret = Good, SecretFile = "/etc/x" }));

        Assert.Contains("Dynamo:Cluster:Secret and Dynamo:Cluster:SecretFile (--cluster-secret-file) are both set", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void NothingConfigured_IsNull()
    {
        Assert.Null(ClusterSecret.Load(new ClusterOptions()));
    }

    [Fact]
    public void MissingFile_NamesThePathAndTheFix()
    {
        var path = Path.Combine(Path.GetTempPath(), $"no-such-{Guid.NewGuid():N}.secret");

        var error = Assert.Throws<OptionsValidationException>(() => ClusterSecret.Load(new ClusterOptions { SecretFile = path }));

        Assert.Contains($"--cluster-secret-file {path}: the file does not exist", error.Message, StringComparison.Ordinal);
        Assert.Contains("openssl rand -base64 32 > cluster.secret", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void EmptyFile_NamesThePath()
    {
        using var file = new TempFile(" \n");

        var error = Assert.Throws<OptionsValidationException>(() => ClusterSecret.Load(new ClusterOptions { SecretFile = file.Path }));

        Assert.Contains($"--cluster-secret-file {file.Path}: the file is empty", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ShortSecretInAFile_NamesTheFile()
    {
        using var file = new TempFile("tooshort\n");

        var error = Assert.Throws<OptionsValidationException>(() => ClusterSecret.Load(new ClusterOptions { SecretFile = file.Path }));

        Assert.Contains($"--cluster-secret-file {file.Path}: the secret is too short (8 characters", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DirectoryInsteadOfAFile_SaysSo()
    {
        var directory = Directory.CreateTempSubdirectory("dynamo-secret-").FullName;
        try
        {
            var error = Assert.Throws<OptionsValidationException>(() => ClusterSecret.Load(new ClusterOptions { SecretFile = directory }));

            Assert.Contains($"--cluster-secret-file {directory}: this is a folder, not a file", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(directory);
        }
    }

    [Fact]
    public void FileWithTrailingNewline_IsTheSameSecretAsTheText()
    {
        using var file = new TempFile(Good + "\n");

        var fromFile = ClusterSecret.Load(new ClusterOptions { SecretFile = file.Path })!;
        var fromText = ClusterSecret.Load(new ClusterOptions { Secret = Good })!;

        Assert.Equal(fromText.Fingerprint, fromFile.Fingerprint);
        Assert.DoesNotContain(Good, fromFile.ToString(), StringComparison.Ordinal);
        Assert.Equal("Secret=<redacted>", new ClusterOptions { Secret = Good }.ToString());
    }

    [Fact]
    public void HttpCredential_VerifiesOnlyForItsSecretMethodPathAndTime()
    {
        var secret = ClusterSecret.FromText(Good, "test");
        var now = DateTimeOffset.UtcNow;
        var credential = secret.CreateHttpCredential("POST", "/v1/completions", now);

        Assert.Equal(ClusterCredentialCheck.Valid, secret.VerifyHttpCredential(credential, "POST", "/v1/completions", now.AddMinutes(4)));
        Assert.Equal(ClusterCredentialCheck.Invalid, secret.VerifyHttpCredential(credential, "GET", "/v1/completions", now));
        Assert.Equal(ClusterCredentialCheck.Invalid, secret.VerifyHttpCredential(credential, "POST", "/v1/kv/dump", now));
        Assert.Equal(ClusterCredentialCheck.Invalid, ClusterSecret.Generate().VerifyHttpCredential(credential, "POST", "/v1/completions", now));
        Assert.Equal(ClusterCredentialCheck.Expired, secret.VerifyHttpCredential(credential, "POST", "/v1/completions", now.AddMinutes(6)));
        Assert.Equal(ClusterCredentialCheck.Missing, secret.VerifyHttpCredential(null, "POST", "/v1/completions", now));
        Assert.Equal(ClusterCredentialCheck.Malformed, secret.VerifyHttpCredential("Bearer x", "POST", "/v1/completions", now));
        Assert.Equal(ClusterCredentialCheck.Malformed, secret.VerifyHttpCredential("v1.12.!!", "POST", "/v1/completions", now));
        var parts = credential.Split('.');
        var otherTime = $"v1.{long.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture) + 1}.{parts[2]}";
        Assert.Equal(ClusterCredentialCheck.Invalid, secret.VerifyHttpCredential(otherTime, "POST", "/v1/completions", now));
    }

    [Fact]
    public void Signature_IsBoundToPurposeKeyAndPayload()
    {
        var secret = ClusterSecret.FromText(Good, "test");
        var payload = Encoding.UTF8.GetBytes("{\"instance\":1}");
        var signature = secret.Sign("discovery", "backend.w1", payload);

        Assert.True(secret.Verify("discovery", "backend.w1", payload, signature));
        Assert.False(secret.Verify("discovery", "backend.w2", payload, signature));
        Assert.False(secret.Verify("event", "backend.w1", payload, signature));
        Assert.False(secret.Verify("discovery", "backend.w1", [.. payload, 32], signature));
        Assert.False(ClusterSecret.Generate().Verify("discovery", "backend.w1", payload, signature));
        Assert.False(secret.Verify("discovery", "backend.w1", payload, signature.AsSpan(0, 16)));
    }

    [Fact]
    public void DerivedKeys_DifferByPurpose_AndNeverEqualTheSecret()
    {
        var secret = ClusterSecret.FromText(Good, "test");

        Assert.NotEqual(secret.DeriveKey("kv-transfer"), secret.DeriveKey("other"));
        Assert.Equal(secret.DeriveKey("kv-transfer"), ClusterSecret.FromText(Good, "again").DeriveKey("kv-transfer"));
        Assert.NotEqual(Encoding.UTF8.GetBytes(Good)[..32], secret.DeriveKey("kv-transfer"));
    }

    [Fact]
    public void LogThrottle_LogsTheFirst_CountsRepeats_ThenLogsAgainAfterTheInterval()
    {
        var time = new FakeTimeProvider();
        var throttle = new LogThrottle(TimeSpan.FromMinutes(1), time);

        Assert.True(throttle.ShouldLog("a", out var skipped));
        Assert.Equal(0, skipped);
        Assert.False(throttle.ShouldLog("a", out _));
        Assert.False(throttle.ShouldLog("a", out _));
        Assert.True(throttle.ShouldLog("b", out _));
        time.Advance(TimeSpan.FromSeconds(61));
        Assert.True(throttle.ShouldLog("a", out skipped));
        Assert.Equal(2, skipped);
    }

    [Theory]
    [InlineData("nats://127.0.0.1:4222", null, false)]
    [InlineData("nats://localhost:4222", null, false)]
    [InlineData("nats://[::1]:4222", null, false)]
    [InlineData("nats://10.0.0.5:4222", null, true)]
    [InlineData("nats://127.0.0.1:4222,nats://nats.prod:4222", null, true)]
    [InlineData("nats://10.0.0.5:4222", "token", false)]
    [InlineData("nats://10.0.0.5:4222", "user", false)]
    [InlineData("nats://10.0.0.5:4222", "cert", false)]
    [InlineData("nats://u:p@10.0.0.5:4222", null, false)]
    public void InsecureExposure_OnlyForUnauthenticatedServersOffThisMachine(string url, string? auth, bool exposed)
    {
        var options = new NatsOptions { Url = url };
        switch (auth)
        {
            case "token":
                options.Token = "s3cret-token";
                break;
            case "user":
                options.User = "dynamo";
                options.Password = "pw";
                break;
            case "cert":
                options.Tls.CertFile = "/etc/client.pem";
                options.Tls.KeyFile = "/etc/client.key";
                break;
        }

        var exposure = options.InsecureExposure();

        Assert.Equal(exposed, exposure is not null);
        if (exposure is not null)
        {
            Assert.Contains("Dynamo:Nats:Url", exposure, StringComparison.Ordinal);
            Assert.Contains("--insecure", exposure, StringComparison.Ordinal);
            Assert.DoesNotContain("127.0.0.1", exposure, StringComparison.Ordinal);
        }
    }

    private sealed class TempFile : IDisposable
    {
        public TempFile(string content)
        {
            Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"dynamo-secret-{Guid.NewGuid():N}");
            File.WriteAllText(Path, content);
        }

        public string Path { get; }

        public void Dispose() => File.Delete(Path);
    }
}
