using System.Net;
using Microsoft.Extensions.Options;

namespace Dynamo.Transfer;

/// <summary>Checks <see cref="TransferAgentOptions"/>; every failure names the configuration key and the bad value.</summary>
public sealed class TransferAgentOptionsValidator : IValidateOptions<TransferAgentOptions>
{
    private const string S = TransferAgentOptions.SectionName;

    /// <summary>128 bits: shorter shared keys are guessable offline from one recorded handshake.</summary>
    public const int MinAuthenticationKeyBytes = 16;

    public ValidateOptionsResult Validate(string? name, TransferAgentOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(options.Name) || System.Text.Encoding.UTF8.GetByteCount(options.Name) > Metadata.AgentMetadata.MaxNameBytes)
        {
            errors.Add($"{S}:Name must be 1..{Metadata.AgentMetadata.MaxNameBytes} bytes, got '{options.Name}'.");
        }

        try
        {
            if (options.ParseBackends().Count == 0)
            {
                errors.Add($"{S}:Backends must name at least one of inprocess, ucx, tcp, got '{options.Backends}'.");
            }
        }
        catch (FormatException e)
        {
            errors.Add($"{S}:Backends must be a comma-separated list of inprocess, ucx, tcp, got '{options.Backends}' ({e.Message}).");
        }

        if (!IPAddress.TryParse(options.TcpHost, out _))
        {
            errors.Add($"{S}:TcpHost must be an IP address, got '{options.TcpHost}'.");
        }

        if (options.TcpPort is < 0 or > 65535)
        {
            errors.Add($"{S}:TcpPort must be between 0 and 65535, got {options.TcpPort}.");
        }

        if (options.TcpMaxConnectionsPerPeer is < 1 or > 256)
        {
            errors.Add($"{S}:TcpMaxConnectionsPerPeer must be between 1 and 256, got {options.TcpMaxConnectionsPerPeer}.");
        }

        if (options.DefaultTimeout <= TimeSpan.Zero)
        {
            errors.Add($"{S}:DefaultTimeout must be positive, got {options.DefaultTimeout}.");
        }

        if (options.ConnectTimeout <= TimeSpan.Zero)
        {
            errors.Add($"{S}:ConnectTimeout must be positive, got {options.ConnectTimeout}.");
        }

        if (options.MaxNotificationBytes is < 1 or > 16 * 1024 * 1024)
        {
            errors.Add($"{S}:MaxNotificationBytes must be between 1 and 16 MiB, got {options.MaxNotificationBytes}.");
        }

        if (options.AuthenticationKey is { Length: < MinAuthenticationKeyBytes } key)
        {
            errors.Add($"{S}:AuthenticationKey must be at least {MinAuthenticationKeyBytes} bytes (base64 in configuration), got {key.Length}.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
