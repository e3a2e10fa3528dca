using Microsoft.Extensions.Options;

namespace Dynamo.Runtime.Nats;

/// <summary>Checks <see cref="NatsOptions"/>; each failure names the key and the value.</summary>
public sealed class NatsOptionsValidator : IValidateOptions<NatsOptions>
{
    private static readonly string[] Schemes = ["nats", "tls", "ws", "wss"];
    private static readonly string[] TlsModes = ["auto", "disable", "prefer", "require", "implicit"];

    public ValidateOptionsResult Validate(string? name, NatsOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        const string s = NatsOptions.SectionName;
        var errors = new List<string>();
        var urls = (options.Url ?? "").Split(',', StringSplitOptions.TrimEntries);
        Check(
            errors,
            urls.All(u => Uri.TryCreate(u, UriKind.Absolute, out var uri) && Schemes.Contains(uri.Scheme) && uri.Host.Length > 0),
            $"{s}:Url",
            NatsOptions.RedactUrls(options.Url ?? ""),
            "expected nats://host:port (or tls://, ws://, wss://), several separated by commas");
        Check(
            errors,
            !string.IsNullOrEmpty(options.Namespace) && options.Namespace.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'),
            $"{s}:Namespace",
            options.Namespace,
            "expected letters, digits, '-' and '_'");
        Check(errors, options.User is null || options.Password is not null, $"{s}:Password", "(unset)", $"is required with {s}:User");
        Check(errors, options.Password is null || options.User is not null, $"{s}:User", "(unset)", $"is required with {s}:Password");
        Check(errors, options.Token is null || options.User is null, $"{s}:Token", "***", $"cannot be combined with {s}:User; use one");
        Check(errors, options.CredentialsFile is null || File.Exists(options.CredentialsFile), $"{s}:CredentialsFile", options.CredentialsFile, "the file does not exist");
        var tls = options.Tls ?? new NatsTlsOptions();
        Check(errors, TlsModes.Contains(tls.Mode, StringComparer.OrdinalIgnoreCase), $"{s}:Tls:Mode", tls.Mode, "expected auto, disable, prefer, require or implicit");
        Check(errors, tls.CaFile is null || File.Exists(tls.CaFile), $"{s}:Tls:CaFile", tls.CaFile, "the file does not exist");
        Check(errors, tls.CertFile is null || File.Exists(tls.CertFile), $"{s}:Tls:CertFile", tls.CertFile, "the file does not exist");
        Check(errors, tls.KeyFile is null || File.Exists(tls.KeyFile), $"{s}:Tls:KeyFile", tls.KeyFile, "the file does not exist");
        Check(errors, (tls.CertFile is null) == (tls.KeyFile is null), $"{s}:Tls:{(tls.CertFile is null ? "CertFile" : "KeyFile")}", "(unset)", "client certificates need both CertFile and KeyFile");
        Check(errors, options.LeaseTtl >= TimeSpan.FromSeconds(1), $"{s}:LeaseTtl", options.LeaseTtl, "must be at least 00:00:01");
        Check(
            errors,
            options.HeartbeatInterval > TimeSpan.Zero && options.HeartbeatInterval * 2 <= options.LeaseTtl,
            $"{s}:HeartbeatInterval",
            options.HeartbeatInterval,
            $"must be positive and at most half of {s}:LeaseTtl ({options.LeaseTtl})");
        Check(errors, options.Storage is "memory" or "file", $"{s}:Storage", options.Storage, "expected memory or file");
        Check(errors, options.ConnectTimeout > TimeSpan.Zero, $"{s}:ConnectTimeout", options.ConnectTimeout, "must be positive");
        Check(errors, options.ReconnectWaitMin > TimeSpan.Zero, $"{s}:ReconnectWaitMin", options.ReconnectWaitMin, "must be positive");
        Check(
            errors,
            options.ReconnectWaitMax >= options.ReconnectWaitMin,
            $"{s}:ReconnectWaitMax",
            options.ReconnectWaitMax,
            $"must be at least {s}:ReconnectWaitMin ({options.ReconnectWaitMin})");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    /// <summary>Throws <see cref="OptionsValidationException"/> listing every failure.</summary>
    public static void ThrowIfInvalid(NatsOptions options)
    {
        var result = new NatsOptionsValidator().Validate(null, options);
        if (result.Failed)
        {
            throw new OptionsValidationException(NatsOptions.SectionName, typeof(NatsOptions), result.Failures);
        }
    }

    private static void Check(List<string> errors, bool ok, string key, object? value, string rule)
    {
        if (!ok)
        {
            errors.Add($"{key} = '{value}': {rule}.");
        }
    }
}
