using Dynamo.Runtime.Nats;
using Microsoft.Extensions.Options;

namespace Dynamo.Runtime.Tests.Nats;

public sealed class NatsOptionsValidatorTests
{
    [Fact]
    public void Defaults_AreValid()
    {
        Assert.True(new NatsOptionsValidator().Validate(null, new NatsOptions()).Succeeded);
    }

    [Theory]
    [InlineData("Url", "http://127.0.0.1:4222", "Dynamo:Nats:Url = 'http://127.0.0.1:4222'")]
    [InlineData("Url", "nats://a:4222,not-a-url", "Dynamo:Nats:Url = 'nats://a:4222,not-a-url'")]
    [InlineData("Namespace", "has.dot", "Dynamo:Nats:Namespace = 'has.dot'")]
    [InlineData("LeaseTtl", "00:00:00.5", "Dynamo:Nats:LeaseTtl = '00:00:00.5000000'")]
    [InlineData("HeartbeatInterval", "00:00:06", "Dynamo:Nats:HeartbeatInterval = '00:00:06'")]
    [InlineData("Storage", "disk", "Dynamo:Nats:Storage = 'disk'")]
    [InlineData("TlsMode", "always", "Dynamo:Nats:Tls:Mode = 'always'")]
    [InlineData("CaFile", "/nonexistent/ca.pem", "Dynamo:Nats:Tls:CaFile = '/nonexistent/ca.pem'")]
    [InlineData("CredentialsFile", "/nonexistent/x.creds", "Dynamo:Nats:CredentialsFile = '/nonexistent/x.creds'")]
    [InlineData("ReconnectWaitMax", "00:00:00.01", "Dynamo:Nats:ReconnectWaitMax = '00:00:00.0100000'")]
    public void BadValue_FailureNamesKeyAndValue(string property, string value, string expected)
    {
        var options = new NatsOptions();
        switch (property)
        {
            case "Url": options.Url = value; break;
            case "Namespace": options.Namespace = value; break;
            case "LeaseTtl": options.LeaseTtl = TimeSpan.Parse(value); break;
            case "HeartbeatInterval": options.HeartbeatInterval = TimeSpan.Parse(value); break;
            case "Storage": options.Storage = value; break;
            case "TlsMode": options.Tls.Mode = value; break;
            case "CaFile": options.Tls.CaFile = value; break;
            case "CredentialsFile": options.CredentialsFile = value; break;
            case "ReconnectWaitMax": options.ReconnectWaitMax = TimeSpan.Parse(value); break;
        }

        var result = new NatsOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        Assert.Contains(result.Failures!, f => f.StartsWith(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void UserWithoutPassword_TokenWithUser_AndHalfAClientCertificate_Fail()
    {
        var result = new NatsOptionsValidator().Validate(null, new NatsOptions
        {
            User = "u",
            Token = "secret-token",
            Tls = new NatsTlsOptions { CertFile = typeof(NatsOptionsValidatorTests).Assembly.Location },
        });

        Assert.Contains(result.Failures!, f => f.StartsWith("Dynamo:Nats:Password", StringComparison.Ordinal));
        Assert.Contains(result.Failures!, f => f.StartsWith("Dynamo:Nats:Token", StringComparison.Ordinal));
        Assert.Contains(result.Failures!, f => f.StartsWith("Dynamo:Nats:Tls:KeyFile", StringComparison.Ordinal));
        Assert.DoesNotContain(result.Failures!, f => f.Contains("secret-token", StringComparison.Ordinal));
    }

    [Fact]
    public void ThrowIfInvalid_ThrowsOptionsValidationException()
    {
        var error = Assert.Throws<OptionsValidationException>(() => NatsOptionsValidator.ThrowIfInvalid(new NatsOptions { Storage = "tape" }));

        Assert.Contains("Dynamo:Nats:Storage = 'tape'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Describe_RedactsSecretsAndUrlCredentials()
    {
        var options = new NatsOptions { Url = "nats://alice:hunter2@10.0.0.1:4222,nats://10.0.0.2:4222", Token = "tok-123" };

        var text = options.Describe();

        Assert.DoesNotContain("hunter2", text, StringComparison.Ordinal);
        Assert.DoesNotContain("alice", text, StringComparison.Ordinal);
        Assert.DoesNotContain("tok-123", text, StringComparison.Ordinal);
        Assert.Contains("10.0.0.2:4222", text, StringComparison.Ordinal);
        Assert.Contains("Auth=token", text, StringComparison.Ordinal);
    }

    [Fact]
    public void ClientOptions_CarryCredentialsAndTls()
    {
        var options = new NatsOptions { User = "u", Password = "p", Tls = new NatsTlsOptions { Mode = "require", InsecureSkipVerify = true } };

        var client = NatsRuntime.CreateClientOptions(options, Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance);

        Assert.Equal("u", client.AuthOpts.Username);
        Assert.Equal("p", client.AuthOpts.Password);
        Assert.Equal(NATS.Client.Core.TlsMode.Require, client.TlsOpts.Mode);
        Assert.True(client.TlsOpts.InsecureSkipVerify);
        Assert.Equal(options.ReconnectWaitMax, client.ReconnectWaitMax);
    }
}
