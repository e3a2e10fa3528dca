namespace Dynamo.Runtime.Nats;

/// <summary>TLS to the NATS server, bound from <c>Dynamo:Nats:Tls</c>.</summary>
public sealed class NatsTlsOptions
{
    /// <summary>
    /// <c>auto</c> (TLS for <c>tls://</c> URLs, client certificates or a CA file; otherwise as the server asks),
    /// <c>require</c>, <c>implicit</c> (TLS before the NATS handshake), <c>prefer</c> or <c>disable</c>. Default auto.
    /// </summary>
    public string Mode { get; set; } = "auto";

    /// <summary>PEM file of the CA that signed the server's certificate. Default: the system's trust store.</summary>
    public string? CaFile { get; set; }

    /// <summary>PEM client certificate, for servers that verify clients. Needs <see cref="KeyFile"/>.</summary>
    public string? CertFile { get; set; }

    /// <summary>PEM private key of <see cref="CertFile"/>.</summary>
    public string? KeyFile { get; set; }

    /// <summary>Accept any server certificate. For tests only. Default false.</summary>
    public bool InsecureSkipVerify { get; set; }
}
