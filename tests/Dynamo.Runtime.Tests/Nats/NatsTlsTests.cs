using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Dynamo.Runtime.Nats;
using Dynamo.Runtime.Tests.Infrastructure;
using NATS.Client.Core;

namespace Dynamo.Runtime.Tests.Nats;

/// <summary>
/// TLS to a real nats-server whose certificate a test CA signed: with that CA the runtime connects; with another CA
/// the error says that the server certificate failed validation, why, and which configured CA file it was checked against.
/// </summary>
public sealed class NatsTlsTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dynamo-nats-tls-").FullName;
    private NatsServer? _server;

    private string RightCa => Path.Combine(_dir, "ca.pem");

    private string WrongCa => Path.Combine(_dir, "other-ca.pem");

    public async Task InitializeAsync()
    {
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var ca = SelfSignedCa(caKey, "CN=Dynamo Test CA");
        using var otherKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var other = SelfSignedCa(otherKey, "CN=Some Other CA");
        using var serverKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=nats.test", serverKey, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(System.Net.IPAddress.Loopback);
        names.AddDnsName("localhost");
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var server = request.Create(ca, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30), [1, 2, 3, 4]);
        await File.WriteAllTextAsync(RightCa, ca.ExportCertificatePem());
        await File.WriteAllTextAsync(WrongCa, other.ExportCertificatePem());
        var cert = Path.Combine(_dir, "server.pem");
        var key = Path.Combine(_dir, "server.key");
        await File.WriteAllTextAsync(cert, server.ExportCertificatePem());
        await File.WriteAllTextAsync(key, serverKey.ExportPkcs8PrivateKeyPem());
        _server = await NatsServer.StartNewAsync("--tls", "--tlscert", cert, "--tlskey", key);
    }

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task RightCa_Connects()
    {
        await using var runtime = await NatsRuntime.ConnectAsync(Options(RightCa), TestSecret.Secret, TestOutputLoggerProvider.Factory(output));

        Assert.True(runtime.IsConnected);
    }

    [Fact]
    public async Task WrongCa_SaysTheServerCertificateFailedValidation_AndNamesTheCaFile()
    {
        var error = await Assert.ThrowsAnyAsync<NatsException>(() => NatsRuntime.ConnectAsync(Options(WrongCa), TestSecret.Secret, TestOutputLoggerProvider.Factory(output)));

        output.WriteLine(error.Message);
        Assert.Contains("TLS handshake failed", error.Message, StringComparison.Ordinal);
        Assert.Contains("the server certificate (subject 'CN=nats.test', issued by 'CN=Dynamo Test CA'", error.Message, StringComparison.Ordinal);
        Assert.Contains("failed validation", error.Message, StringComparison.Ordinal);
        Assert.Contains($"it does not chain to the CA in Dynamo:Nats:Tls:CaFile ({WrongCa})", error.Message, StringComparison.Ordinal);
        Assert.Contains("'CN=Some Other CA'", error.Message, StringComparison.Ordinal);
    }

    private NatsOptions Options(string caFile) => new()
    {
        Url = _server!.Url,
        Namespace = "t" + Guid.NewGuid().ToString("N")[..10],
        ConnectTimeout = TimeSpan.FromSeconds(3),
        Tls = new NatsTlsOptions { Mode = "require", CaFile = caFile },
    };

    private static X509Certificate2 SelfSignedCa(ECDsa key, string subject)
    {
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(365));
    }
}
