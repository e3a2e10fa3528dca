using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Dynamo.Runtime.Nats;

/// <summary>
/// Watches the TLS handshake with the NATS server and, when the server's certificate is refused, says why in words
/// an operator can act on (which certificate, which check, which configured CA file), instead of the client library's
/// generic "connection failed".
/// </summary>
internal sealed class NatsTlsDiagnosis(NatsTlsOptions tls)
{
    private volatile string? _failure;

    /// <summary>Why the last refused server certificate was refused; null when none was.</summary>
    public string? Failure => _failure;

    /// <summary>Wraps the validation callback the client library set up (or the system's default) to record refusals.</summary>
    public ValueTask ConfigureAsync(SslClientAuthenticationOptions ssl)
    {
        var inner = ssl.RemoteCertificateValidationCallback;
        var host = ssl.TargetHost;
        ssl.RemoteCertificateValidationCallback = (sender, certificate, chain, errors) =>
        {
            var accepted = inner is null ? errors == SslPolicyErrors.None : inner(sender, certificate, chain, errors);
            if (!accepted)
            {
                _failure = Explain(certificate, chain, errors, host);
            }

            return accepted;
        };
        return ValueTask.CompletedTask;
    }

    private string Explain(X509Certificate? presented, X509Chain? systemChain, SslPolicyErrors errors, string? host)
    {
        if (presented is null || errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable))
        {
            return "the server sent no certificate";
        }

        using var certificate = new X509Certificate2(presented);
        var what = $"the server certificate (subject '{certificate.Subject}', issued by '{certificate.Issuer}', valid {certificate.NotBefore.ToUniversalTime():u} to {certificate.NotAfter.ToUniversalTime():u})";
        var reasons = new List<string>();
        var now = DateTime.Now;
        if (now < certificate.NotBefore || now > certificate.NotAfter)
        {
            reasons.Add(now > certificate.NotAfter ? "it has expired" : "it is not valid yet");
        }

        if (errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch) || (host is not null && !certificate.MatchesHostname(host)))
        {
            reasons.Add($"its names do not include the host '{host}' of {NatsOptions.SectionName}:Url");
        }

        if (tls.CaFile is { } caFile)
        {
            if (ChainProblems(certificate, caFile) is { } problems)
            {
                reasons.Add($"it does not chain to the CA in {NatsOptions.SectionName}:Tls:CaFile ({caFile}): {problems}");
            }
        }
        else if (errors.HasFlag(SslPolicyErrors.RemoteCertificateChainErrors))
        {
            var status = systemChain?.ChainStatus.Select(s => s.Status.ToString()).Distinct() ?? [];
            reasons.Add($"it is not trusted by this machine's CA store ({string.Join(", ", status)}); set {NatsOptions.SectionName}:Tls:CaFile to the CA that signed it");
        }

        if (reasons.Count == 0)
        {
            reasons.Add($"the TLS layer reported {errors}");
        }

        return $"{what} failed validation: {string.Join("; ", reasons)}";
    }

    /// <summary>Builds the chain against the configured CA only; null when it verifies.</summary>
    private static string? ChainProblems(X509Certificate2 certificate, string caFile)
    {
        X509Certificate2Collection authorities;
        try
        {
            authorities = [];
            authorities.ImportFromPemFile(caFile);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
        {
            return $"the CA file cannot be read as PEM certificates ({ex.Message})";
        }

        if (authorities.Count == 0)
        {
            return "the CA file holds no PEM certificate";
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(authorities);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (chain.Build(certificate))
        {
            return null;
        }

        var names = string.Join(", ", authorities.Select(a => $"'{a.Subject}'"));
        var status = string.Join(", ", chain.ChainStatus.Select(s => s.Status.ToString()).Distinct());
        return $"it was not signed by {names} ({status})";
    }
}
